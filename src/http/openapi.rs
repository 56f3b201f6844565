//! The OpenAPI 3.1 document of the running server, generated from the handlers' own
//! annotations (`#[utoipa::path]` beside each handler, collected by `utoipa-axum`'s router as
//! the routes are registered, so a route cannot be served without being described).
//!
//! What the annotations leave to this module, so that it is said once:
//! - the credentials a guarded route accepts. An annotation marks a route as guarded with
//!   `security(("api_key" = []))`; [`finish`] replaces that with every credential the
//!   authenticator takes, as alternatives;
//! - the error statuses any route can answer (a malformed request, a body too large, a rate
//!   limit, an unavailable store…) and, on guarded routes, 401 and 403. Every one has our
//!   error shape, [`ErrorBody`], with the stable code in `X-Error-Code`;
//! - the servers (`server.base_url`), the title and version.
//!
//! The document is serialized once, when the router is built, and served as bytes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Components, InfoBuilder, OpenApi, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// The name guarded routes' annotations use for "any credential the authenticator accepts".
pub const GUARDED: &str = "api_key";

/// The config service's own credential (`auth::envelope`).
pub const ENVELOPE: &str = "envelope";

/// Every error body: a short title and a sentence that says what to do. The stable,
/// machine-readable code rides in the `X-Error-Code` header, so the bodies stay exactly what
/// seed 000's clients read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A short title, e.g. `Authentication required`.
    pub error: String,
    /// What went wrong and what to do about it; never a secret, never a stack trace.
    pub message: String,
}

/// Not empty, not only spaces, no control characters (`char::is_control`, Unicode's Cc): the
/// rule of every name a request gives, as a JSON Schema (ECMA-262) pattern.
const NAME_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// A name as the key manager takes it (owners, labels): 1 to 128 characters
/// (`auth::keys::checks::validate_name`).
pub struct Name;

/// A campaign's name: 1 to 200 characters (`campaigns::manage`).
pub struct CampaignName;

fn name_schema(max: usize, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(NAME_PATTERN))
        .description(Some(description))
        .into()
}

impl PartialSchema for Name {
    fn schema() -> RefOr<Schema> {
        name_schema(
            128,
            "1 to 128 characters, not only spaces, no control characters.",
        )
    }
}

impl ToSchema for Name {}

impl PartialSchema for CampaignName {
    fn schema() -> RefOr<Schema> {
        name_schema(
            200,
            "1 to 200 characters, not only spaces, no control characters.",
        )
    }
}

impl ToSchema for CampaignName {}

/// A permission's name, as roles hold them (`auth::policy::Permission`).
pub struct PermissionName;

impl PartialSchema for PermissionName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                crate::auth::Permission::ALL.iter().map(|p| p.as_str()),
            ))
            .description(Some("A permission, e.g. `keys.manage`."))
            .into()
    }
}

impl ToSchema for PermissionName {}

/// The statuses any route may answer, whatever it does: (status, component name, meaning).
const EDGE_ERRORS: [(&str, &str, &str); 5] = [
    (
        "400",
        "BadRequest",
        "The request is malformed: a bad header, a duplicated credential header, bad \
         parameters or body. The message says which.",
    ),
    (
        "408",
        "Timeout",
        "The request took longer than `limits.request_timeout`.",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than `limits.max_body_bytes` (or the route's own limit).",
    ),
    (
        "429",
        "TooManyRequests",
        "A rate limit, a quota or a lockout; `Retry-After` says when to try again.",
    ),
    (
        "503",
        "Unavailable",
        "The store (or, with `redis_failure = \"closed\"`, the limiter) is unreachable; \
         `Retry-After` says when to try again.",
    ),
];

/// Added to operations with a JSON request body.
const JSON_ERRORS: [(&str, &str, &str); 1] = [(
    "415",
    "UnsupportedMediaType",
    "The body is not `application/json`.",
)];

/// Added to guarded operations.
const GUARD_ERRORS: [(&str, &str, &str); 2] = [
    (
        "401",
        "Unauthenticated",
        "No credential, or one that was refused (unknown, revoked, expired, disabled, a bad \
         signature or a replay). Deliberately says nothing more.",
    ),
    (
        "403",
        "Forbidden",
        "The credential is good but its role lacks the permission, or a cookie-authenticated \
         request that changes state lacks the CSRF token.",
    ),
];

/// Added to every operation: the cause is logged, the body shows only the request id.
const INTERNAL: (&str, &str, &str) = (
    "500",
    "Internal",
    "Something failed inside the server; the message carries the request id to quote.",
);

/// The document as built from the routes, made whole: info, servers, security schemes, the
/// error responses every operation can give, and `/openapi.json` itself when it is served.
pub fn finish(mut api: OpenApi, base_url: Option<&str>, serves_document: bool) -> OpenApi {
    if serves_document {
        api.paths
            .add_path_operation("/openapi.json", vec![utoipa::openapi::HttpMethod::Get], {
                <__path_document as utoipa::Path>::operation()
            });
    }
    api.info = InfoBuilder::new()
        .title("Portcullis")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A secure API server: API keys with roles, sessions, signed requests, limits, \
             audit, and the services of five seed systems. Every error has the shape \
             `{\"error\", \"message\"}` with a stable code in `X-Error-Code`.",
        ))
        .build();
    api.servers = Some(vec![Server::new(
        base_url.map(|u| u.trim_end_matches('/')).unwrap_or("/"),
    )]);
    let components = api.components.get_or_insert_with(Components::new);
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    for (status, name, meaning) in EDGE_ERRORS
        .iter()
        .chain(&JSON_ERRORS)
        .chain(&GUARD_ERRORS)
        .chain([&INTERNAL])
    {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(error_response(status, meaning)),
        );
    }
    add_security_schemes(components);
    unique_operation_ids(&mut api);
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete(operation);
        }
    }
    api
}

