//! Redis implementation of [`MessageStore`] (the seed's store). One hash per message under
//! `<prefix>msg:<lookup>`, with a TTL that ends with the message, so Redis itself forgets
//! expired messages; `<prefix>msgindex` (lookup keys by expiry) counts the live ones for
//! the size cap. Reads and puts are Lua scripts: each is one atomic step on the server,
//! which is what makes burn-after-reading safe between several nodes.
//!
//! Durability is Redis's: a message survives a Redis restart only with AOF or RDB persistence
//! configured there.

use crate::store::StoreError;
use crate::store::messages::{MessageStore, StoredMessage};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// Store only if absent and the drop is not full; expire with the message. KEYS[2] is the
/// index of live messages (a sorted set of lookup keys by expiry), pruned here so that its
/// size is the live count.
const PUT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[8]) then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'sealed', ARGV[1], 'burn', ARGV[2], 'delete', ARGV[3],
           'created', ARGV[4], 'expires', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[9])
return 1
";

/// Fetch a live message; a burn-after-reading one is deleted in the same step.
const READ: &str = r"
local v = redis.call('HMGET', KEYS[1], 'sealed', 'burn', 'delete', 'created', 'expires')
if not v[1] then return false end
if tonumber(v[5]) <= tonumber(ARGV[1]) then return false end
if v[2] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return v
";

/// One step of reconciling the index with the messages: entries whose message is gone
/// (evicted, deleted by hand) are removed. ARGV[1] is the ZSCAN cursor, ARGV[2] the key
/// prefix of messages. Returns the next cursor and how many entries were removed.
const RECONCILE: &str = r"
local scan = redis.call('ZSCAN', KEYS[1], ARGV[1], 'COUNT', 500)
local removed = 0
local entries = scan[2]
for i = 1, #entries, 2 do
  if redis.call('EXISTS', ARGV[2] .. entries[i]) == 0 then
    redis.call('ZREM', KEYS[1], entries[i])
    removed = removed + 1
  end
end
return {scan[1], removed}
";

/// Remove a message and its index entry.
const DELETE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
";

/// Messages in Redis.
pub struct RedisMessages {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    put: redis::Script,
    read: redis::Script,
    delete: redis::Script,
    reconcile: redis::Script,
}

impl RedisMessages {
    /// Connect lazily to `url` (start-up does not wait for Redis); keys start with `prefix`.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        let connection = crate::redis_client::connect_lazily(url, timeout)
            .map_err(|e| StoreError::UnsupportedUrl(format!("redis: {e}")))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            timeout,
            put: redis::Script::new(PUT),
            read: redis::Script::new(READ),
            delete: redis::Script::new(DELETE),
            reconcile: redis::Script::new(RECONCILE),
        })
    }

    /// Say at start-up, once, if this Redis would lose acknowledged messages in a crash: a
    /// message is as durable as Redis's own persistence (`appendonly yes` with
    /// `appendfsync always` for the guarantee the SQL store gives).
    pub async fn warn_if_volatile(&self) {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("CONFIG");
        command.arg("GET").arg("*");
        // Managed Redis often forbids CONFIG; then there is nothing to say.
        let Ok(settings) = self
            .call(command.query_async::<std::collections::HashMap<String, String>>(&mut connection))
            .await
        else {
            return;
        };
        let policy = settings.get("maxmemory-policy").map(String::as_str);
        if policy.is_some_and(|p| p != "noeviction") {
            tracing::warn!(
                maxmemory_policy = policy.unwrap_or("?"),
                "messages are stored in Redis, which may evict them (and rate-limit state) when \
                 full; set maxmemory-policy noeviction so that a full Redis refuses new posts"
            );
        }
        let appendonly = settings.get("appendonly").map(String::as_str);
        let fsync = settings.get("appendfsync").map(String::as_str);
        if appendonly != Some("yes") || fsync != Some("always") {
            tracing::warn!(
                appendonly = appendonly.unwrap_or("?"),
                appendfsync = fsync.unwrap_or("?"),
                "messages are stored in Redis, which may lose acknowledged writes in a crash; \
                 set appendonly yes and appendfsync always for the durability of the SQL store"
            );
        }
    }

    fn key(&self, lookup: &str) -> String {
        format!("{}msg:{lookup}", self.prefix)
    }

    /// The sorted set of live lookup keys, scored by expiry.
    fn index(&self) -> String {
        format!("{}msgindex", self.prefix)
    }

    /// Run one Redis call under the timeout; any failure is `Unavailable`.
    async fn call<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::Unavailable(format!("redis: {err}"))),
            Err(_) => Err(StoreError::Unavailable("redis: timed out".to_owned())),
        }
    }
}

