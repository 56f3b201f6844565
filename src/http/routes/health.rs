//! `GET /healthz`: unauthenticated liveness and store reachability, for load balancers.

use crate::http::json::{self, Json};
use crate::http::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(health))
}

/// 200 `{"status":"ok"}` when the store answers, 503 otherwise. The store is pinged at most
/// once a second, however many probes arrive: an unauthenticated caller must not be able to
/// turn probes into database load.
async fn health(State(state): State<AppState>) -> Response {
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
            // Probes arrive many times a second: the common answer is a constant.
            None => json::fixed(r#"{"status":"ok"}"#),
            Some(redis) => Json(WithRedis {
                status: "ok",
                redis: redis.redis,
                rate_limits: redis.rate_limits,
            })
            .into_response(),
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
            .into_response()
    }
}

/// The healthy answer when Redis is configured.
#[derive(Serialize)]
struct WithRedis {
    status: &'static str,
    redis: &'static str,
    rate_limits: &'static str,
}
