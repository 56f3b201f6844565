//! The route table: each area exposes `router()`, merged in `http::router`.

pub mod health;
pub mod keys;
pub mod whoami;
