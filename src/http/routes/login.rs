//! Login and logout (seed 001): `POST /user/login` (also `/api/login`), form-encoded or JSON,
//! with `username` and `key`. Success:
//! `{"success":true,"session":"<token>","session_id":"<id>","expires_at":"…","csrf_token":"…"}`;
//! every failure: 401 `{"success":false,"message":"Invalid credentials"}`. `GET` is 405:
//! credentials never go in a URL.

use crate::audit::{AuditEvent, Outcome};
use crate::auth::authenticator::LoginDenied;
use crate::auth::keys::rfc3339;
use crate::auth::{Permission, Principal};
use crate::config::RouteGroup;
use crate::http::cookies::session_cookie;
use crate::http::error::ApiError;
use crate::http::json::Json;
use crate::http::middleware::authorize::{Guard, PublicLimit, limit_public};
use crate::http::openapi::ErrorBody;
use crate::http::request_facts::{body_bytes, origin};
use crate::http::state::AppState;
use crate::store::SessionScope;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let logout_guard = || Guard::new(state, RouteGroup::Identity, Permission::IdentityRead);
    let limit = || from_fn_with_state(PublicLimit::new(state, RouteGroup::Login), limit_public);
    OpenApiRouter::new()
        .routes(routes!(login).map(|route| route.route_layer(limit())))
        .routes(routes!(api_login).map(|route| route.route_layer(limit())))
        .routes(routes!(logout).map(|route| route.route_layer(logout_guard())))
        .routes(routes!(api_logout).map(|route| route.route_layer(logout_guard())))
}

/// A username and a key, as JSON or as a form.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct Credentials {
    /// The owner's name.
    #[serde(default)]
    username: String,
    /// One of the owner's API keys.
    #[serde(default)]
    key: String,
}

/// A login: the session token and the CSRF token that cookie-authenticated changes need.
#[derive(Serialize, ToSchema)]
struct LoggedIn<'a> {
    /// `true`.
    success: bool,
    /// The session token (`pcs_…`), for `Authorization: Bearer`; also set as the
    /// `portcullis_session` cookie when cookies are on.
    session: &'a str,
    /// The session's id, as admins see it.
    session_id: &'a str,
    /// When the session ends, RFC 3339.
    expires_at: Option<String>,
    /// Send in `X-CSRF-Token` on cookie-authenticated requests that change state.
    csrf_token: &'a str,
}

/// Every refused login, whatever the reason (seed 001's body).
#[derive(Serialize, ToSchema)]
struct LoginFailed<'a> {
    /// `false`.
    success: bool,
    /// `Invalid credentials`, or why to wait.
    message: &'a str,
}

/// A login route's 429: a lockout (seed 001's body) or the per-address limit (our shape).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // A description of two bodies; neither is built through it.
enum LoginTooMany<'a> {
    LockedOut(LoginFailed<'a>),
    Limited(ErrorBody),
}

/// A logout.
#[derive(Serialize, ToSchema)]
struct LoggedOut {
    /// `true`.
    success: bool,
}

/// Form or JSON, by content type; anything unreadable counts as missing fields.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Credentials {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        serde_json::from_slice(body).unwrap_or_default()
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).unwrap_or_default()
    } else {
        Credentials::default()
    }
}

fn failure(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(LoginFailed {
            success: false,
            message,
        }),
    )
        .into_response()
}

