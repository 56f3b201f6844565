//! The one place where errors become HTTP responses.
//!
//! Every error body is `{"error": "...", "message": "..."}`; the stable machine-readable code
//! rides in the `X-Error-Code` header so the bodies stay exactly as seed 000's clients expect.
//! A 5xx shows only a correlation id (the request id); its cause goes to the log.

mod auth;
mod services;
use crate::auth::envelope::EnvelopeError;
use crate::auth::signature::SignatureError;
use crate::auth::{AuthError, KeyError, Role};
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use services::envelope_refusal;
pub use services::sealed_config_error;

tokio::task_local! {
    /// The id of the request being served, for error bodies and log lines.
    pub static REQUEST_ID: String;
}

/// Header carrying the stable error code.
pub const ERROR_CODE_HEADER: &str = "x-error-code";

/// Everything a handler or middleware can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no credential, or one that was refused. Deliberately says nothing more.
    #[error("authentication required")]
    Unauthenticated,
    /// 401: a signed request was refused; says which check failed, never a secret.
    #[error("signature refused: {0}")]
    Signature(SignatureError),
    /// 401: the route group requires a signed request (an RFC 9421 one when `rfc9421_only`).
    #[error("signature required")]
    SignatureRequired {
        /// X-Token-Hash is not accepted for this group.
        rfc9421_only: bool,
    },
    /// 403: a cookie-authenticated request that changes state lacks a valid CSRF token.
    #[error("csrf check failed")]
    Csrf,
    /// 429: too many failed attempts from this client; retry after the given time.
    #[error("too many failed attempts")]
    TooManyAttempts(std::time::Duration),
    /// 429: over a rate limit.
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    /// 429: the key's quota is used up until `resets_at` (RFC 3339), or for good.
    #[error("quota exhausted")]
    QuotaExhausted(Option<String>),
    /// 503: limits cannot be checked (Redis down with `redis_failure = "closed"`).
    #[error("rate limiter unavailable")]
    LimiterUnavailable,
    /// 403: authenticated, but the role lacks the permission.
    #[error("{} role required", .0.title())]
    Forbidden(Role),
    /// 400 with a message that says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// 400: a header that carries or covers a credential appears more than once.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405; the `Allow` header is added by the router.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408.
    #[error("request timeout")]
    Timeout,
    /// 409 with a reason.
    #[error("{0}")]
    Conflict(&'static str),
    /// 409: a key with that hash exists already; the message names the lines of an import.
    #[error("{0}")]
    KeyExists(String),
    /// 409: the campaign's state does not allow this; the message says which and why.
    #[error("{0}")]
    InvalidState(String),
    /// 502: the phone did not take the message; the message says what it answered.
    #[error("{0}")]
    BadGateway(String),
    /// 401: a webhook that is not signed by the phone, or too old; says which.
    #[error("{0}")]
    WebhookRefused(String),
    /// 413.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The message drop holds as many messages as it may; retry when some have expired.
    #[error("message storage full")]
    StorageFull,
    /// A part of the request (a message) exceeds its own limit; the text says which.
    #[error("{0}")]
    TooLarge(String),
    /// 415.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// Any other 4xx produced by the framework.
    #[error("client error {0}")]
    OtherClientError(StatusCode),
    /// 500: the cause is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
    /// 503: a dependency (the store) is unreachable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A config-service token refused before its body key is known (plain JSON, seed 002's
    /// statuses: 400 malformed, 401 missing/invalid/expired/replayed, 403 bad signature).
    #[error("envelope refused: {0}")]
    Envelope(EnvelopeError),
}

