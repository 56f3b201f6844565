//! Guarding services Portcullis does not implement itself: the rules (`[[gateway.routes]]`),
//! shared by the forward-auth decision endpoint (a proxy in front asks) and gateway mode
//! (Portcullis proxies to the upstream itself).

pub mod path;
pub mod rules;
pub mod settings;

pub use rules::{Access, PermissionName, Rule, RuleError, Rules, Verdict};
pub use settings::{GatewaySettings, RouteRule};
