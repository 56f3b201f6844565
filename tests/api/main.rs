//! Integration tests: the real server on a random port with a temporary data directory,
//! spoken to over HTTP. Modules are areas of behaviour; `helpers` starts servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backends;
mod engines;
mod helpers;
mod phones;
mod postgres;
mod private_postgres;

mod audit_trail;
mod campaign_crash;
mod campaigns;
mod cluster;
mod config_service;
mod first_run;
mod hardened_http;
mod hostile_requests;
mod key_import;
mod key_lifecycle;
mod key_management;
mod key_verification;
mod lockout;
mod messages;
mod metrics;
mod openapi;
mod postgres_faults;
mod process;
mod rate_limits;
mod roles;
mod sessions;
mod signatures;
mod store_copy;
mod store_story;
mod tls;
