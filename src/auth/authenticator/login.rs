//! Seed 001's login, as a decision: the lockout of the address and username first, then the
//! username and key, with every outcome recorded. The HTTP route only reads the form and
//! writes the answer; a web console's login form calls the same function.

use super::Authenticator;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::key_format::{self, ParsedKey};
use crate::auth::keys::MAX_NAME_LEN;
use crate::auth::session::{self, Login, SessionError};
use crate::store::StoreError;
use std::net::IpAddr;
use std::time::Duration;

/// A successful login.
pub type LoginOutcome = Login;

/// Why a login did not open a session. The client learns only "invalid credentials" or
/// "retry later"; the reason is in the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum LoginDenied {
    /// Too many failures from this address for this username: retry after the time given.
    #[error("too many failed attempts")]
    LockedOut(Duration),
    /// The username and key do not open a session.
    #[error("invalid credentials")]
    Refused,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random generator failed.
    #[error("random generator failed: {0}")]
    Random(#[from] getrandom::Error),
}

impl Authenticator {
    /// Log in from `client` with `username` and `key`, as seed 001's `/user/login` does.
    pub async fn login(
        &self,
        client: Option<IpAddr>,
        route: Option<&str>,
        username: &str,
        key: &str,
    ) -> Result<LoginOutcome, LoginDenied> {
        // A username longer than any owner name cannot succeed; don't let it into the lockout
        // table (bounded in entries, not bytes) or the audit trail.
        let username = match username.trim() {
            name if name.chars().count() > MAX_NAME_LEN => "",
            name => name,
        };
        if let Some(ip) = client
            && let Err(wait) = self.lockout.check(ip, Some(username))
        {
            return Err(LoginDenied::LockedOut(wait));
        }
        match self.sessions.login(username, key).await {
            Ok(login) => {
                if let Some(ip) = client {
                    self.lockout.success(ip, Some(username));
                }
                self.audit
                    .record(
                        AuditEvent::new("login.success", Outcome::Success, "session opened")
                            .route(route)
                            .client(client)
                            .actor_ids(
                                Some(&login.principal.owner_id),
                                Some(&login.principal.key_id),
                            )
                            .with("session_id", login.record.id.clone())
                            .with("superseded", login.superseded.clone()),
                    )
                    .await;
                Ok(login)
            }
            Err(SessionError::Login(reason)) => {
                if let Some(ip) = client {
                    self.lockout.failure(ip, Some(username));
                }
                tracing::warn!(
                    reason = %reason.as_str(),
                    client = %client.map(|ip| ip.to_string()).as_deref().unwrap_or("-"),
                    "login refused"
                );
                self.audit
                    .record(
                        AuditEvent::refused(
                            "login.failure",
                            "login refused",
                            route,
                            client,
                            reason.as_str(),
                        )
                        .with("username", auditable_username(username)),
                    )
                    .await;
                Err(LoginDenied::Refused)
            }
            Err(SessionError::Store(err)) => Err(err.into()),
            Err(SessionError::Random(err)) => Err(err.into()),
        }
    }
}

/// The username as recorded in the audit trail: people swap fields, and a key typed into the
/// username field must not be stored.
fn auditable_username(username: &str) -> String {
    let looks_secret = matches!(key_format::parse(username), Ok(ParsedKey::Issued { .. }))
        || username.starts_with(session::PREFIX)
        || (username.len() >= 32 && !username.contains(' '));
    if looks_secret {
        "(redacted)".to_owned()
    } else {
        username.to_owned()
    }
}
