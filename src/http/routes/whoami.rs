//! `GET /api/whoami`: who the presented key belongs to. Any valid key may ask.

use crate::auth::keys::rfc3339;
use crate::auth::{Permission, Principal};
use crate::http::middleware::authorize::{Guard, authorize};
use crate::http::state::AppState;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/api/whoami",
        get(whoami).route_layer(from_fn_with_state(
            Guard::new(state, Permission::IdentityRead),
            authorize,
        )),
    )
}

async fn whoami(principal: Principal) -> Json<Value> {
    let permissions: Vec<&str> = principal
        .role
        .permissions()
        .iter()
        .map(|p| p.as_str())
        .collect();
    Json(json!({
        "owner": principal.owner,
        "owner_id": principal.owner_id,
        "role": principal.role,
        "key_id": principal.key_id,
        "expires_at": principal.expires_at.and_then(rfc3339),
        "source": principal.source,
        "permissions": permissions,
    }))
}
