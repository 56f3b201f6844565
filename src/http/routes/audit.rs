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
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let guard = Guard::new(state, RouteGroup::Audit, Permission::AuditRead);
    OpenApiRouter::new().routes(routes!(list).map(|route| route.route_layer(guard)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Query {
    /// Records at or after this time, RFC 3339.
    #[param(format = DateTime)]
    since: Option<String>,
    /// Records before this time, RFC 3339.
    #[param(format = DateTime)]
    until: Option<String>,
    /// Records of this owner or key id.
    actor: Option<String>,
    /// Records of this kind, e.g. `key.create`.
    kind: Option<String>,
    /// Records with this outcome.
    #[param(value_type = Option<AuditOutcome>, inline)]
    outcome: Option<String>,
    /// Records per page, 1 to 500 (default 100); a page also ends at about 1 MiB.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// An outcome, as recorded.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Names the three values for the document; the filter is a string.
enum AuditOutcome {
    Success,
    Failure,
    Denied,
}

/// A page of the audit trail, oldest first.
#[derive(Serialize, ToSchema)]
struct AuditPage {
    /// The records.
    #[schema(value_type = Vec<crate::audit::RecordView>)]
    events: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last one.
    next_cursor: Option<String>,
}

fn millis(field: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339)
            .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| ApiError::BadRequest(format!("{field} must be an RFC 3339 time")))
    })
    .transpose()
}

#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    summary = "Read the audit trail",
    params(Query),
    responses((status = 200, description = "A page of records.", body = AuditPage)),
    security(("api_key" = [])),
)]
async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<Query>,
) -> Result<Json<AuditPage>, ApiError> {
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
    Ok(Json(AuditPage {
        events,
        next_cursor,
    }))
}

/// Records read from the store at a time.
const READ_BATCH: u32 = 50;
/// A page of the audit trail holds at most about this many bytes of events (always at least
/// one event); `next_cursor` continues after the last one.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
