//! `GET /metrics`: the Prometheus text exposition (`telemetry::metrics`), to keys with
//! `metrics.read` (admin and the `monitor` role), and — when `[metrics] listen` is set —
//! without authentication on that separate, private address.

use crate::auth::Permission;
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::middleware::authorize::{Guard, PublicLimit, limit_public};
use crate::http::state::AppState;
use crate::telemetry::metrics::{CONTENT_TYPE, Snapshot, metrics};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The route on the API, behind `metrics.read`.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let guard = Guard::new(state, RouteGroup::Metrics, Permission::MetricsRead);
    OpenApiRouter::new().routes(routes!(exposition).map(|route| route.route_layer(guard)))
}

/// The route on the private metrics listener: no authentication, limited per address
/// (`limits.per_address`) like every route without a key — each scrape reads the store.
pub fn public_router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/metrics",
        get(exposition).route_layer(from_fn_with_state(
            PublicLimit::new(state, RouteGroup::Metrics),
            limit_public,
        )),
    )
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    summary = "Prometheus metrics",
    description = "The Prometheus text exposition: requests by route pattern and status, \
        latencies, authentication outcomes, limits, the audit queue, the store pool, Redis, \
        and each service's counters. Never a key, a raw path or an address as a label.",
    responses((status = 200, description = "The exposition.",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body = String)),
    security(("api_key" = [])),
)]
async fn exposition(State(state): State<AppState>) -> Result<Response, ApiError> {
    let messages_live = match state.messages.live().await {
        Ok(live) => Some(live),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: the message drop's count is unavailable");
            None
        }
    };
    let snapshot = Snapshot {
        audit_queue: state.audit.queue_depth(),
        store_pool: state.store.pool_connections(),
        redis_up: state.limiter.redis_status().map(|s| s.redis == "ok"),
        messages_live,
    };
    let text = metrics()
        .encode(&snapshot)
        .map_err(|err| ApiError::Internal(format!("metrics did not encode: {err}")))?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}
