//! The whole HTTP application: every area's routes, merged, wrapped in the middleware stack.

use super::error::ApiError;
use super::middleware::access_log::access_log;
use super::middleware::body_limit::{BodyLimits, body_limit};
use super::middleware::client_ip::client_ip;
use super::middleware::json_errors::json_errors;
use super::middleware::request_id::{RequestId, request_id};
use super::middleware::security_headers::security_headers;
use super::middleware::single_credentials::single_credentials;
use super::middleware::unread_body::close_when_unread;
use super::routes;
use super::state::AppState;
use crate::config::LimitSettings;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Build the application.
pub fn build(state: AppState, limits: &LimitSettings) -> Router {
    let tls = state.tls;
    let proxies = state.proxies.clone();
    let mount = state.mount.clone();
    let upload_limit = state.campaigns.settings().max_upload_bytes;
    let body_limits = BodyLimits {
        default: limits.max_body_bytes,
        special: Arc::new(
            crate::services::campaigns::routes::UPLOAD_PATHS
                .iter()
                .map(|path| ((*path).to_owned(), upload_limit.max(limits.max_body_bytes)))
                .collect(),
        ),
    };
    let routes = Router::new()
        .merge(routes::health::router())
        .merge(routes::whoami::router(&state))
        .merge(routes::keys::router(&state))
        .merge(routes::login::router(&state))
        .merge(routes::sessions::router(&state))
        .merge(routes::audit::router(&state))
        .merge(crate::services::configfiles::routes::router(&state))
        .merge(crate::services::messages::routes::router(&state))
        .merge(crate::services::campaigns::routes::router(&state))
        .fallback(not_found);
    // Under `server.base_url`'s path when it has one; anything outside it is unknown.
    let routes = match &*mount {
        "" => routes,
        path => Router::new()
            .nest(path, routes)
            .merge(crate::services::messages::routes::root_router(
                &state,
                &format!("{path}/"),
            ))
            .fallback(not_found),
    };
    routes
        .with_state(state)
        // Layers listed outermost first. Each wraps every route and the fallback, so a 404,
        // a 405, a 413 or a panic passes through all of them like any other response.
        .layer(
            ServiceBuilder::new()
                // 1. Request id first, so everything inside (error bodies, spans, panics)
                //    can name it, and it is echoed on every response.
                .layer(from_fn(request_id))
                // 1b. A body left unread by whatever answers (a refusal) gets `Connection:
                //     close`, so a client does not reuse a connection hyper is closing.
                .layer(from_fn(close_when_unread))
                // 2. The client address (through trusted proxies) for everything below.
                .layer(from_fn_with_state(proxies, client_ip))
                // 3. One access-log line per request, with the final status.
                .layer(from_fn(access_log))
                // 4. Security headers on whatever comes back, errors included.
                .layer(from_fn_with_state(tls, security_headers))
                // 5. Framework answers (405 from routing, 408, 413, panics) get our JSON shape.
                .layer(from_fn(json_errors))
                // 6. A request that repeats a credential header is refused before anything
                //    reads one (a proxy in front might read another line than we would).
                .layer(from_fn(single_credentials))
                // 7. A panic becomes a 500 with a correlation id, not a dropped connection.
                .layer(CatchPanicLayer::custom(on_panic))
                // 8. One span per request, keyed by the matched route (never the raw URI,
                //    whose query string could hold a secret).
                .layer(TraceLayer::new_for_http().make_span_with(span))
                // 9. A deadline on the whole request, body upload included → 408.
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    limits.request_timeout,
                ))
                // 10. Body size limit, enforced while the body streams in → 413 (larger on
                //     the CSV upload routes).
                .layer(from_fn_with_state(body_limits, body_limit)),
        )
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

fn on_panic(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

fn span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("<unmatched>");
    let id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.as_str())
        .unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), route, request_id = id)
}
