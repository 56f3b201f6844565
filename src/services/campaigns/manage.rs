//! Campaigns: create, move through their states, show, list, export.

use super::state::{Action, CampaignState, refusal};
use super::template::Template;
use super::views::{CampaignView, StatusView};
use super::{Actor, CampaignError, Campaigns, csvio, encoding};
use crate::limits::RateSpec;
use crate::store::campaigns::{NewCampaign, Transition};
use serde::Deserialize;

/// Longest campaign name.
const MAX_NAME: usize = 200;
/// Longest template, in characters (ten segments of UCS-2 and then some).
const MAX_MESSAGE: usize = 1600;
/// Campaigns per page at most.
pub const MAX_PAGE: u32 = 100;

/// `POST /api/campaign/create`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    /// Display name.
    #[schema(value_type = crate::http::openapi::CampaignName)]
    pub name: String,
    /// The template.
    #[schema(min_length = 1, max_length = 1600)]
    pub message: String,
    /// Pace, e.g. `"30/min"` (default `sms.rate`).
    #[serde(default)]
    pub rate: Option<String>,
    /// Not before, RFC 3339.
    #[serde(default)]
    pub start_at: Option<String>,
}

/// A created campaign, with its template's size.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = CreatedCampaign)]
pub struct Created {
    /// The campaign.
    #[serde(flatten)]
    pub campaign: CampaignView,
    /// Septets or UTF-16 units of the template as written.
    pub units: usize,
}

/// A page of campaigns.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CampaignPage {
    /// Newest first.
    pub campaigns: Vec<CampaignView>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

