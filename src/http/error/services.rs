//! How the envelope and the services' errors are answered: status, `X-Error-Code` and title.

use super::ApiError;
use crate::auth::envelope::EnvelopeError;
use crate::services::campaigns::CampaignError;
use crate::services::campaigns::webhook::WebhookError;
use crate::services::configfiles::ConfigFileError;
use crate::services::messages::MessageError;
use axum::http::StatusCode;

/// Status, `X-Error-Code` and `error` title of an envelope refused before its body key was
/// known (the answer is plain JSON).
pub(super) fn envelope_refusal(err: &EnvelopeError) -> (StatusCode, &'static str, &'static str) {
    const AUTH: &str = "Authentication required";
    match err {
        EnvelopeError::Missing => (StatusCode::UNAUTHORIZED, "envelope.missing", AUTH),
        EnvelopeError::Malformed(_) => {
            (StatusCode::BAD_REQUEST, "envelope.malformed", "Bad request")
        }
        EnvelopeError::Undecryptable => (StatusCode::UNAUTHORIZED, "envelope.undecryptable", AUTH),
        EnvelopeError::Expired => (StatusCode::UNAUTHORIZED, "envelope.expired", AUTH),
        EnvelopeError::TooLong { .. } => (StatusCode::UNAUTHORIZED, "envelope.too_long", AUTH),
        EnvelopeError::Replayed => (StatusCode::UNAUTHORIZED, "envelope.replayed", AUTH),
        EnvelopeError::Signature => (
            StatusCode::FORBIDDEN,
            "envelope.signature",
            "Signature validation failed",
        ),
        EnvelopeError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        ),
    }
}

/// Status (as in the sealed body), `error` title and message of a config-service error
/// answered inside the envelope. An I/O failure says nothing of its cause (logged instead).
pub fn sealed_config_error(err: &ConfigFileError) -> (u16, &'static str, String) {
    let (status, title) = match err {
        ConfigFileError::UnknownFile(_) => (404, "Unknown file"),
        ConfigFileError::Missing(_) => (404, "File missing"),
        ConfigFileError::NotFound(_) => (404, "Not found"),
        ConfigFileError::Stale { .. } => (409, "Version conflict"),
        ConfigFileError::Invalid(_) => (400, "Bad request"),
        ConfigFileError::TooLarge(_) => (413, "Payload too large"),
        ConfigFileError::Io { .. } => (500, "Internal server error"),
    };
    let message = match err {
        ConfigFileError::Io { .. } => "An unexpected error occurred".to_owned(),
        other => other.to_string(),
    };
    (status, title, message)
}

impl From<MessageError> for ApiError {
    fn from(err: MessageError) -> Self {
        match err {
            MessageError::Invalid(message) => ApiError::BadRequest(message),
            MessageError::TooLarge { limit } => {
                ApiError::TooLarge(format!("The message exceeds {limit} bytes"))
            }
            MessageError::NotFound => ApiError::NotFound,
            MessageError::Full => ApiError::StorageFull,
            MessageError::Random(err) => ApiError::Internal(format!("random generator: {err}")),
            MessageError::Corrupt(lookup) => {
                ApiError::Internal(format!("stored message {lookup} does not decrypt"))
            }
            MessageError::Store(err) => err.into(),
        }
    }
}

impl From<CampaignError> for ApiError {
    fn from(err: CampaignError) -> Self {
        match err {
            CampaignError::NotFound => ApiError::NotFound,
            CampaignError::InvalidState(message) => ApiError::InvalidState(message),
            CampaignError::Invalid(message) => ApiError::BadRequest(message),
            CampaignError::TooLarge(limit) => {
                ApiError::TooLarge(format!("The file exceeds {limit} bytes"))
            }
            CampaignError::Gateway(err) => ApiError::BadGateway(err.to_string()),
            CampaignError::Webhook(WebhookError::Malformed(why)) => {
                ApiError::BadRequest(format!("The webhook body is not an event: {why}"))
            }
            CampaignError::Webhook(err) => ApiError::WebhookRefused(err.to_string()),
            CampaignError::Store(err) => err.into(),
        }
    }
}
