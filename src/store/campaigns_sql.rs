//! The campaign manager's statements, the same for every engine (built over [`Binds`]); each
//! engine only runs them, in its own transactions. Where the engines differ (taking due
//! messages under concurrent workers, the database's size) the difference is a parameter.

use super::StoreError;
use super::campaigns::{
    CampaignRecord, CampaignStats, NewCampaign, NewSms, Scope, SendOutcome, SmsRecord,
};
use super::rows::Columns;
use super::sql::Binds;
use sqlx::QueryBuilder;

const CAMPAIGN_COLUMNS: &str = "SELECT c.seq, c.id, c.owner_id, COALESCE(o.name, c.owner_id) AS owner_name, \
     c.name, c.message, c.rate, c.state, c.start_at, c.created_at, c.started_at, c.completed_at, \
     c.duplicates, c.encoding, c.segments FROM campaigns c LEFT JOIN owners o ON o.id = c.owner_id";

const SMS_COLUMNS: &str = "seq, id, owner_id, campaign_id, phone, fields, text, state, attempts, \
     next_attempt_at, last_error, created_at, sent_at, delivered_at";

/// A campaign row (see [`CAMPAIGN_COLUMNS`]).
pub(crate) fn campaign(row: &impl Columns) -> Result<CampaignRecord, StoreError> {
    Ok(CampaignRecord {
        seq: row.int("seq")?,
        id: row.text("id")?,
        owner_id: row.text("owner_id")?,
        owner_name: row.text("owner_name")?,
        name: row.text("name")?,
        message: row.text("message")?,
        rate: row.text("rate")?,
        state: row.text("state")?,
        start_at: row.int_opt("start_at")?,
        created_at: row.int("created_at")?,
        started_at: row.int_opt("started_at")?,
        completed_at: row.int_opt("completed_at")?,
        duplicates: row.int("duplicates")?,
        encoding: row.text("encoding")?,
        segments: row.int("segments")?,
    })
}

/// A message row (see [`SMS_COLUMNS`]).
pub(crate) fn sms(row: &impl Columns) -> Result<SmsRecord, StoreError> {
    Ok(SmsRecord {
        seq: row.int("seq")?,
        id: row.text("id")?,
        owner_id: row.text("owner_id")?,
        campaign_id: row.text_opt("campaign_id")?,
        phone: row.text("phone")?,
        fields: row.text("fields")?,
        text: row.text("text")?,
        state: row.text("state")?,
        attempts: row.int("attempts")?,
        next_attempt_at: row.int("next_attempt_at")?,
        last_error: row.text_opt("last_error")?,
        created_at: row.int("created_at")?,
        sent_at: row.int_opt("sent_at")?,
        delivered_at: row.int_opt("delivered_at")?,
    })
}

fn scoped<DB: Binds>(query: &mut QueryBuilder<DB>, column: &str, scope: Scope<'_>) {
    if let Scope::Owner(owner) = scope {
        query.push(" AND ").push(column).push(" = ");
        DB::text(query, owner.to_owned());
    }
}

/// Insert a campaign.
pub(crate) fn insert_campaign<DB: Binds>(new: &NewCampaign) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(
        "INSERT INTO campaigns (id, owner_id, name, message, rate, state, start_at, created_at, \
         updated_at, encoding, segments) VALUES (",
    );
    DB::text(&mut q, new.id.clone());
    q.push(", ");
    DB::text(&mut q, new.owner_id.clone());
    q.push(", ");
    DB::text(&mut q, new.name.clone());
    q.push(", ");
    DB::text(&mut q, new.message.clone());
    q.push(", ");
    DB::text(&mut q, new.rate.clone());
    q.push(", 'draft', ");
    DB::int_opt(&mut q, new.start_at);
    q.push(", ");
    DB::int(&mut q, new.created_at);
    q.push(", ");
    DB::int(&mut q, new.created_at);
    q.push(", ");
    DB::text(&mut q, new.encoding.clone());
    q.push(", ");
    DB::int(&mut q, new.segments);
    q.push(")");
    q
}

