//! Storage of the SMS campaign manager (seed 000): campaigns, their recipients and single
//! messages (one outbox table: each row is a message to send and its job), contacts, the
//! suppression list and the dedupe of phone reports. Every query that reads or changes an
//! owner's data takes a [`Scope`]: an owner's id, or every owner (admins); another owner's
//! row is simply not found.

use super::StoreError;
use async_trait::async_trait;

/// Whose rows a query may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One owner's.
    Owner(&'a str),
    /// Everyone's (an admin).
    All,
}

/// The suppression-list owner that stands for everyone (a STOP reply).
pub const EVERYONE: &str = "*";

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecord {
    /// Position, for paging (newest first).
    pub seq: i64,
    /// Public id.
    pub id: String,
    /// Who made it.
    pub owner_id: String,
    /// The owner's name (the id for an environment key's owner).
    pub owner_name: String,
    /// Display name.
    pub name: String,
    /// The template.
    pub message: String,
    /// Pace, e.g. `30/min`.
    pub rate: String,
    /// `draft`, `running`, `paused`, `completed`, `cancelled`.
    pub state: String,
    /// Unix seconds before which a running campaign does not send.
    pub start_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, first start.
    pub started_at: Option<i64>,
    /// Unix seconds, completed or cancelled.
    pub completed_at: Option<i64>,
    /// Recipients refused as repeats of one already there.
    pub duplicates: i64,
    /// `GSM-7` or `UCS-2`, of the longest rendering so far.
    pub encoding: String,
    /// Segments of the longest rendering so far.
    pub segments: i64,
}

/// A campaign to create.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    /// Public id.
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Display name.
    pub name: String,
    /// Template.
    pub message: String,
    /// Pace.
    pub rate: String,
    /// Not before (Unix seconds).
    pub start_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Of the template as written.
    pub encoding: String,
    /// Of the template as written.
    pub segments: i64,
}

/// A message to send (a campaign's recipient, or a single send), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRecord {
    /// Position.
    pub seq: i64,
    /// The message id the phone knows it by: for a recipient, derived from campaign and
    /// number (stable across attempts and crashes).
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// `None` for a single send.
    pub campaign_id: Option<String>,
    /// E.164.
    pub phone: String,
    /// The recipient's other CSV columns, a JSON object.
    pub fields: String,
    /// The text to send.
    pub text: String,
    /// `pending`, `sending`, `sent`, `delivered`, `failed`, `suppressed`.
    pub state: String,
    /// Attempts made (a phone that could not be reached does not count).
    pub attempts: i64,
    /// Unix ms.
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub sent_at: Option<i64>,
    /// Unix ms.
    pub delivered_at: Option<i64>,
}

/// A message to create.
#[derive(Debug, Clone)]
pub struct NewSms {
    /// Its id (see [`SmsRecord::id`]).
    pub id: String,
    /// Owner.
    pub owner_id: String,
    /// Campaign, if any.
    pub campaign_id: Option<String>,
    /// E.164.
    pub phone: String,
    /// Other columns (JSON object).
    pub fields: String,
    /// Text to send.
    pub text: String,
    /// `pending`, or `suppressed` (never sent).
    pub state: String,
    /// Unix ms.
    pub created_at: i64,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The phone took it.
    Sent,
    /// The phone already had it and says it was delivered.
    Delivered,
    /// Given up: the reason.
    Failed(String),
    /// Try again at this Unix ms; `counted`: whether it was an attempt (a phone that could
    /// not be reached is not).
    Retry {
        /// When.
        at: i64,
        /// Why.
        error: String,
        /// Whether it counts towards `max_attempts`.
        counted: bool,
    },
    /// On the suppression list now: never sent.
    Suppressed,
}

/// Messages by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StateCounts {
    /// Waiting.
    pub pending: i64,
    /// Being sent.
    pub sending: i64,
    /// Taken by the phone.
    pub sent: i64,
    /// Reported delivered.
    pub delivered: i64,
    /// Given up.
    pub failed: i64,
    /// Not sent: the number opted out.
    pub suppressed: i64,
}

impl StateCounts {
    /// Add `n` to the count of `state`.
    pub fn add(&mut self, state: &str, n: i64) {
        match state {
            "pending" => self.pending += n,
            "sending" => self.sending += n,
            "sent" => self.sent += n,
            "delivered" => self.delivered += n,
            "failed" => self.failed += n,
            "suppressed" => self.suppressed += n,
            _ => {}
        }
    }

    /// Every message counted.
    pub fn total(&self) -> i64 {
        self.pending + self.sending + self.sent + self.delivered + self.failed + self.suppressed
    }
}

/// A campaign transition's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Done; the campaign as it is now.
    Moved(Box<CampaignRecord>),
    /// No such campaign in scope.
    NotFound,
    /// The campaign is in this state, from which the move is not allowed.
    Refused(String),
}

/// What adding recipients did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Stored; how many were repeats of numbers already in the campaign.
    Done {
        /// New recipients.
        inserted: u64,
        /// Numbers the campaign had already.
        duplicates: u64,
    },
    /// No such campaign in scope.
    NotFound,
    /// The campaign no longer takes recipients (it is in this state).
    Closed,
}

