//! Prometheus metrics: what the server counts as it works, read at `GET /metrics`.
//!
//! One process-wide set ([`metrics()`]), because what is counted happens everywhere — the
//! edge, the authenticator, the limiter, the audit writer, the services — and none of them
//! should carry a handle just to count. Gauges that describe state (the audit queue, the
//! store's pool, Redis, live messages) are not kept up to date on the hot path; the
//! `/metrics` handler reads them when it is asked ([`Snapshot`]).
//!
//! Labels are bounded by construction: a route is the matched pattern (`/api/keys/{id}`,
//! never a raw path), interned once; a method outside the standard ones is `other`; reasons,
//! outcomes and kinds are names from the code. Never a key, a path, an address or anything
//! else a client chose.

use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Duration;

/// The content type of the text format `prometheus-client` writes (OpenMetrics 1.0, which
/// Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label of an unmatched request (a 404 of the router).
pub const UNMATCHED: &str = "<unmatched>";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// A route's interned name and its latency histogram, found with one look-up per request.
#[derive(Debug)]
pub struct Route {
    name: &'static str,
    duration: Histogram,
}

/// The limits counted, in the order of [`LIMITS`].
const LIMITS: [&str; 4] = ["key", "address", "group", "quota"];

/// The authentication methods counted on success, in the order of [`METHODS`].
const METHODS: [&str; 5] = [
    "api_key",
    "session_bearer",
    "session_cookie",
    "signature",
    "token_hash",
];

