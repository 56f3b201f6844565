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
use crate::http::openapi::{ErrorBody, GUARDED};
use crate::http::state::AppState;
use crate::secret::SecretString;
use crate::services::messages::NewMessage;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The route group of reads and deletes, for `[limits.groups]`.
const GROUP: RouteGroup = RouteGroup::Messages;
/// The route group of posts: limited apart from reads, since posts are what fill the drop.
const POST_GROUP: RouteGroup = RouteGroup::MessagePosts;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let limit = || from_fn_with_state(PublicLimit::new(state, GROUP), limit_public);
    let mut router = OpenApiRouter::new()
        .routes(routes!(describe))
        .routes(routes!(create).map(|route| posting_rule(state, route)))
        .routes(routes!(read).map(|route| route.route_layer(limit())))
        .routes(routes!(delete).map(|route| route.route_layer(limit())))
        .layer(from_fn_with_state(state.mount.clone(), allow_list));
    // The annotation describes open posting; with `posting = "key"`, say so.
    if state.messages.settings().posting == Posting::Key
        && let Some(post) = router
            .get_openapi_mut()
            .paths
            .paths
            .get_mut("/")
            .and_then(|item| item.post.as_mut())
    {
        post.security = Some(vec![SecurityRequirement::new(GUARDED, [""; 0])]);
    }
    router
}

/// The drop's root again at `at`: under a mount path, `nest` serves `/portcullis` but not
/// `/portcullis/`, which is where people post. (Described once, as `/`.)
pub fn root_router(state: &AppState, at: &str) -> Router<AppState> {
    Router::new()
        .route(at, get(describe).merge(posting_rule(state, post(create))))
        .layer(from_fn_with_state(state.mount.clone(), allow_list))
}

/// `POST /` with the posting rule: open and limited per address, or a key's permission.
fn posting_rule(state: &AppState, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    match state.messages.settings().posting {
        Posting::Open => route.route_layer(from_fn_with_state(
            PublicLimit::new(state, POST_GROUP),
            limit_public,
        )),
        Posting::Key => {
            route.route_layer(Guard::new(state, POST_GROUP, Permission::MessagesCreate))
        }
    }
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

/// What the drop is and how to use it.
#[derive(Serialize, ToSchema)]
struct Description {
    /// `portcullis message drop`.
    service: &'static str,
    /// Each route (`METHOD path`) and what it does.
    endpoints: BTreeMap<String, &'static str>,
    /// `open` (anyone, limited per address) or `key` (a key with `messages.create`).
    posting: &'static str,
    /// The largest message, in bytes.
    max_message_bytes: usize,
    /// A message's lifetime when none is asked for, e.g. `1day`.
    default_expires_in: String,
    /// The longest lifetime that may be asked for.
    max_expires_in: String,
}

/// `GET /`: what this service is and how to use it.
#[utoipa::path(
    get,
    path = "/",
    tag = "messages",
    summary = "Describe the message drop",
    responses((status = 200, description = "What the drop is and how to use it.",
        body = Description)),
)]
async fn describe(State(state): State<AppState>) -> Response {
    let settings = state.messages.settings();
    let mount = &state.mount;
    Json(Description {
        service: "portcullis message drop",
        endpoints: BTreeMap::from([
            (
                format!("POST {mount}/"),
                "store a message: {\"message\": \"…\", \"expires_in\": \"1h\", \"burn_after_reading\": true}",
            ),
            (format!("GET {mount}/msg/{{id}}"), "read a message"),
            (
                format!("POST {mount}/msg/{{id}}/delete"),
                "delete a message: {\"delete_token\": \"…\"}",
            ),
        ]),
        posting: match settings.posting {
            Posting::Open => "open",
            Posting::Key => "key",
        },
        max_message_bytes: settings.max_message_bytes,
        default_expires_in: humantime::format_duration(settings.default_expires_in).to_string(),
        max_expires_in: humantime::format_duration(settings.max_expires_in).to_string(),
    })
    .into_response()
}

