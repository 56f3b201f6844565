//! Roles are named sets of permissions; routes declare a permission, never a role.
//!
//! Built in: `admin` ⊇ `user` (seed 000's key types), and `device` — the phone that sends SMS
//! — which is separate: it holds only what the device gateway needs, not the user's rights.
//! Two service roles hold one thing each besides their identity: `verifier` (another service
//! asking whether a key its clients sent is good) and `monitor` (a Prometheus scraper).
//! A later service adds a [`Permission`] variant and grants it here; handlers never compare
//! roles.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Something a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read one's own identity (`GET /api/whoami`): every valid key has it.
    IdentityRead,
    /// Create, list, rotate, revoke, enable and disable API keys.
    KeysManage,
    /// List and end any user's sessions.
    SessionsManage,
    /// Read the audit trail.
    AuditRead,
    /// Post to the message drop when `[messages] posting = "key"`.
    MessagesCreate,
    /// Use the SMS campaign manager on one's own data: campaigns, uploads, single messages,
    /// the suppression list, the database counts (seed 000's "User role minimum").
    Campaigns,
    /// See and act on every owner's campaign data, not only one's own.
    CampaignsAll,
    /// Delete all campaign data (seed 000's admin-only `/api/database/reset`).
    DatabaseReset,
    /// Report as the phone: deliveries and replies (the device role only).
    DeviceReport,
    /// Ask whether a key is valid on behalf of another service (`POST /api/keys/verify`).
    KeysVerify,
    /// Read the Prometheus metrics (`GET /metrics`).
    MetricsRead,
}

impl Permission {
    /// Every permission, for exhaustive checks.
    pub const ALL: &'static [Permission] = &[
        Permission::IdentityRead,
        Permission::KeysManage,
        Permission::SessionsManage,
        Permission::AuditRead,
        Permission::MessagesCreate,
        Permission::Campaigns,
        Permission::CampaignsAll,
        Permission::DatabaseReset,
        Permission::DeviceReport,
        Permission::KeysVerify,
        Permission::MetricsRead,
    ];

    /// Stable name, as used in logs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::IdentityRead => "identity.read",
            Permission::KeysManage => "keys.manage",
            Permission::SessionsManage => "sessions.manage",
            Permission::AuditRead => "audit.read",
            Permission::MessagesCreate => "messages.create",
            Permission::Campaigns => "campaigns.use",
            Permission::CampaignsAll => "campaigns.all",
            Permission::DatabaseReset => "database.reset",
            Permission::DeviceReport => "device.report",
            Permission::KeysVerify => "keys.verify",
            Permission::MetricsRead => "metrics.read",
        }
    }

    /// Parse a stable name (a verification request names the permissions it needs).
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == name)
    }

    /// The least-privileged built-in role that holds this permission: named in 403 bodies
    /// (`"Admin role required"`), as seed 000's clients expect.
    pub fn required_role(self) -> Role {
        [
            Role::Device,
            Role::Verifier,
            Role::Monitor,
            Role::User,
            Role::Admin,
        ]
        .into_iter()
        .find(|role| role.grants(self))
        .unwrap_or(Role::Admin)
    }
}

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Standard operations.
    User,
    /// The SMS-sending device: only device-gateway operations.
    Device,
    /// A service that verifies keys its own clients present: `keys.verify` only.
    Verifier,
    /// A metrics scraper: `metrics.read` only.
    Monitor,
}

impl Role {
    /// Every role.
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::User,
        Role::Device,
        Role::Verifier,
        Role::Monitor,
    ];

    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Device => "device",
            Role::Verifier => "verifier",
            Role::Monitor => "monitor",
        }
    }

    /// Capitalised name for messages.
    pub fn title(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::User => "User",
            Role::Device => "Device",
            Role::Verifier => "Verifier",
            Role::Monitor => "Monitor",
        }
    }

    /// Parse a stored or wire name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|role| role.as_str() == name)
    }

    /// The permissions this role holds.
    pub fn permissions(self) -> &'static [Permission] {
        const USER: &[Permission] = &[
            Permission::IdentityRead,
            Permission::MessagesCreate,
            Permission::Campaigns,
        ];
        const ADMIN: &[Permission] = &[
            Permission::IdentityRead,
            Permission::KeysManage,
            Permission::SessionsManage,
            Permission::AuditRead,
            Permission::MessagesCreate,
            Permission::Campaigns,
            Permission::CampaignsAll,
            Permission::DatabaseReset,
            Permission::KeysVerify,
            Permission::MetricsRead,
        ];
        const VERIFIER: &[Permission] = &[Permission::IdentityRead, Permission::KeysVerify];
        const MONITOR: &[Permission] = &[Permission::IdentityRead, Permission::MetricsRead];
        // The phone reports; it holds none of the user's rights (seed 000: a device key on a
        // campaign route is 403), and no user or admin key may report as the phone.
        const DEVICE: &[Permission] = &[Permission::IdentityRead, Permission::DeviceReport];
        match self {
            Role::Admin => ADMIN,
            Role::User => USER,
            Role::Device => DEVICE,
            Role::Verifier => VERIFIER,
            Role::Monitor => MONITOR,
        }
    }

    /// Whether this role holds `permission`.
    pub fn grants(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_holds_every_permission_of_user() {
        for &permission in Role::User.permissions() {
            assert!(Role::Admin.grants(permission), "{permission:?}");
        }
    }

    #[test]
    fn only_admin_manages_keys() {
        assert!(Role::Admin.grants(Permission::KeysManage));
        assert!(!Role::User.grants(Permission::KeysManage));
        assert!(!Role::Device.grants(Permission::KeysManage));
        assert_eq!(Permission::KeysManage.required_role(), Role::Admin);
    }

    #[test]
    fn the_campaign_roles_are_as_seed_000_lists_them() {
        assert_eq!(Permission::Campaigns.required_role(), Role::User);
        assert_eq!(Permission::DatabaseReset.required_role(), Role::Admin);
        assert_eq!(Permission::DeviceReport.required_role(), Role::Device);
        assert!(!Role::Device.grants(Permission::Campaigns));
        assert!(!Role::Admin.grants(Permission::DeviceReport));
        assert!(!Role::User.grants(Permission::DeviceReport));
        assert!(!Role::User.grants(Permission::CampaignsAll));
    }

    #[test]
    fn the_service_roles_hold_one_permission_each_and_admin_holds_both() {
        assert_eq!(Permission::KeysVerify.required_role(), Role::Verifier);
        assert_eq!(Permission::MetricsRead.required_role(), Role::Monitor);
        assert!(Role::Admin.grants(Permission::KeysVerify));
        assert!(Role::Admin.grants(Permission::MetricsRead));
        for role in [Role::User, Role::Device, Role::Monitor] {
            assert!(!role.grants(Permission::KeysVerify), "{role}");
        }
        for role in [Role::User, Role::Device, Role::Verifier] {
            assert!(!role.grants(Permission::MetricsRead), "{role}");
        }
        assert!(!Role::Verifier.grants(Permission::KeysManage));
        assert_eq!(
            Permission::parse("keys.verify"),
            Some(Permission::KeysVerify)
        );
        assert_eq!(Permission::parse("keys.Verify"), None);
    }

    #[test]
    fn every_role_can_read_its_identity() {
        for &role in Role::ALL {
            assert!(role.grants(Permission::IdentityRead));
        }
    }

    #[test]
    fn role_names_round_trip() {
        for &role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn every_permission_has_a_stable_distinct_name() {
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
    }
}