type Fields = (Vec<u8>, String, String, i64, i64);

#[async_trait]
impl MessageStore for RedisMessages {
    async fn put(
        &self,
        message: &StoredMessage,
        max_live: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let ttl = (message.expires_at - message.created_at).max(1);
        let mut connection = self.connection.clone();
        let mut invocation = self.put.key(self.key(&message.lookup));
        invocation
            .key(self.index())
            .arg(message.sealed.as_slice())
            .arg(if message.burn { "1" } else { "0" })
            .arg(&message.delete_hash)
            .arg(message.created_at)
            .arg(message.expires_at)
            .arg(ttl)
            .arg(now)
            .arg(max_live)
            .arg(&message.lookup);
        let stored: i64 = self.call(invocation.invoke_async(&mut connection)).await?;
        match stored {
            -1 => Ok(false),
            0 => Err(StoreError::Conflict("message id already in use")),
            _ => Ok(true),
        }
    }

    async fn read(&self, lookup: &str, now: i64) -> Result<Option<StoredMessage>, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.read.key(self.key(lookup));
        invocation.key(self.index()).arg(now).arg(lookup);
        let fields: Option<Fields> = self.call(invocation.invoke_async(&mut connection)).await?;
        Ok(fields.map(
            |(sealed, burn, delete_hash, created_at, expires_at)| StoredMessage {
                lookup: lookup.to_owned(),
                sealed,
                burn: burn == "1",
                delete_hash,
                created_at,
                expires_at,
            },
        ))
    }

    async fn delete_hash(&self, lookup: &str, now: i64) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("HMGET");
        command.arg(self.key(lookup)).arg("delete").arg("expires");
        let (hash, expires): (Option<String>, Option<i64>) =
            self.call(command.query_async(&mut connection)).await?;
        Ok(hash.filter(|_| expires.is_some_and(|at| at > now)))
    }

    async fn delete(&self, lookup: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.delete.key(self.key(lookup));
        invocation.key(self.index()).arg(lookup);
        let removed: i64 = self.call(invocation.invoke_async(&mut connection)).await?;
        Ok(removed > 0)
    }

    /// Redis expires the messages; this drops expired entries from the index, then walks it
    /// to drop entries whose message is gone another way (eviction, a hand-run `DEL`), so
    /// that the count behind `max_live` cannot drift. Returns the index entries removed.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("ZREMRANGEBYSCORE");
        command.arg(self.index()).arg("-inf").arg(now);
        let mut removed: u64 = self.call(command.query_async(&mut connection)).await?;
        let prefix = format!("{}msg:", self.prefix);
        let mut cursor = "0".to_owned();
        loop {
            let mut invocation = self.reconcile.key(self.index());
            invocation.arg(&cursor).arg(&prefix);
            let (next, gone): (String, u64) =
                self.call(invocation.invoke_async(&mut connection)).await?;
            removed += gone;
            if next == "0" {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn live(&self, now: i64) -> Result<u64, StoreError> {
        // The index scores each lookup key by its expiry: the live ones expire after now.
        let mut connection = self.connection.clone();
        let mut command = redis::cmd("ZCOUNT");
        command.arg(self.index()).arg(format!("({now}")).arg("+inf");
        self.call(command.query_async(&mut connection)).await
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
