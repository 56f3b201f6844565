//! Limits shared by every node through Redis. Each check is one round trip: a Lua script
//! (the GCRA of `gcra.rs`, or a quota counter) runs atomically on the server — except that a
//! busy bucket with a large burst is served from a small local lease of cells counted in
//! Redis ahead of use (`lease.rs`, which states the bound this keeps). The connection
//! is a multiplexed, auto-reconnecting `ConnectionManager` with short timeouts. If Redis
//! cannot answer, the node keeps serving with its local limiter (fail-open, the default) or
//! refuses (fail-closed), logs it at most every 10 s, and reports it in `/healthz`.

use super::QuotaCount;
use super::gcra::{self, Decision};
use super::lease::{Leases, Take};
use super::memory::MemoryLimiter;
use super::spec::RateSpec;
use redis::aio::ConnectionManager;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The GCRA of `gcra.rs`, counting `want` cells at once when there is room for them (for
/// a lease, see `lease.rs`; one cell for a single request) after taking back `back` unused
/// cells of an earlier lease. Returns the cells granted and the TAT before the grant.
const RATE_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local back = tonumber(ARGV[5])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
if back > 0 then tat = math.max(tat - back * interval, now) end
local room = math.floor((tolerance - (tat - now)) / interval) + 1
local granted = math.max(math.min(want, room), 0)
if granted > 0 or back > 0 then
  local new = tat + granted * interval
  redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
end
return {granted, tat}
";

const QUOTA_SCRIPT: &str = r"
local limit = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
local cost = tonumber(ARGV[4])
if used + math.max(cost, 1) > limit then return -1 - math.max(limit - used, 0) end
if cost > 0 then
  used = used + cost
  redis.call('SET', KEYS[1], used, 'PX', ARGV[3])
end
return limit - used
";

/// Errors reaching Redis.
#[derive(Debug, thiserror::Error)]
pub enum RedisLimitError {
    /// The URL is not a Redis URL.
    #[error("invalid redis_url: {0}")]
    Url(String),
}

/// The Redis-backed limiter with its local fallback.
pub struct RedisLimiter {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    rate: redis::Script,
    quota: redis::Script,
    fallback: MemoryLimiter,
    leases: Leases,
    fail_open: bool,
    degraded: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
}

/// What a Redis-backed check decided.
pub enum Outcome<T> {
    /// Decided (by Redis, or locally while Redis is unreachable and fail-open).
    Decided(T),
    /// Redis is unreachable and the policy is fail-closed.
    Unavailable,
}

impl RedisLimiter {
    /// Connect lazily to `url` (start-up does not wait for Redis).
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
        fail_open: bool,
        fallback: MemoryLimiter,
        capacity: usize,
    ) -> Result<Self, RedisLimitError> {
        let connection = crate::redis_client::connect_lazily(url, timeout)
            .map_err(|e| RedisLimitError::Url(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            timeout,
            rate: redis::Script::new(RATE_SCRIPT),
            quota: redis::Script::new(QUOTA_SCRIPT),
            fallback,
            leases: Leases::new(capacity),
            fail_open,
            degraded: AtomicBool::new(false),
            last_warning: Mutex::new(None),
        })
    }

    /// Whether the last attempt to reach Redis failed.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    fn failed(&self, err: &dyn std::fmt::Display) {
        self.degraded.store(true, Ordering::Relaxed);
        let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(error = %err, fail_open = self.fail_open, "redis unreachable; {}", if self.fail_open { "using local limits" } else { "refusing limited requests" });
        }
    }

    fn recovered(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("redis reachable again; limits are shared");
        }
    }

    /// Ask Redis whether it answers (`PING`), and record the answer where `/healthz` reads
    /// it: at start, so health is true before the first limited request, and with each
    /// fresh health check.
    pub async fn ping(&self) -> bool {
        let mut connection = self.connection.clone();
        let result = tokio::time::timeout(
            self.timeout,
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await;
        match result {
            Ok(Ok(_)) => {
                self.recovered();
                true
            }
            Ok(Err(err)) => {
                self.failed(&err);
                false
            }
            Err(_) => {
                self.failed(&"timed out");
                false
            }
        }
    }

    /// Whether limited requests are served from local memory while Redis is unreachable.
    pub fn fails_open(&self) -> bool {
        self.fail_open
    }

    /// Check and count one request in bucket `key`: from a cell leased earlier when this
    /// node holds one, otherwise one round trip that may lease a few more.
    pub async fn check(&self, key: &str, spec: &RateSpec, now_us: i64) -> Outcome<Decision> {
        let (want, back) = match self.leases.take(key, spec, now_us) {
            Take::Local(decision) => return Outcome::Decided(decision),
            Take::Ask { want, back } => (want, back),
        };
        let mut connection = self.connection.clone();
        let mut invocation = self.rate.key(format!("{}{}", self.prefix, key));
        invocation
            .arg(now_us)
            .arg(spec.interval_us())
            .arg(spec.tolerance_us())
            .arg(want)
            .arg(back);
        let result = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(i64, i64)>(&mut connection),
        )
        .await;
        match result {
            Ok(Ok((granted, tat))) => {
                self.recovered();
                match u32::try_from(granted) {
                    Ok(granted) if granted > 0 => {
                        let after = tat + i64::from(granted) * spec.interval_us();
                        Outcome::Decided(self.leases.granted(key, spec, now_us, granted, after))
                    }
                    _ => Outcome::Decided(gcra::check(spec, Some(tat), now_us).0),
                }
            }
            Ok(Err(err)) => self.fall_back(&err, || self.fallback.check(key, spec, now_us)),
            Err(_) => self.fall_back(&"timed out", || self.fallback.check(key, spec, now_us)),
        }
    }

    /// Whether one request in bucket `key` would be allowed now, without counting it: one
    /// `GET` of the bucket's TAT, judged here.
    pub async fn peek(&self, key: &str, spec: &RateSpec, now_us: i64) -> Outcome<bool> {
        if self.leases.holds(key, spec, now_us) {
            return Outcome::Decided(true);
        }
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("GET");
        command.arg(format!("{}{}", self.prefix, key));
        let result = tokio::time::timeout(
            self.timeout,
            command.query_async::<Option<i64>>(&mut connection),
        )
        .await;
        match result {
            Ok(Ok(tat)) => {
                self.recovered();
                Outcome::Decided(gcra::check(spec, tat, now_us).0.allowed)
            }
            Ok(Err(err)) => self.fall_back(&err, || self.fallback.peek(key, spec, now_us)),
            Err(_) => self.fall_back(&"timed out", || self.fallback.peek(key, spec, now_us)),
        }
    }

    /// Count one use against a quota counter (see `MemoryLimiter::consume_quota`).
    pub async fn consume_quota(
        &self,
        counter: &str,
        limit: i64,
        used: i64,
        cost: i64,
        ttl: Duration,
    ) -> Outcome<QuotaCount> {
        let mut connection = self.connection.clone();
        let mut invocation = self.quota.key(format!("{}{}", self.prefix, counter));
        invocation
            .arg(limit)
            .arg(used)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .arg(cost);
        let result = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await;
        match result {
            Ok(Ok(answer)) => {
                self.recovered();
                // A refusal comes back as -1 - remaining (one integer, one round trip).
                Outcome::Decided(QuotaCount {
                    granted: answer >= 0,
                    remaining: if answer >= 0 { answer } else { -1 - answer },
                })
            }
            Ok(Err(err)) => self.fall_back(&err, || {
                self.fallback.consume_quota(counter, limit, used, cost)
            }),
            Err(_) => self.fall_back(&"timed out", || {
                self.fallback.consume_quota(counter, limit, used, cost)
            }),
        }
    }

    /// Remember `key` for `ttl` unless it is already remembered: `Some(true)` when new,
    /// `Some(false)` when seen before, `None` when Redis cannot answer (fail-open: the caller
    /// uses its local memory).
    pub async fn set_once(&self, key: &str, ttl: Duration) -> Outcome<Option<bool>> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("SET");
        command
            .arg(format!("{}{}", self.prefix, key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let result = tokio::time::timeout(
            self.timeout,
            command.query_async::<Option<String>>(&mut connection),
        )
        .await;
        match result {
            Ok(Ok(reply)) => {
                self.recovered();
                Outcome::Decided(Some(reply.is_some()))
            }
            Ok(Err(err)) => self.fall_back(&err, || None),
            Err(_) => self.fall_back(&"timed out", || None),
        }
    }

    fn fall_back<T>(&self, err: &dyn std::fmt::Display, local: impl FnOnce() -> T) -> Outcome<T> {
        self.failed(err);
        if self.fail_open {
            Outcome::Decided(local())
        } else {
            Outcome::Unavailable
        }
    }
}
