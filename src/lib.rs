//! Portcullis: a secure API server in one binary.
//!
//! The modules are grouped by layer, lowest first; a module uses only modules of its own
//! layer or of the layers above it in this file, never one below. (rustfmt sorts `mod` lines
//! alphabetically within a group, so the reading order is given here.) To follow a request:
//! `startup` builds the application, `http::router` stacks the middleware, the `authorize`
//! middleware hands the request's facts to `auth::authenticator` (which counts `limits` and
//! records to `audit`), a route in `http::routes` or a service's `routes.rs` answers, and
//! `store` keeps state. See `shared/PRODUCT.md`, "Architecture".

// 1. Foundations: no knowledge of keys, requests or services.

/// Time as an injected dependency, so expiry can be tested without sleeping.
pub mod clock;
/// Settings: built-in defaults → TOML file → `PORTCULLIS_*` environment, validated at load.
pub mod config;
/// Crash-safe file replacement: temporary file, fsync, rename, fsync the directory.
pub mod durable;
/// Durations written by clients (`"90d"`, `"1h 30m"`), parsed without panics.
pub mod duration;
/// Private files: umask 077, and the data directory and log files tightened at start.
pub mod file_modes;
/// Client addresses as limits count them (IPv6 per /64) and address ranges (trusted proxies).
pub mod net;
/// The one way every part reaches Redis: lazy, multiplexed, short timeouts.
pub mod redis_client;
/// Secret-holding types that zeroize on drop and never print.
pub mod secret;
/// Whole numbers in JSON bodies, in either spelling (`270`, `270.0`).
pub mod whole_number;

// 2. Security primitives and state.

/// The tamper-evident audit trail: events, the hash chain, its verification.
pub mod audit;
/// Authentication and authorisation: key format, verification cache, roles and permissions.
pub mod auth;
/// JOSE: compact JWE (ECDH-ES, ECDH-ES+A256KW, dir; A256GCM), ES256 JWS, P-256 JWKs, the
/// server keyring and its rotation.
pub mod jose;
/// Rate limits and usage quotas, in memory or on Redis.
pub mod limits;
/// Persistence: one trait per area (keys, sessions, audit, messages), one folder per engine;
/// all SQL lives here.
pub mod store;
/// TLS: the one crypto provider, certificates that reload on SIGHUP, development certificates.
pub mod tls;

// 3. Services built on the layer below: config files (seed 002), the message drop (seed 004).

/// Guarding other services: the rules, forward-auth and the proxy.
pub mod gateway;
/// One folder per service: logic, settings and its `routes.rs`.
pub mod services;

// 4. HTTP: the route table, middleware (layer order explained there), extractors and the one
//    place where errors become responses.

/// Requests in, responses out.
pub mod http;

// 5. The process: logging, background workers, wiring, the command line.

/// Command-line interface: `serve`, `keys …`; a thin layer over the library.
pub mod cli;
/// Build the application from settings and run it until shutdown.
pub mod startup;
/// Logging setup: text or JSON, stderr or a daily-rotated file; the access log.
pub mod telemetry;
/// Background jobs: named periodic workers that stop between steps.
pub mod workers;
