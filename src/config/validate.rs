//! Values that parse but cannot work, refused at load with the setting named.

use super::*;

impl Settings {
    /// Several nodes on one database must sign sessions and chain the audit trail with the
    /// same keys: a key each node made for itself in its data directory would split them.
    /// Asked by the server and by the commands that write to the store (not by those that
    /// only generate a key or migrate, which must work before the secrets exist).
    pub fn require_shared_secrets(&self) -> Result<(), ConfigError> {
        let shared = crate::store::is_postgres(&self.storage.database_url());
        if shared && (self.auth.session_secret.is_none() || self.auth.audit_secret.is_none()) {
            return Err(ConfigError::Invalid {
                key: "auth",
                reason: "with storage on PostgreSQL, set auth.session_secret and \
                         auth.audit_secret (PORTCULLIS_AUTH__SESSION_SECRET, \
                         PORTCULLIS_AUTH__AUDIT_SECRET) to the same values on every node: 64 \
                         hex characters each, e.g. from `portcullis keys generate`"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// Check values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Err(err) = crate::gateway::Rules::compile(&self.gateway.routes) {
            return Err(ConfigError::Invalid {
                key: "gateway.routes",
                reason: err.to_string(),
            });
        }
        if !matches!(self.gateway.forward_rate_limited_status, 403 | 429) {
            return Err(ConfigError::Invalid {
                key: "gateway.forward_rate_limited_status",
                reason: "must be 403 (for nginx's auth_request) or 429".to_owned(),
            });
        }
        if self.server.host.parse::<std::net::IpAddr>().is_err() && self.server.host != "localhost"
        {
            return Err(ConfigError::Invalid {
                key: "server.host",
                reason: format!("`{}` is not an IP address", self.server.host),
            });
        }
        if let Err(reason) = self.server.mount_path() {
            return Err(ConfigError::Invalid {
                key: "server.base_url",
                reason,
            });
        }
        if let Some(listen) = self.metrics.listen
            && !listen.ip().is_loopback()
            && !self.metrics.allow_remote
        {
            return Err(ConfigError::Invalid {
                key: "metrics.listen",
                reason: format!(
                    "{listen} is not a loopback address, and /metrics there needs no key; \
                     use 127.0.0.1, or set metrics.allow_remote = true if that network is private"
                ),
            });
        }
        if let Err(reason) = check_log_level(&self.logging.level) {
            return Err(ConfigError::Invalid {
                key: "logging.level",
                reason,
            });
        }
        let url = self.storage.database_url();
        if !url.starts_with("sqlite:") && !crate::store::is_postgres(&url) {
            return Err(ConfigError::Invalid {
                key: "storage.url",
                reason: "must be a sqlite:// or postgres:// URL".to_owned(),
            });
        }
        if self.storage.pool_size == 0
            || self.storage.statement_timeout.is_zero()
            || self.storage.acquire_timeout.is_zero()
        {
            return Err(ConfigError::Invalid {
                key: "storage",
                reason:
                    "pool_size, statement_timeout and acquire_timeout must be greater than zero"
                        .to_owned(),
            });
        }

        if self.limits.max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "limits.max_body_bytes",
                reason: "must be greater than zero".to_owned(),
            });
        }
        if self.limits.request_timeout.is_zero()
            || self.limits.header_read_timeout.is_zero()
            || self.limits.tls_handshake_timeout.is_zero()
        {
            return Err(ConfigError::Invalid {
                key: "limits",
                reason: "request_timeout, header_read_timeout and tls_handshake_timeout must be greater than zero"
                    .to_owned(),
            });
        }
        if self.limits.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "limits.max_connections",
                reason: "must be greater than zero".to_owned(),
            });
        }
        if self.auth.cache_capacity == 0 || self.auth.max_concurrent_lookups == 0 {
            return Err(ConfigError::Invalid {
                key: "auth",
                reason: "cache_capacity and max_concurrent_lookups must be greater than zero"
                    .to_owned(),
            });
        }
        if self.auth.refresh_interval.is_zero() || self.auth.last_used_flush.is_zero() {
            return Err(ConfigError::Invalid {
                key: "auth",
                reason: "refresh_interval and last_used_flush must be greater than zero".to_owned(),
            });
        }
        if let Some(secret) = &self.auth.audit_secret
            && (secret.expose().len() != 64
                || !secret.expose().bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::Invalid {
                key: "auth.audit_secret",
                reason: "must be 64 hex characters (32 random bytes)".to_owned(),
            });
        }
        if let Some(secret) = &self.auth.session_secret
            && (secret.expose().len() != 64
                || !secret.expose().bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::Invalid {
                key: "auth.session_secret",
                reason: "must be 64 hex characters (32 random bytes)".to_owned(),
            });
        }
        if let Some(unknown) = self
            .limits
            .groups
            .keys()
            .find(|g| RouteGroup::parse(g).is_none())
        {
            return Err(ConfigError::Invalid {
                key: "limits.groups",
                reason: format!(
                    "unknown route group `{unknown}`; known: {}",
                    RouteGroup::names(|_| true)
                ),
            });
        }
        if let Some(bad) = self
            .server
            .trusted_proxies
            .iter()
            .find(|p| crate::net::Cidr::parse(p).is_none())
        {
            return Err(ConfigError::Invalid {
                key: "server.trusted_proxies",
                reason: format!("`{bad}` is not an address or CIDR range"),
            });
        }
        if self.limits.memory_capacity == 0 || self.limits.redis_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                key: "limits",
                reason: "memory_capacity and redis_timeout must be greater than zero".to_owned(),
            });
        }
        if let Some(url) = &self.storage.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://"))
        {
            return Err(ConfigError::Invalid {
                key: "storage.redis_url",
                reason: "must be a redis:// URL".to_owned(),
            });
        }
        if let Some(unknown) = self
            .auth
            .signed_groups
            .iter()
            .find(|g| !RouteGroup::parse(g).is_some_and(RouteGroup::can_require_signatures))
        {
            return Err(ConfigError::Invalid {
                key: "auth.signed_groups",
                reason: format!(
                    "unknown route group `{unknown}`; known: {}",
                    RouteGroup::names(RouteGroup::can_require_signatures)
                ),
            });
        }
        if self.auth.lockout_threshold == 0
            || self.auth.lockout_capacity == 0
            || self.auth.replay_cache_capacity == 0
            || self.auth.replay_cache_per_key == 0
        {
            return Err(ConfigError::Invalid {
                key: "auth",
                reason: "lockout_threshold, lockout_capacity, replay_cache_capacity and replay_cache_per_key must be greater than zero".to_owned(),
            });
        }
        if self.auth.signature_schemes.is_empty() {
            return Err(ConfigError::Invalid {
                key: "auth.signature_schemes",
                reason: "name at least one of rfc9421, token_hash".to_owned(),
            });
        }
        let envelope = &self.envelope;
        // Bounded so that lifetime + skew arithmetic cannot overflow, and a token cannot
        // outlive the memory of its id.
        const DAY: Duration = Duration::from_secs(86_400);
        if envelope.max_token_lifetime.as_secs() == 0
            || envelope.max_token_lifetime > DAY
            || envelope.clock_skew > DAY
        {
            return Err(ConfigError::Invalid {
                key: "envelope",
                reason: "max_token_lifetime must be 1s to 1d, and clock_skew at most 1d".to_owned(),
            });
        }
        if envelope.key_reload_interval.is_zero()
            || envelope.replay_cache_capacity == 0
            || envelope.max_file_bytes == 0
        {
            return Err(ConfigError::Invalid {
                key: "envelope",
                reason: "key_reload_interval, replay_cache_capacity and max_file_bytes must be greater than zero".to_owned(),
            });
        }
        self.messages.validate()?;
        self.sms.validate()
    }
}

/// The levels a log filter may name.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A log filter is a level (`info`) or directives (`portcullis=debug,info`). `tracing`
/// reads a bare unknown word such as `verbose` as a target name with no level, which turns
/// every other log line off without a word; so each bare word and each `target=level` must
/// name a level here.
pub(super) fn check_log_level(filter: &str) -> Result<(), String> {
    let levels = LOG_LEVELS.join(", ");
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            None => directive,
        };
        if !LOG_LEVELS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(level.trim()))
        {
            return Err(format!(
                "{filter:?}: `{level}` is not a log level; use one of {levels}, \
                 or directives such as \"info,portcullis::access=warn\""
            ));
        }
    }
    if filter.trim().is_empty() {
        return Err(format!("the log level is empty; use one of {levels}"));
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(|_| ())
        .map_err(|err| format!("{filter:?} is not a valid log filter: {err}"))
}
