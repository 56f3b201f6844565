//! `GET /healthz`: unauthenticated liveness and store reachability, for load balancers.

use crate::http::json::{self, Json};
use crate::http::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// 200 `{"status":"ok"}` when the store answers, 503 otherwise. The store is pinged at most
/// once a second, however many probes arrive: an unauthenticated caller must not be able to
/// turn probes into database load.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness and store reachability",
    description = "For load balancers. The store is pinged at most once a second, however \
        many probes arrive. With Redis configured, says whether limits are shared or local.",
    responses(
        (status = 200, description = "The store answers.", body = Healthy),
        (status = 503, description = "The store is unreachable.", body = Unhealthy),
    ),
)]
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
            Some(redis) => Json(Healthy {
                status: "ok",
                redis: Some(redis.redis),
                rate_limits: Some(redis.rate_limits),
            })
            .into_response(),
        }
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Unhealthy {
                status: "unavailable",
                error: "Service unavailable",
                message: "The store is unreachable",
            }),
        )
            .into_response()
    }
}

/// The healthy answer; the Redis fields only when Redis is configured.
#[derive(Serialize, ToSchema)]
struct Healthy {
    /// `ok`.
    #[schema(example = "ok")]
    status: &'static str,
    /// `ok` or `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<&'static str>,
    /// `shared` while Redis answers, else `local` (each node limits alone, fail-open) or
    /// `unavailable` (limited routes answer 503, fail-closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limits: Option<&'static str>,
}

/// The answer when the store is unreachable: the error shape, with `status`.
#[derive(Serialize, ToSchema)]
struct Unhealthy {
    /// `unavailable`.
    status: &'static str,
    /// `Service unavailable`.
    error: &'static str,
    /// What is unreachable.
    message: &'static str,
}
