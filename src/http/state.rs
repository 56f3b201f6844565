//! What every handler can reach. Cheap to clone: everything is behind an `Arc`.

use crate::audit::AuditLog;
use crate::auth::envelope::EnvelopeVerifier;
use crate::auth::{Authenticator, KeyManager, KeyVerifier, SessionManager};
use crate::clock::Clock;
use crate::http::middleware::client_ip::TrustedProxies;
use crate::limits::Limiter;
use crate::services::configfiles::ConfigFiles;
use crate::store::Store;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared application state: one `Arc`, so the per-request clone that axum makes for every
/// handler and middleware costs one atomic increment, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wrap the parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler can reach.
pub struct Shared {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Authenticates keys.
    pub verifier: Arc<KeyVerifier>,
    /// Creates and changes keys.
    pub keys: KeyManager,
    /// Opens and ends sessions.
    pub sessions: SessionManager,
    /// Authenticates requests (keys, sessions, signatures, lockout).
    pub authn: Arc<Authenticator>,
    /// The audit trail.
    pub audit: AuditLog,
    /// Whether the server is reached over TLS (turns on HSTS).
    pub tls: bool,
    /// Recent store health, so that unauthenticated health probes cannot flood the database.
    pub health: Arc<HealthCache>,
    /// Rate limits and quotas (for health reporting; checks go through the authenticator).
    pub limiter: Arc<Limiter>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    /// Opens and seals the config service's encrypted envelopes.
    pub envelope: Arc<EnvelopeVerifier>,
    /// The config-file service.
    pub configfiles: ConfigFiles,
    /// The message drop.
    pub messages: crate::services::messages::Messages,
    /// The SMS campaign manager.
    pub campaigns: crate::services::campaigns::Campaigns,
    /// The path every route is mounted under (`server.base_url`): `""` or `/a/b`. Links
    /// the server returns start with it.
    pub mount: Arc<str>,
}

/// The result of the last store ping, reused for [`HealthCache::TTL`].
#[derive(Debug, Default)]
pub struct HealthCache {
    last: Mutex<Option<(Instant, bool)>>,
}

impl HealthCache {
    /// How long a health result is reused.
    pub const TTL: Duration = Duration::from_secs(1);

    /// The cached result, if fresh.
    pub fn fresh(&self) -> Option<bool> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, ok)| ok)
    }

    /// Remember a result.
    pub fn remember(&self, ok: bool) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), ok));
    }
}
