//! The services built on the security layer, one folder each: its logic, its settings, and
//! its `routes.rs` — the only file of a service that knows HTTP (axum, `crate::http`).

/// The SMS campaign manager and its phone gateway (seed 000).
pub mod campaigns;
/// The encrypted config-file service (seed 002).
pub mod configfiles;
/// The message drop (seed 004).
pub mod messages;