/// One suppressed number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The owner whose list it is on ([`EVERYONE`] for a STOP).
    pub owner_id: String,
    /// E.164.
    pub phone: String,
    /// Why (`stop`, `manual`).
    pub reason: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// What `GET /api/database/stats` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CampaignStats {
    /// Campaigns.
    pub campaigns: i64,
    /// Recipients of campaigns.
    pub recipients: i64,
    /// Address-book contacts.
    pub contacts: i64,
    /// Every message (recipients and single sends) by state.
    pub messages: StateCounts,
    /// Suppressed numbers (the owner's and everyone's).
    pub suppressed_numbers: i64,
    /// The database's size, bytes.
    pub database_bytes: i64,
}

/// The campaign manager's storage.
#[async_trait]
pub trait CampaignStore: Send + Sync + 'static {
    /// Store a new campaign (draft).
    async fn create_campaign(&self, new: &NewCampaign) -> Result<CampaignRecord, StoreError>;
    /// One campaign in scope.
    async fn get_campaign(
        &self,
        id: &str,
        scope: Scope<'_>,
    ) -> Result<Option<CampaignRecord>, StoreError>;
    /// Campaigns in scope, newest first, before `before` (a `seq`).
    async fn list_campaigns(
        &self,
        scope: Scope<'_>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CampaignRecord>, StoreError>;
    /// Move a campaign from one of `from` to `to` at `at` (Unix seconds), atomically.
    async fn transition(
        &self,
        id: &str,
        scope: Scope<'_>,
        from: &[&str],
        to: &str,
        at: i64,
    ) -> Result<Transition, StoreError>;
    /// Add recipients to a campaign that still takes them (draft or paused), in one
    /// transaction; a number the campaign has is a duplicate, and `repeats` more (found in
    /// the file itself) are counted with them. `size` is the encoding and segments of the
    /// longest new rendering.
    async fn add_recipients(
        &self,
        campaign_id: &str,
        scope: Scope<'_>,
        recipients: &[NewSms],
        repeats: u64,
        size: (&str, i64),
    ) -> Result<Added, StoreError>;
    /// A campaign's messages by state.
    async fn campaign_counts(&self, campaign_id: &str) -> Result<StateCounts, StoreError>;
    /// A campaign's recipients after `after` (a `seq`), in upload order.
    async fn recipients(
        &self,
        campaign_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SmsRecord>, StoreError>;
    /// Insert or update an owner's contacts by number; `(phone, fields JSON)`.
    async fn upsert_contacts(
        &self,
        owner_id: &str,
        contacts: &[(String, String)],
        at: i64,
    ) -> Result<u64, StoreError>;
    /// Queue a single message.
    async fn create_sms(&self, new: &NewSms) -> Result<SmsRecord, StoreError>;
    /// One message in scope.
    async fn get_sms(&self, id: &str, scope: Scope<'_>) -> Result<Option<SmsRecord>, StoreError>;
    /// Running campaigns that may send at `now` (Unix seconds): `(id, rate)`.
    async fn due_campaigns(&self, now: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// Take up to `limit` messages due at `now_ms` — of campaign `campaign` (only while it
    /// is running), or single sends with `None` — and hold them until `lease_until`. A
    /// message whose holder's lease ran out is taken again. Several workers (on several
    /// nodes) never take the same message.
    async fn claim(
        &self,
        campaign: Option<&str>,
        now_ms: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<SmsRecord>, StoreError>;
    /// Record an attempt's outcome (releasing the message).
    async fn finish(&self, id: &str, outcome: &SendOutcome, now_ms: i64) -> Result<(), StoreError>;
    /// A report from the phone: `sent`, `delivered` or `failed` (with a reason). Only moves
    /// forward (a late "sent" never undoes "delivered"); `false` when nothing changed.
    async fn report(
        &self,
        id: &str,
        state: &str,
        reason: Option<&str>,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Mark running campaigns with nothing left to send as completed; returns their ids.
    async fn complete_finished(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// Put `phone` on `owner`'s list ([`EVERYONE`]: all lists); `false` if it was there.
    async fn suppress(
        &self,
        owner: &str,
        phone: &str,
        reason: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Take `phone` off `owner`'s list; `false` if it was not there.
    async fn unsuppress(&self, owner: &str, phone: &str) -> Result<bool, StoreError>;
    /// The suppressions in scope (an owner sees its own and everyone's).
    async fn suppressions(
        &self,
        scope: Scope<'_>,
        limit: u32,
    ) -> Result<Vec<Suppression>, StoreError>;
    /// Whether `phone` is suppressed for `owner` (on its list or everyone's).
    async fn is_suppressed(&self, owner: &str, phone: &str) -> Result<bool, StoreError>;
    /// Remember a phone report; `false` when it was seen before (webhooks repeat).
    async fn first_report(
        &self,
        message_id: &str,
        event: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Counts in scope, and the database's size.
    async fn stats(&self, scope: Scope<'_>) -> Result<CampaignStats, StoreError>;
    /// Messages in scope by state, those created since `since_ms` separately: `(queue,
    /// today)`.
    async fn message_counts(
        &self,
        scope: Scope<'_>,
        since_ms: i64,
    ) -> Result<(StateCounts, StateCounts), StoreError>;
    /// Delete every campaign, recipient, message, contact, suppression and report (never
    /// keys, sessions or audit); returns the rows deleted.
    async fn reset(&self) -> Result<u64, StoreError>;
}