/// One campaign in scope.
pub(crate) fn get_campaign<DB: Binds>(id: &str, scope: Scope<'_>) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(CAMPAIGN_COLUMNS);
    q.push(" WHERE c.id = ");
    DB::text(&mut q, id.to_owned());
    scoped(&mut q, "c.owner_id", scope);
    q
}

/// Campaigns in scope, newest first.
pub(crate) fn list_campaigns<DB: Binds>(
    scope: Scope<'_>,
    before: Option<i64>,
    limit: u32,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(CAMPAIGN_COLUMNS);
    q.push(" WHERE c.seq < ");
    DB::int(&mut q, before.unwrap_or(i64::MAX));
    scoped(&mut q, "c.owner_id", scope);
    q.push(" ORDER BY c.seq DESC LIMIT ");
    DB::int(&mut q, i64::from(limit));
    q
}

/// Move a campaign in scope from one of `from` to `to`; returns its id when it moved.
pub(crate) fn transition<DB: Binds>(
    id: &str,
    scope: Scope<'_>,
    from: &[&str],
    to: &str,
    at: i64,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE campaigns SET state = ");
    DB::text(&mut q, to.to_owned());
    q.push(", updated_at = ");
    DB::int(&mut q, at);
    if to == "running" {
        q.push(", started_at = COALESCE(started_at, ");
        DB::int(&mut q, at);
        q.push(")");
    }
    if to == "completed" || to == "cancelled" {
        q.push(", completed_at = ");
        DB::int(&mut q, at);
    }
    q.push(" WHERE id = ");
    DB::text(&mut q, id.to_owned());
    scoped(&mut q, "owner_id", scope);
    q.push(" AND state IN (");
    for (i, state) in from.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        DB::text(&mut q, (*state).to_owned());
    }
    q.push(") RETURNING id");
    q
}

/// Lock a campaign in scope that takes recipients (draft or paused) for an upload; returns
/// its id and state when it does.
pub(crate) fn open_for_recipients<DB: Binds>(
    id: &str,
    scope: Scope<'_>,
    at: i64,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE campaigns SET updated_at = ");
    DB::int(&mut q, at);
    q.push(" WHERE id = ");
    DB::text(&mut q, id.to_owned());
    scoped(&mut q, "owner_id", scope);
    q.push(" AND state IN ('draft', 'paused') RETURNING id");
    q
}

/// Insert messages, a number a campaign already has left out.
pub(crate) fn insert_messages<DB: Binds>(messages: &[NewSms]) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(
        "INSERT INTO sms_messages (id, owner_id, campaign_id, phone, fields, text, state, \
         next_attempt_at, created_at, updated_at) VALUES ",
    );
    for (i, m) in messages.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        DB::text(&mut q, m.id.clone());
        q.push(", ");
        DB::text(&mut q, m.owner_id.clone());
        q.push(", ");
        DB::text_opt(&mut q, m.campaign_id.clone());
        q.push(", ");
        DB::text(&mut q, m.phone.clone());
        q.push(", ");
        DB::text(&mut q, m.fields.clone());
        q.push(", ");
        DB::text(&mut q, m.text.clone());
        q.push(", ");
        DB::text(&mut q, m.state.clone());
        q.push(", ");
        DB::int(&mut q, m.created_at);
        q.push(", ");
        DB::int(&mut q, m.created_at);
        q.push(", ");
        DB::int(&mut q, m.created_at);
        q.push(")");
    }
    q.push(" ON CONFLICT (campaign_id, phone) DO NOTHING");
    q
}

/// Count `duplicates` more on a campaign, and keep the size of its longest rendering.
pub(crate) fn note_upload<DB: Binds>(
    id: &str,
    duplicates: u64,
    size: (&str, i64),
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE campaigns SET duplicates = duplicates + ");
    DB::int(&mut q, i64::try_from(duplicates).unwrap_or(i64::MAX));
    q.push(", encoding = CASE WHEN ");
    DB::int(&mut q, size.1);
    q.push(" > segments OR (");
    DB::text(&mut q, size.0.to_owned());
    q.push(" = 'UCS-2') THEN ");
    DB::text(&mut q, size.0.to_owned());
    q.push(" ELSE encoding END, segments = CASE WHEN ");
    DB::int(&mut q, size.1);
    q.push(" > segments THEN ");
    DB::int(&mut q, size.1);
    q.push(" ELSE segments END WHERE id = ");
    DB::text(&mut q, id.to_owned());
    q
}

