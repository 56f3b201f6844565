//! `GET /api/audit` (`audit.read`): the audit trail, filtered by `since` / `until`
//! (RFC 3339), `actor` (owner or key id), `kind`, `outcome`; paginated with `limit` and
//! `cursor`.

use crate::audit::record_json;
use crate::auth::Permission;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::middleware::authorize::{Guard, authorize};
use crate::http::state::AppState;
use crate::store::AuditFilter;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/api/audit",
        get(list).route_layer(from_fn_with_state(
            Guard::new(state, "audit", Permission::AuditRead),
            authorize,
        )),
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
    let filter = AuditFilter {
        since_ms: millis("since", query.since.as_deref())?,
        until_ms: millis("until", query.until.as_deref())?,
        actor: query.actor,
        kind: query.kind,
        outcome: query.outcome,
        after,
        limit,
    };
    let records = state.store.audit_events(&filter).await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.seq.to_string()))
        .flatten();
    Ok(Json(json!({
        "events": records.iter().map(record_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}
