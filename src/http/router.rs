//! The whole HTTP application: every area's routes, merged, wrapped in the edge
//! (`middleware::edge`: request id, client address, access log, headers, errors, panics,
//! deadline, body limit).

use super::error::ApiError;
use super::middleware::body_limit::BodyLimits;
use super::middleware::edge::{EdgeLayer, EdgeSettings};
use super::routes;
use super::state::AppState;
use crate::config::LimitSettings;
use axum::Router;
use std::sync::Arc;

/// Build the application.
pub fn build(state: AppState, limits: &LimitSettings, metrics: bool) -> Router {
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
        .merge(routes::verify::router(&state))
        .merge(routes::login::router(&state))
        .merge(routes::sessions::router(&state))
        .merge(routes::audit::router(&state))
        .merge(crate::services::configfiles::routes::router(&state))
        .merge(crate::services::messages::routes::router(&state))
        .merge(crate::services::campaigns::routes::router(&state))
        .fallback(not_found);
    let routes = if metrics {
        routes.merge(routes::metrics::router(&state))
    } else {
        routes
    };
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
    routes.with_state(state).layer(EdgeLayer::new(EdgeSettings {
        tls,
        proxies,
        body_limits,
        request_timeout: limits.request_timeout,
    }))
}

/// The private metrics listener's application (`[metrics] listen`): `/metrics` without
/// authentication, inside the same edge as the API (headers, request ids, limits on bodies
/// and time).
pub fn build_metrics(state: AppState, limits: &LimitSettings) -> Router {
    let edge = EdgeLayer::new(EdgeSettings {
        tls: false,
        proxies: state.proxies.clone(),
        body_limits: BodyLimits {
            default: limits.max_body_bytes,
            special: Arc::new(Default::default()),
        },
        request_timeout: limits.request_timeout,
    });
    routes::metrics::public_router(&state)
        .fallback(not_found)
        .with_state(state)
        .layer(edge)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
