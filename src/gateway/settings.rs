//! `[gateway]` and `[[gateway.routes]]`: the rules that guard other people's services, by
//! forward-auth (`/auth/forward`) and, for a rule with an `upstream`, by proxying.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[gateway]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// The rules, first match wins; a request no rule matches is denied.
    pub routes: Vec<RouteRule>,
    /// Status of a forward-auth answer for a rate-limited request. 403 by default: nginx's
    /// `auth_request` turns every status but 2xx, 401 and 403 into a 500. Traefik and Envoy
    /// pass 429 through.
    pub forward_rate_limited_status: u16,
    /// How long an upstream has to answer (the whole response head).
    #[serde(with = "crate::config::human_duration")]
    pub upstream_timeout: Duration,
    /// How long an upstream has to accept a connection.
    #[serde(with = "crate::config::human_duration")]
    pub connect_timeout: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            forward_rate_limited_status: 403,
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// One `[[gateway.routes]]` entry, as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// A name for logs, audit records and `rules check`; default `route<N>` (from 1).
    #[serde(default)]
    pub name: Option<String>,
    /// Path pattern: literal segments, `*` for one segment, `**` for any number (also none).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Methods the rule covers; empty: all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Where to proxy allowed requests (gateway mode); none: forward-auth only.
    #[serde(default)]
    pub upstream: Option<String>,
    /// The permission a caller's role must hold, e.g. `app.route1` or `identity.read`.
    #[serde(default)]
    pub permission: Option<String>,
    /// Or the role the caller must have (admin satisfies every role but device's).
    #[serde(default)]
    pub role: Option<String>,
    /// Or no credential at all (still limited per address).
    #[serde(default)]
    pub public: bool,
    /// Require a signed request (RFC 9421, or X-Token-Hash where `auth` accepts it).
    #[serde(default)]
    pub signed: bool,
    /// An extra rate limit for this rule, per key (per address on a public rule).
    #[serde(default)]
    pub rate: Option<String>,
    /// Remove the pattern's literal prefix before proxying (`/route1/**` sends `/x` for
    /// `/route1/x`).
    #[serde(default)]
    pub strip_prefix: bool,
}
