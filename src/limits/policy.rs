//! Who may do how much: the one place that turns a request's caller (a key, or a client
//! address) and its route group into the buckets it is counted in, and counts them — the
//! key's own rate, its group's, and its quota. The authenticator asks; the HTTP layer only
//! turns the verdict into a 429 (or 503) and `RateLimit` headers.

use super::quota::{self, QuotaRefusal, QuotaUse};
use super::{Decision, Limiter, RateSpec};
use crate::config::RoleRates;
use crate::net::client_group as ip_group;
use crate::store::KeyQuota;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// How much each caller may do.
#[derive(Debug, Clone)]
pub struct RatePolicy {
    /// Default per key, by role.
    pub roles: RoleRates,
    /// Per address, for unauthenticated routes and failed authentication.
    pub per_address: RateSpec,
    /// Extra per route group.
    pub groups: BTreeMap<String, RateSpec>,
    /// `NOT_FOUND` verdicts of key verification, per asking key.
    pub verify_misses: RateSpec,
    /// When false, nothing is counted.
    pub enabled: bool,
}

/// One limit that counted a request: its name (for the `RateLimit` headers), its rate, and
/// what the bucket said.
#[derive(Debug, Clone)]
pub struct Counted<'a> {
    /// `key`, `address`, or the route group's name (borrowed: nothing is allocated to name it).
    pub name: &'a str,
    /// The rate the bucket holds to.
    pub spec: RateSpec,
    /// The bucket's answer.
    pub decision: Decision,
}

/// Why a request may not go on.
#[derive(Debug, Clone)]
pub enum OverLimit<'a> {
    /// This limit refused it.
    Refused(Counted<'a>),
    /// The shared store could not answer and the policy is fail-closed.
    Unavailable,
    /// The rates admitted the request (`counted`, whose state the response still reports),
    /// the key's quota did not.
    Quota {
        /// The last rate limit that counted the request.
        counted: Option<Counted<'a>>,
        /// Why the quota refused.
        refusal: QuotaRefusal,
    },
}

/// A key's request admitted: the last rate limit that counted it, and the quota use to note
/// on the key's record.
#[derive(Debug, Clone)]
pub struct Admission<'a> {
    /// Reported in the `RateLimit` headers; `None` when limits are off.
    pub counted: Option<Counted<'a>>,
    /// The quota's count after this use, when the key has a quota.
    pub quota: Option<QuotaUse>,
}

/// Who is counted.
pub enum Caller<'a> {
    /// An identified key: its id, its own rate (if any) or else its role's.
    Key {
        /// Public key id.
        id: &'a str,
        /// The key's own rate, when set.
        rate: Option<RateSpec>,
        /// The role's name (`admin`, `user`, …): the default rate.
        role: &'a str,
    },
    /// A client address (IPv6 counted per /64).
    Address(IpAddr),
}

impl RatePolicy {
    /// The rate of `caller`'s own bucket.
    fn own_spec(&self, caller: &Caller<'_>) -> RateSpec {
        match caller {
            Caller::Key {
                rate: Some(rate), ..
            } => *rate,
            Caller::Key { role, .. } => match *role {
                "admin" => self.roles.admin,
                "device" => self.roles.device,
                "verifier" => self.roles.verifier,
                "monitor" => self.roles.monitor,
                _ => self.roles.user,
            },
            Caller::Address(_) => self.per_address,
        }
    }

