//! Authentication and permission check, mounted per route with the permission that route
//! needs (seed 000's `@require_auth(role=…)`, expressed as a permission) and the route group
//! it belongs to (which decides whether a signed request is required):
//!
//! ```ignore
//! .route_layer(Guard::new(&state, RouteGroup::Keys, Permission::KeysManage))
//! ```
//!
//! The decision is the authenticator's (`auth::authenticator`); this layer only hands it the
//! request's facts and turns its answer into a response. It is a tower layer written out
//! rather than `axum::middleware::from_fn`, which boxes the inner service again for every
//! request (`Next`): on the authenticated path that showed in the profile.

use crate::auth::{Admitted, Authenticator, Denied, Permission};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::middleware::access_log::{AttachCaller, Caller};
use crate::http::rate_headers;
use crate::http::request_facts::{BufferedBody, client_ip};
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

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

impl<S> Layer<S> for Guard {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            guard: self.clone(),
            inner,
        }
    }
}

/// A route behind its [`Guard`].
#[derive(Clone)]
pub struct Guarded<S> {
    guard: Guard,
    inner: S,
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service answers this request; a clone takes its place for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move { Ok(authorize(&guard, inner, request).await) })
    }
}

/// Authenticate, check the permission, and hand the `Principal` to the handler.
async fn authorize<S>(guard: &Guard, mut inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let (parts, body) = request.into_parts();
    let mut body = BufferedBody::new(body);
    let decision = guard
        .authn
        .authorize(
            &crate::http::request_facts::facts(&parts),
            &mut body,
            guard.group,
            guard.permission,
        )
        .await;
    let Admitted { principal, rate } = match decision {
        Ok(admitted) => admitted,
        Err(denied) => return denied_response(denied),
    };
    let caller = Caller::of(&principal);
    let mut request = Request::from_parts(parts, body.into_body());
    request.extensions_mut().insert(principal);
    let mut response = match inner.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if let Some(rate) = &rate {
        rate_headers::apply(rate, &mut response);
    }
    caller.attach(&mut response);
    response
}

/// A denial as a response: the error, the `RateLimit` headers of the limit that refused,
/// and the caller (for the access line) when one was identified.
pub fn denied_response(denied: Denied<'_>) -> Response {
    let mut response = ApiError::from(denied.denial).into_response();
    if let Some(rate) = &denied.rate {
        rate_headers::apply(rate, &mut response);
    }
    if let Some(principal) = &denied.caller {
        Caller::of(principal).attach(&mut response);
    }
    response
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
    let Some(ip) = client_ip(&request) else {
        return next.run(request).await;
    };
    match limit.authn.limit_address(ip, Some(limit.group)).await {
        Ok(counted) => {
            let mut response = next.run(request).await;
            if let Some(counted) = &counted {
                rate_headers::apply(counted, &mut response);
            }
            response
        }
        Err(denied) => denied_response(denied),
    }
}
