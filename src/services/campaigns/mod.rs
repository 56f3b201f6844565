//! The SMS campaign manager (seed 000): campaigns whose messages leave through an Android
//! phone on the operator's network, with their recipients from CSV uploads, single messages,
//! an address book, a suppression list fed by STOP replies, and the phone's reports.
//!
//! Everything here is framework-free: `routes.rs` is the only file that speaks HTTP. Each
//! operation takes an [`Actor`] — the caller's owner and whether it may see every owner's
//! data — and every read and write is scoped to it, so another owner's id is simply not
//! found. Messages are sent by [`sender::SendWorker`], one of the application's workers.

pub mod csvio;
pub mod device;
pub mod encoding;
pub mod errors;
pub mod gateway;
pub mod manage;
pub mod messaging;
pub mod phone;
pub mod routes;
pub mod sender;
pub mod settings;
pub mod state;
pub mod stop_words;
pub mod template;
pub mod upload;
pub mod views;
pub mod webhook;

pub use errors::CampaignError;
pub use settings::SmsSettings;

use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::auth::{Permission, Principal};
use crate::clock::Clock;
use crate::limits::Limiter;
use crate::store::campaigns::{CampaignStore, Scope};
use gateway::Gateway;
use std::sync::{Arc, Mutex};

/// Who is asking: whose data it may touch.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The caller's owner id (what it creates belongs to it).
    pub owner_id: &'a str,
    /// The caller's key id (for the audit trail).
    pub key_id: &'a str,
    /// Whether it sees every owner's data (admins).
    pub all: bool,
}

impl<'a> Actor<'a> {
    /// The actor of an authenticated caller.
    pub fn of(principal: &'a Principal) -> Self {
        Self {
            owner_id: &principal.owner_id,
            key_id: &principal.key_id,
            all: principal.may(Permission::CampaignsAll),
        }
    }

    /// The command line: an operator, who sees everything (recorded as the command line,
    /// not as an owner).
    pub fn operator() -> Actor<'static> {
        Actor {
            owner_id: "",
            key_id: "",
            all: true,
        }
    }

    /// The rows it may see.
    pub fn scope(&self) -> Scope<'a> {
        if self.all {
            Scope::All
        } else {
            Scope::Owner(self.owner_id)
        }
    }
}

/// What was last seen of the phone, on this node.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceStatus {
    /// Whether it answered the last time it was asked (`None`: not asked yet).
    pub reachable: Option<bool>,
    /// When (RFC 3339).
    pub checked_at: Option<String>,
    /// What it said, or why it could not be reached.
    pub detail: String,
}

#[derive(Debug, Default)]
struct Device {
    status: DeviceStatus,
    /// Unix ms before which a phone found down is not tried again.
    retry_at: i64,
}

/// The campaign manager. Cheap to clone.
#[derive(Clone)]
pub struct Campaigns(Arc<Inner>);

struct Inner {
    store: Arc<dyn CampaignStore>,
    clock: Arc<dyn Clock>,
    settings: SmsSettings,
    region: Option<phonenumber::country::Id>,
    gateway: Option<Box<dyn Gateway>>,
    device: Mutex<Device>,
    audit: AuditLog,
    limiter: Arc<Limiter>,
}

impl Campaigns {
    /// The service over `store`, sending through `gateway` (none: messages queue).
    pub fn new(
        store: Arc<dyn CampaignStore>,
        clock: Arc<dyn Clock>,
        settings: SmsSettings,
        gateway: Option<Box<dyn Gateway>>,
        audit: AuditLog,
        limiter: Arc<Limiter>,
    ) -> Self {
        let region = settings.default_region.as_deref().and_then(phone::region);
        Self(Arc::new(Inner {
            store,
            clock,
            settings,
            region,
            gateway,
            device: Mutex::new(Device::default()),
            audit,
            limiter,
        }))
    }

    /// The settings in force.
    pub fn settings(&self) -> &SmsSettings {
        &self.0.settings
    }

    fn store(&self) -> &dyn CampaignStore {
        &*self.0.store
    }

    fn now(&self) -> i64 {
        self.0.clock.unix()
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.0.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// A number as E.164, or a 400 that says why.
    fn phone(&self, input: &str) -> Result<String, CampaignError> {
        phone::normalize(input, self.0.region).map_err(|e| CampaignError::Invalid(e.to_string()))
    }

    /// Record a change made by `actor`.
    async fn audit(&self, actor: &Actor<'_>, event: AuditEvent) {
        let event = if actor.owner_id.is_empty() {
            event.context("cli")
        } else {
            event.actor_ids(Some(actor.owner_id), Some(actor.key_id))
        };
        self.0.audit.record(event).await;
    }

    /// An audit event of kind `kind` for `actor`, successful.
    fn event(kind: &'static str, message: &'static str) -> AuditEvent {
        AuditEvent::new(kind, Outcome::Success, message)
    }

    /// The phone as last seen.
    pub fn device_status(&self) -> DeviceStatus {
        self.lock_device().status.clone()
    }

    fn lock_device(&self) -> std::sync::MutexGuard<'_, Device> {
        self.0.device.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Note what the phone just did: answered, or could not be reached (then it is not tried
    /// again for `back_off_ms`).
    fn note_device(&self, reachable: bool, detail: String, back_off_ms: i64) {
        let now_ms = self.now_ms();
        let mut device = self.lock_device();
        if reachable != device.status.reachable.unwrap_or(!reachable) {
            if reachable {
                tracing::info!(%detail, "the phone answers again");
            } else {
                tracing::warn!(%detail, "the phone cannot be reached; sending paused");
            }
        }
        device.status = DeviceStatus {
            reachable: Some(reachable),
            checked_at: crate::auth::keys::rfc3339(now_ms / 1000),
            detail,
        };
        device.retry_at = if reachable { 0 } else { now_ms + back_off_ms };
    }
}
