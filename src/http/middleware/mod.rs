//! Middleware, one concern per file. The order in which they wrap the routes is set, and
//! explained, in `http::router`.

pub mod access_log;
pub mod authorize;
pub mod body_limit;
pub mod client_ip;
pub mod json_errors;
pub mod request_id;
pub mod security_headers;
pub mod single_credentials;
pub mod unread_body;
