//! `GET /api/whoami`: who the presented key belongs to. Any valid key may ask.

use crate::auth::keys::{QuotaView, quota_view, rfc3339};
use crate::auth::{KeySource, Permission, Principal, Role};
use crate::config::RouteGroup;
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/api/whoami",
        get(whoami).route_layer(Guard::new(
            state,
            RouteGroup::Identity,
            Permission::IdentityRead,
        )),
    )
}

/// The caller's identity, as JSON.
#[derive(Serialize)]
struct Identity<'a> {
    owner: &'a str,
    owner_id: &'a str,
    role: Role,
    key_id: &'a str,
    expires_at: Option<String>,
    source: KeySource,
    permissions: Permissions,
    rate_limit: Option<&'a str>,
    quota: Option<QuotaView>,
}

/// A role's permissions, written as a list of names straight from the role's table.
pub(super) struct Permissions(pub(super) &'static [Permission]);

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|p| p.as_str()))
    }
}

async fn whoami(State(state): State<AppState>, principal: Principal) -> Response {
    let quota = principal.quota.as_ref().and_then(|q| {
        quota_view(
            q,
            state.verifier.pending_quota(&principal.key_id),
            state.clock.now(),
        )
    });
    Json(Identity {
        owner: &principal.owner,
        owner_id: &principal.owner_id,
        role: principal.role,
        key_id: &principal.key_id,
        expires_at: principal.expires_at.and_then(rfc3339),
        source: principal.source,
        permissions: Permissions(principal.role.permissions()),
        rate_limit: principal.rate_limit.as_deref(),
        quota,
    })
    .into_response()
}
