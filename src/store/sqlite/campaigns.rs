//! SQLite implementation of [`CampaignStore`]: the shared statements (`campaigns_sql`) on
//! this engine's pool. SQLite has one writer at a time, so taking due messages is one
//! `UPDATE … RETURNING` and needs no row locks.

use crate::store::StoreError;
use crate::store::campaigns::{
    Added, CampaignRecord, CampaignStats, CampaignStore, NewCampaign, NewSms, Scope, SendOutcome,
    SmsRecord, StateCounts, Suppression, Transition,
};
use crate::store::campaigns_sql as q;
use async_trait::async_trait;
use sqlx::{Pool, Row, Sqlite};

/// Campaign data in the embedded database.
#[derive(Debug, Clone)]
pub struct SqliteCampaigns {
    pub(super) pool: Pool<Sqlite>,
}

/// Messages inserted per statement (ten values each, well under SQLite's limit).
const BATCH: usize = 1000;

#[async_trait]
impl CampaignStore for SqliteCampaigns {
    async fn create_campaign(&self, new: &NewCampaign) -> Result<CampaignRecord, StoreError> {
        q::insert_campaign::<Sqlite>(new)
            .build()
            .execute(&self.pool)
            .await?;
        self.get_campaign(&new.id, Scope::All)
            .await?
            .ok_or(StoreError::Conflict("campaign vanished after insert"))
    }

    async fn get_campaign(
        &self,
        id: &str,
        scope: Scope<'_>,
    ) -> Result<Option<CampaignRecord>, StoreError> {
        q::get_campaign::<Sqlite>(id, scope)
            .build()
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(q::campaign)
            .transpose()
    }

    async fn list_campaigns(
        &self,
        scope: Scope<'_>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CampaignRecord>, StoreError> {
        q::list_campaigns::<Sqlite>(scope, before, limit)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(q::campaign)
            .collect()
    }

    async fn transition(
        &self,
        id: &str,
        scope: Scope<'_>,
        from: &[&str],
        to: &str,
        at: i64,
    ) -> Result<Transition, StoreError> {
        let moved = q::transition::<Sqlite>(id, scope, from, to, at)
            .build()
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Ok(match self.get_campaign(id, scope).await? {
            None => Transition::NotFound,
            Some(campaign) if moved => Transition::Moved(Box::new(campaign)),
            Some(campaign) => Transition::Refused(campaign.state),
        })
    }