/// A lifetime: `"1h"`, `"30m"`, `"7d"`, or a number of seconds.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
enum Lifetime {
    /// Seconds.
    #[serde(deserialize_with = "crate::whole_number::u64")]
    Seconds(u64),
    /// A duration such as `"30m"`, `"1h"`, `"7d"`.
    Text(String),
}

/// A message to store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// The text; encrypted at rest, never logged.
    #[schema(value_type = String)]
    message: SecretString,
    /// How long it is kept (default and maximum: `GET /`).
    #[serde(default)]
    expires_in: Option<Lifetime>,
    /// Delete it when it is first read.
    #[serde(default)]
    burn_after_reading: bool,
}

/// A stored message: where it is and how to delete it.
#[derive(Serialize, ToSchema)]
struct Stored<'a> {
    /// Its id: whoever holds it can read the message.
    id: String,
    /// Its URL.
    url: String,
    /// RFC 3339.
    created_at: Option<String>,
    /// When it is deleted by itself, RFC 3339.
    expires_at: Option<String>,
    /// Whether the first read deletes it.
    burn_after_reading: bool,
    /// The token that deletes it: shown this once.
    delete_token: &'a str,
    /// Where to send the token.
    delete_url: String,
}

/// A message as read.
#[derive(Serialize, ToSchema)]
struct Message<'a> {
    /// Its id.
    id: String,
    /// The text.
    message: &'a str,
    /// RFC 3339.
    created_at: Option<String>,
    /// RFC 3339.
    expires_at: Option<String>,
    /// Whether this read deleted it.
    burn_after_reading: bool,
}

/// A deletion.
#[derive(Serialize, ToSchema)]
struct Deleted {
    /// `true`.
    deleted: bool,
}

/// `POST /`: store a message; 201 with its id, URL and delete token.
#[utoipa::path(
    post,
    path = "/",
    tag = "messages",
    summary = "Store a message",
    description = "Open to anyone (limited per address) or, with `[messages] posting = \
        \"key\"`, to keys with `messages.create`.",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Stored.", body = Stored,
            headers(("Location" = String, description = "The message's URL."))),
        (status = 413, description = "The message is larger than `max_message_bytes`, or the \
            body than the server's limit.", body = ErrorBody),
        (status = 503, description = "The drop holds as many messages as it may (or the store \
            is unreachable); `Retry-After` says when to try again.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
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
        Json(Stored {
            id: created.id.to_string(),
            delete_url: format!("{url}/delete"),
            url: url.clone(),
            created_at: rfc3339(created.created_at),
            expires_at: rfc3339(created.expires_at),
            burn_after_reading: created.burn_after_reading,
            delete_token: created.delete_token.as_str(),
        }),
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
#[utoipa::path(
    get,
    path = "/msg/{id}",
    tag = "messages",
    summary = "Read a message",
    params(("id" = String, Path, description = "The message's id.")),
    responses(
        (status = 200, description = "The message (deleted now if it burns after reading).",
            body = Message),
        (status = 404, description = "No such message, or it expired, burned or was deleted.",
            body = ErrorBody),
    ),
)]
async fn read(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = id_text(id);
    let message = state.messages.read(&id).await?;
    Ok(Json(Message {
        id,
        message: message.text.as_str(),
        created_at: rfc3339(message.created_at),
        expires_at: rfc3339(message.expires_at),
        burn_after_reading: message.burn_after_reading,
    })
    .into_response())
}

/// The token given at creation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    /// The `delete_token` of the creation's answer.
    #[schema(value_type = String)]
    delete_token: SecretString,
}

/// `POST /msg/{id}/delete`: remove the message with the token given at creation.
#[utoipa::path(
    post,
    path = "/msg/{id}/delete",
    tag = "messages",
    summary = "Delete a message",
    params(("id" = String, Path, description = "The message's id.")),
    request_body = DeleteBody,
    responses(
        (status = 200, description = "Deleted.", body = Deleted),
        (status = 404, description = "No such message, or the token is not its own (the \
            two are not told apart).", body = ErrorBody),
    ),
)]
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
    Ok(Json(Deleted { deleted: true }).into_response())
}
