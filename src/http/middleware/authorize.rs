//! Authentication and permission check, mounted per route with the permission that route
//! needs (seed 000's `@require_auth(role=…)`, expressed as a permission):
//!
//! ```ignore
//! .route_layer(from_fn_with_state(Guard::new(&state, Permission::KeysManage), authorize))
//! ```
//!
//! Credentials: `X-API-Key: <key>` or `Authorization: Bearer <key>`. Every refusal is logged
//! with the key's public prefix (never the key), the client address and the route.

use crate::auth::{AuthError, KeyVerifier, Permission, Refusal, key_format};
use crate::http::error::ApiError;
use crate::http::server::peer;
use crate::http::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// A route's requirement: the permission, and the verifier to check keys with. Kept small:
/// it is cloned for every request.
#[derive(Clone)]
pub struct Guard {
    verifier: Arc<KeyVerifier>,
    permission: Permission,
}

impl Guard {
    /// Require `permission` on the routes this guard is mounted on.
    pub fn new(state: &AppState, permission: Permission) -> Self {
        Self {
            verifier: Arc::clone(&state.verifier),
            permission,
        }
    }
}

/// The credential in the request: `Ok(None)` when there is none, `Err` when it is ambiguous
/// or not text.
fn credential(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let api_key = headers
        .get("x-api-key")
        .map(|v| v.to_str().map_err(|_| Refusal::Malformed))
        .transpose()?;
    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| Refusal::Malformed)?;
            let (scheme, token) = value.split_once(' ').ok_or(Refusal::Malformed)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(Refusal::Malformed);
            }
            Some(token.trim())
        }
    };
    match (api_key, bearer) {
        (Some(_), Some(_)) => Err(Refusal::Malformed),
        (key, bearer) => Ok(key.or(bearer)),
    }
}

/// Authenticate, check the permission, and hand the `Principal` to the handler.
pub async fn authorize(
    State(guard): State<Guard>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = match credential(request.headers()) {
        Ok(Some(token)) => token,
        Ok(None) => return Err(refused(Refusal::Missing, None, &request)),
        Err(reason) => return Err(refused(reason, None, &request)),
    };
    let principal = match guard.verifier.verify(token).await {
        Ok(principal) => principal,
        Err(AuthError::Refused(reason)) => {
            let prefix = key_format::public_prefix(token);
            return Err(refused(reason, prefix, &request));
        }
        Err(AuthError::Store(err)) => return Err(err.into()),
    };
    if !principal.may(guard.permission) {
        let (client, route) = origin(&request);
        tracing::warn!(
            key_id = %principal.key_id,
            role = %principal.role,
            permission = %guard.permission.as_str(),
            client = %client,
            route = %route,
            "permission denied"
        );
        return Err(ApiError::Forbidden(guard.permission.required_role()));
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Client address and matched route, for log lines (computed only when something is logged).
fn origin(request: &Request) -> (String, &str) {
    let client = peer(request.extensions())
        .map(|addr| addr.ip().to_string())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or_default();
    (client, route)
}

fn refused(reason: Refusal, prefix: Option<String>, request: &Request) -> ApiError {
    let (client, route) = origin(request);
    tracing::warn!(
        reason = %reason.as_str(),
        key_prefix = %prefix.as_deref().unwrap_or("-"),
        client = %client,
        route = %route,
        "authentication refused"
    );
    ApiError::Unauthenticated
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn either_header_carries_the_key() {
        assert_eq!(credential(&headers(&[("x-api-key", "k")])), Ok(Some("k")));
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer k")])),
            Ok(Some("k"))
        );
        assert_eq!(
            credential(&headers(&[("authorization", "bearer k")])),
            Ok(Some("k"))
        );
        assert_eq!(credential(&headers(&[])), Ok(None));
    }

    #[test]
    fn other_schemes_and_ambiguous_requests_are_refused() {
        assert_eq!(
            credential(&headers(&[("authorization", "Basic a2V5")])),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer")])),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            credential(&headers(&[
                ("x-api-key", "a"),
                ("authorization", "Bearer b")
            ])),
            Err(Refusal::Malformed)
        );
    }
}