impl Campaigns {
    /// Create a draft campaign.
    pub async fn create(
        &self,
        actor: &Actor<'_>,
        request: CreateCampaign,
    ) -> Result<Created, CampaignError> {
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(CampaignError::Invalid(format!(
                "name must be 1 to {MAX_NAME} characters, without control characters"
            )));
        }
        if request.message.trim().is_empty() || request.message.chars().count() > MAX_MESSAGE {
            return Err(CampaignError::Invalid(format!(
                "message must be 1 to {MAX_MESSAGE} characters"
            )));
        }
        let template =
            Template::parse(&request.message).map_err(|e| CampaignError::Invalid(e.to_string()))?;
        let rate = match request.rate.as_deref() {
            Some(text) => {
                RateSpec::parse(text).map_err(|e| CampaignError::Invalid(e.to_string()))?
            }
            None => self.settings().rate,
        };
        if rate.count == 0 {
            return Err(CampaignError::Invalid(
                "rate must allow at least one message".into(),
            ));
        }
        let start_at = request
            .start_at
            .as_deref()
            .map(|text| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map(time::OffsetDateTime::unix_timestamp)
                    .map_err(|_| CampaignError::Invalid("start_at must be an RFC 3339 time".into()))
            })
            .transpose()?;
        let size = encoding::size(&template.as_written());
        let new = NewCampaign {
            id: uuid::Uuid::new_v4().simple().to_string(),
            owner_id: actor.owner_id.to_owned(),
            name: name.to_owned(),
            message: request.message.clone(),
            rate: rate.to_string(),
            start_at,
            created_at: self.now(),
            encoding: encoding_name(size.encoding).to_owned(),
            segments: i64::try_from(size.segments).unwrap_or(i64::MAX),
        };
        let record = self.store().create_campaign(&new).await?;
        self.audit(
            actor,
            Self::event("campaign.create", "campaign created")
                .with("campaign_id", record.id.clone()),
        )
        .await;
        Ok(Created {
            campaign: CampaignView::of(&record, actor.all),
            units: size.units,
        })
    }

    /// Start, pause, resume or cancel a campaign.
    pub async fn act(
        &self,
        actor: &Actor<'_>,
        id: &str,
        action: Action,
    ) -> Result<CampaignView, CampaignError> {
        let from: Vec<&str> = action.from().iter().map(|s| s.as_str()).collect();
        let moved = self
            .store()
            .transition(id, actor.scope(), &from, action.to().as_str(), self.now())
            .await?;
        match moved {
            Transition::Moved(record) => {
                self.audit(
                    actor,
                    Self::event(action.event_kind(), "campaign state changed")
                        .with("campaign_id", record.id.clone())
                        .with("state", record.state.clone()),
                )
                .await;
                Ok(CampaignView::of(&record, actor.all))
            }
            Transition::NotFound => Err(CampaignError::NotFound),
            Transition::Refused(state) => Err(CampaignError::InvalidState(
                match CampaignState::parse(&state) {
                    Some(state) => refusal(state, action),
                    None => format!("Campaign is {state}"),
                },
            )),
        }
    }

    /// A campaign's progress.
    pub async fn status(&self, actor: &Actor<'_>, id: &str) -> Result<StatusView, CampaignError> {
        let record = self
            .store()
            .get_campaign(id, actor.scope())
            .await?
            .ok_or(CampaignError::NotFound)?;
        let counts = self.store().campaign_counts(&record.id).await?;
        let per_second = RateSpec::parse(&record.rate)
            .map(|r| f64::from(r.count) / f64::from(r.period_secs.max(1)))
            .unwrap_or(0.0);
        Ok(StatusView::of(&record, &counts, per_second))
    }

    /// Campaigns, newest first; `cursor` from the previous page.
    pub async fn list(
        &self,
        actor: &Actor<'_>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<CampaignPage, CampaignError> {
        let limit = limit.unwrap_or(20);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(CampaignError::Invalid(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
        let before = cursor
            .map(|c| {
                c.parse::<i64>()
                    .map_err(|_| CampaignError::Invalid("bad cursor".into()))
            })
            .transpose()?;
        let records = self
            .store()
            .list_campaigns(actor.scope(), before, limit + 1)
            .await?;
        let more = records.len() > limit as usize;
        let page: Vec<_> = records.into_iter().take(limit as usize).collect();
        Ok(CampaignPage {
            next_cursor: if more {
                page.last().map(|r| r.seq.to_string())
            } else {
                None
            },
            campaigns: page
                .iter()
                .map(|r| CampaignView::of(r, actor.all))
                .collect(),
        })
    }

    /// A campaign's recipients with their state, as CSV (every cell neutralised).
    pub async fn export(&self, actor: &Actor<'_>, id: &str) -> Result<Vec<u8>, CampaignError> {
        let record = self
            .store()
            .get_campaign(id, actor.scope())
            .await?
            .ok_or(CampaignError::NotFound)?;
        let mut rows = Vec::new();
        let mut columns: Vec<String> = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store().recipients(&record.id, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for sms in page {
                let fields: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&sms.fields).unwrap_or_default();
                for key in fields.keys() {
                    if !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
                rows.push((sms, fields));
            }
        }
        let mut header = vec![
            "phone".to_owned(),
            "state".to_owned(),
            "attempts".to_owned(),
        ];
        header.extend([
            "error".to_owned(),
            "sent_at".to_owned(),
            "delivered_at".to_owned(),
        ]);
        header.extend(columns.iter().cloned());
        let table: Vec<Vec<String>> = rows
            .into_iter()
            .map(|(sms, fields)| {
                let view = super::views::SmsView::of(&sms);
                let mut row = vec![
                    view.phone,
                    sms.state,
                    view.attempts.to_string(),
                    view.error.unwrap_or_default(),
                    view.sent_at.unwrap_or_default(),
                    view.delivered_at.unwrap_or_default(),
                ];
                row.extend(columns.iter().map(|c| match fields.get(c) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                }));
                row
            })
            .collect();
        Ok(csvio::write(&header, &table))
    }
}

/// The wire name of an encoding.
pub fn encoding_name(encoding: encoding::Encoding) -> &'static str {
    match encoding {
        encoding::Encoding::Gsm7 => "GSM-7",
        encoding::Encoding::Ucs2 => "UCS-2",
    }
}
