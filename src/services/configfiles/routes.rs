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
use crate::http::openapi::ErrorBody;
use crate::http::request_facts::{body_bytes, origin};
use crate::http::state::AppState;
use crate::services::configfiles::{self, Request as ConfigRequest};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let limit = from_fn_with_state(PublicLimit::new(state, RouteGroup::Config), limit_public);
    OpenApiRouter::new()
        .routes(routes!(config).map(|route| route.route_layer(limit)))
        .routes(routes!(jwks))
}

/// A sealed answer: what the server says, encrypted to the request's body key and signed
/// with the server's key. Decrypted, `data` holds `{"status", "timestamp", "message", …}`,
/// the HTTP status repeated as `status`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Describes `Opened::seal`'s output for the document.
struct SealedAnswer {
    /// Compact JWE (`dir`, `A256GCM`) under the request's body key.
    data: String,
    /// Base64url ES256 signature of `data` by the server's signing key.
    signature: String,
}

/// An answer of the config service: sealed once the body key is known, plain before.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Describes two bodies for the document; neither is built through it.
enum ConfigAnswer {
    Sealed(SealedAnswer),
    Refused(ErrorBody),
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Describes `EnvelopeVerifier::jwks` for the document.
struct KeySet {
    /// The server's public keys (P-256): `use: enc` to encrypt tokens to, `use: sig` to
    /// verify answers with; each with its `kid`.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Value>,
}

/// The public keys clients encrypt to and verify responses with. Public by design; cached
/// briefly by clients so that a rotation reaches them within minutes.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "config",
    summary = "The server's public keys",
    responses((status = 200, description = "The key set.", body = KeySet,
        headers(("Cache-Control" = String, description = "`public, max-age=300`.")))),
)]
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

/// Seed 002's encrypted config service.
#[utoipa::path(
    post,
    path = "/api/config",
    tag = "config",
    summary = "Read or change a config file, end-to-end encrypted",
    description = "The body is a compact JWE (`dir`, `A256GCM`) under the body key that the \
        `Authorization` token carries; decrypted, it is `{\"action\": \"list\" | \"read\" | \
        \"get\" | \"set\" | \"delete\" | …, \"file\", …}`. Refusals before the body key is \
        known are plain JSON; every answer after it, errors included, is sealed.",
    request_body(content = String, content_type = "application/jose",
        description = "Compact JWE under the body key."),
    responses(
        (status = 200, description = "Done; the sealed answer.", body = SealedAnswer),
        (status = 400, description = "A malformed token (plain), or a body that does not \
            decrypt or parse (sealed).", body = ConfigAnswer),
        (status = 401, description = "No token, or one that is expired, replayed, too long-lived \
            or undecryptable (plain).", body = ErrorBody),
        (status = 403, description = "The token's signature is bad (plain), or the client may \
            not use this action or file (sealed).", body = ConfigAnswer),
        (status = 404, description = "No such file, key or section (sealed).",
            body = SealedAnswer),
        (status = 409, description = "The file changed since the version the client read \
            (sealed, with `current_version`).", body = SealedAnswer),
        (status = 413, description = "The body, or the file it would make, is too large.",
            body = ConfigAnswer),
    ),
    security(("envelope" = [])),
)]
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
