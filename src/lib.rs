//! Portcullis: a secure API server in one binary.
//!
//! The modules below read as a guided tour, top to bottom: how the process is configured and
//! started, how a request travels through HTTP and authentication, and where state is kept.
//! Data flows down the list, never back up (see `shared/PRODUCT.md`, "Architecture").

/// The tamper-evident audit trail: events, the hash chain, its verification.
pub mod audit;
/// Authentication and authorisation: key format, verification cache, roles and permissions.
pub mod auth;
/// Command-line interface: `serve`, `keys …`; a thin layer over the library.
pub mod cli;
/// Time as an injected dependency, so expiry can be tested without sleeping.
pub mod clock;
/// Settings: built-in defaults → TOML file → `PORTCULLIS_*` environment, validated at load.
pub mod config;
/// The config-file service (seed 002): named files, sections, backups, atomic writes.
pub mod configfiles;
/// Crash-safe file replacement: temporary file, fsync, rename, fsync the directory.
pub mod durable;
/// Durations written by clients (`"90d"`, `"1h 30m"`), parsed without panics.
pub mod duration;
/// Private files: umask 077, and the data directory and log files tightened at start.
pub mod file_modes;
/// HTTP: the route table, middleware (layer order explained there), extractors and the one
/// place where errors become responses.
pub mod http;
/// JOSE: compact JWE (ECDH-ES, ECDH-ES+A256KW, dir; A256GCM), ES256 JWS, P-256 JWKs, the
/// server keyring and its rotation.
pub mod jose;
/// Rate limits and usage quotas, in memory or on Redis.
pub mod limits;
/// The message drop (seed 004): unguessable ids, expiry, burn-after-reading, encryption at rest.
pub mod messages;
/// Client addresses as limits count them (IPv6 per /64) and address ranges (trusted proxies).
pub mod net;
/// The one way every part reaches Redis: lazy, multiplexed, short timeouts.
pub mod redis_client;
/// Secret-holding types that zeroize on drop and never print.
pub mod secret;
/// Build the application from settings and run it until shutdown.
pub mod startup;
/// Persistence behind the `Store` trait; all SQL lives here.
pub mod store;
/// Logging setup: text or JSON, stderr or a daily-rotated file; the access log.
pub mod telemetry;
/// TLS: the one crypto provider, certificates that reload on SIGHUP, development certificates.
pub mod tls;
/// Background jobs: named periodic workers that stop between steps.
pub mod workers;
