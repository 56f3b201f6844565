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
use crate::http::openapi::ErrorBody;
use crate::http::state::AppState;
use crate::store::{SessionRecord, SessionScope};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(end_for_owner))
        .routes(routes!(end_one))
        .route_layer(Guard::new(
            state,
            RouteGroup::Sessions,
            Permission::SessionsManage,
        ))
}

/// A session as admins see it: never its token.
#[derive(Serialize, ToSchema)]
struct SessionView<'a> {
    /// The session's id.
    id: &'a str,
    /// The owner's name.
    owner: &'a str,
    /// The owner's id.
    owner_id: &'a str,
    /// The key that logged in.
    key_id: &'a str,
    /// Now.
    state: SessionState,
    /// When it began, RFC 3339.
    created_at: Option<String>,
    /// When it ends (or ended) by itself, RFC 3339.
    expires_at: Option<String>,
    /// When it was ended, RFC 3339.
    ended_at: Option<String>,
    /// Why it was ended: `logout`, `ended by admin`, `key revoked`…
    end_reason: Option<&'a str>,
}

/// Where a session is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum SessionState {
    Live,
    Expired,
    Ended,
}

fn view(record: &SessionRecord, now: i64) -> SessionView<'_> {
    let state = if record.ended_at.is_some() {
        SessionState::Ended
    } else if record.expires_at <= now {
        SessionState::Expired
    } else {
        SessionState::Live
    };
    SessionView {
        id: &record.id,
        owner: &record.owner_name,
        owner_id: &record.owner_id,
        key_id: &record.key_id,
        state,
        created_at: rfc3339(record.created_at),
        expires_at: rfc3339(record.expires_at),
        ended_at: record.ended_at.and_then(rfc3339),
        end_reason: record.end_reason.as_deref(),
    }
}

/// Sessions, newest first.
#[derive(Serialize, ToSchema)]
struct SessionList<'a> {
    /// The sessions.
    sessions: Vec<SessionView<'a>>,
}

/// The sessions a request ended.
#[derive(Serialize, ToSchema)]
struct Ended {
    /// Their ids; empty when there were none to end.
    ended: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this owner's sessions (by name).
    owner: Option<String>,
    /// Only live sessions.
    active: Option<bool>,
    /// Sessions to list, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    summary = "List sessions",
    params(ListQuery),
    responses((status = 200, description = "The sessions.", body = SessionList)),
    security(("api_key" = [])),
)]
async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
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
    Ok(Json(SessionList {
        sessions: sessions.iter().map(|s| view(s, now)).collect(),
    })
    .into_response())
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

#[utoipa::path(
    post,
    path = "/api/sessions/{id}/end",
    tag = "sessions",
    summary = "End one session",
    params(("id" = String, Path, description = "The session's id.")),
    responses(
        (status = 200, description = "Ended.", body = Ended),
        (status = 404, description = "No such live session.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn end_one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Ended>, ApiError> {
    let ended = state
        .sessions
        .end(&SessionScope::One(id.clone()), "ended by admin")
        .await?;
    if ended.is_empty() {
        return Err(ApiError::NotFound);
    }
    audit_end(&state, &principal, &ended, &format!("session {id}")).await;
    Ok(Json(Ended { ended }))
}

/// Whose sessions to end.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EndForOwner {
    /// The owner's name.
    owner: String,
}

#[utoipa::path(
    post,
    path = "/api/sessions/end",
    tag = "sessions",
    summary = "End every live session of an owner",
    request_body = EndForOwner,
    responses((status = 200, description = "The sessions ended (none is not an error).",
        body = Ended)),
    security(("api_key" = [])),
)]
async fn end_for_owner(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<EndForOwner>,
) -> Result<Json<Ended>, ApiError> {
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
    Ok(Json(Ended { ended }))
}