/// Seed 001's login route.
#[utoipa::path(
    post,
    path = "/user/login",
    tag = "sessions",
    summary = "Log in with a username and a key",
    description = "Form-encoded or JSON. Every refusal, an unreadable body included, is the \
        same 401: credentials never go in a URL (`GET` is 405). Limited per address, and \
        repeated failures lock the address and the username out for a while.",
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A session.", body = LoggedIn,
            headers(("Set-Cookie" = String, description = "The session cookie, when cookies \
                are on: `HttpOnly; SameSite=Strict`, `Secure` over TLS."))),
        (status = 401, description = "Refused, whatever the reason.", body = LoginFailed),
        (status = 429, description = "Locked out after failures, or over the per-address \
            limit; `Retry-After` says when to try again.", body = LoginTooMany,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
async fn login(state: State<AppState>, request: Request) -> Result<Response, ApiError> {
    log_in(state, request).await
}

/// The same login under `/api`.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "sessions",
    summary = "Log in with a username and a key (as `/user/login`)",
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A session.", body = LoggedIn,
            headers(("Set-Cookie" = String, description = "The session cookie, when cookies \
                are on."))),
        (status = 401, description = "Refused, whatever the reason.", body = LoginFailed),
        (status = 429, description = "Locked out, or over the per-address limit.",
            body = LoginTooMany, headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
async fn api_login(state: State<AppState>, request: Request) -> Result<Response, ApiError> {
    log_in(state, request).await
}

async fn log_in(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (client, route) = origin(&request);
    let headers = request.headers().clone();
    let body: Bytes = body_bytes(request.into_body()).await?;
    let credentials = credentials(&headers, &body);
    let login = match state
        .authn
        .login(
            client,
            route.as_deref(),
            &credentials.username,
            &credentials.key,
        )
        .await
    {
        Ok(login) => login,
        Err(LoginDenied::LockedOut(wait)) => {
            let mut response = failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts; retry later",
            );
            if let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(response);
        }
        Err(LoginDenied::Refused) => {
            return Ok(failure(StatusCode::UNAUTHORIZED, "Invalid credentials"));
        }
        Err(LoginDenied::Store(err)) => return Err(err.into()),
        Err(LoginDenied::Random(err)) => {
            return Err(ApiError::Internal(format!("random generator: {err}")));
        }
    };
    let body = LoggedIn {
        success: true,
        session: login.token.expose(),
        session_id: &login.record.id,
        expires_at: rfc3339(login.record.expires_at),
        csrf_token: login.csrf.expose(),
    };
    let mut response = Json(body).into_response();
    if state.authn.policy.session_cookie {
        let ttl = Duration::from_secs(
            u64::try_from(login.record.expires_at - state.sessions.now()).unwrap_or(0),
        );
        if let Ok(value) =
            HeaderValue::from_str(&session_cookie(login.token.expose(), ttl, state.tls))
        {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Seed 001's logout route.
#[utoipa::path(
    post,
    path = "/user/logout",
    tag = "sessions",
    summary = "End the session this request is authenticated with",
    responses(
        (status = 200, description = "Ended; the cookie is cleared.", body = LoggedOut),
        (status = 400, description = "The request is not authenticated with a session.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn logout(
    state: State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    log_out(state, principal, request).await
}

/// The same logout under `/api`.
#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "sessions",
    summary = "End the session this request is authenticated with (as `/user/logout`)",
    responses(
        (status = 200, description = "Ended; the cookie is cleared.", body = LoggedOut),
        (status = 400, description = "The request is not authenticated with a session.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn api_logout(
    state: State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    log_out(state, principal, request).await
}

async fn log_out(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    let (client, route) = origin(&request);
    let Some(session_id) = principal.session_id.clone() else {
        return Err(ApiError::BadRequest(
            "Not a session; log in first".to_owned(),
        ));
    };
    state
        .sessions
        .end(&SessionScope::One(session_id.clone()), "logout")
        .await?;
    state
        .audit
        .record(
            AuditEvent::new("session.end", Outcome::Success, "logged out")
                .route(route.as_deref())
                .client(client)
                .actor_ids(Some(&principal.owner_id), Some(&principal.key_id))
                .with("session_id", session_id),
        )
        .await;
    let mut response = Json(LoggedOut { success: true }).into_response();
    if let Ok(value) = HeaderValue::from_str(&session_cookie("", Duration::ZERO, state.tls)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
