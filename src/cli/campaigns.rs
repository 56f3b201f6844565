//! `portcullis campaigns import | list | status | start | pause | resume | export`: the
//! campaign manager from the command line, on the store directly (as an operator: every
//! owner's campaigns). Sending stays the server's: the CLI queues, the server's worker sends.

use crate::audit::{AuditLog, CHECKPOINT_FILE};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::limits::Limiter;
use crate::services::campaigns::state::Action;
use crate::services::campaigns::upload::Target;
use crate::services::campaigns::{Actor, Campaigns};
use crate::startup::audit_key;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// `campaigns` and its verbs.
#[derive(Debug, Args)]
pub struct CampaignArgs {
    #[command(subcommand)]
    verb: Verb,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Add the recipients in a CSV file to a draft or paused campaign (the same checks and
    /// report as `POST /api/campaign/upload`).
    Import {
        /// The CSV file (a header row; a phone, phone_number, mobile or number column).
        file: PathBuf,
        /// The campaign.
        #[arg(long)]
        campaign: String,
    },
    /// Campaigns, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One campaign's progress.
    Status {
        /// The campaign.
        id: String,
    },
    /// Start a draft campaign.
    Start {
        /// The campaign.
        id: String,
    },
    /// Pause a running campaign.
    Pause {
        /// The campaign.
        id: String,
    },
    /// Resume a paused campaign.
    Resume {
        /// The campaign.
        id: String,
    },
    /// The recipients and their state as CSV (formula cells neutralised).
    Export {
        /// The campaign.
        id: String,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// Run a `campaigns` verb.
pub async fn run(settings: Settings, args: CampaignArgs) -> anyhow::Result<()> {
    let store = super::open_store(&settings, false).await?;
    let clock = Arc::new(SystemClock);
    let audit = AuditLog::direct(
        Arc::clone(&store),
        clock.clone(),
        audit_key(&settings)?,
        Some(settings.storage.data_dir.join(CHECKPOINT_FILE)),
    );
    let limiter = Arc::new(Limiter::memory(16, clock.clone()));
    let campaigns = Campaigns::new(
        store.campaigns(),
        clock,
        settings.sms.clone(),
        None,
        audit,
        limiter,
    );
    let operator = Actor::operator();
    let show = |value: serde_json::Value, text: String| -> anyhow::Result<()> {
        if args.json {
            outln!("{value}");
        } else {
            outln!("{text}");
        }
        Ok(())
    };
    match args.verb {
        Verb::Import { file, campaign } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} checking numbers [{bar:40}] {pos}/{len} rows",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let started = std::time::Instant::now();
            let report = campaigns
                .upload_reporting(
                    &operator,
                    Target::Campaign(&campaign),
                    bytes.into(),
                    &progress,
                )
                .await;
            bar.finish_and_clear();
            let report = report?;
            let seconds = started.elapsed().as_secs_f64();
            let mut text = format!(
                "imported {} recipients into {campaign} in {seconds:.1} s: {} rejected, {} duplicates, {} suppressed",
                report.accepted, report.rejected_count, report.duplicates, report.suppressed
            );
            for rejected in &report.rejected {
                text.push_str(&format!("\n  line {}: {}", rejected.line, rejected.reason));
            }
            show(serde_json::to_value(&report)?, text)
        }
        Verb::List { limit } => {
            let page = campaigns.list(&operator, Some(limit), None).await?;
            let mut text = format!("{:<34} {:<10} {:<24} NAME", "ID", "STATE", "OWNER");
            for c in &page.campaigns {
                let owner = c.owner.as_ref().map_or("", |o| o.name.as_str());
                text.push_str(&format!(
                    "\n{:<34} {:<10} {:<24} {}",
                    c.id, c.state, owner, c.name
                ));
            }
            show(serde_json::to_value(&page)?, text)
        }
        Verb::Status { id } => {
            let status = campaigns.status(&operator, &id).await?;
            let c = status.counts;
            let text = format!(
                "{id}: {} — {} recipients, {} pending, {} sending, {} sent, {} delivered, {} failed, {} suppressed, {} duplicates ({:.0}% done)",
                status.state,
                status.total,
                c.pending,
                c.sending,
                c.sent,
                c.delivered,
                c.failed,
                c.suppressed,
                c.duplicate,
                status.progress * 100.0
            );
            show(serde_json::to_value(&status)?, text)
        }
        Verb::Start { id } => act(&campaigns, &id, Action::Start, &show).await,
        Verb::Pause { id } => act(&campaigns, &id, Action::Pause, &show).await,
        Verb::Resume { id } => act(&campaigns, &id, Action::Resume, &show).await,
        Verb::Export { id, output } => {
            let file = campaigns.export(&operator, &id).await?;
            match output {
                Some(path) => crate::durable::replace_with_mode(&path, &file, Some(0o600))
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().lock().write_all(&file)?;
                }
            }
            Ok(())
        }
    }
}

async fn act(
    campaigns: &Campaigns,
    id: &str,
    action: Action,
    show: &dyn Fn(serde_json::Value, String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let view = campaigns.act(&Actor::operator(), id, action).await?;
    show(json!(view), format!("{id}: {}", view.state))
}