/// A campaign's messages by state: rows of `(state, n)`.
pub(crate) fn campaign_counts<DB: Binds>(campaign_id: &str) -> QueryBuilder<DB> {
    let mut q =
        QueryBuilder::new("SELECT state, COUNT(*) AS n FROM sms_messages WHERE campaign_id = ");
    DB::text(&mut q, campaign_id.to_owned());
    q.push(" GROUP BY state");
    q
}

/// A campaign's recipients in upload order.
pub(crate) fn recipients<DB: Binds>(campaign_id: &str, after: i64, limit: u32) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("SELECT ");
    q.push(SMS_COLUMNS)
        .push(" FROM sms_messages WHERE campaign_id = ");
    DB::text(&mut q, campaign_id.to_owned());
    q.push(" AND seq > ");
    DB::int(&mut q, after);
    q.push(" ORDER BY seq LIMIT ");
    DB::int(&mut q, i64::from(limit));
    q
}

/// Insert or update contacts of one owner.
pub(crate) fn upsert_contacts<DB: Binds>(
    owner_id: &str,
    contacts: &[(String, String)],
    at: i64,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(
        "INSERT INTO contacts (owner_id, phone, fields, created_at, updated_at) VALUES ",
    );
    for (i, (phone, fields)) in contacts.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        DB::text(&mut q, owner_id.to_owned());
        q.push(", ");
        DB::text(&mut q, phone.clone());
        q.push(", ");
        DB::text(&mut q, fields.clone());
        q.push(", ");
        DB::int(&mut q, at);
        q.push(", ");
        DB::int(&mut q, at);
        q.push(")");
    }
    q.push(
        " ON CONFLICT (owner_id, phone) DO UPDATE SET fields = excluded.fields, \
         updated_at = excluded.updated_at",
    );
    q
}

/// One message in scope.
pub(crate) fn get_sms<DB: Binds>(id: &str, scope: Scope<'_>) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("SELECT ");
    q.push(SMS_COLUMNS).push(" FROM sms_messages WHERE id = ");
    DB::text(&mut q, id.to_owned());
    scoped(&mut q, "owner_id", scope);
    q
}

/// Running campaigns that may send at `now`.
pub(crate) fn due_campaigns<DB: Binds>(now: i64) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(
        "SELECT id, rate FROM campaigns WHERE state = 'running' AND (start_at IS NULL OR start_at <= ",
    );
    DB::int(&mut q, now);
    q.push(") ORDER BY seq");
    q
}

/// Take due messages of a running campaign (or single sends) and lease them. With
/// `skip_locked` (PostgreSQL), rows another worker is taking are passed over rather than
/// waited for; SQLite has one writer at a time, so the statement alone is enough.
pub(crate) fn claim<DB: Binds>(
    campaign: Option<&str>,
    now_ms: i64,
    lease_until: i64,
    limit: u32,
    skip_locked: bool,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE sms_messages SET state = 'sending', lease_until = ");
    DB::int(&mut q, lease_until);
    q.push(", updated_at = ");
    DB::int(&mut q, now_ms);
    q.push(" WHERE id IN (SELECT id FROM sms_messages WHERE ");
    match campaign {
        Some(id) => {
            q.push("campaign_id = ");
            DB::text(&mut q, id.to_owned());
            q.push(" AND campaign_id IN (SELECT id FROM campaigns WHERE state = 'running')");
        }
        None => {
            q.push("campaign_id IS NULL");
        }
    }
    q.push(" AND ((state = 'pending' AND next_attempt_at <= ");
    DB::int(&mut q, now_ms);
    q.push(") OR (state = 'sending' AND lease_until < ");
    DB::int(&mut q, now_ms);
    q.push(")) ORDER BY seq LIMIT ");
    DB::int(&mut q, i64::from(limit));
    if skip_locked {
        q.push(" FOR UPDATE SKIP LOCKED");
    }
    q.push(") RETURNING ").push(SMS_COLUMNS);
    q
}

