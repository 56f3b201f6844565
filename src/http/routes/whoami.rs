//! `GET /api/whoami`: who the presented key belongs to. Any valid key may ask.

use crate::auth::keys::{QuotaView, quota_view, rfc3339};
use crate::auth::{KeySource, Permission, Principal, Role};
use crate::config::RouteGroup;
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let guard = Guard::new(state, RouteGroup::Identity, Permission::IdentityRead);
    OpenApiRouter::new().routes(routes!(whoami).map(|route| route.route_layer(guard)))
}

/// The caller's identity, as JSON.
#[derive(Serialize, ToSchema)]
struct Identity<'a> {
    /// The owner's name.
    owner: &'a str,
    /// The owner's id.
    owner_id: &'a str,
    /// The key's role.
    role: Role,
    /// The key's id (`key_…`), or `env:NAME` for an environment key.
    key_id: &'a str,
    /// When the key stops working, RFC 3339; absent when it does not expire.
    expires_at: Option<String>,
    /// Where the key comes from.
    source: KeySource,
    /// What the role may do.
    #[schema(value_type = Vec<crate::http::openapi::PermissionName>)]
    permissions: Permissions,
    /// The key's own rate limit, e.g. `100/min`; absent: the role's applies.
    rate_limit: Option<&'a str>,
    /// The key's quota, with uses left now.
    quota: Option<QuotaView>,
}

/// A role's permissions, written as a list of names straight from the role's table.
pub(super) struct Permissions(pub(super) &'static [Permission]);

impl Serialize for Permissions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|p| p.as_str()))
    }
}

#[utoipa::path(
    get,
    path = "/api/whoami",
    tag = "identity",
    summary = "Who the presented credential belongs to",
    responses((status = 200, description = "The caller's identity.", body = Identity)),
    security(("api_key" = [])),
)]
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
