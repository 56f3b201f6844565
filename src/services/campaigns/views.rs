//! What the API shows of campaigns and messages: times in RFC 3339, the owner only to admins,
//! a recipient's number only to whoever may see the campaign.

use super::state::CampaignState;
use crate::auth::keys::rfc3339;
use crate::store::campaigns::{CampaignRecord, SmsRecord, StateCounts};
use serde::Serialize;

/// A campaign.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// State.
    pub state: String,
    /// The template.
    pub message: String,
    /// Pace.
    pub rate: String,
    /// `GSM-7` or `UCS-2` of the longest rendering (the template as written before any
    /// recipients).
    pub encoding: String,
    /// Segments of the longest rendering.
    pub segments: i64,
    /// Not before.
    pub start_at: Option<String>,
    /// Created.
    pub created_at: Option<String>,
    /// First started.
    pub started_at: Option<String>,
    /// Completed or cancelled.
    pub completed_at: Option<String>,
    /// The owner's id and name, for an admin's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerView>,
}

/// Whose a campaign is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OwnerView {
    /// Owner id.
    pub id: String,
    /// Owner name.
    pub name: String,
}

impl CampaignView {
    /// The view of `record`; `with_owner` for an admin.
    pub fn of(record: &CampaignRecord, with_owner: bool) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            state: record.state.clone(),
            message: record.message.clone(),
            rate: record.rate.clone(),
            encoding: record.encoding.clone(),
            segments: record.segments,
            start_at: record.start_at.and_then(rfc3339),
            created_at: rfc3339(record.created_at),
            started_at: record.started_at.and_then(rfc3339),
            completed_at: record.completed_at.and_then(rfc3339),
            owner: with_owner.then(|| OwnerView {
                id: record.owner_id.clone(),
                name: record.owner_name.clone(),
            }),
        }
    }
}

/// Recipient counts by state, as `status` shows them.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Waiting.
    pub pending: i64,
    /// Being sent.
    pub sending: i64,
    /// Taken by the phone.
    pub sent: i64,
    /// Delivered.
    pub delivered: i64,
    /// Given up.
    pub failed: i64,
    /// Opted out: never sent.
    pub suppressed: i64,
    /// Repeats of a number the campaign has: never stored twice.
    pub duplicate: i64,
}

/// `GET /api/campaign/status`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    /// Id.
    pub id: String,
    /// State.
    pub state: String,
    /// Recipients (duplicates not included).
    pub total: i64,
    /// By state.
    pub counts: Counts,
    /// Share of recipients with an outcome, 0–1.
    pub progress: f64,
    /// Seconds until the rest is sent at the campaign's rate (`null` unless running).
    pub eta_seconds: Option<i64>,
    /// First started.
    pub started_at: Option<String>,
    /// Completed or cancelled.
    pub completed_at: Option<String>,
}

impl StatusView {
    /// The status of `record` with `counts`; `per_second` is its rate.
    pub fn of(record: &CampaignRecord, counts: &StateCounts, per_second: f64) -> Self {
        let total = counts.total();
        let open = counts.pending + counts.sending;
        let progress = if total == 0 {
            if record.state == CampaignState::Completed.as_str() {
                1.0
            } else {
                0.0
            }
        } else {
            (total - open) as f64 / total as f64
        };
        let running = record.state == CampaignState::Running.as_str();
        Self {
            id: record.id.clone(),
            state: record.state.clone(),
            total,
            counts: Counts {
                pending: counts.pending,
                sending: counts.sending,
                sent: counts.sent,
                delivered: counts.delivered,
                failed: counts.failed,
                suppressed: counts.suppressed,
                duplicate: record.duplicates,
            },
            progress: (progress * 1000.0).round() / 1000.0,
            eta_seconds: (running && per_second > 0.0)
                .then(|| (open as f64 / per_second).ceil() as i64),
            started_at: record.started_at.and_then(rfc3339),
            completed_at: record.completed_at.and_then(rfc3339),
        }
    }
}

/// A single message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SmsView {
    /// Id.
    pub id: String,
    /// E.164.
    pub phone: String,
    /// `queued`, `sending`, `sent`, `delivered`, `failed`, `suppressed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// Why it last failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Queued.
    pub created_at: Option<String>,
    /// Taken by the phone.
    pub sent_at: Option<String>,
    /// Delivered.
    pub delivered_at: Option<String>,
}

fn ms_rfc3339(ms: i64) -> Option<String> {
    rfc3339(ms.div_euclid(1000))
}

impl SmsView {
    /// The view of `record`.
    pub fn of(record: &SmsRecord) -> Self {
        Self {
            id: record.id.clone(),
            phone: record.phone.clone(),
            state: match record.state.as_str() {
                "pending" => "queued".to_owned(),
                other => other.to_owned(),
            },
            attempts: record.attempts,
            error: record.last_error.clone(),
            created_at: ms_rfc3339(record.created_at),
            sent_at: record.sent_at.and_then(ms_rfc3339),
            delivered_at: record.delivered_at.and_then(ms_rfc3339),
        }
    }
}

/// One rejected upload line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// The line in the file (the header is line 1).
    pub line: u64,
    /// Why.
    pub reason: String,
    /// The column the reason is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UploadReport {
    /// Rows stored.
    pub accepted: u64,
    /// Rows refused, each with its line and reason (the first 1,000).
    pub rejected: Vec<Rejected>,
    /// Rows repeating a number already in the file or the campaign.
    pub duplicates: u64,
    /// Accepted rows whose number is on the suppression list: never sent to.
    pub suppressed: u64,
    /// Rows refused in all (when more than are listed).
    pub rejected_count: u64,
}
