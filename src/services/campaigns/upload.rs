//! CSV uploads: contacts into the owner's address book (upserted by number), or the
//! recipients of a draft or paused campaign. Every row's number is normalised to E.164 (a bad
//! one is refused with its line and why), repeats are counted, suppressed numbers are kept
//! but never sent to, and the campaign's template is checked against the file's columns
//! before anything is stored. The whole upload is one transaction.

use super::manage::encoding_name;
use super::template::{Template, column_key};
use super::views::{Rejected, UploadReport};
use super::{Actor, CampaignError, Campaigns, csvio, encoding};
use crate::store::campaigns::{Added, EVERYONE, NewSms, Scope};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// Rejected lines listed at most in a report (the count covers them all).
const MAX_LISTED: usize = 1000;

/// What an upload is for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The recipients of this campaign.
    Campaign(&'a str),
    /// The caller's address book.
    Contacts,
}

/// The message id the phone knows a recipient's message by: derived from the campaign and
/// the number, never from the attempt, so a resend after a crash is the same message to it.
pub fn recipient_message_id(campaign_id: &str, phone: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"portcullis.sms.recipient.v1\0");
    hash.update(campaign_id.as_bytes());
    hash.update([0]);
    hash.update(phone.as_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// One accepted row: its number and its other columns (by name as written, and by key).
struct Row {
    phone: String,
    fields: serde_json::Map<String, serde_json::Value>,
    by_key: BTreeMap<String, String>,
}

impl Campaigns {
    /// Store the rows of the CSV file `bytes` for `target`.
    pub async fn upload(
        &self,
        actor: &Actor<'_>,
        target: Target<'_>,
        bytes: bytes::Bytes,
    ) -> Result<UploadReport, CampaignError> {
        self.upload_reporting(actor, target, bytes, &|_, _| {})
            .await
    }

    /// [`Campaigns::upload`], telling `progress` how many rows of how many have been checked
    /// (the command line's progress bar).
    pub async fn upload_reporting(
        &self,
        actor: &Actor<'_>,
        target: Target<'_>,
        bytes: bytes::Bytes,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<UploadReport, CampaignError> {
        let settings = self.settings();
        if bytes.len() > settings.max_upload_bytes {
            return Err(CampaignError::TooLarge(settings.max_upload_bytes));
        }
        // The campaign first: another owner's id is 404 before any work is done on the file.
        let campaign = match target {
            Target::Campaign(id) => Some(
                self.store()
                    .get_campaign(id, actor.scope())
                    .await?
                    .ok_or(CampaignError::NotFound)?,
            ),
            Target::Contacts => None,
        };
        let max_rows = settings.max_rows;
        let table = tokio::task::spawn_blocking(move || csvio::read(&bytes, max_rows))
            .await
            .map_err(|_| CampaignError::Invalid("the file could not be read".into()))?
            .map_err(|e| CampaignError::Invalid(e.to_string()))?;
        let phone_column = table
            .phone_column()
            .map_err(|e| CampaignError::Invalid(e.to_string()))?;
        let keys: Vec<String> = table.header.iter().map(|h| column_key(h)).collect();
        let template = match &campaign {
            Some(c) => {
                let template = Template::parse(&c.message)
                    .map_err(|e| CampaignError::Invalid(e.to_string()))?;
                if let Some(missing) = template.missing(&keys) {
                    return Err(CampaignError::Invalid(format!(
                        "the message uses {{{missing}}}, which is not a column of this file \
                         (its columns: {})",
                        table.header.join(", ")
                    )));
                }
                Some(template)
            }
            None => None,
        };
        let mut report = UploadReport::default();
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(table.rows.len());
        let total = table.rows.len() as u64;
        for (i, (line, cells)) in table.rows.iter().enumerate() {
            if i % 1000 == 0 {
                progress(i as u64, total);
            }
            let phone = match self.phone(&cells[phone_column]) {
                Ok(phone) => phone,
                Err(err) => {
                    report.rejected_count += 1;
                    if report.rejected.len() < MAX_LISTED {
                        report.rejected.push(Rejected {
                            line: *line,
                            reason: err.to_string(),
                            column: Some(table.header[phone_column].clone()),
                        });
                    }
                    continue;
                }
            };
            if !seen.insert(phone.clone()) {
                report.duplicates += 1;
                continue;
            }
            let mut fields = serde_json::Map::new();
            let mut by_key = BTreeMap::new();
            for (i, cell) in cells.iter().enumerate() {
                if i == phone_column || table.header[i].is_empty() {
                    continue;
                }
                fields.insert(
                    table.header[i].clone(),
                    serde_json::Value::String(cell.clone()),
                );
                by_key.insert(keys[i].clone(), cell.clone());
            }
            by_key.insert(keys[phone_column].clone(), phone.clone());
            rows.push(Row {
                phone,
                fields,
                by_key,
            });
        }
        progress(total, total);
        match (campaign, template) {
            (Some(campaign), Some(template)) => {
                self.store_recipients(actor, &campaign, &template, rows, report)
                    .await
            }
            _ => self.store_contacts(actor, rows, report).await,
        }
    }

    async fn store_recipients(
        &self,
        actor: &Actor<'_>,
        campaign: &crate::store::campaigns::CampaignRecord,
        template: &Template,
        rows: Vec<Row>,
        mut report: UploadReport,
    ) -> Result<UploadReport, CampaignError> {
        let suppressed: HashSet<String> = self
            .store()
            .suppressions(Scope::Owner(&campaign.owner_id), u32::MAX)
            .await?
            .into_iter()
            .filter(|s| s.owner_id == campaign.owner_id || s.owner_id == EVERYONE)
            .map(|s| s.phone)
            .collect();
        let now_ms = self.now_ms();
        let mut longest = encoding::size(&template.as_written());
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
            let text = template.render(&row.by_key);
            let size = encoding::size(&text);
            if (size.segments, size.encoding == encoding::Encoding::Ucs2)
                > (
                    longest.segments,
                    longest.encoding == encoding::Encoding::Ucs2,
                )
            {
                longest = size;
            }
            let blocked = suppressed.contains(&row.phone);
            report.suppressed += u64::from(blocked);
            messages.push(NewSms {
                id: recipient_message_id(&campaign.id, &row.phone),
                owner_id: campaign.owner_id.clone(),
                campaign_id: Some(campaign.id.clone()),
                fields: serde_json::Value::Object(row.fields).to_string(),
                phone: row.phone,
                text,
                state: if blocked { "suppressed" } else { "pending" }.to_owned(),
                created_at: now_ms,
            });
        }
        let size = (
            encoding_name(longest.encoding),
            i64::try_from(longest.segments).unwrap_or(i64::MAX),
        );
        match self
            .store()
            .add_recipients(
                &campaign.id,
                actor.scope(),
                &messages,
                report.duplicates,
                size,
            )
            .await?
        {
            Added::Done {
                inserted,
                duplicates,
            } => {
                report.accepted = inserted;
                report.duplicates += duplicates;
            }
            Added::NotFound => return Err(CampaignError::NotFound),
            Added::Closed => {
                return Err(CampaignError::InvalidState(
                    "Campaign is not a draft or paused; recipients can be added only then".into(),
                ));
            }
        }
        self.audit(
            actor,
            Self::event("campaign.upload", "campaign recipients uploaded")
                .with("campaign_id", campaign.id.clone())
                .with("accepted", report.accepted.to_string())
                .with("rejected", report.rejected_count.to_string())
                .with("duplicates", report.duplicates.to_string()),
        )
        .await;
        Ok(report)
    }

    async fn store_contacts(
        &self,
        actor: &Actor<'_>,
        rows: Vec<Row>,
        mut report: UploadReport,
    ) -> Result<UploadReport, CampaignError> {
        let contacts: Vec<(String, String)> = rows
            .into_iter()
            .map(|row| (row.phone, serde_json::Value::Object(row.fields).to_string()))
            .collect();
        self.store()
            .upsert_contacts(actor.owner_id, &contacts, self.now())
            .await?;
        report.accepted = contacts.len() as u64;
        self.audit(
            actor,
            Self::event("contacts.upload", "contacts uploaded")
                .with("accepted", report.accepted.to_string())
                .with("rejected", report.rejected_count.to_string()),
        )
        .await;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipients_message_id_depends_on_campaign_and_number_only() {
        let a = recipient_message_id("c1", "+12025550143");
        assert_eq!(a, recipient_message_id("c1", "+12025550143"));
        assert_ne!(a, recipient_message_id("c2", "+12025550143"));
        assert_ne!(a, recipient_message_id("c1", "+12025550144"));
        assert_eq!(a.len(), 32);
    }
}
