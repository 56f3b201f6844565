//! Refusals on their way out: what is counted (the address limit, the lockout) and what is
//! recorded (a log line and one bounded audit event, aggregated per address by the log).

use super::Authenticator;
use super::denial::{Denial, Denied};
use crate::audit::AuditEvent;
use crate::auth::signature::SignatureError;
use crate::auth::{AuthError, Principal, Refusal, key_format};
use crate::limits::policy::OverLimit;
use crate::limits::quota::QuotaRefusal;
use std::net::IpAddr;
use std::time::Duration;

/// Why authentication did not admit a request.
pub(super) enum Failure<'a> {
    /// Over a limit: answered at once, without an audit record or a lockout count (the
    /// limit itself is the defence, and recording each would undo it).
    Limited(Denied<'a>),
    /// Not decided by the client (the store is down, the body could not be read).
    Error(Denial),
    /// Refused: counted against the address, recorded (aggregated) in the audit trail.
    Refused(Box<Refused>),
}

/// A refusal: the answer, and what to record. Every field recorded is bounded by
/// construction: a code, a kind, a public key id.
pub(super) struct Refused {
    pub denial: Denial,
    pub reason: &'static str,
    pub kind: &'static str,
    pub key_prefix: Option<String>,
    /// Whether this looks like guessing a secret (counts towards a lockout).
    pub guess: bool,
    /// The caller, when it was identified before being refused.
    pub actor: Option<Principal>,
}

impl Failure<'_> {
    /// A credential refused for `reason`; `key_prefix` is the public part of a presented key.
    pub fn refused(reason: Refusal, key_prefix: Option<String>) -> Self {
        Self::Refused(Box::new(Refused {
            denial: Denial::Unauthenticated,
            reason: reason.as_str(),
            kind: "auth.failure",
            key_prefix,
            guess: matches!(
                reason,
                Refusal::Unknown | Refusal::WrongSecret | Refusal::BadChecksum | Refusal::Malformed
            ),
            actor: None,
        }))
    }

    /// A malformed credential: refused without saying more.
    pub fn malformed() -> Self {
        Self::refused(Refusal::Malformed, None)
    }

    /// A signed request refused.
    pub fn signature(err: SignatureError) -> Self {
        Self::Refused(Box::new(Refused {
            guess: err.is_guess(),
            reason: err.code(),
            denial: Denial::Signature(err),
            kind: "signature.failure",
            key_prefix: None,
            actor: None,
        }))
    }

    /// A verifier's answer: a refusal, or the store failing.
    pub fn from_auth(err: AuthError, key_prefix: Option<String>) -> Self {
        match err {
            AuthError::Refused(reason) => Self::refused(reason, key_prefix),
            AuthError::Store(err) => Self::Error(err.into()),
        }
    }
}

/// A limits verdict as a denial: the refusing limit's state goes with it.
pub(super) fn over_limit(over: OverLimit<'_>) -> Denied<'_> {
    let (denial, rate) = match over {
        OverLimit::Refused(counted) => (
            Denial::RateLimited(Duration::from_secs(counted.decision.retry_after_secs)),
            Some(counted),
        ),
        OverLimit::Unavailable => (Denial::LimiterUnavailable, None),
        OverLimit::Quota { counted, refusal } => (
            match refusal {
                QuotaRefusal::Exhausted { resets_at, .. } => Denial::QuotaExhausted(resets_at),
                QuotaRefusal::Unavailable => Denial::LimiterUnavailable,
            },
            counted,
        ),
    };
    Denied {
        denial,
        rate,
        caller: None,
    }
}

/// A limits verdict as a failure that is answered at once.
pub(super) fn limited(over: OverLimit<'_>) -> Failure<'_> {
    Failure::Limited(over_limit(over))
}

impl Authenticator {
    /// Record a refusal: a log line, a lockout count when it looks like guessing, and an
    /// audit event of bounded fields (repeats from one address are aggregated by the log).
    pub(super) async fn record_refusal(
        &self,
        refused: &Refused,
        client: Option<IpAddr>,
        route: Option<&str>,
    ) {
        crate::telemetry::metrics::metrics().refused(refused.reason);
        tracing::warn!(
            reason = refused.reason,
            key_prefix = %refused.key_prefix.as_deref().unwrap_or("-"),
            client = %client.map(|ip| ip.to_string()).as_deref().unwrap_or("-"),
            route = %route.unwrap_or("-"),
            "authentication refused"
        );
        // Only guesses count towards a lockout: a missing credential, a stale signature, an
        // ended session or a failed CSRF check is not an attempt to find a secret.
        if refused.guess
            && let Some(ip) = client
        {
            self.lockout.failure(ip, None);
        }
        let event = AuditEvent::refused(
            refused.kind,
            "request refused",
            route,
            client,
            refused.reason,
        );
        let event = match &refused.actor {
            Some(actor) => event.actor_ids(Some(&actor.owner_id), Some(&actor.key_id)),
            None => event.actor_ids(
                None,
                refused
                    .key_prefix
                    .as_deref()
                    .and_then(|p| p.strip_prefix(key_format::PREFIX)),
            ),
        };
        self.audit.record(event).await;
    }
}