    /// Count one request from `caller` in `group`: the caller's own bucket, then the group's
    /// (when configured). `Ok(None)` when limits are off; otherwise the last limit counted,
    /// whose state the response reports.
    pub async fn count<'a>(
        &'a self,
        limiter: &Limiter,
        caller: &Caller<'_>,
        group: Option<&'a str>,
    ) -> Result<Option<Counted<'a>>, OverLimit<'a>> {
        if !self.enabled {
            return Ok(None);
        }
        let spec = self.own_spec(caller);
        let (name, bucket) = match caller {
            // The rate is part of the bucket name: changing a key's rate starts a fresh
            // bucket instead of judging the new rate by the old one's schedule.
            Caller::Key { id, .. } => ("key", key_bucket(id, &spec)),
            Caller::Address(ip) => ("address", address_bucket(*ip)),
        };
        let mut counted = count_one(limiter, name, name, &bucket, spec).await?;
        if let Some(group) = group
            && let Some(group_spec) = self.groups.get(group)
        {
            let bucket = match caller {
                Caller::Key { id, .. } => format!("group:{group}:key:{id}"),
                Caller::Address(ip) => format!("group:{group}:addr:{}", ip_group(*ip)),
            };
            counted = count_one(limiter, "group", group, &bucket, *group_spec).await?;
        }
        Ok(Some(counted))
    }

    /// Count one request of a key: its own rate, its group's, then `cost` uses of its quota
    /// (a request refused by a rate spends no quota). `now` decides the quota's period; it
    /// is asked only for a key that has a quota (a calendar time costs more than the rest of
    /// a check).
    pub async fn admit_key<'a>(
        &'a self,
        limiter: &Limiter,
        caller: &Caller<'_>,
        group: Option<&'a str>,
        key_quota: Option<&KeyQuota>,
        cost: i64,
        now: impl FnOnce() -> time::OffsetDateTime,
    ) -> Result<Admission<'a>, OverLimit<'a>> {
        let counted = self.count(limiter, caller, group).await?;
        let (Some(key_quota), Caller::Key { id, .. }) = (key_quota, caller) else {
            return Ok(Admission {
                counted,
                quota: None,
            });
        };
        let consumed = quota::consume(limiter, id, key_quota, cost, now()).await;
        crate::telemetry::metrics::metrics().limit("quota", consumed.is_ok());
        match consumed {
            Ok(quota) => Ok(Admission { counted, quota }),
            Err(refusal) => Err(OverLimit::Quota { counted, refusal }),
        }
    }

    /// Whether the asking key `asker` may have another verification judged: its bucket of
    /// `NOT_FOUND` verdicts is not spent. Looked at before the key is judged, so a spent
    /// asker learns nothing more; a miss is counted with [`RatePolicy::count_verify_miss`].
    pub async fn verify_misses_left(
        &self,
        limiter: &Limiter,
        asker: &str,
    ) -> Result<bool, OverLimit<'static>> {
        if !self.enabled {
            return Ok(true);
        }
        limiter
            .peek(&verify_miss_bucket(asker), &self.verify_misses)
            .await
            .map_err(|_| OverLimit::Unavailable)
    }

    /// Count a `NOT_FOUND` verdict against the asking key.
    pub async fn count_verify_miss(&self, limiter: &Limiter, asker: &str) -> Decision {
        let decision = if self.enabled {
            limiter
                .check(&verify_miss_bucket(asker), &self.verify_misses)
                .await
                .ok()
        } else {
            None
        };
        decision.unwrap_or(Decision {
            allowed: true,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: 0,
        })
    }

    /// Whether `ip` still has room in its address bucket, without counting: costly work is
    /// not done for an address that has spent its budget already.
    pub async fn address_has_room(
        &self,
        limiter: &Limiter,
        ip: IpAddr,
    ) -> Result<bool, OverLimit<'static>> {
        if !self.enabled {
            return Ok(true);
        }
        limiter
            .peek(&address_bucket(ip), &self.per_address)
            .await
            .map_err(|_| OverLimit::Unavailable)
    }
}

/// Count one request in `bucket`; `kind` (`key`, `address`, `group`) labels the metric.
async fn count_one<'a>(
    limiter: &Limiter,
    kind: &'static str,
    name: &'a str,
    bucket: &str,
    spec: RateSpec,
) -> Result<Counted<'a>, OverLimit<'a>> {
    let decision = limiter
        .check(bucket, &spec)
        .await
        .map_err(|_| OverLimit::Unavailable)?;
    crate::telemetry::metrics::metrics().limit(kind, decision.allowed);
    let counted = Counted {
        name,
        spec,
        decision,
    };
    if counted.decision.allowed {
        Ok(counted)
    } else {
        Err(OverLimit::Refused(counted))
    }
}

/// The bucket of a key at `spec`: `key:<id>:<spec>`, built without the formatting machinery
/// (this runs on every limited request; the name is also the Redis key, so its shape stays).
fn verify_miss_bucket(asker: &str) -> String {
    let mut name = String::with_capacity(32);
    name.push_str("verify-miss:");
    name.push_str(asker);
    name
}

fn key_bucket(id: &str, spec: &RateSpec) -> String {
    let mut name = String::with_capacity(48);
    name.push_str("key:");
    name.push_str(id);
    name.push(':');
    spec.push_to(&mut name);
    name
}

/// The bucket of a client address (IPv6 per /64).
pub fn address_bucket(ip: IpAddr) -> String {
    format!("addr:{}", ip_group(ip))
}
