//! The encrypted config-file service (seed 002): `POST /api/config` (every other method
//! 405) and the server's public keys at `GET /.well-known/jwks.json`.
//!
//! Refusals before the body key is known are plain JSON (`ApiError::Envelope`). After it,
//! every answer, errors included, is sealed: `{"data": JWE, "signature": ES256}`, with the
//! HTTP status repeated as `status` inside `data`.

use crate::audit::{AuditEvent, Outcome};
use crate::auth::envelope::Opened;
use crate::auth::keys::rfc3339;
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::json::Json;
use crate::http::middleware::authorize::{PublicLimit, limit_public};
use crate::http::request_facts::{body_bytes, origin};
use crate::http::state::AppState;
use crate::services::configfiles::{self, Request as ConfigRequest};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    let limit = from_fn_with_state(PublicLimit::new(state, RouteGroup::Config), limit_public);
    Router::new()
        .route("/api/config", post(config).route_layer(limit))
        .route("/.well-known/jwks.json", get(jwks))
}

/// The public keys clients encrypt to and verify responses with. Public by design; cached
/// briefly by clients so that a rotation reaches them within minutes.
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.envelope.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// An outcome inside the envelope.
struct Sealed {
    status: StatusCode,
    message: String,
    fields: Map<String, Value>,
}

impl Sealed {
    fn error(status: u16, error: &str, message: impl Into<String>) -> Self {
        let mut fields = Map::new();
        fields.insert("error".to_owned(), error.into());
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
            fields,
        }
    }
}

async fn config(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (client_ip, _) = origin(&request);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let opened = match state.envelope.open(authorization.as_deref()).await {
        Ok(opened) => opened,
        Err(err) => {
            state
                .audit
                .record(
                    // The reason is a code: the error's text can quote the token's header.
                    AuditEvent::refused(
                        "config.refused",
                        "envelope token refused",
                        route.as_deref(),
                        client_ip,
                        err.reason(),
                    ),
                )
                .await;
            return Err(ApiError::Envelope(err));
        }
    };
    let body = body_bytes(request.into_body()).await;
    let (sealed, attempt) = match body {
        Ok(body) => handle(&state, &opened, &body).await,
        Err(ApiError::PayloadTooLarge) => (
            Sealed::error(
                413,
                "Payload too large",
                "The request body exceeds the size limit",
            ),
            None,
        ),
        Err(_) => (
            Sealed::error(400, "Bad request", "The body could not be read"),
            None,
        ),
    };
    if let Some(attempt) = &attempt {
        let outcome = match sealed.status.as_u16() {
            200 => "success",
            403 => "denied",
            _ => "failure",
        };
        crate::telemetry::metrics::metrics().config_action(attempt.action, outcome);
    }
    // Changes and refusals are audited; successful reads are not (they would drown the trail).
    if let Some(attempt) = attempt.filter(|a| sealed.status != StatusCode::OK || a.writes) {
        let outcome = match sealed.status.as_u16() {
            200 => Outcome::Success,
            403 => Outcome::Denied,
            _ => Outcome::Failure,
        };
        state
            .audit
            .record(
                // A refusal is recorded by its code, not its message: a message can quote the
                // request (a parse error), and request content never goes into the trail.
                AuditEvent::new(
                    &format!("config.{}", attempt.action),
                    outcome,
                    match sealed.fields.get("error").and_then(Value::as_str) {
                        Some(code) => code.to_owned(),
                        None => sealed.message.clone(),
                    },
                )
                .route(route.as_deref())
                .client(client_ip)
                .with("client", opened.client.name.clone())
                .with("file", attempt.file.unwrap_or_default())
                .with("status", sealed.status.as_u16())
                .with("jti", opened.jti.clone()),
            )
            .await;
    }
    seal(&state, &opened, sealed)
}

/// What a request tried to do, for the audit trail.
struct Attempt {
    action: &'static str,
    writes: bool,
    file: Option<String>,
}

/// Decrypt, authorise and carry out the request. Returns the outcome with the action and
/// file named (for the audit trail).
async fn handle(state: &AppState, opened: &Opened, body: &[u8]) -> (Sealed, Option<Attempt>) {
    let plaintext = match opened.open_body(body) {
        Ok(plaintext) => plaintext,
        Err(err) => {
            return (
                Sealed::error(
                    400,
                    "Bad request",
                    format!("body must be a compact JWE (dir, A256GCM) under body_key: {err}"),
                ),
                None,
            );
        }
    };
    let request: ConfigRequest = match serde_json::from_slice(&plaintext) {
        Ok(request) => request,
        Err(err) => {
            return (
                Sealed::error(400, "Bad request", format!("invalid request: {err}")),
                None,
            );
        }
    };
    let action = request.action();
    let file = request.file().map(str::to_owned);
    let attempt = Attempt {
        action,
        writes: request.writes(),
        file: file.clone(),
    };
    let client = &opened.client;
    if !client.may_use_action(action) {
        return (
            Sealed::error(
                403,
                "Forbidden",
                format!("client `{}` may not use `{action}`", client.name),
            ),
            Some(attempt),
        );
    }
    if let Some(name) = &file {
        // A file the client may not use answers like an unknown one when it is unknown,
        // and 403 when it exists: the client's own configuration lists what exists anyway.
        if !state.configfiles.contains(name) {
            let err = configfiles::ConfigFileError::UnknownFile(name.clone());
            let (status, code, message) = crate::http::error::sealed_config_error(&err);
            return (Sealed::error(status, code, message), Some(attempt));
        }
        if !client.may_use_file(name) {
            return (
                Sealed::error(
                    403,
                    "Forbidden",
                    format!("client `{}` may not use file `{name}`", client.name),
                ),
                Some(attempt),
            );
        }
    }
    let visible = |name: &str| client.may_use_file(name);
    let sealed = match state.configfiles.handle(request, &visible).await {
        Ok(answer) => Sealed {
            status: StatusCode::OK,
            message: answer.message,
            fields: answer.fields,
        },
        Err(err) => {
            if let configfiles::ConfigFileError::Io { .. } = err {
                tracing::error!(error = %err, client = %client.name, action, "config service failed");
            }
            let (status, code, message) = crate::http::error::sealed_config_error(&err);
            let mut sealed = Sealed::error(status, code, message);
            if let configfiles::ConfigFileError::Stale { current, .. } = &err {
                sealed
                    .fields
                    .insert("current_version".to_owned(), current.clone().into());
            }
            sealed
        }
    };
    (sealed, Some(attempt))
}

fn seal(state: &AppState, opened: &Opened, sealed: Sealed) -> Result<Response, ApiError> {
    let timestamp = rfc3339(state.clock.unix()).unwrap_or_default();
    let mut document = Map::new();
    document.insert("status".to_owned(), sealed.status.as_u16().into());
    document.insert("timestamp".to_owned(), timestamp.into());
    document.insert("message".to_owned(), sealed.message.into());
    document.extend(sealed.fields);
    let plaintext = serde_json::to_vec(&Value::Object(document))
        .map_err(|err| ApiError::Internal(format!("serialising a response: {err}")))?;
    let envelope = opened
        .seal(&plaintext)
        .map_err(|err| ApiError::Internal(format!("sealing a response: {err}")))?;
    Ok((sealed.status, Json(envelope)).into_response())
}
