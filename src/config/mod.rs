//! Settings, layered: built-in defaults → `portcullis.toml` (or `--config PATH`) →
//! `PORTCULLIS_<SECTION>__<KEY>` environment variables → command-line flags (applied by the CLI).
//!
//! Every section denies unknown keys, so a typo in the file or the environment stops the
//! process with an error that names the key instead of being silently ignored.

mod describe;
mod lists;

use crate::limits::RateSpec;
pub use crate::services::configfiles::settings::FileSettings;
pub use crate::services::messages::settings::{MessageSettings, Posting};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "portcullis.toml";
/// Prefix of environment overrides; sections and keys are separated by a double underscore.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

/// Errors in loading or validating settings; each names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, unreadable, not TOML, or holds an unknown key or a wrong type:
    /// one line per problem, each naming the file or variable, the key and the value.
    #[error("{}", .0.join("\n"))]
    Load(Vec<String>),
    /// A value parsed but makes no sense.
    #[error("invalid setting `{key}`: {reason}")]
    Invalid {
        /// Dotted path of the setting, e.g. `server.port`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// All settings of a Portcullis process.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where and how the HTTP server listens.
    pub server: ServerSettings,
    /// Log level, format and destination.
    pub logging: LoggingSettings,
    /// Where state is kept.
    pub storage: StorageSettings,
    /// API-key verification.
    pub auth: AuthSettings,
    /// Request size and time limits.
    pub limits: LimitSettings,
    /// Config files the encrypted config service may touch, by name (seed 002).
    pub files: std::collections::BTreeMap<String, FileSettings>,
    /// Clients of the encrypted config service, by name (the `iss` of their tokens). Seed
    /// 002's single-client form, `[client_keys] public_key = "…"`, is one client named
    /// [`DEFAULT_CLIENT`] that may use every file.
    #[serde(deserialize_with = "client_keys_in_either_form")]
    pub client_keys: std::collections::BTreeMap<String, ClientKeySettings>,
    /// The encrypted envelope: server keys and token rules.
    pub envelope: EnvelopeSettings,
    /// The message drop (seed 004).
    pub messages: MessageSettings,
    /// The audit trail.
    pub audit: AuditSettings,
}

/// `[audit]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Repeated refusals of one kind from one address within this window are recorded once in
    /// full and then counted into one summary record; `"0s"` records every refusal.
    #[serde(with = "human_duration")]
    pub refusal_window: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            refusal_window: Duration::from_secs(60),
        }
    }
}

/// A scheme of signed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// RFC 9421 HTTP Message Signatures: binds method, target, body and a nonce.
    Rfc9421,
    /// Seed 001's X-Token-Hash: binds the body only, and can be replayed within its window.
    TokenHash,
}

/// `[server.tls]`: serve HTTPS with these PEM files. Both are read again on SIGHUP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The leaf's private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

/// The client name (`iss`) of seed 002's single-client form, `[client_keys] public_key = …`.
pub const DEFAULT_CLIENT: &str = "default";

/// `[client_keys]` is either a table of named clients or, as in seed 002's `config.toml`,
/// one client's own settings (`public_key`, optionally `files` and `actions`).
fn client_keys_in_either_form<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, ClientKeySettings>, D::Error> {
    use serde::de::Error;
    let raw =
        std::collections::BTreeMap::<String, figment::value::Value>::deserialize(deserializer)?;
    let single = raw.get("public_key").is_some_and(|v| v.as_str().is_some());
    let read = |name: &str, value: figment::value::Value| {
        value.deserialize::<ClientKeySettings>().map_err(|err| {
            let problems: Vec<String> = err
                .into_iter()
                .map(|mut e| {
                    e.path.insert(0, name.to_owned());
                    e.path.insert(0, "client_keys".to_owned());
                    describe::problem(&e)
                })
                .collect();
            D::Error::custom(problems.join("; "))
        })
    };
    if single {
        let all_files = !raw.contains_key("files");
        let mut client = read(DEFAULT_CLIENT, figment::value::Value::from(raw))?;
        client.all_files = all_files;
        return Ok(std::collections::BTreeMap::from([(
            DEFAULT_CLIENT.to_owned(),
            client,
        )]));
    }
    raw.into_iter()
        .map(|(name, value)| Ok((name.clone(), read(&name, value)?)))
        .collect()
}

