//! `[limits]`: request sizes and times, connections, rate limits and their backend.

use super::*;

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Largest accepted request body in bytes; larger gets 413.
    pub max_body_bytes: usize,
    /// A request that takes longer than this gets 408.
    #[serde(with = "human_duration")]
    pub request_timeout: Duration,
    /// Open connections at most; more clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Open connections one client address (an IPv6 /64) may hold; more are closed at once.
    /// Trusted proxies are exempt. 0: no per-address cap.
    pub max_connections_per_address: usize,
    /// Time a client has to send request headers, and to stay idle between requests.
    #[serde(with = "human_duration")]
    pub header_read_timeout: Duration,
    /// Time a client has to complete the TLS handshake (with `[server.tls]`).
    #[serde(with = "human_duration")]
    pub tls_handshake_timeout: Duration,
    /// Turn rate limits and quotas off entirely (e.g. when a gateway in front limits).
    pub enabled: bool,
    /// Default rate per key, by role.
    pub roles: RoleRates,
    /// Rate per client address for unauthenticated routes and failed authentication.
    pub per_address: RateSpec,
    /// `NOT_FOUND` verdicts of `POST /api/keys/verify` per asking key: past it, the asker
    /// gets 429 until the bucket refills (a verifier forwarding a scanner's guesses is slowed,
    /// not the keys it checks).
    pub verify_misses: RateSpec,
    /// Extra limits per route group (`identity`, `keys`, `sessions`, `audit`, `config`,
    /// `messages` (reads, deletes), `message_posts`, `login`), counted per key (or per address
    /// on unauthenticated routes). `message_posts` defaults to `100/hour burst 20`.
    pub groups: std::collections::BTreeMap<String, RateSpec>,
    /// Buckets kept in memory at most (the local limiter, and the fallback when Redis is down).
    pub memory_capacity: usize,
    /// Longest wait for Redis before falling back.
    #[serde(with = "human_duration")]
    pub redis_timeout: Duration,
    /// Prefix of every Redis key we write.
    pub redis_prefix: String,
    /// When Redis is unreachable: `open` (serve with local limits) or `closed` (503).
    pub redis_failure: RedisFailure,
}

/// What to do when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Keep serving, limits local to this node.
    #[default]
    Open,
    /// Refuse limited requests with 503.
    Closed,
}

/// `[limits.roles]`: default rate per key for each role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleRates {
    /// Admin keys.
    pub admin: RateSpec,
    /// User keys.
    pub user: RateSpec,
    /// Device keys.
    pub device: RateSpec,
    /// Verifier keys: a service asking about its own clients' keys, so admin-sized.
    pub verifier: RateSpec,
    /// Monitor keys (a scraper asks every few seconds).
    pub monitor: RateSpec,
}

impl Default for RoleRates {
    fn default() -> Self {
        let spec = |text| {
            RateSpec::parse(text).unwrap_or(RateSpec {
                count: 600,
                period_secs: 60,
                burst: 100,
            })
        };
        Self {
            admin: spec("6000/min burst 1000"),
            user: spec("600/min burst 100"),
            device: spec("600/min burst 100"),
            verifier: spec("6000/min burst 1000"),
            monitor: spec("600/min burst 100"),
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_address: 128,
            header_read_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            enabled: true,
            roles: RoleRates::default(),
            per_address: RateSpec {
                count: 60,
                period_secs: 60,
                burst: 20,
            },
            verify_misses: RateSpec {
                count: 600,
                period_secs: 60,
                burst: 100,
            },
            // Posting to the message drop: with the default lifetime cap (7 days) one address
            // keeps at most ~16,800 messages alive, well under `messages.max_live`.
            groups: std::collections::BTreeMap::from([(
                RouteGroup::MessagePosts.as_str().to_owned(),
                RateSpec {
                    count: 100,
                    period_secs: 3600,
                    burst: 20,
                },
            )]),
            memory_capacity: 100_000,
            redis_timeout: Duration::from_millis(100),
            redis_prefix: "portcullis:".to_owned(),
            redis_failure: RedisFailure::Open,
        }
    }
}
