//! Authentication and permission check, mounted per route with the permission that route
//! needs (seed 000's `@require_auth(role=…)`, expressed as a permission) and the route group
//! it belongs to (which decides whether a signed request is required):
//!
//! ```ignore
//! .route_layer(from_fn_with_state(Guard::new(&state, RouteGroup::Keys, Permission::KeysManage), authorize))
//! ```

use crate::audit::{AuditEvent, Outcome};
use crate::auth::Permission;
use crate::config::RouteGroup;
use crate::http::authn::{Admitted, Authenticator, origin};
use crate::http::error::ApiError;
use crate::http::middleware::access_log::{AttachCaller, Caller};
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// A route's requirement. Kept small: it is cloned for every request.
#[derive(Clone)]
pub struct Guard {
    authn: Arc<Authenticator>,
    group: &'static str,
    permission: Permission,
}

impl Guard {
    /// Require `permission` on the routes of `group` this guard is mounted on.
    pub fn new(state: &AppState, group: RouteGroup, permission: Permission) -> Self {
        Self {
            authn: Arc::clone(&state.authn),
            group: group.as_str(),
            permission,
        }
    }
}

/// Authenticate, check the permission, and hand the `Principal` to the handler.
pub async fn authorize(
    State(guard): State<Guard>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Admitted {
        principal,
        mut request,
        rate,
    } = match guard.authn.authenticate(request, guard.group).await {
        Ok(admitted) => admitted,
        Err(denied) => return Ok(denied.into_response()),
    };
    let caller = Caller::of(&principal);
    // The key's limit was counted before this check: a denied request spends it too.
    if !principal.may(guard.permission) {
        let (client, route) = origin(&request);
        tracing::warn!(
            key_id = %principal.key_id,
            role = %principal.role,
            permission = %guard.permission.as_str(),
            client = %client.map(|ip| ip.to_string()).as_deref().unwrap_or("-"),
            route = %route.as_deref().unwrap_or("-"),
            "permission denied"
        );
        guard
            .authn
            .audit
            .record(
                AuditEvent::new("permission.denied", Outcome::Denied, "permission denied")
                    .route(route.as_deref())
                    .client(client)
                    .actor_ids(Some(&principal.owner_id), Some(&principal.key_id))
                    .with("permission", guard.permission.as_str())
                    .with("role", principal.role.as_str()),
            )
            .await;
        let mut response = ApiError::Forbidden(guard.permission.required_role()).into_response();
        caller.attach(&mut response);
        return Ok(response);
    }
    request.extensions_mut().insert(principal);
    let mut response = next.run(request).await;
    if let Some(rate) = rate {
        rate.apply(&mut response);
    }
    caller.attach(&mut response);
    Ok(response)
}

/// Limits for routes without authentication (login): per address, and per route group.
#[derive(Clone)]
pub struct PublicLimit {
    authn: Arc<Authenticator>,
    group: &'static str,
}

impl PublicLimit {
    /// Limit the routes of `group` this is mounted on.
    pub fn new(state: &AppState, group: RouteGroup) -> Self {
        Self {
            authn: Arc::clone(&state.authn),
            group: group.as_str(),
        }
    }
}

/// Count the request against its address (and group) before the handler runs.
pub async fn limit_public(
    State(limit): State<PublicLimit>,
    request: Request,
    next: Next,
) -> Response {
    let (client, _) = origin(&request);
    let Some(ip) = client else {
        return next.run(request).await;
    };
    match limit.authn.limit_address(ip, Some(limit.group)).await {
        Ok(headers) => {
            let mut response = next.run(request).await;
            if let Some(headers) = headers {
                headers.apply(&mut response);
            }
            response
        }
        Err((error, headers)) => {
            let mut response = error.into_response();
            if let Some(headers) = headers {
                headers.apply(&mut response);
            }
            response
        }
    }
}