/// One entry of `[client_keys.<name>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKeySettings {
    /// The client's P-256 public key, PEM (`BEGIN PUBLIC KEY`), as `jose keygen` writes it.
    pub public_key: String,
    /// Names from `[files]` this client may use.
    #[serde(default, deserialize_with = "lists::one_or_many")]
    pub files: Vec<String>,
    /// Actions this client may use; all when unset.
    #[serde(default, deserialize_with = "lists::optional_one_or_many")]
    pub actions: Option<Vec<String>>,
    /// Seed 002's single-client form without `files`: every `[files]` entry (filled in by
    /// [`Settings::load`]).
    #[serde(skip)]
    pub all_files: bool,
}

/// `[envelope]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvelopeSettings {
    /// The server's P-256 private key (PEM); default: `<data_dir>/envelope/current.pem`,
    /// created on first start. Set it to share one key between nodes.
    pub private_key: Option<crate::secret::SecretString>,
    /// The previous key, still accepted during a rotation (with `private_key` only).
    pub previous_private_key: Option<crate::secret::SecretString>,
    /// Longest accepted token lifetime (`exp - iat`).
    #[serde(with = "human_duration")]
    pub max_token_lifetime: Duration,
    /// Accepted clock difference for `iat` and `exp`.
    #[serde(with = "human_duration")]
    pub clock_skew: Duration,
    /// How often the key directory is checked for a rotation.
    #[serde(with = "human_duration")]
    pub key_reload_interval: Duration,
    /// Largest config file read or written, in bytes.
    pub max_file_bytes: usize,
    /// Token ids remembered at most (replay protection without Redis).
    pub replay_cache_capacity: usize,
}

impl Default for EnvelopeSettings {
    fn default() -> Self {
        Self {
            private_key: None,
            previous_private_key: None,
            max_token_lifetime: Duration::from_secs(300),
            clock_skew: Duration::from_secs(30),
            key_reload_interval: Duration::from_secs(2),
            max_file_bytes: 256 * 1024,
            replay_cache_capacity: 100_000,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to bind; loopback by default so a fresh install is not exposed.
    pub host: String,
    /// TCP port; 0 picks a free one (the chosen address is printed on stdout).
    pub port: u16,
    /// Public URL of the server (`https://api.example.com/portcullis`), or only its path
    /// (`/portcullis`, seed 002's form). A path other than `/` mounts every route under it
    /// (`/portcullis/api/whoami`) and prefixes the links the server returns; an `https://`
    /// URL means TLS is terminated in front (cookies get `Secure`, responses HSTS).
    pub base_url: Option<String>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    #[serde(with = "human_duration")]
    pub shutdown_grace: Duration,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "lists::one_or_many")]
    pub trusted_proxies: Vec<String>,
    /// Serve HTTPS; plain HTTP when unset.
    pub tls: Option<TlsSettings>,
}

impl ServerSettings {
    /// The path every route is mounted under, from `base_url`: `""` for the root, else
    /// `/a/b` (no trailing slash).
    pub fn mount_path(&self) -> Result<String, String> {
        let Some(url) = self.base_url.as_deref() else {
            return Ok(String::new());
        };
        let path = match url.split_once("://") {
            Some((scheme, rest)) => {
                if scheme != "http" && scheme != "https" {
                    return Err(format!(
                        "{url:?}: use an http:// or https:// URL, or a path such as \"/portcullis\""
                    ));
                }
                rest.find('/').map_or("", |at| &rest[at..])
            }
            None if url.starts_with('/') => url,
            None => {
                return Err(format!(
                    "{url:?}: use a URL such as \"https://api.example.com/portcullis\" or a path such as \"/portcullis\""
                ));
            }
        };
        let path = path.trim_end_matches('/');
        let clean = path.split('/').skip(1).all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
        if !clean || path.contains(['?', '#']) {
            return Err(format!(
                "{url:?}: the path may hold only letters, digits, `-`, `.`, `_` and `~` between slashes"
            ));
        }
        Ok(path.to_owned())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 8080,
            base_url: None,
            shutdown_grace: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            tls: None,
        }
    }
}

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[logging]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSettings {
    /// Write logs to this file, rotated daily (`<name>.YYYY-MM-DD`); stderr when unset.
    pub log_file: Option<PathBuf>,
    /// A `tracing` filter: `info`, `debug`, or directives such as `portcullis=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// Daily log files kept (older ones are deleted at rotation); 0 keeps them all.
    pub keep_files: usize,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            log_file: None,
            level: "info".to_owned(),
            format: LogFormat::Text,
            keep_files: 30,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// Directory for the embedded database, the initial admin key and other local state.
    pub data_dir: PathBuf,
    /// Database URL; defaults to `sqlite://<data_dir>/portcullis.db`.
    pub url: Option<String>,
    /// Redis URL for state shared between nodes (used by later features when set).
    pub redis_url: Option<String>,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            url: None,
            redis_url: None,
        }
    }
}

