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

/// The route on the API, behind `metrics.read`.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/metrics",
        get(exposition).route_layer(Guard::new(
            state,
            RouteGroup::Metrics,
            Permission::MetricsRead,
        )),
    )
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