/// Record an attempt's outcome.
pub(crate) fn finish<DB: Binds>(id: &str, outcome: &SendOutcome, now_ms: i64) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE sms_messages SET lease_until = NULL, updated_at = ");
    DB::int(&mut q, now_ms);
    match outcome {
        SendOutcome::Sent => {
            q.push(", state = 'sent', attempts = attempts + 1, last_error = NULL, sent_at = ");
            DB::int(&mut q, now_ms);
        }
        SendOutcome::Delivered => {
            q.push(", state = 'delivered', attempts = attempts + 1, sent_at = COALESCE(sent_at, ");
            DB::int(&mut q, now_ms);
            q.push("), delivered_at = ");
            DB::int(&mut q, now_ms);
        }
        SendOutcome::Failed(reason) => {
            q.push(", state = 'failed', attempts = attempts + 1, last_error = ");
            DB::text(&mut q, reason.clone());
        }
        SendOutcome::Retry { at, error, counted } => {
            q.push(", state = 'pending', next_attempt_at = ");
            DB::int(&mut q, *at);
            q.push(", last_error = ");
            DB::text(&mut q, error.clone());
            if *counted {
                q.push(", attempts = attempts + 1");
            }
        }
        SendOutcome::Suppressed => {
            q.push(", state = 'suppressed'");
        }
    }
    q.push(" WHERE id = ");
    DB::text(&mut q, id.to_owned());
    q.push(" AND state = 'sending'");
    q
}

/// Apply a phone's report, forward only.
pub(crate) fn report<DB: Binds>(
    id: &str,
    state: &str,
    reason: Option<&str>,
    at_ms: i64,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE sms_messages SET updated_at = ");
    DB::int(&mut q, at_ms);
    let from = match state {
        "sent" => {
            q.push(", state = 'sent', sent_at = COALESCE(sent_at, ");
            DB::int(&mut q, at_ms);
            q.push(")");
            "('sending', 'pending')"
        }
        "delivered" => {
            q.push(", state = 'delivered', sent_at = COALESCE(sent_at, ");
            DB::int(&mut q, at_ms);
            q.push("), delivered_at = ");
            DB::int(&mut q, at_ms);
            "('sending', 'pending', 'sent', 'failed')"
        }
        _ => {
            q.push(", state = 'failed', last_error = ");
            DB::text(
                &mut q,
                reason.unwrap_or("the phone reported a failure").to_owned(),
            );
            "('sending', 'pending', 'sent')"
        }
    };
    q.push(", lease_until = NULL WHERE id = ");
    DB::text(&mut q, id.to_owned());
    q.push(" AND state IN ").push(from);
    q
}

/// Running campaigns with nothing pending or being sent: completed.
pub(crate) fn complete_finished<DB: Binds>(now: i64) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("UPDATE campaigns SET state = 'completed', completed_at = ");
    DB::int(&mut q, now);
    q.push(", updated_at = ");
    DB::int(&mut q, now);
    q.push(" WHERE state = 'running' AND (start_at IS NULL OR start_at <= ");
    DB::int(&mut q, now);
    q.push(
        ") AND NOT EXISTS (SELECT 1 FROM sms_messages m WHERE m.campaign_id = campaigns.id \
         AND m.state IN ('pending', 'sending')) RETURNING id",
    );
    q
}

/// Add a suppression (kept if there).
pub(crate) fn suppress<DB: Binds>(
    owner: &str,
    phone: &str,
    reason: &str,
    at: i64,
) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(
        "INSERT INTO suppressions (owner_id, phone, reason, created_at) VALUES (",
    );
    DB::text(&mut q, owner.to_owned());
    q.push(", ");
    DB::text(&mut q, phone.to_owned());
    q.push(", ");
    DB::text(&mut q, reason.to_owned());
    q.push(", ");
    DB::int(&mut q, at);
    q.push(") ON CONFLICT (owner_id, phone) DO NOTHING");
    q
}

