//! The whole HTTP application: every area's routes, merged, wrapped in the edge
//! (`middleware::edge`: request id, client address, access log, headers, errors, panics,
//! deadline, body limit).
//!
//! Areas register their routes on `utoipa-axum`'s `OpenApiRouter`, which collects each
//! handler's OpenAPI annotation as the route is added: the document (`http::openapi`) is
//! built from the same calls that build the router, and a test compares the two.

use super::error::ApiError;
use super::middleware::body_limit::BodyLimits;
use super::middleware::edge::{EdgeLayer, EdgeSettings};
use super::openapi::{self, Document};
use super::routes;
use super::state::AppState;
use crate::config::{LimitSettings, Settings};
use axum::Router;
use axum::routing::get;
use std::sync::Arc;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Build the application: the routes, `/openapi.json` when `[openapi] enabled`, the edge.
pub fn build(state: AppState, settings: &Settings) -> anyhow::Result<Router> {
    let (routes, api) = area_routes(&state, settings.metrics.enabled).split_for_parts();
    let routes = if settings.openapi.enabled {
        let api = openapi::finish(api, settings.server.base_url.as_deref(), true);
        let document = Document::of(&api)
            .map_err(|err| anyhow::anyhow!("the OpenAPI document did not serialize: {err}"))?;
        routes.route("/openapi.json", get(openapi::document).with_state(document))
    } else {
        routes
    };
    Ok(wrap(state, &settings.limits, routes))
}

/// The OpenAPI document of the application `build` makes with these settings.
pub fn document(state: &AppState, settings: &Settings) -> OpenApi {
    let api = area_routes(state, settings.metrics.enabled).into_openapi();
    openapi::finish(
        api,
        settings.server.base_url.as_deref(),
        settings.openapi.enabled,
    )
}

/// Every area's routes, with their descriptions.
fn area_routes(state: &AppState, metrics: bool) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .merge(routes::health::router())
        .merge(routes::whoami::router(state))
        .merge(routes::keys::router(state))
        .merge(routes::verify::router(state))
        .merge(routes::login::router(state))
        .merge(routes::sessions::router(state))
        .merge(routes::audit::router(state))
        .merge(crate::services::configfiles::routes::router(state))
        .merge(crate::services::messages::routes::router(state))
        .merge(crate::services::campaigns::routes::router(state));
    if metrics {
        routes.merge(routes::metrics::router(state))
    } else {
        routes
    }
}

/// The routes under the mount path, the fallback, the edge.
fn wrap(state: AppState, limits: &LimitSettings, routes: Router<AppState>) -> Router {
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
    let routes = routes.fallback(not_found);
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