impl StorageSettings {
    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("portcullis.db").display()),
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// Accept the keys in `ADMIN_API_KEY`, `USER_API_KEY` and `TERMUX_API_KEY` (seed 000 style).
    pub env_keys: bool,
    /// How many verified keys to keep in memory.
    pub cache_capacity: usize,
    /// How long a verified key is trusted from memory before it is read again.
    #[serde(with = "human_duration")]
    pub cache_ttl: Duration,
    /// How long an unknown key id is remembered as unknown.
    #[serde(with = "human_duration")]
    pub negative_cache_ttl: Duration,
    /// How often to look for keys changed by another process (the CLI, another node).
    #[serde(with = "human_duration")]
    pub refresh_interval: Duration,
    /// How often the last-used times of keys are written to the store.
    #[serde(with = "human_duration")]
    pub last_used_flush: Duration,
    /// At most this many store look-ups for uncached keys run at once.
    pub max_concurrent_lookups: usize,
    /// Lifetime of a login session.
    #[serde(with = "human_duration")]
    pub session_ttl: Duration,
    /// A new login ends the same user+key's older sessions (seed 001's rule).
    pub single_session: bool,
    /// Accept a session token as `Authorization: Bearer`.
    pub session_bearer: bool,
    /// Set and accept a session cookie (browser use; CSRF token required to change state).
    pub session_cookie: bool,
    /// 64 hex characters shared by all nodes; default: `<data_dir>/session.key`, created once.
    pub session_secret: Option<crate::secret::SecretString>,
    /// 64 hex characters keying the audit chain; default: `<data_dir>/audit.key`, created once.
    /// Keep a copy away from the database: whoever holds both can rewrite history.
    pub audit_secret: Option<crate::secret::SecretString>,
    /// Accepted clock difference for signed requests, either way.
    #[serde(with = "human_duration")]
    pub signature_window: Duration,
    /// Route groups (`identity`, `keys`, `sessions`, `audit`) that require a signed request.
    #[serde(deserialize_with = "lists::one_or_many")]
    pub signed_groups: Vec<String>,
    /// Schemes that satisfy `signed_groups`: `rfc9421` and `token_hash`. Leave out
    /// `token_hash` where a replayed or re-targeted request would matter: it binds neither
    /// method nor URI, and can be replayed within the signature window.
    #[serde(deserialize_with = "lists::one_or_many")]
    pub signature_schemes: Vec<SignatureScheme>,
    /// Nonces remembered at most (replay protection for signed requests without Redis).
    pub replay_cache_capacity: usize,
    /// Nonces any one key may have remembered at once; a key sending signed requests faster
    /// than this per window (twice `signature_window`) is refused, not everyone else.
    pub replay_cache_per_key: usize,
    /// Failures (per address or username) that trigger a lockout.
    pub lockout_threshold: u32,
    /// Failures are counted within this window.
    #[serde(with = "human_duration")]
    pub lockout_window: Duration,
    /// First lockout; each further one doubles.
    #[serde(with = "human_duration")]
    pub lockout_base: Duration,
    /// Longest lockout.
    #[serde(with = "human_duration")]
    pub lockout_max: Duration,
    /// Addresses and usernames tracked at most (each).
    pub lockout_capacity: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            env_keys: true,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(300),
            negative_cache_ttl: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(1),
            last_used_flush: Duration::from_secs(10),
            max_concurrent_lookups: 4,
            session_ttl: Duration::from_secs(3600),
            single_session: true,
            session_bearer: true,
            session_cookie: true,
            session_secret: None,
            audit_secret: None,
            signature_window: Duration::from_secs(30),
            signed_groups: Vec::new(),
            signature_schemes: vec![SignatureScheme::Rfc9421, SignatureScheme::TokenHash],
            replay_cache_capacity: 1_000_000,
            replay_cache_per_key: 10_000,
            lockout_threshold: 5,
            lockout_window: Duration::from_secs(900),
            lockout_base: Duration::from_secs(30),
            lockout_max: Duration::from_secs(3600),
            lockout_capacity: 100_000,
        }
    }
}

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
            // Posting to the message drop: with the default lifetime cap (7 days) one address
            // keeps at most ~16,800 messages alive, well under `messages.max_live`.
            groups: std::collections::BTreeMap::from([(
                "message_posts".to_owned(),
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

impl Settings {
    /// Load settings from defaults, the given file (or `portcullis.toml` if present) and the
    /// environment, then validate them.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => {
                if Path::new(DEFAULT_CONFIG_FILE).exists() {
                    figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
                }
            }
        }
        // Only `SECTION__KEY` variables are settings; others with our prefix (such as the test
        // suite's `PORTCULLIS_TEST_POSTGRES_URL`) are not, and must not trip the unknown-key check.
        figment = figment.merge(
            Env::prefixed(ENV_PREFIX)
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        let mut settings: Settings = figment
            .extract()
            .map_err(|err| ConfigError::Load(describe::describe(err)))?;
        settings.validate().map_err(|err| match err {
            // Say where the value came from, as the type errors do.
            ConfigError::Invalid { key, reason } => {
                let path: Vec<String> = key.split('.').map(str::to_owned).collect();
                let place = match describe::origin(figment.find_metadata(key), &path) {
                    describe::Origin::File(file) => format!(" in {file}"),
                    describe::Origin::Env(var) => format!(" in the environment ({var})"),
                    describe::Origin::Other => String::new(),
                };
                ConfigError::Load(vec![format!(
                    "configuration error{place}: `{key}`: {reason}"
                )])
            }
            other => other,
        })?;
        let every_file: Vec<String> = settings.files.keys().cloned().collect();
        for client in settings.client_keys.values_mut().filter(|c| c.all_files) {
            client.files = every_file.clone();
        }
        Ok(settings)
    }

    /// Check values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        if let Err(reason) = check_log_level(&self.logging.level) {
            return Err(ConfigError::Invalid {
                key: "logging.level",
                reason,
            });
        }
        let url = self.storage.database_url();
        if !url.starts_with("sqlite:") {
            return Err(ConfigError::Invalid {
                key: "storage.url",
                reason: "only sqlite:// URLs are supported by this build".to_owned(),
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
        const GROUPS: &[&str] = &[
            "identity",
            "keys",
            "sessions",
            "audit",
            "config",
            "messages",
            "message_posts",
        ];
        if let Some(unknown) = self
            .limits
            .groups
            .keys()
            .find(|g| !GROUPS.contains(&g.as_str()) && g.as_str() != "login")
        {
            return Err(ConfigError::Invalid {
                key: "limits.groups",
                reason: format!(
                    "unknown route group `{unknown}`; known: {}, login",
                    GROUPS.join(", ")
                ),
            });
        }
        if let Some(bad) = self
            .server
            .trusted_proxies
            .iter()
            .find(|p| crate::http::middleware::client_ip::Cidr::parse(p).is_none())
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
            .find(|g| !GROUPS.contains(&g.as_str()))
        {
            return Err(ConfigError::Invalid {
                key: "auth.signed_groups",
                reason: format!(
                    "unknown route group `{unknown}`; known: {}",
                    GROUPS.join(", ")
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
        self.messages.validate()
    }
}

/// The levels a log filter may name.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A log filter is a level (`info`) or directives (`portcullis=debug,info`). `tracing`
/// reads a bare unknown word such as `verbose` as a target name with no level, which turns
/// every other log line off without a word; so each bare word and each `target=level` must
/// name a level here.
fn check_log_level(filter: &str) -> Result<(), String> {
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

/// Durations are written as humans write them in config files: `"30s"`, `"5m"`, `"90d"`.
pub mod human_duration {
    use super::*;

    /// Serialize as a human-readable string.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    /// Parse `"30s"`, `"1h 30m"`, `"90d"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration; write e.g. \"30s\", \"5m\", \"1h 30m\" or \"90d\""
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_listen_on_loopback_8080() {
        let settings = Settings::default();
        settings.validate().unwrap();
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8080);
        assert_eq!(
            settings.storage.database_url(),
            "sqlite://data/portcullis.db"
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[server]\nprot = 9000\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn base_url_gives_the_mount_path() {
        let mount = |url: Option<&str>| {
            let mut settings = Settings::default();
            settings.server.base_url = url.map(str::to_owned);
            settings.server.mount_path()
        };
        assert_eq!(mount(None).unwrap(), "");
        assert_eq!(mount(Some("/")).unwrap(), "");
        assert_eq!(mount(Some("https://api.example.com")).unwrap(), "");
        assert_eq!(mount(Some("https://api.example.com/")).unwrap(), "");
        assert_eq!(mount(Some("/portcullis/")).unwrap(), "/portcullis");
        assert_eq!(mount(Some("http://h:8080/a/b")).unwrap(), "/a/b");
        for bad in [
            "portcullis",
            "/a//b",
            "/a/../b",
            "/a b",
            "ftp://h/x",
            "/a?x",
        ] {
            assert!(mount(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn seed_002s_single_client_form_is_one_client_with_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "[files]\nwg0 = { path = \"/etc/wireguard/wg0.conf\" }\nnotes = { path = \"/srv/n.txt\" }\n\
             [client_keys]\npublic_key = \"\"\"\nPEM\n\"\"\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        let client = &settings.client_keys[DEFAULT_CLIENT];
        assert_eq!(settings.client_keys.len(), 1);
        assert_eq!(client.public_key.trim(), "PEM");
        assert_eq!(client.files, ["notes", "wg0"]);
        assert_eq!(client.actions, None);
        // With `files`, only those.
        std::fs::write(
            &path,
            "[files]\nwg0 = { path = \"/etc/wireguard/wg0.conf\" }\nnotes = { path = \"/srv/n.txt\" }\n\
             [client_keys]\npublic_key = \"PEM\"\nfiles = \"wg0\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.client_keys[DEFAULT_CLIENT].files, ["wg0"]);
    }

    #[test]
    fn unknown_log_levels_are_refused_with_the_valid_list() {
        for good in [
            "info",
            "WARN",
            "info,portcullis::access=warn",
            "portcullis=debug,off",
        ] {
            check_log_level(good).unwrap();
        }
        for bad in ["verbose", "info,portcullis=loud", "", "portcullis"] {
            let err = check_log_level(bad).unwrap_err();
            assert!(
                err.contains("off, error, warn, info, debug, trace"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn durations_are_read_as_human_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[limits]\nrequest_timeout = \"1m 30s\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.limits.request_timeout, Duration::from_secs(90));
    }

    #[test]
    fn envelope_settings_that_cannot_work_are_refused() {
        for change in [
            |s: &mut Settings| s.envelope.max_token_lifetime = Duration::ZERO,
            |s: &mut Settings| s.envelope.max_token_lifetime = Duration::from_secs(86_401),
            |s: &mut Settings| s.envelope.key_reload_interval = Duration::ZERO,
            |s: &mut Settings| s.envelope.replay_cache_capacity = 0,
        ] {
            let mut settings = Settings::default();
            change(&mut settings);
            assert!(matches!(
                settings.validate(),
                Err(ConfigError::Invalid {
                    key: "envelope",
                    ..
                })
            ));
        }
    }
}
