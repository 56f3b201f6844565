//! HTTP: the route table, the middleware stack, extractors, and error mapping.

pub mod connections;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod framing_errors;
pub mod header_timer;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod rate_headers;
pub mod request_facts;
pub mod router;
pub mod routes;
pub mod server;
pub mod state;

pub use error::ApiError;
pub use state::AppState;
