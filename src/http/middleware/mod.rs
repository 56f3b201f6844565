//! Middleware, one concern per file. They run in one service, `edge`, whose
//! documentation gives their order.

pub mod access_log;
pub mod authorize;
pub mod body_limit;
pub mod client_ip;
pub mod edge;
pub mod json_errors;
pub mod request_id;
pub mod security_headers;
pub mod single_credentials;
pub mod unread_body;
