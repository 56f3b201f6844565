//! The send worker: each step takes due messages from the store under a lease — campaigns
//! at their own pace, single messages as they come, the phone never faster than
//! `sms.device_rate` — and hands them to the phone one at a time. A message keeps its id on
//! every attempt, so a resend after a crash is recognised by the phone; a refused message is
//! retried with exponential back-off and jitter up to `sms.max_attempts`; a phone that cannot
//! be reached pauses sending without spending attempts. Running on several nodes, workers
//! never take the same message (the store's lease and row locks).

use super::gateway::{Accepted, Gateway, GatewayError, PhoneState};
use super::{Campaigns, DeviceStatus};
use crate::limits::RateSpec;
use crate::store::campaigns::{SendOutcome, SmsRecord};
use crate::workers::Worker;
use std::time::Duration;

/// Messages one step sends per source at most, so one busy campaign cannot hold a step.
const PER_SOURCE: usize = 20;
/// How long a phone that could not be reached is left alone.
const DEVICE_BACK_OFF_MS: i64 = 5_000;
/// The first retry waits this long, doubling with each attempt.
const FIRST_RETRY_MS: i64 = 2_000;
/// The longest wait between retries.
const MAX_RETRY_MS: i64 = 600_000;

/// The campaign send worker, one of the application's workers.
pub struct SendWorker {
    campaigns: Campaigns,
}

impl SendWorker {
    /// Send `campaigns`' due messages every 200 ms.
    pub fn new(campaigns: Campaigns) -> Self {
        Self { campaigns }
    }
}

#[async_trait::async_trait]
impl Worker for SendWorker {
    fn name(&self) -> &'static str {
        "sms send"
    }
    fn interval(&self) -> Duration {
        Duration::from_millis(200)
    }
    /// Sends while there is work, for up to a second, so that the pace is the campaigns' and
    /// the phone's, not the step interval's; the worker's stop is checked between steps.
    async fn tick(&self) {
        let started = std::time::Instant::now();
        loop {
            match self.campaigns.send_due().await {
                Ok(0) => return,
                Ok(_) if started.elapsed() >= Duration::from_secs(1) => return,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "sending campaign messages failed; retrying");
                    return;
                }
            }
        }
    }
}

/// The wait before attempt `attempt + 1` (`attempt` ≥ 1), with ±20 % jitter so that messages
/// refused together do not come back together.
pub fn retry_delay_ms(attempt: i64, jitter: f64) -> i64 {
    let exponent = u32::try_from((attempt - 1).clamp(0, 20)).unwrap_or(20);
    let base = FIRST_RETRY_MS
        .saturating_mul(1_i64 << exponent)
        .min(MAX_RETRY_MS);
    (base as f64 * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))) as i64
}

fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

