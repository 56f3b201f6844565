//! `GET /api/audit` (`audit.read`): the audit trail, filtered by `since` / `until`
//! (RFC 3339), `actor` (owner or key id), `kind`, `outcome`; paginated with `limit` (rows)
//! and `cursor`, and each page bounded to about 1 MiB.

use crate::audit::record_json;
use crate::auth::Permission;
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::state::AppState;
use crate::store::AuditFilter;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/api/audit",
        get(list).route_layer(Guard::new(state, RouteGroup::Audit, Permission::AuditRead)),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    since: Option<String>,
    until: Option<String>,
    actor: Option<String>,
    kind: Option<String>,
    outcome: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn millis(field: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339)
            .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| ApiError::BadRequest(format!("{field} must be an RFC 3339 time")))
    })
    .transpose()
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<Query>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500".to_owned(),
        ));
    }
    if let Some(outcome) = &query.outcome
        && !["success", "failure", "denied"].contains(&outcome.as_str())
    {
        return Err(ApiError::BadRequest(
            "outcome must be success, failure or denied".to_owned(),
        ));
    }
    let after = match &query.cursor {
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::BadRequest("cursor is not valid".to_owned()))?,
        ),
        None => None,
    };
    let mut filter = AuditFilter {
        since_ms: millis("since", query.since.as_deref())?,
        until_ms: millis("until", query.until.as_deref())?,
        actor: query.actor,
        kind: query.kind,
        outcome: query.outcome,
        after,
        limit: 0,
        descending: false,
    };
    // Bounded by bytes as well as rows: records are read a few at a time and the page ends
    // when it is full, so neither the response nor the memory behind it can grow with what
    // the records hold (records written before fields were bounded can be large).
    let mut events = Vec::new();
    let mut bytes = 0usize;
    let mut more = false;
    'pages: while events.len() < limit as usize {
        filter.limit = (limit - events.len() as u32).min(READ_BATCH);
        let records = state.store.audit_events(&filter).await?;
        let exhausted = records.len() < filter.limit as usize;
        for record in &records {
            let event = record_json(record);
            let size = serde_json::to_string(&event).map_or(0, |t| t.len());
            if !events.is_empty() && bytes + size > MAX_PAGE_BYTES {
                more = true;
                break 'pages;
            }
            bytes += size;
            events.push(event);
            filter.after = Some(record.seq);
        }
        if exhausted {
            break;
        }
        more = events.len() == limit as usize;
    }
    let next_cursor = more
        .then(|| filter.after.map(|seq| seq.to_string()))
        .flatten();
    Ok(Json(json!({
        "events": events,
        "next_cursor": next_cursor,
    })))
}

/// Records read from the store at a time.
const READ_BATCH: u32 = 50;
/// A page of the audit trail holds at most about this many bytes of events (always at least
/// one event); `next_cursor` continues after the last one.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
