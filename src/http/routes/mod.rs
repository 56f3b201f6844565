//! The route table: each area exposes `router()`, merged in `http::router`.

pub mod audit;
pub mod config;
pub mod health;
pub mod keys;
pub mod login;
pub mod messages;
pub mod sessions;
pub mod whoami;
