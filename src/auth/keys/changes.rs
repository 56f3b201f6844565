//! Who changed a key, and the audit event each change leaves: one place for the admin API
//! and the command line.

use super::KeyManager;
use crate::audit::{AuditEvent, Outcome};

/// Who changed a key, for the audit event the manager records.
#[derive(Debug, Clone, Copy)]
pub enum ChangedBy<'a> {
    /// A caller of the admin API, by its owner and key ids.
    Caller {
        /// The caller's owner id.
        owner_id: &'a str,
        /// The caller's key id.
        key_id: &'a str,
    },
    /// `portcullis keys …`.
    CommandLine,
    /// Not recorded: the server's own first admin key (its creation is logged), or a test.
    Unrecorded,
}

impl KeyManager {
    /// The audit event of one change (never the key: only ids).
    pub(super) async fn record(&self, by: ChangedBy<'_>, kind: &'static str, target: &str) {
        let Some(audit) = &self.audit else { return };
        let event = match by {
            ChangedBy::Unrecorded => return,
            ChangedBy::CommandLine => {
                AuditEvent::new(kind, Outcome::Success, "key changed from the command line")
                    .context("cli")
            }
            ChangedBy::Caller { owner_id, key_id } => {
                let message = match kind {
                    "key.create" => "key created",
                    "key.revoke" => "key revoked",
                    "key.rotate" => "key rotated",
                    "key.limits" => "key limits changed",
                    _ => "key enabled flag changed",
                };
                AuditEvent::new(kind, Outcome::Success, message)
                    .actor_ids(Some(owner_id), Some(key_id))
            }
        };
        audit
            .record(event.with("target_key_id", target.to_owned()))
            .await;
    }
}
