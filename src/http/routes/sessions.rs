//! Admin view of sessions (`sessions.manage`): `GET /api/sessions?owner=&active=&limit=`,
//! `POST /api/sessions/{id}/end`, and `POST /api/sessions/end` with `{"owner": "…"}` to end
//! all of a user's sessions.

use crate::audit::{AuditEvent, Outcome};
use crate::auth::keys::rfc3339;
use crate::auth::{Permission, Principal};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::state::AppState;
use crate::store::{SessionRecord, SessionScope};
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(list))
        .route("/api/sessions/end", post(end_for_owner))
        .route("/api/sessions/{id}/end", post(end_one))
        .route_layer(Guard::new(
            state,
            RouteGroup::Sessions,
            Permission::SessionsManage,
        ))
}

fn view(record: &SessionRecord, now: i64) -> Value {
    let state = if record.ended_at.is_some() {
        "ended"
    } else if record.expires_at <= now {
        "expired"
    } else {
        "live"
    };
    json!({
        "id": record.id,
        "owner": record.owner_name,
        "owner_id": record.owner_id,
        "key_id": record.key_id,
        "state": state,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.expires_at),
        "ended_at": record.ended_at.and_then(rfc3339),
        "end_reason": record.end_reason,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    owner: Option<String>,
    active: Option<bool>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 200".to_owned(),
        ));
    }
    let now = state.sessions.now();
    let sessions = state
        .sessions
        .list(query.owner.as_deref(), query.active.unwrap_or(false), limit)
        .await?;
    Ok(Json(
        json!({ "sessions": sessions.iter().map(|s| view(s, now)).collect::<Vec<_>>() }),
    ))
}

async fn audit_end(state: &AppState, principal: &Principal, ended: &[String], scope: &str) {
    state
        .audit
        .record(
            AuditEvent::new(
                "session.end",
                Outcome::Success,
                "sessions ended by an admin",
            )
            .actor_ids(Some(&principal.owner_id), Some(&principal.key_id))
            .with("scope", scope.to_owned())
            .with("sessions", ended.to_vec()),
        )
        .await;
}

async fn end_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ended = state
        .sessions
        .end(&SessionScope::One(id.clone()), "ended by admin")
        .await?;
    if ended.is_empty() {
        return Err(ApiError::NotFound);
    }
    audit_end(&state, &principal, &ended, &format!("session {id}")).await;
    Ok(Json(json!({ "ended": ended })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndForOwner {
    owner: String,
}

async fn end_for_owner(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<EndForOwner>,
) -> Result<Json<Value>, ApiError> {
    let live = state.sessions.list(Some(&request.owner), true, 1).await?;
    let ended = match live.first() {
        Some(session) => {
            state
                .sessions
                .end(
                    &SessionScope::Owner(session.owner_id.clone()),
                    "ended by admin",
                )
                .await?
        }
        None => Vec::new(),
    };
    audit_end(
        &state,
        &principal,
        &ended,
        &format!("owner {}", request.owner),
    )
    .await;
    Ok(Json(json!({ "ended": ended })))
}
