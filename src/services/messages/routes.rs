//! The message drop (seed 004) at the root of the server:
//!
//! | route | methods (the seed's allow list) |
//! |---|---|
//! | `/` | `GET` describes the service, `POST` stores a message |
//! | `/msg/{id}` | `GET` reads it |
//! | `/msg/{id}/delete` | `POST` with the delete token removes it |
//!
//! Any other method gets 405 with `Allow`, HEAD and OPTIONS included: the allow list is
//! enforced here, before the router's own method handling (which would answer HEAD).
//! Reading is public to whoever holds the URL; posting is open (rate-limited per address) or
//! needs the `messages.create` permission, as `[messages] posting` says.

use crate::auth::Permission;
use crate::auth::keys::rfc3339;
use crate::config::Posting;
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::json::Json;
use crate::http::middleware::authorize::{Guard, PublicLimit, limit_public};
use crate::http::state::AppState;
use crate::secret::SecretString;
use crate::services::messages::NewMessage;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The route group of reads and deletes, for `[limits.groups]`.
const GROUP: RouteGroup = RouteGroup::Messages;
/// The route group of posts: limited apart from reads, since posts are what fill the drop.
const POST_GROUP: RouteGroup = RouteGroup::MessagePosts;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    let limit = || from_fn_with_state(PublicLimit::new(state, GROUP), limit_public);
    Router::new()
        .route("/", root(state))
        .route("/msg/{id}", get(read).route_layer(limit()))
        .route("/msg/{id}/delete", post(delete).route_layer(limit()))
        .layer(from_fn_with_state(state.mount.clone(), allow_list))
}

/// The drop's root again at `at`: under a mount path, `nest` serves `/portcullis` but not
/// `/portcullis/`, which is where people post.
pub fn root_router(state: &AppState, at: &str) -> Router<AppState> {
    Router::new()
        .route(at, root(state))
        .layer(from_fn_with_state(state.mount.clone(), allow_list))
}

/// `GET /` and `POST /`, with the posting rule.
fn root(state: &AppState) -> axum::routing::MethodRouter<AppState> {
    let create = match state.messages.settings().posting {
        Posting::Open => post(create).route_layer(from_fn_with_state(
            PublicLimit::new(state, POST_GROUP),
            limit_public,
        )),
        Posting::Key => {
            post(create).route_layer(Guard::new(state, POST_GROUP, Permission::MessagesCreate))
        }
    };
    get(describe).merge(create)
}

/// The seed's method allow list, per route.
fn allowed(route: &str) -> Option<&'static [Method]> {
    match route {
        "/" => Some(&[Method::GET, Method::POST]),
        "/msg/{id}" => Some(&[Method::GET]),
        "/msg/{id}/delete" => Some(&[Method::POST]),
        _ => None,
    }
}

async fn allow_list(State(mount): State<Arc<str>>, request: Request, next: Next) -> Response {
    // Matched patterns carry the mount path (`/portcullis/msg/{id}`).
    let methods = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| route.as_str().strip_prefix(&*mount))
        .map(|route| if route.is_empty() { "/" } else { route })
        .and_then(allowed);
    match methods {
        Some(methods) if !methods.contains(request.method()) => {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut response = ApiError::MethodNotAllowed.into_response();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
        _ => next.run(request).await,
    }
}

/// `GET /`: what this service is and how to use it.
async fn describe(State(state): State<AppState>) -> Response {
    let settings = state.messages.settings();
    Json(json!({
        "service": "portcullis message drop",
        "endpoints": {
            format!("POST {}/", state.mount): "store a message: {\"message\": \"…\", \"expires_in\": \"1h\", \"burn_after_reading\": true}",
            format!("GET {}/msg/{{id}}", state.mount): "read a message",
            format!("POST {}/msg/{{id}}/delete", state.mount): "delete a message: {\"delete_token\": \"…\"}",
        },
        "posting": match settings.posting {
            Posting::Open => "open",
            Posting::Key => "key",
        },
        "max_message_bytes": settings.max_message_bytes,
        "default_expires_in": humantime::format_duration(settings.default_expires_in).to_string(),
        "max_expires_in": humantime::format_duration(settings.max_expires_in).to_string(),
    }))
    .into_response()
}

/// A lifetime: `"1h"`, `"30m"`, `"7d"`, or a number of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lifetime {
    Seconds(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    message: SecretString,
    #[serde(default)]
    expires_in: Option<Lifetime>,
    #[serde(default)]
    burn_after_reading: bool,
}

/// `POST /`: store a message; 201 with its id, URL and delete token.
async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let expires_in = match body.expires_in {
        None => None,
        Some(Lifetime::Seconds(seconds)) => Some(Duration::from_secs(seconds)),
        Some(Lifetime::Text(text)) => Some(crate::duration::parse(&text).ok_or_else(|| {
            ApiError::BadRequest(
                "expires_in must be a duration such as \"30m\", \"1h\", \"7d\", or seconds"
                    .to_owned(),
            )
        })?),
    };
    let created = state
        .messages
        .create(NewMessage {
            text: body.message,
            expires_in,
            burn_after_reading: body.burn_after_reading,
        })
        .await?;
    let url = format!("{}/msg/{}", state.mount, created.id);
    let mut response = (
        StatusCode::CREATED,
        Json(json!({
            "id": created.id.to_string(),
            "url": url,
            "created_at": rfc3339(created.created_at),
            "expires_at": rfc3339(created.expires_at),
            "burn_after_reading": created.burn_after_reading,
            "delete_token": created.delete_token.as_str(),
            "delete_url": format!("{url}/delete"),
        })),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The id segment as sent. One that is not even UTF-8 (`/msg/%FF`) is just another malformed
/// id: it goes down the same path as an unknown one (a 404 after a store lookup), not to the
/// framework's 400.
fn id_text(id: Result<Path<String>, PathRejection>) -> String {
    id.map(|Path(id)| id).unwrap_or_default()
}

/// `GET /msg/{id}`: the message, to whoever holds the id.
async fn read(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_text(id);
    let message = state.messages.read(&id).await?;
    Ok(Json(json!({
        "id": id,
        "message": message.text.as_str(),
        "created_at": rfc3339(message.created_at),
        "expires_at": rfc3339(message.expires_at),
        "burn_after_reading": message.burn_after_reading,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    delete_token: SecretString,
}

/// `POST /msg/{id}/delete`: remove the message with the token given at creation.
async fn delete(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Response, ApiError> {
    let id = id_text(id);
    state
        .messages
        .delete(&id, body.delete_token.expose())
        .await?;
    Ok(Json(json!({ "deleted": true })).into_response())
}
