//! The security layer's own routes: each area exposes `router()`, merged in `http::router`
//! with the services' routes (`services/*/routes.rs`).

pub mod audit;
pub mod health;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod sessions;
pub mod verify;
pub mod whoami;