/// Operation ids are the handlers' names; where two areas share one (`create`, `list`), both
/// are prefixed with their tag (`keys_create`, `campaigns_create`), so every id is unique
/// and the common ones stay short.
fn unique_operation_ids(api: &mut OpenApi) {
    let operations = || {
        api.paths.paths.values().flat_map(|item| {
            [&item.get, &item.post, &item.put, &item.delete, &item.patch]
                .into_iter()
                .flatten()
        })
    };
    let mut uses = std::collections::BTreeMap::<String, usize>::new();
    for operation in operations() {
        if let Some(id) = &operation.operation_id {
            *uses.entry(id.clone()).or_default() += 1;
        }
    }
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let shared = operation
                .operation_id
                .as_ref()
                .is_some_and(|id| uses.get(id).copied().unwrap_or(0) > 1);
            let tag = operation.tags.as_ref().and_then(|t| t.first()).cloned();
            if let (true, Some(tag), Some(id)) = (shared, tag, operation.operation_id.as_mut()) {
                *id = format!("{tag}_{id}");
            }
        }
    }
}

/// One operation: the shared error responses it can give, and its credentials spelled out.
fn complete(operation: &mut Operation) {
    let guarded = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let names_guarded = operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement).is_ok_and(|v| v.get(GUARDED).is_some())
    });
    if names_guarded {
        operation.security = Some(accepted_credentials());
    }
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| match body {
            RefOr::T(body) => body.content.keys().any(|c| c.ends_with("json")),
            RefOr::Ref(_) => false,
        });
    let mut shared: Vec<&(&str, &str, &str)> = EDGE_ERRORS.iter().collect();
    if json_body {
        shared.extend(&JSON_ERRORS);
    }
    if guarded {
        shared.extend(&GUARD_ERRORS);
    }
    shared.push(&INTERNAL);
    for (status, name, _) in shared {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// An error response in our shape, with its code header.
fn error_response(status: &str, meaning: &str) -> ApiResponse {
    let header = |schema, description: &str| {
        HeaderBuilder::new()
            .schema(Some(schema))
            .description(Some(description))
            .build()
    };
    let mut response = ResponseBuilder::new()
        .description(meaning)
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody")))),
        )
        .header(
            "X-Error-Code",
            header(
                String::schema(),
                "The stable code of the error, e.g. `auth.required`, `rate_limited`.",
            ),
        );
    if matches!(status, "429" | "503") {
        response = response.header(
            "Retry-After",
            header(u64::schema(), "Seconds to wait before retrying."),
        );
    }
    response.build()
}

/// The authenticator's credentials, one security scheme each.
fn add_security_schemes(components: &mut Components) {
    let schemes = [
        (
            GUARDED,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key (`pk_…`, or an imported key as it was issued elsewhere).",
            ))),
        ),
        (
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key, or a session token (`pcs_…`) from `POST /user/login`.",
                    ))
                    .build(),
            ),
        ),
        (
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::http::cookies::SESSION_COOKIE,
                "The web-login session cookie. Requests that change state also need the \
                 `X-CSRF-Token` header given at login.",
            ))),
        ),
        (
            "signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Signature",
                "An RFC 9421 HTTP message signature (`Signature` with `Signature-Input`, \
                 `keyid` the API key's id, HMAC-SHA256 under the key), covering at least \
                 `@method`, `@target-uri` and `created`; with a body, `content-digest`.",
            ))),
        ),
        (
            ENVELOPE,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWE")
                    .description(Some(
                        "Seed 002's envelope, for `POST /api/config` only: a compact JWE \
                         encrypted to a key of `/.well-known/jwks.json`, holding a JWS \
                         signed by the client's own key, which carries the body key.",
                    ))
                    .build(),
            ),
        ),
        (
            "x_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Token",
                "Seed 001: the API key, sent with `X-Token-Hash`.",
            ))),
        ),
        (
            "x_token_hash",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Token-Hash",
                "Seed 001: hex HMAC-SHA256 of the body under the key in `X-Token`.",
            ))),
        ),
    ];
    for (name, scheme) in schemes {
        components
            .security_schemes
            .insert(name.to_owned(), RefOr::T(scheme));
    }
}

/// Any one of these authenticates a guarded route.
fn accepted_credentials() -> Vec<SecurityRequirement> {
    let none: [&str; 0] = [];
    vec![
        SecurityRequirement::new(GUARDED, none),
        SecurityRequirement::new("bearer", none),
        SecurityRequirement::new("session_cookie", none),
        SecurityRequirement::new("signature", none),
        SecurityRequirement::new("x_token", none).add("x_token_hash", none),
    ]
}

/// The serialized document, served as is.
#[derive(Clone)]
pub struct Document(pub Bytes);

impl Document {
    /// Serialize once, at start.
    pub fn of(api: &OpenApi) -> Result<Self, serde_json::Error> {
        Ok(Self(Bytes::from(api.to_json()?)))
    }
}

/// This document. Public: it says what the server offers, nothing about who uses it.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1).",
        content_type = "application/json", body = Object)),
)]
pub async fn document(State(document): State<Document>) -> Response {
    let mut response = document.0.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
