//! A key checked on behalf of another service (`POST /api/keys/verify`, after Unkey's
//! `verifyKey`): a service that holds keys it did not issue asks whether one is good. The
//! answer comes from the same verifier, state checks, rate limit and quota as a request made
//! with the key itself — one code path — but as a verdict with a code instead of a refusal,
//! so the asking service can tell its own client why.
//!
//! The order is a request's: the key (format, checksum, secret), its state, then the
//! permissions asked for, then its rate limit, then `cost` uses of its quota. A verdict
//! that stops early counts nothing after it: a key without the permission spends no rate.

use super::{Authenticator, Denial};
use crate::audit::{AuditEvent, Outcome};
use crate::auth::verifier::Identified;
use crate::auth::{AuthError, KeyVerifier, Permission, Principal, Refusal};
use crate::limits::policy::{Counted, OverLimit};
use crate::limits::quota::QuotaRefusal;
use serde::Serialize;
use std::net::IpAddr;

/// The verdict, as the asking service sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    /// The key may be used, and this use was counted.
    Valid,
    /// No such key: unknown, malformed, mistyped, or a wrong secret for a known id (which
    /// would otherwise tell a guesser that the id exists).
    NotFound,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Disabled by an admin.
    Disabled,
    /// The key's role lacks a permission that was asked for.
    InsufficientPermissions,
    /// Over the key's rate limit.
    RateLimited,
    /// The key's quota cannot pay the cost.
    UsageExceeded,
}

impl VerifyCode {
    /// The wire name, for the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyCode::Valid => "VALID",
            VerifyCode::NotFound => "NOT_FOUND",
            VerifyCode::Revoked => "REVOKED",
            VerifyCode::Expired => "EXPIRED",
            VerifyCode::Disabled => "DISABLED",
            VerifyCode::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            VerifyCode::RateLimited => "RATE_LIMITED",
            VerifyCode::UsageExceeded => "USAGE_EXCEEDED",
        }
    }
}

/// The state of the key's rate limit after the verification, as the `RateLimit` headers of
/// a request would report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RateView {
    /// Requests per period.
    pub limit: u32,
    /// The period, in seconds.
    pub period_secs: u32,
    /// Requests that could still be made now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

impl RateView {
    fn of(counted: &Counted<'_>) -> Self {
        Self {
            limit: counted.spec.count,
            period_secs: counted.spec.period_secs,
            remaining: counted.decision.remaining,
            reset_secs: counted.decision.reset_secs,
        }
    }
}

/// A verification's result.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    /// The verdict.
    pub code: VerifyCode,
    /// Whose key it is, when it was identified (a revoked key is still someone's).
    pub principal: Option<Principal>,
    /// The rate limit's state, when the key's limit was counted.
    pub rate: Option<RateView>,
}

impl KeyCheck {
    /// Whether the key may be used.
    pub fn valid(&self) -> bool {
        self.code == VerifyCode::Valid
    }

    fn verdict(code: VerifyCode, principal: Option<Principal>) -> Self {
        Self {
            code,
            principal,
            rate: None,
        }
    }
}

impl Authenticator {
    /// Verify `token` for the service `by`, asking for `permissions` and `cost` uses of the
    /// quota (0 only looks: the verdict a cost of 1 would get, nothing counted). Recorded in
    /// the audit trail whatever the verdict. An error is ours (the store or the limiter
    /// could not answer), never the key's.
    pub async fn check_key(
        &self,
        by: &Principal,
        client: Option<IpAddr>,
        token: &str,
        permissions: &[Permission],
        cost: i64,
    ) -> Result<KeyCheck, Denial> {
        // An asker whose keys keep not being found is slowed before its next one is judged.
        if !self
            .rates
            .verify_misses_left(&self.limiter, &by.key_id)
            .await
            .map_err(|_| Denial::LimiterUnavailable)?
        {
            return Err(Denial::RateLimited(std::time::Duration::from_secs(
                u64::from(self.rates.verify_misses.period_secs)
                    .div_ceil(u64::from(self.rates.verify_misses.count.max(1))),
            )));
        }
        let check = self.decide(token, permissions, cost).await?;
        crate::telemetry::metrics::metrics().verification(check.code.as_str());
        if check.code == VerifyCode::NotFound {
            self.rates
                .count_verify_miss(&self.limiter, &by.key_id)
                .await;
        }
        let verified = check.principal.as_ref().map(|p| p.key_id.as_str());
        let (outcome, message) = if check.valid() {
            (Outcome::Success, "key verified: valid")
        } else {
            (Outcome::Failure, "key verified: not valid")
        };
        // A service may verify on every request it serves: repeats (same verifier, address,
        // code and key in the audit window) are counted into one summary record, and no
        // verification waits for a commit (it changes nothing to acknowledge).
        let mut event = AuditEvent::new("key.verify", outcome, message)
            .route(Some("/api/keys/verify"))
            .client(client)
            .actor_ids(Some(&by.owner_id), Some(&by.key_id))
            .with("reason", check.code.as_str())
            .with("cost", cost)
            .repeats_counted();
        if let Some(verified) = verified {
            event = event.with("subject", verified);
        }
        self.audit.record(event).await;
        Ok(check)
    }

    async fn decide(
        &self,
        token: &str,
        permissions: &[Permission],
        cost: i64,
    ) -> Result<KeyCheck, Denial> {
        let principal = match self.verifier.identify(token).await {
            Ok(Identified::Environment(principal)) => principal,
            Ok(Identified::Stored(record)) => match self.verifier.admit(&record) {
                Ok(principal) => principal,
                Err(AuthError::Refused(refusal)) => {
                    let code = match refusal {
                        Refusal::Revoked => VerifyCode::Revoked,
                        Refusal::Expired => VerifyCode::Expired,
                        Refusal::Disabled => VerifyCode::Disabled,
                        _ => VerifyCode::NotFound,
                    };
                    let principal = KeyVerifier::principal_of(&record)?;
                    return Ok(KeyCheck::verdict(code, Some(principal)));
                }
                Err(AuthError::Store(err)) => return Err(err.into()),
            },
            Err(AuthError::Refused(_)) => return Ok(KeyCheck::verdict(VerifyCode::NotFound, None)),
            Err(AuthError::Store(err)) => return Err(err.into()),
        };
        if !permissions
            .iter()
            .all(|&permission| principal.may(permission))
        {
            return Ok(KeyCheck::verdict(
                VerifyCode::InsufficientPermissions,
                Some(principal),
            ));
        }
        let (code, counted) = match self.count_key_use(&principal, None, cost).await {
            Ok(counted) => (VerifyCode::Valid, counted),
            Err(OverLimit::Refused(counted)) => (VerifyCode::RateLimited, Some(counted)),
            Err(OverLimit::Quota {
                counted,
                refusal: QuotaRefusal::Exhausted { .. },
            }) => (VerifyCode::UsageExceeded, counted),
            Err(OverLimit::Unavailable | OverLimit::Quota { .. }) => {
                return Err(Denial::LimiterUnavailable);
            }
        };
        Ok(KeyCheck {
            code,
            rate: counted.as_ref().map(RateView::of),
            principal: Some(principal),
        })
    }
}