impl Campaigns {
    /// One step of sending; returns how many messages were handed to the phone.
    pub async fn send_due(&self) -> Result<usize, crate::store::StoreError> {
        let Some(gateway) = self.0.gateway.as_deref() else {
            return Ok(0);
        };
        if self.lock_device().retry_at > self.now_ms() {
            return Ok(0);
        }
        let mut sources: Vec<(Option<String>, Option<RateSpec>)> = self
            .store()
            .due_campaigns(self.now())
            .await?
            .into_iter()
            .map(|(id, rate)| (Some(id), RateSpec::parse(&rate).ok()))
            .collect();
        sources.push((None, None));
        let mut sent = 0;
        'sources: for (campaign, rate) in &sources {
            let bucket = campaign.as_ref().map(|id| format!("sms:campaign:{id}"));
            for _ in 0..PER_SOURCE {
                if !self
                    .has_room("sms:device", &self.settings().device_rate)
                    .await
                {
                    break 'sources;
                }
                if let (Some(bucket), Some(rate)) = (&bucket, rate)
                    && !self.has_room(bucket, rate).await
                {
                    break;
                }
                let now_ms = self.now_ms();
                let lease = i64::try_from(self.settings().lease.as_millis()).unwrap_or(60_000);
                let Some(message) = self
                    .store()
                    .claim(campaign.as_deref(), now_ms, now_ms + lease, 1)
                    .await?
                    .pop()
                else {
                    break;
                };
                let _ = self
                    .0
                    .limiter
                    .check("sms:device", &self.settings().device_rate)
                    .await;
                if let (Some(bucket), Some(rate)) = (&bucket, rate) {
                    let _ = self.0.limiter.check(bucket, rate).await;
                }
                if self.send_one(gateway, &message).await? {
                    sent += 1;
                }
                if self.lock_device().retry_at > self.now_ms() {
                    break 'sources;
                }
            }
        }
        for id in self.store().complete_finished(self.now()).await? {
            self.0
                .audit
                .record(
                    Self::event("campaign.complete", "campaign completed")
                        .context("worker")
                        .with("campaign_id", id),
                )
                .await;
        }
        Ok(sent)
    }

    /// Whether `bucket` would admit one more now (without counting it).
    async fn has_room(&self, bucket: &str, rate: &RateSpec) -> bool {
        // A limiter that cannot answer (Redis down, fail-closed) holds sending back.
        self.0.limiter.peek(bucket, rate).await.unwrap_or(false)
    }

    /// Hand one message to the phone and record what happened; `true` when the phone took it.
    async fn send_one(
        &self,
        gateway: &dyn Gateway,
        message: &SmsRecord,
    ) -> Result<bool, crate::store::StoreError> {
        let store = self.store();
        // Checked again now: a STOP may have come since the upload.
        if store
            .is_suppressed(&message.owner_id, &message.phone)
            .await?
        {
            store
                .finish(&message.id, &SendOutcome::Suppressed, self.now_ms())
                .await?;
            crate::telemetry::metrics::metrics().sms_send("suppressed");
            return Ok(false);
        }
        let sent = gateway
            .send(&message.id, &message.phone, &message.text)
            .await;
        let now_ms = self.now_ms();
        let (outcome, taken) = match sent {
            Ok(accepted) => {
                self.note_device(true, "took a message".into(), 0);
                let outcome = match accepted {
                    Accepted::Known(Some(PhoneState::Delivered)) => SendOutcome::Delivered,
                    Accepted::Known(Some(PhoneState::Failed(why))) => SendOutcome::Failed(why),
                    _ => SendOutcome::Sent,
                };
                (outcome, true)
            }
            Err(GatewayError::Unreachable(why)) => {
                self.note_device(false, why.clone(), DEVICE_BACK_OFF_MS);
                (
                    SendOutcome::Retry {
                        at: now_ms + DEVICE_BACK_OFF_MS,
                        error: why,
                        counted: false,
                    },
                    false,
                )
            }
            Err(GatewayError::NotConfigured) => (
                SendOutcome::Retry {
                    at: now_ms + DEVICE_BACK_OFF_MS,
                    error: GatewayError::NotConfigured.to_string(),
                    counted: false,
                },
                false,
            ),
            Err(GatewayError::Rejected(why)) => {
                let attempts = message.attempts + 1;
                if attempts >= i64::from(self.settings().max_attempts) {
                    (SendOutcome::Failed(why), false)
                } else {
                    (
                        SendOutcome::Retry {
                            at: now_ms + retry_delay_ms(attempts, jitter()),
                            error: why,
                            counted: true,
                        },
                        false,
                    )
                }
            }
        };
        crate::telemetry::metrics::metrics().sms_send(match &outcome {
            SendOutcome::Sent => "sent",
            SendOutcome::Delivered => "delivered",
            SendOutcome::Failed(_) => "failed",
            SendOutcome::Retry { .. } => "retry",
            SendOutcome::Suppressed => "suppressed",
        });
        store.finish(&message.id, &outcome, now_ms).await?;
        Ok(taken)
    }

    /// Ask the phone whether it answers (for `doctor`-like checks and the status view).
    pub async fn probe_device(&self) -> DeviceStatus {
        if let Some(gateway) = &self.0.gateway {
            match gateway.probe().await {
                Ok(detail) => self.note_device(true, detail, 0),
                Err(err) => self.note_device(false, err.to_string(), DEVICE_BACK_OFF_MS),
            }
        }
        self.device_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_bounded_jitter() {
        assert_eq!(retry_delay_ms(1, 0.5), 2_000);
        assert_eq!(retry_delay_ms(2, 0.5), 4_000);
        assert_eq!(retry_delay_ms(3, 0.5), 8_000);
        assert_eq!(retry_delay_ms(30, 0.5), 600_000);
        assert_eq!(retry_delay_ms(1, 0.0), 1_600);
        assert_eq!(retry_delay_ms(1, 1.0), 2_400);
    }
}
