//! `portcullis audit verify | export`.

use crate::audit::{self, record_json};
use crate::config::Settings;
use crate::startup::audit_key;
use crate::store::{self, AuditFilter};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `audit` and its verbs.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Check the hash chain; exit 1 and name the first tampered, removed or reordered record.
    Verify,
    /// Write events as JSON Lines (to stdout, or --output FILE).
    Export {
        /// Output file (created or truncated).
        #[arg(long)]
        output: Option<PathBuf>,
        /// From this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Until this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// Only this kind, e.g. login.failure.
        #[arg(long)]
        kind: Option<String>,
    },
}

fn millis(text: Option<&str>) -> anyhow::Result<Option<i64>> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339)
            .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| anyhow::anyhow!("`{t}` is not an RFC 3339 time"))
    })
    .transpose()
}

/// Run an `audit` verb. Returns whether the chain (for `verify`) is intact.
pub async fn run(settings: Settings, args: AuditArgs) -> anyhow::Result<bool> {
    let store = store::connect(&settings.storage.database_url()).await?;
    match args.verb {
        Verb::Verify => match audit::verify(&*store, &audit_key(&settings)?).await? {
            Ok(count) => {
                println!("audit chain intact: {count} records");
                Ok(true)
            }
            Err(broken) => {
                println!("audit chain BROKEN: {broken}");
                Ok(false)
            }
        },
        Verb::Export {
            output,
            since,
            until,
            kind,
        } => {
            let mut out: Box<dyn Write> = match output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut filter = AuditFilter {
                since_ms: millis(since.as_deref())?,
                until_ms: millis(until.as_deref())?,
                kind,
                limit: 1000,
                ..AuditFilter::default()
            };
            loop {
                let page = store.audit_events(&filter).await?;
                for record in &page {
                    writeln!(out, "{}", record_json(record))?;
                }
                match page.last() {
                    Some(last) if page.len() == filter.limit as usize => {
                        filter.after = Some(last.seq)
                    }
                    _ => break,
                }
            }
            out.flush()?;
            Ok(true)
        }
    }
}
