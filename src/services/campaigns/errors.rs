//! The campaign manager's errors. No HTTP status here: `http::error` maps them.

use super::gateway::GatewayError;
use super::webhook::WebhookError;
use crate::store::StoreError;

/// What went wrong in the campaign manager.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// No such campaign, message or suppression for this caller (another owner's is not
    /// found either: ids cannot be probed).
    #[error("not found")]
    NotFound,
    /// The campaign is not in a state that allows it; the message says which.
    #[error("{0}")]
    InvalidState(String),
    /// A request that cannot be done as asked; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// An upload over `sms.max_upload_bytes`.
    #[error("the file exceeds {0} bytes")]
    TooLarge(usize),
    /// The phone did not take a test message.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// A webhook that is not the phone's.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