/// Remove a suppression.
pub(crate) fn unsuppress<DB: Binds>(owner: &str, phone: &str) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("DELETE FROM suppressions WHERE owner_id = ");
    DB::text(&mut q, owner.to_owned());
    q.push(" AND phone = ");
    DB::text(&mut q, phone.to_owned());
    q
}

/// Suppressions in scope (an owner's and everyone's).
pub(crate) fn suppressions<DB: Binds>(scope: Scope<'_>, limit: u32) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(
        "SELECT owner_id, phone, reason, created_at FROM suppressions WHERE 1 = 1",
    );
    if let Scope::Owner(owner) = scope {
        q.push(" AND owner_id IN (");
        DB::text(&mut q, owner.to_owned());
        q.push(", '*')");
    }
    q.push(" ORDER BY created_at DESC, phone LIMIT ");
    DB::int(&mut q, i64::from(limit));
    q
}

/// Whether a number is suppressed for an owner: a row when it is.
pub(crate) fn is_suppressed<DB: Binds>(owner: &str, phone: &str) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("SELECT 1 AS one FROM suppressions WHERE phone = ");
    DB::text(&mut q, phone.to_owned());
    q.push(" AND owner_id IN (");
    DB::text(&mut q, owner.to_owned());
    q.push(", '*') LIMIT 1");
    q
}

/// Remember a report (kept if there).
pub(crate) fn first_report<DB: Binds>(message_id: &str, event: &str, at: i64) -> QueryBuilder<DB> {
    let mut q =
        QueryBuilder::new("INSERT INTO sms_reports (message_id, event, received_at) VALUES (");
    DB::text(&mut q, message_id.to_owned());
    q.push(", ");
    DB::text(&mut q, event.to_owned());
    q.push(", ");
    DB::int(&mut q, at);
    q.push(") ON CONFLICT (message_id, event) DO NOTHING");
    q
}

/// The counts of stats (but messages, which come from [`message_counts`]): one row.
pub(crate) fn stats<DB: Binds>(scope: Scope<'_>) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("SELECT (SELECT COUNT(*) FROM campaigns WHERE 1 = 1");
    scoped(&mut q, "owner_id", scope);
    q.push(") AS campaigns, (SELECT COUNT(*) FROM sms_messages WHERE campaign_id IS NOT NULL");
    scoped(&mut q, "owner_id", scope);
    q.push(") AS recipients, (SELECT COUNT(*) FROM contacts WHERE 1 = 1");
    scoped(&mut q, "owner_id", scope);
    q.push(") AS contacts, (SELECT COUNT(*) FROM suppressions WHERE 1 = 1");
    if let Scope::Owner(owner) = scope {
        q.push(" AND owner_id IN (");
        DB::text(&mut q, owner.to_owned());
        q.push(", '*')");
    }
    q.push(") AS suppressed");
    q
}

/// Messages in scope by state, all and created since `since_ms`: rows of
/// `(state, n, today)`.
pub(crate) fn message_counts<DB: Binds>(scope: Scope<'_>, since_ms: i64) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new("SELECT state, COUNT(*) AS n, SUM(CASE WHEN created_at >= ");
    DB::int(&mut q, since_ms);
    q.push(" THEN 1 ELSE 0 END) AS today FROM sms_messages WHERE 1 = 1");
    scoped(&mut q, "owner_id", scope);
    q.push(" GROUP BY state");
    q
}

/// Everything `reset` deletes, one statement each.
pub(crate) const RESET_TABLES: &[&str] = &[
    "DELETE FROM sms_messages",
    "DELETE FROM campaigns",
    "DELETE FROM contacts",
    "DELETE FROM suppressions",
    "DELETE FROM sms_reports",
];

/// Stats with the counts of `row` (from [`stats`]), messages and size filled in by the caller.
pub(crate) fn stats_row(row: &impl Columns) -> Result<CampaignStats, StoreError> {
    Ok(CampaignStats {
        campaigns: row.int("campaigns")?,
        recipients: row.int("recipients")?,
        contacts: row.int("contacts")?,
        suppressed_numbers: row.int("suppressed")?,
        ..CampaignStats::default()
    })
}
