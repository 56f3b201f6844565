//! Settings, layered: built-in defaults → `portcullis.toml` (or `--config PATH`) →
//! `PORTCULLIS_<SECTION>__<KEY>` environment variables → command-line flags (applied by the CLI).
//!
//! Every section denies unknown keys, so a typo in the file or the environment stops the
//! process with an error that names the key instead of being silently ignored.

mod auth;
mod describe;
mod envelope;
mod groups;
mod limits;
mod lists;
mod validate;

pub use auth::{AuthSettings, SignatureScheme};
pub use envelope::{ClientKeySettings, DEFAULT_CLIENT, EnvelopeSettings};
pub use groups::RouteGroup;
pub use limits::{LimitSettings, RedisFailure, RoleRates};

use crate::limits::RateSpec;
pub use crate::services::campaigns::settings::{GatewayKind, SmsSettings};
pub use crate::services::configfiles::settings::FileSettings;
pub use crate::services::messages::settings::{MessageSettings, Posting};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "portcullis.toml";
/// Seed 002's settings file, named in a note when it is present and ours is not.
const SEED_CONFIG_FILE: &str = "config.toml";
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
    #[serde(deserialize_with = "envelope::client_keys_in_either_form")]
    pub client_keys: std::collections::BTreeMap<String, ClientKeySettings>,
    /// The encrypted envelope: server keys and token rules.
    pub envelope: EnvelopeSettings,
    /// The message drop (seed 004).
    pub messages: MessageSettings,
    /// The SMS campaign manager and its phone (seed 000).
    pub sms: SmsSettings,
    /// The audit trail.
    pub audit: AuditSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// The OpenAPI document.
    pub openapi: OpenApiSettings,
    /// Rules guarding other services: forward-auth and gateway mode.
    pub gateway: crate::gateway::GatewaySettings,
}

/// `[openapi]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenApiSettings {
    /// Serve the OpenAPI 3.1 document at `GET /openapi.json`, without authentication. It
    /// describes the routes, not who uses them; turn it off to keep the surface unlisted
    /// (`portcullis openapi` still prints it).
    pub enabled: bool,
}

impl Default for OpenApiSettings {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` on the API (to keys with `metrics.read`).
    pub enabled: bool,
    /// Also serve `/metrics` without authentication on this address, e.g.
    /// `"127.0.0.1:9464"`, for a scraper that cannot send a key. Keep it private: it says
    /// how busy the server is and how often authentication fails.
    pub listen: Option<std::net::SocketAddr>,
    /// Allow `listen` on an address other than loopback (refused otherwise: whoever reaches
    /// it reads the metrics without a key).
    pub allow_remote: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            allow_remote: false,
        }
    }
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

/// `[server.tls]`: serve HTTPS with these PEM files. Both are read again on SIGHUP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// Certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The leaf's private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
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
    /// Seed 002's `debug = true`: the same as `level = "debug"` (when `level` is left as is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<bool>,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            log_file: None,
            level: "info".to_owned(),
            format: LogFormat::Text,
            keep_files: 30,
            debug: None,
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
    /// Redis URL for state shared between nodes: limits, quotas, nonces, the message drop.
    pub redis_url: Option<String>,
    /// PostgreSQL: connections in each node's pool.
    pub pool_size: u32,
    /// PostgreSQL: a statement running longer is cancelled and its request answered 503.
    #[serde(with = "human_duration")]
    pub statement_timeout: Duration,
    /// PostgreSQL: waiting longer for a free pooled connection answers 503.
    #[serde(with = "human_duration")]
    pub acquire_timeout: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        let pool = crate::store::StoreOptions::default();
        Self {
            data_dir: PathBuf::from("data"),
            url: None,
            redis_url: None,
            pool_size: pool.pool_size,
            statement_timeout: pool.statement_timeout,
            acquire_timeout: pool.acquire_timeout,
        }
    }
}

impl StorageSettings {
    /// How the store's pool connects.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            pool_size: self.pool_size,
            statement_timeout: self.statement_timeout,
            acquire_timeout: self.acquire_timeout,
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("portcullis.db").display()),
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
                } else if Path::new(SEED_CONFIG_FILE).exists() {
                    // Seed 002 kept its settings in config.toml: say that it is not read,
                    // rather than start on the defaults without a word.
                    eprintln!(
                        "portcullis: note: ./{SEED_CONFIG_FILE} is not read; settings come from \
                         ./{DEFAULT_CONFIG_FILE}, or pass --config {SEED_CONFIG_FILE}"
                    );
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
        if settings.logging.debug == Some(true) && settings.logging.level == "info" {
            settings.logging.level = "debug".to_owned();
        }
        let every_file: Vec<String> = settings.files.keys().cloned().collect();
        for client in settings.client_keys.values_mut().filter(|c| c.all_files) {
            client.files = every_file.clone();
        }
        Ok(settings)
    }
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
mod tests;
