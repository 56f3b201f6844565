//! Who is calling: the result of authentication, handed to services and policy.

use super::policy::{Permission, Role};
use serde::Serialize;

/// Where a key is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// Created through the API or CLI and kept in the store.
    Store,
    /// Given in an environment variable at start (`ADMIN_API_KEY`, …); never stored.
    Environment,
}

/// An authenticated caller. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Public id of the key used.
    pub key_id: String,
    /// Stable id of the key's owner.
    pub owner_id: String,
    /// Display name of the owner.
    pub owner: String,
    /// The key's role.
    pub role: Role,
    /// Unix seconds after which the key stops working.
    pub expires_at: Option<i64>,
    /// Store or environment.
    pub source: KeySource,
}

impl Principal {
    /// Whether this caller may do `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.role.grants(permission)
    }
}
