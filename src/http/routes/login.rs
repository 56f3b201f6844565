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
use crate::http::request_facts::{body_bytes, origin};
use crate::http::state::AppState;
use crate::store::SessionScope;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    let logout_guard = || Guard::new(state, RouteGroup::Identity, Permission::IdentityRead);
    let limit = || from_fn_with_state(PublicLimit::new(state, RouteGroup::Login), limit_public);
    Router::new()
        .route("/user/login", post(login).route_layer(limit()))
        .route("/api/login", post(login).route_layer(limit()))
        .route("/user/logout", post(logout).route_layer(logout_guard()))
        .route("/api/logout", post(logout).route_layer(logout_guard()))
}

#[derive(Debug, Default, Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    key: String,
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
        Json(json!({ "success": false, "message": message })),
    )
        .into_response()
}

async fn login(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
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
    let body = json!({
        "success": true,
        "session": login.token.expose(),
        "session_id": login.record.id,
        "expires_at": rfc3339(login.record.expires_at),
        "csrf_token": login.csrf.expose(),
    });
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

async fn logout(
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
    let mut response = Json(json!({ "success": true })).into_response();
    if let Ok(value) = HeaderValue::from_str(&session_cookie("", Duration::ZERO, state.tls)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