impl ApiError {
    /// The error a bare framework status stands for (used to give framework responses our shape).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                ApiError::BadRequest("The request could not be understood".to_owned())
            }
            StatusCode::UNAUTHORIZED => ApiError::Unauthenticated,
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(status.to_string()),
            s if s.is_client_error() => ApiError::OtherClientError(s),
            s => ApiError::Internal(format!("framework returned {s}")),
        }
    }

    /// The status, the stable code and the JSON body, for answers written outside axum (the
    /// rewritten parse errors of `framing_errors`).
    pub fn described(&self) -> (StatusCode, &'static str, serde_json::Value) {
        let (status, code, error, message) = self.parts();
        (status, code, json!({ "error": error, "message": message }))
    }

    /// When a client may try again, for `Retry-After`.
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ApiError::TooManyAttempts(wait) | ApiError::RateLimited(wait) => Some(*wait),
            // Messages expire, burn or are deleted all the time; a minute is a fair guess.
            ApiError::StorageFull => Some(std::time::Duration::from_secs(60)),
            // The store restarting or overloaded: a pooled connection is usually back in
            // about a second.
            ApiError::Unavailable(_) => Some(std::time::Duration::from_secs(1)),
            _ => None,
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String, String) {
        match self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "auth.required",
                "Authentication required".into(),
                "Please provide valid API key".into(),
            ),
            ApiError::Signature(err) => (
                StatusCode::UNAUTHORIZED,
                "auth.signature",
                "Invalid signature".into(),
                err.to_string(),
            ),
            ApiError::SignatureRequired { rfc9421_only } => (
                StatusCode::UNAUTHORIZED,
                "auth.signature_required",
                "Signature required".into(),
                if *rfc9421_only {
                    "This route requires an RFC 9421 signed request".into()
                } else {
                    "This route requires a signed request".into()
                },
            ),
            ApiError::Csrf => (
                StatusCode::FORBIDDEN,
                "auth.csrf",
                "CSRF check failed".into(),
                "Send the X-CSRF-Token header given at login".into(),
            ),
            ApiError::TooManyAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "auth.locked_out",
                "Too many requests".into(),
                "Too many failed attempts; retry later".into(),
            ),
            ApiError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests".into(),
                "Rate limit exceeded; retry later".into(),
            ),
            ApiError::QuotaExhausted(resets_at) => (
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exhausted",
                "Quota exhausted".into(),
                match resets_at {
                    Some(at) => format!("This key has used its quota; it refills at {at}"),
                    None => "This key has used its quota".to_owned(),
                },
            ),
            ApiError::LimiterUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable".into(),
                "Rate limits cannot be checked right now; retry shortly".into(),
            ),
            ApiError::Forbidden(role) => (
                StatusCode::FORBIDDEN,
                "auth.forbidden",
                "Insufficient permissions".into(),
                format!("{} role required", role.title()),
            ),
            ApiError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "request.invalid",
                "Bad request".into(),
                message.clone(),
            ),
            ApiError::DuplicateHeader(name) => (
                StatusCode::BAD_REQUEST,
                "request.duplicate_header",
                "Bad request".into(),
                format!("The {name} header may appear only once"),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found".into(),
                "The requested resource does not exist".into(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed".into(),
                "This method is not allowed on this resource; see the Allow header".into(),
            ),
            ApiError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request.timeout",
                "Request timeout".into(),
                "The request took too long".into(),
            ),
            ApiError::Conflict(message) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict".into(),
                (*message).to_owned(),
            ),
            ApiError::KeyExists(message) => (
                StatusCode::CONFLICT,
                "key.exists",
                "Conflict".into(),
                message.clone(),
            ),
            ApiError::InvalidState(message) => (
                StatusCode::CONFLICT,
                "campaign.state",
                "Invalid state".into(),
                message.clone(),
            ),
            ApiError::BadGateway(message) => (
                StatusCode::BAD_GATEWAY,
                "sms.gateway",
                "Bad gateway".into(),
                message.clone(),
            ),
            ApiError::WebhookRefused(message) => (
                StatusCode::UNAUTHORIZED,
                "device.webhook",
                "Authentication required".into(),
                message.clone(),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                "Payload too large".into(),
                "The request body exceeds the size limit".into(),
            ),
            ApiError::StorageFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                "messages.full",
                "Service unavailable".into(),
                "The message drop is full; try again later".into(),
            ),
            ApiError::TooLarge(message) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                "Payload too large".into(),
                message.clone(),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request.media_type",
                "Unsupported media type".into(),
                "Send the body as application/json".into(),
            ),
            ApiError::OtherClientError(status) => (
                *status,
                "request.rejected",
                status
                    .canonical_reason()
                    .unwrap_or("Client error")
                    .to_owned(),
                match *status {
                    StatusCode::URI_TOO_LONG => "The request target is too long".into(),
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                        "The request has too many headers, or too large ones".into()
                    }
                    _ => "The request was rejected".into(),
                },
            ),
            ApiError::Envelope(err) => {
                let (status, code, error) = envelope_refusal(err);
                (status, code, error.to_owned(), err.to_string())
            }
            ApiError::Internal(_) | ApiError::Unavailable(_) => {
                let status = match self {
                    ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let reference = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
                (
                    status,
                    if status == StatusCode::SERVICE_UNAVAILABLE {
                        "unavailable"
                    } else {
                        "internal"
                    },
                    status
                        .canonical_reason()
                        .unwrap_or("Server error")
                        .to_owned(),
                    format!("Something went wrong on our side. Reference: {reference}"),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, error, message) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, code, "request failed");
        }
        let mut response = (
            status,
            super::json::Json(json!({ "error": error, "message": message })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(ERROR_CODE_HEADER, HeaderValue::from_static(code));
        if let Some(wait) = self.retry_after()
            && let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="portcullis""#),
            );
        }
        response
    }
}

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::NotFound => ApiError::NotFound,
            KeyError::Invalid(message) => ApiError::BadRequest(message),
            KeyError::Conflict(message) => ApiError::Conflict(message),
            KeyError::Exists(message) => ApiError::KeyExists(message),
            KeyError::EnvironmentKey => {
                ApiError::Conflict("environment keys cannot be changed through the API")
            }
            KeyError::Store(err) => err.into(),
            KeyError::Random(err) => ApiError::Internal(format!("random generator: {err}")),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(reason) => ApiError::Unavailable(reason),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Refused(_) => ApiError::Unauthenticated,
            AuthError::Store(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_500_shows_only_the_request_id_never_the_cause() {
        let response = REQUEST_ID
            .scope("req-42".to_owned(), async {
                ApiError::Internal("database file /secret/path is corrupt".to_owned())
                    .into_response()
            })
            .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[ERROR_CODE_HEADER], "internal");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({
                "error": "Internal Server Error",
                "message": "Something went wrong on our side. Reference: req-42",
            })
        );
    }

    #[test]
    fn forbidden_names_the_role_as_seed_000_does() {
        let (status, _, error, message) = ApiError::Forbidden(Role::Admin).parts();
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(error, "Insufficient permissions");
        assert_eq!(message, "Admin role required");
    }
}
