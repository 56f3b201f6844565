//! The edge: everything that wraps every route, as one hand-written tower service.
//!
//! These concerns used to be ten layers (`from_fn` for most, tower-http's catch-panic, trace
//! and timeout), each boxing a future and moving the request and the response through its
//! own state machine; a profile of the request path showed those moves (`memmove`), the
//! boxes and the clones of the layered stack as a large share of a request's CPU. The order
//! is unchanged and each concern still lives in its own module, as a plain function; this
//! file only runs them in order:
//!
//! 1. the request id (echoed on every response; errors inside name it),
//! 2. a watch on the request body (`Connection: close` when a refusal leaves it unread),
//! 3. the client address (through trusted proxies),
//! 4. the access line, written with the final status,
//! 5. the security headers, on whatever comes back,
//! 6. our JSON error shape for framework answers (405, 408, 413, panics),
//! 7. one of each credential header, refused before anything reads one,
//! 8. a panic becomes a 500 with the request id, not a dropped connection,
//! 9. one span per request, keyed by the matched route (never the raw URI),
//! 10. a deadline on the whole request, body upload included → 408,
//! 11. the body size limit, enforced while the body streams in → 413.

use super::access_log;
use super::body_limit::{self, BodyLimits};
use super::client_ip::{self, TrustedProxies};
use super::json_errors;
use super::request_id::{self, RequestId};
use super::security_headers;
use super::single_credentials;
use super::unread_body;
use crate::http::error::{ApiError, REQUEST_ID};
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceExt};

/// What the edge needs to know, shared by every request.
#[derive(Debug)]
pub struct EdgeSettings {
    /// Whether the server speaks TLS (HSTS applies).
    pub tls: bool,
    /// The proxies whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    /// The body size limits.
    pub body_limits: BodyLimits,
    /// The deadline on a whole request.
    pub request_timeout: Duration,
}

/// The layer, for `Router::layer`.
#[derive(Debug, Clone)]
pub struct EdgeLayer(Arc<EdgeSettings>);

impl EdgeLayer {
    /// The edge with `settings`.
    pub fn new(settings: EdgeSettings) -> Self {
        Self(Arc::new(settings))
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            settings: Arc::clone(&self.0),
        }
    }
}

/// The edge around one route (or the fallback).
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    settings: Arc<EdgeSettings>,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The ready service answers this request; a clone takes its place for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let settings = Arc::clone(&self.settings);
        Box::pin(async move { Ok(handle(&settings, inner, request).await) })
    }
}

/// Steps 1–5 around [`guarded`], in the order of the module documentation.
async fn handle<S>(settings: &EdgeSettings, inner: S, mut request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let started = Instant::now();
    let metrics = crate::telemetry::metrics::metrics();
    let route = metrics.route(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let method = crate::telemetry::metrics::Metrics::method(request.method());
    let id = request_id::assign(request.headers());
    request.extensions_mut().insert(id.clone());
    let (mut request, unread) = unread_body::watch(request);
    client_ip::resolve_into(&settings.proxies, &mut request);
    let line = access_log::Pending::start(&request, started);
    let mut response = REQUEST_ID
        .scope(id.0.clone(), guarded(settings, inner, request, started))
        .await;
    security_headers::apply(settings.tls, &mut response);
    if let Some(line) = line {
        line.write(&response);
    }
    unread.finish(&mut response);
    request_id::echo(&id, &mut response);
    metrics.request(route, method, response.status().as_u16(), started.elapsed());
    response
}

/// Steps 6–11: everything that runs inside the request id's scope.
async fn guarded<S>(
    settings: &EdgeSettings,
    inner: S,
    request: Request,
    started: Instant,
) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    if let Err(refused) = single_credentials::check(request.headers()) {
        return json_errors::shape(refused.into_response());
    }
    let span = span(&request);
    let deadline = tokio::time::Instant::from_std(started) + settings.request_timeout;
    let work = tokio::time::timeout_at(deadline, async {
        match body_limit::apply(&settings.body_limits, request) {
            Ok(request) => match inner.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            Err(refused) => refused.into_response(),
        }
    });
    let mut work = pin!(work);
    // A panic in a handler unwinds out of `poll`: caught here, the request is answered and
    // the future, poisoned, is never polled again.
    let response = poll_fn(|cx| {
        let _entered = span.enter();
        match catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(response))) => Poll::Ready(response),
            Ok(Poll::Ready(Err(_elapsed))) => {
                Poll::Ready(StatusCode::REQUEST_TIMEOUT.into_response())
            }
            Err(payload) => Poll::Ready(on_panic(payload)),
        }
    })
    .await;
    if response.status().is_server_error() {
        tracing::error!(parent: &span, status = response.status().as_u16(), "response failed");
    }
    json_errors::shape(response)
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
