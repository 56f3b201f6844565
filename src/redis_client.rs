//! One way to reach Redis, for every part that uses it (the limiter, the message store): a
//! multiplexed, auto-reconnecting connection with short timeouts and one quick retry, made
//! lazily so that start-up never waits for Redis. Must be called inside a tokio runtime.

use redis::RedisResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// A connection to `url` whose connects and replies each give up after `timeout`.
pub fn connect_lazily(url: &str, timeout: Duration) -> RedisResult<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
}
