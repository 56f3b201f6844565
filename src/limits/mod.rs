//! Rate limits and usage quotas: GCRA buckets and quota counters, in memory (bounded) or in
//! Redis (shared by every node, one atomic script per check, or per small leased batch for a
//! busy bucket with a large burst). What is limited, and how much,
//! is decided by `policy` (asked by the authenticator); the rest of this module only counts.

pub mod bounded;
pub mod gcra;
pub mod lease;
pub mod memory;
pub mod policy;
pub mod quota;
pub mod redis;
pub mod spec;

pub use gcra::Decision;
pub use quota::Refill;
pub use spec::RateSpec;

use crate::clock::Clock;
use memory::MemoryLimiter;
use redis::{Outcome, RedisLimiter};
use std::sync::Arc;
use std::time::Duration;

/// The limiter cannot decide (Redis unreachable with fail-closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limiter unavailable")]
pub struct Unavailable;

/// A quota counter's answer: whether the uses were granted, and what is left after them
/// (after a refusal, what is left unspent — less than the cost asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaCount {
    /// The uses were counted.
    pub granted: bool,
    /// Uses left in the period.
    pub remaining: i64,
}

enum Backend {
    Memory(MemoryLimiter),
    Redis(Box<RedisLimiter>),
}

/// Counts requests and uses.
pub struct Limiter {
    backend: Backend,
    clock: Arc<dyn Clock>,
}

impl Limiter {
    /// Local limits, at most about `capacity` buckets.
    pub fn memory(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            backend: Backend::Memory(MemoryLimiter::new(capacity)),
            clock,
        }
    }

    /// Limits shared through Redis, falling back to local ones of `capacity`.
    pub fn redis(
        url: &str,
        prefix: &str,
        timeout: Duration,
        fail_open: bool,
        capacity: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, redis::RedisLimitError> {
        let limiter = RedisLimiter::new(
            url,
            prefix,
            timeout,
            fail_open,
            MemoryLimiter::new(capacity),
            capacity,
        )?;
        Ok(Self {
            backend: Backend::Redis(Box::new(limiter)),
            clock,
        })
    }

    fn now_us(&self) -> i64 {
        self.clock.unix_us()
    }

    /// Check and count one request in bucket `key`.
    pub async fn check(&self, key: &str, spec: &RateSpec) -> Result<Decision, Unavailable> {
        let now = self.now_us();
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.check(key, spec, now)),
            Backend::Redis(redis) => match redis.check(key, spec, now).await {
                Outcome::Decided(decision) => Ok(decision),
                Outcome::Unavailable => Err(Unavailable),
            },
        }
    }

    /// Whether one request in bucket `key` would be allowed now, without counting it (to
    /// refuse costly work for a client that is over its limit already).
    pub async fn peek(&self, key: &str, spec: &RateSpec) -> Result<bool, Unavailable> {
        let now = self.now_us();
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.peek(key, spec, now)),
            Backend::Redis(redis) => match redis.peek(key, spec, now).await {
                Outcome::Decided(allowed) => Ok(allowed),
                Outcome::Unavailable => Err(Unavailable),
            },
        }
    }

    /// Count `cost` uses of a quota counter (0: only look).
    pub async fn consume_quota(
        &self,
        counter: &str,
        limit: i64,
        used: i64,
        cost: i64,
        ttl: Duration,
    ) -> Result<QuotaCount, Unavailable> {
        match &self.backend {
            Backend::Memory(memory) => Ok(memory.consume_quota(counter, limit, used, cost)),
            Backend::Redis(redis) => {
                match redis.consume_quota(counter, limit, used, cost, ttl).await {
                    Outcome::Decided(count) => Ok(count),
                    Outcome::Unavailable => Err(Unavailable),
                }
            }
        }
    }

    /// Remember a one-time value (a signature nonce) for `ttl` across every node:
    /// `Ok(Some(true))` when new, `Ok(Some(false))` when seen before, `Ok(None)` when there is
    /// no shared store (or it is unreachable and fail-open): then the caller's local memory
    /// decides.
    pub async fn remember_once(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<bool>, Unavailable> {
        match &self.backend {
            Backend::Memory(_) => Ok(None),
            Backend::Redis(redis) => match redis.set_once(key, ttl).await {
                Outcome::Decided(answer) => Ok(answer),
                Outcome::Unavailable => Err(Unavailable),
            },
        }
    }

    /// For `/healthz`: `None` with local limits; with Redis, whether it is reachable and
    /// where limits are decided meanwhile.
    pub fn redis_status(&self) -> Option<RedisStatus> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(redis) if !redis.degraded() => Some(RedisStatus {
                redis: "ok",
                rate_limits: "shared",
            }),
            Backend::Redis(redis) => Some(RedisStatus {
                redis: "unreachable",
                rate_limits: if redis.fails_open() {
                    "local"
                } else {
                    "unavailable"
                },
            }),
        }
    }

    /// With Redis configured, ask it now (`PING`) and record the answer for
    /// [`Limiter::redis_status`]; `None` without Redis.
    pub async fn check_redis(&self) -> Option<bool> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Redis(redis) => Some(redis.ping().await),
        }
    }
}

/// What `/healthz` says of Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisStatus {
    /// `ok` or `unreachable`.
    pub redis: &'static str,
    /// `shared` (in Redis), `local` (fail-open: this node's memory) or `unavailable`
    /// (fail-closed: limited requests get 503).
    pub rate_limits: &'static str,
}
