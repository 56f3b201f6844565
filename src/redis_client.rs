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

/// `url` fit for a log line: a password in it replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The userinfo ends at the last `@`: a host holds none, while a password written without
    // percent-encoding may hold `@` or `/`.
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://***@{host}"),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redacted("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(redacted("redis://:s3cret@h:6379"), "redis://:***@h:6379");
        assert_eq!(redacted("rediss://u:p@w@h/1"), "rediss://u:***@h/1");
        assert_eq!(redacted("redis://token@h"), "redis://***@h");
        assert_eq!(redacted("redis://:pa/ss@h:6379/0"), "redis://:***@h:6379/0");
    }
}