/// Everything counted.
pub struct Metrics {
    registry: Registry,
    routes: RwLock<HashMap<Box<str>, &'static Route>>,
    unmatched: &'static Route,
    /// The hot counters, created once so that counting is an atomic add: `[limit][allowed]`
    /// and successes by method.
    limit_counters: [[Counter; 2]; 4],
    success_counters: [Counter; 5],
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram>,
    auth: Family<AuthLabels, Counter>,
    limits: Family<LimitLabels, Counter>,
    lockout_refusals: Counter,
    audit_written: Counter,
    audit_write: Histogram,
    audit_queue: Gauge,
    store_pool: Family<PoolLabels, Gauge>,
    redis_up: Gauge,
    redis_configured: Gauge,
    messages: Family<EventLabels, Counter>,
    messages_live: Gauge,
    config_actions: Family<ActionLabels, Counter>,
    sms_sends: Family<EventLabels, Counter>,
    verifications: Family<CodeLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn seconds_histogram() -> Histogram {
    // 100 µs to ~6.5 s: the request path is sub-millisecond, a slow store is seconds.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route pattern, method and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> _);
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's arrival to its response, by route pattern",
            http_duration.clone(),
        );
        let auth = Family::<AuthLabels, Counter>::default();
        registry.register(
            "auth_outcomes",
            "Authentication decisions: success by method, refused by reason",
            auth.clone(),
        );
        let limits = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limit_decisions",
            "Rate limit and quota decisions, by limit (key, address, group, quota) and decision",
            limits.clone(),
        );
        let lockout_refusals = Counter::default();
        registry.register(
            "lockout_refusals",
            "Requests refused because their address is locked out after failed attempts",
            lockout_refusals.clone(),
        );
        let audit_written = Counter::default();
        registry.register(
            "audit_records_written",
            "Audit records committed to the chain",
            audit_written.clone(),
        );
        let audit_write = seconds_histogram();
        registry.register(
            "audit_write_seconds",
            "Time to commit one batch of audit records",
            audit_write.clone(),
        );
        let audit_queue = Gauge::default();
        registry.register(
            "audit_queue_depth",
            "Audit records waiting to be written",
            audit_queue.clone(),
        );
        let store_pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "store_pool_connections",
            "Connections of the store's pool, by state (in_use, idle)",
            store_pool.clone(),
        );
        let redis_configured = Gauge::default();
        registry.register(
            "redis_configured",
            "1 when limits are shared through Redis",
            redis_configured.clone(),
        );
        let redis_up = Gauge::default();
        registry.register(
            "redis_up",
            "1 when Redis answered the last time it was asked (0 without Redis)",
            redis_up.clone(),
        );
        let messages = Family::<EventLabels, Counter>::default();
        registry.register(
            "messages",
            "Message drop events: posted, read, burned (read once and gone), deleted",
            messages.clone(),
        );
        let messages_live = Gauge::default();
        registry.register(
            "messages_live",
            "Messages stored in the drop (expired ones not yet purged included)",
            messages_live.clone(),
        );
        let config_actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "config_actions",
            "Config-file service requests, by action and outcome",
            config_actions.clone(),
        );
        let verifications = Family::<CodeLabels, Counter>::default();
        registry.register(
            "key_verifications",
            "POST /api/keys/verify verdicts, by code (many NOT_FOUND: someone is guessing)",
            verifications.clone(),
        );
        let sms_sends = Family::<EventLabels, Counter>::default();
        registry.register(
            "campaign_sends",
            "Messages handed to the phone by campaigns, by what happened",
            sms_sends.clone(),
        );
        let route = |name: &'static str| -> &'static Route {
            Box::leak(Box::new(Route {
                name,
                duration: http_duration
                    .get_or_create(&RouteLabels { route: name })
                    .clone(),
            }))
        };
        let unmatched = route(UNMATCHED);
        let limit_counters = LIMITS.map(|limit| {
            [false, true].map(|allowed| {
                limits
                    .get_or_create(&LimitLabels {
                        limit,
                        decision: if allowed { "allowed" } else { "refused" },
                    })
                    .clone()
            })
        });
        let success_counters = METHODS.map(|method| {
            auth.get_or_create(&AuthLabels {
                outcome: "success",
                reason: method,
            })
            .clone()
        });
        Self {
            registry,
            routes: RwLock::new(HashMap::new()),
            unmatched,
            limit_counters,
            success_counters,
            http_requests,
            http_duration,
            auth,
            limits,
            lockout_refusals,
            audit_written,
            audit_write,
            audit_queue,
            store_pool,
            redis_up,
            redis_configured,
            messages,
            messages_live,
            config_actions,
            sms_sends,
            verifications,
        }
    }

    /// The interned name of a route pattern. Patterns come from the router, so there are as
    /// many as there are routes; each is leaked once, the first time it answers.
    pub fn route(&self, pattern: Option<&str>) -> &'static Route {
        let Some(pattern) = pattern else {
            return self.unmatched;
        };
        if let Some(route) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(pattern)
        {
            return route;
        }
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes.entry(pattern.into()).or_insert_with(|| {
            let name: &'static str = Box::leak(pattern.into());
            Box::leak(Box::new(Route {
                name,
                duration: self
                    .http_duration
                    .get_or_create(&RouteLabels { route: name })
                    .clone(),
            }))
        })
    }

    /// One request answered: `route` from [`Metrics::route`], `method` from
    /// [`Metrics::method`].
    pub fn request(&self, route: &Route, method: &'static str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.name,
                method,
                status,
            })
            .inc();
        route.duration.observe(elapsed.as_secs_f64());
    }

    /// A method's label: the standard ones by name, any other `other`.
    pub fn method(method: &http::Method) -> &'static str {
        match *method {
            http::Method::GET => "GET",
            http::Method::POST => "POST",
            http::Method::PUT => "PUT",
            http::Method::DELETE => "DELETE",
            http::Method::PATCH => "PATCH",
            http::Method::HEAD => "HEAD",
            http::Method::OPTIONS => "OPTIONS",
            _ => "other",
        }
    }

    /// An authentication that succeeded, by method (`api_key`, `session_bearer`, …).
    pub fn authenticated(&self, method: &'static str) {
        match METHODS.iter().position(|m| *m == method) {
            Some(i) => {
                self.success_counters[i].inc();
            }
            None => {
                self.auth
                    .get_or_create(&AuthLabels {
                        outcome: "success",
                        reason: method,
                    })
                    .inc();
            }
        }
    }

    /// An authentication refused, by reason (`unknown_key`, `bad_checksum`, …).
    pub fn refused(&self, reason: &'static str) {
        self.auth
            .get_or_create(&AuthLabels {
                outcome: "refused",
                reason,
            })
            .inc();
    }

    /// A limit's decision: `limit` is `key`, `address`, `group` or `quota`.
    pub fn limit(&self, limit: &'static str, allowed: bool) {
        match LIMITS.iter().position(|l| *l == limit) {
            Some(i) => {
                self.limit_counters[i][usize::from(allowed)].inc();
            }
            None => {
                self.limits
                    .get_or_create(&LimitLabels {
                        limit,
                        decision: if allowed { "allowed" } else { "refused" },
                    })
                    .inc();
            }
        }
    }

    /// A request refused by the lockout.
    pub fn locked_out(&self) {
        self.lockout_refusals.inc();
    }

    /// A batch of `records` audit records committed in `elapsed`.
    pub fn audit_batch(&self, records: usize, elapsed: Duration) {
        self.audit_written.inc_by(records as u64);
        self.audit_write.observe(elapsed.as_secs_f64());
    }

    /// A message drop event: `posted`, `read`, `burned`, `deleted`.
    pub fn message(&self, event: &'static str) {
        self.messages.get_or_create(&EventLabels { event }).inc();
    }

    /// A config-file service request: its action (`read`, `write`, …) and outcome.
    pub fn config_action(&self, action: &'static str, outcome: &'static str) {
        self.config_actions
            .get_or_create(&ActionLabels { action, outcome })
            .inc();
    }

    /// A campaign message handed to the phone, or not: `sent`, `delivered`, `failed`,
    /// `retry`, `suppressed`.
    pub fn sms_send(&self, event: &'static str) {
        self.sms_sends.get_or_create(&EventLabels { event }).inc();
    }

    /// A verification's verdict (`VALID`, `NOT_FOUND`, …).
    pub fn verification(&self, code: &'static str) {
        self.verifications.get_or_create(&CodeLabels { code }).inc();
    }

    /// The text exposition, with the gauges of `snapshot`.
    pub fn encode(&self, snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
        self.audit_queue
            .set(i64::try_from(snapshot.audit_queue).unwrap_or(i64::MAX));
        if let Some((in_use, idle)) = snapshot.store_pool {
            let set = |state, n: u32| {
                self.store_pool
                    .get_or_create(&PoolLabels { state })
                    .set(i64::from(n));
            };
            set("in_use", in_use);
            set("idle", idle);
        }
        self.redis_configured
            .set(i64::from(snapshot.redis_up.is_some()));
        self.redis_up
            .set(i64::from(snapshot.redis_up.unwrap_or(false)));
        if let Some(live) = snapshot.messages_live {
            self.messages_live
                .set(i64::try_from(live).unwrap_or(i64::MAX));
        }
        let mut out = String::with_capacity(16 * 1024);
        text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The state read when metrics are asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Audit records queued for the writer.
    pub audit_queue: usize,
    /// The store pool's connections in use and idle, when the store has a pool.
    pub store_pool: Option<(u32, u32)>,
    /// Whether Redis answered last, when Redis is configured.
    pub redis_up: Option<bool>,
    /// Messages in the drop, when the store could say.
    pub messages_live: Option<u64>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}