    async fn add_recipients(
        &self,
        campaign_id: &str,
        scope: Scope<'_>,
        recipients: &[NewSms],
        repeats: u64,
        size: (&str, i64),
    ) -> Result<Added, StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = recipients.first().map_or(0, |r| r.created_at / 1000);
        let open = q::open_for_recipients::<Sqlite>(campaign_id, scope, at)
            .build()
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !open {
            tx.rollback().await?;
            return Ok(match self.get_campaign(campaign_id, scope).await? {
                None => Added::NotFound,
                Some(_) => Added::Closed,
            });
        }
        let mut inserted = 0;
        for batch in recipients.chunks(BATCH) {
            inserted += q::insert_messages::<Sqlite>(batch)
                .build()
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let duplicates = recipients.len() as u64 - inserted;
        q::note_upload::<Sqlite>(campaign_id, duplicates + repeats, size)
            .build()
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Added::Done {
            inserted,
            duplicates,
        })
    }

    async fn campaign_counts(&self, campaign_id: &str) -> Result<StateCounts, StoreError> {
        let mut counts = StateCounts::default();
        for row in q::campaign_counts::<Sqlite>(campaign_id)
            .build()
            .fetch_all(&self.pool)
            .await?
        {
            counts.add(row.try_get("state")?, row.try_get("n")?);
        }
        Ok(counts)
    }

    async fn recipients(
        &self,
        campaign_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SmsRecord>, StoreError> {
        q::recipients::<Sqlite>(campaign_id, after, limit)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(q::sms)
            .collect()
    }

    async fn upsert_contacts(
        &self,
        owner_id: &str,
        contacts: &[(String, String)],
        at: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for batch in contacts.chunks(BATCH) {
            written += q::upsert_contacts::<Sqlite>(owner_id, batch, at)
                .build()
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn create_sms(&self, new: &NewSms) -> Result<SmsRecord, StoreError> {
        q::insert_messages::<Sqlite>(std::slice::from_ref(new))
            .build()
            .execute(&self.pool)
            .await?;
        self.get_sms(&new.id, Scope::All)
            .await?
            .ok_or(StoreError::Conflict("message vanished after insert"))
    }

    async fn get_sms(&self, id: &str, scope: Scope<'_>) -> Result<Option<SmsRecord>, StoreError> {
        q::get_sms::<Sqlite>(id, scope)
            .build()
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(q::sms)
            .transpose()
    }

    async fn due_campaigns(&self, now: i64) -> Result<Vec<(String, String)>, StoreError> {
        q::due_campaigns::<Sqlite>(now)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("rate")?)))
            .collect()
    }

    async fn claim(
        &self,
        campaign: Option<&str>,
        now_ms: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<SmsRecord>, StoreError> {
        q::claim::<Sqlite>(campaign, now_ms, lease_until, limit, false)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(q::sms)
            .collect()
    }

    async fn finish(&self, id: &str, outcome: &SendOutcome, now_ms: i64) -> Result<(), StoreError> {
        q::finish::<Sqlite>(id, outcome, now_ms)
            .build()
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn report(
        &self,
        id: &str,
        state: &str,
        reason: Option<&str>,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(q::report::<Sqlite>(id, state, reason, at_ms)
            .build()
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn complete_finished(&self, now: i64) -> Result<Vec<String>, StoreError> {
        q::complete_finished::<Sqlite>(now)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok(row.try_get("id")?))
            .collect()
    }

    async fn suppress(
        &self,
        owner: &str,
        phone: &str,
        reason: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        Ok(q::suppress::<Sqlite>(owner, phone, reason, at)
            .build()
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn unsuppress(&self, owner: &str, phone: &str) -> Result<bool, StoreError> {
        Ok(q::unsuppress::<Sqlite>(owner, phone)
            .build()
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn suppressions(
        &self,
        scope: Scope<'_>,
        limit: u32,
    ) -> Result<Vec<Suppression>, StoreError> {
        q::suppressions::<Sqlite>(scope, limit)
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Suppression {
                    owner_id: row.try_get("owner_id")?,
                    phone: row.try_get("phone")?,
                    reason: row.try_get("reason")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn is_suppressed(&self, owner: &str, phone: &str) -> Result<bool, StoreError> {
        Ok(q::is_suppressed::<Sqlite>(owner, phone)
            .build()
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    async fn first_report(
        &self,
        message_id: &str,
        event: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        Ok(q::first_report::<Sqlite>(message_id, event, at)
            .build()
            .execute(&self.pool)
            .await?
            .rows_affected()
            > 0)
    }

    async fn stats(&self, scope: Scope<'_>) -> Result<CampaignStats, StoreError> {
        let row = q::stats::<Sqlite>(scope)
            .build()
            .fetch_one(&self.pool)
            .await?;
        let mut stats = q::stats_row(&row)?;
        stats.messages = self.message_counts(scope, 0).await?.0;
        stats.database_bytes = sqlx::query(
            "SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("size")?;
        Ok(stats)
    }

    async fn message_counts(
        &self,
        scope: Scope<'_>,
        since_ms: i64,
    ) -> Result<(StateCounts, StateCounts), StoreError> {
        let (mut all, mut today) = (StateCounts::default(), StateCounts::default());
        for row in q::message_counts::<Sqlite>(scope, since_ms)
            .build()
            .fetch_all(&self.pool)
            .await?
        {
            let state: String = row.try_get("state")?;
            all.add(&state, row.try_get("n")?);
            today.add(&state, row.try_get::<Option<i64>, _>("today")?.unwrap_or(0));
        }
        Ok((all, today))
    }

    async fn reset(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut deleted = 0;
        for statement in q::RESET_TABLES {
            deleted += sqlx::query(*statement)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
