//! `GET /healthz`: unauthenticated liveness and store reachability, for load balancers.

use crate::http::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

/// 200 `{"status":"ok"}` when the store answers, 503 otherwise. The store is pinged at most
/// once a second, however many probes arrive: an unauthenticated caller must not be able to
/// turn probes into database load.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let ok = match state.health.fresh() {
        Some(ok) => ok,
        None => {
            let ok = match state.store.ping().await {
                Ok(()) => true,
                Err(err) => {
                    tracing::error!(error = %err, "health check: store unreachable");
                    false
                }
            };
            // Redis too, so the answer below is what Redis says now, not what the last
            // limited request found (there may have been none).
            state.limiter.check_redis().await;
            state.health.remember(ok);
            ok
        }
    };
    if ok {
        // With Redis configured, say whether limits are shared or local (fail-open).
        match state.limiter.redis_status() {
            None => (StatusCode::OK, Json(json!({ "status": "ok" }))),
            Some(redis) => (
                StatusCode::OK,
                Json(json!({
                    "status": "ok",
                    "redis": redis.redis,
                    "rate_limits": redis.rate_limits,
                })),
            ),
        }
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "error": "Service unavailable",
                "message": "The store is unreachable",
            })),
        )
    }
}
