//! `portcullis audit verify | export`.

use crate::audit::{self, CHECKPOINT_FILE, Checkpoint, record_json};
use crate::config::Settings;
use crate::startup::audit_key;
use crate::store::AuditFilter;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `audit` and its verbs.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    verb: Verb,
    /// Print JSON instead of text (`export` always writes JSON Lines).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Check the hash chain and its checkpoint; exit 1 and name the first tampered, removed
    /// or reordered record, or a cut end. Prints the chain's last record as `<seq>:<hash>`,
    /// which operators can note and pass back with --expect.
    Verify {
        /// A `<seq>:<hash>` noted earlier from `audit verify`: that record must still be there.
        #[arg(long)]
        expect: Option<String>,
    },
    /// Show the checkpoint; with --reset, set it to the chain's current end (after a break
    /// has been investigated: the old checkpoint is the evidence, so note it first).
    Checkpoint {
        /// Replace the checkpoint with the chain's current end.
        #[arg(long)]
        reset: bool,
    },
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
    let store = super::open_store(&settings, false).await?;
    let checkpoint_path = settings.storage.data_dir.join(CHECKPOINT_FILE);
    match args.verb {
        Verb::Verify { expect } => {
            let expected = expect.as_deref().map(Checkpoint::parse).transpose()?;
            let stored = Checkpoint::read(&checkpoint_path)?;
            let broken = |why: String| -> anyhow::Result<bool> {
                if args.json {
                    outln!("{}", json!({ "intact": false, "broken": why }));
                } else {
                    outln!("audit chain BROKEN: {why}");
                }
                Ok(false)
            };
            let tip = match audit::verify(&*store, &audit_key(&settings)?, None).await? {
                Ok(tip) => tip,
                Err(why) => return broken(why.to_string()),
            };
            // The chain holds together; now, does it still reach as far as it did?
            for (name, checkpoint) in [("checkpoint", &stored), ("--expect", &expected)] {
                if let Some(checkpoint) = checkpoint
                    && let Err(why) = audit::matches_checkpoint(&*store, checkpoint).await?
                {
                    return broken(format!("{why} ({name} {checkpoint})"));
                }
            }
            if args.json {
                outln!(
                    "{}",
                    json!({
                        "intact": true,
                        "records": tip.count,
                        "last_record": tip.checkpoint().to_string(),
                        "checkpoint": stored.as_ref().map(ToString::to_string),
                        "checkpoint_file": checkpoint_path.display().to_string(),
                        "expect": expected.as_ref().map(ToString::to_string),
                    })
                );
                return Ok(true);
            }
            outln!("audit chain intact: {} records", tip.count);
            outln!("last record: {}", tip.checkpoint());
            match &stored {
                Some(checkpoint) => outln!("checkpoint {checkpoint}: present and unchanged"),
                None => outln!("no checkpoint at {}", checkpoint_path.display()),
            }
            if let Some(expected) = &expected {
                outln!("--expect {expected}: present and unchanged");
            }
            Ok(true)
        }
        Verb::Checkpoint { reset } => {
            let stored = Checkpoint::read(&checkpoint_path)?;
            // Shown before any reset: the old checkpoint is the evidence of a break.
            if !args.json {
                match &stored {
                    Some(checkpoint) => outln!("checkpoint: {checkpoint}"),
                    None => outln!("no checkpoint file at {}", checkpoint_path.display()),
                }
            }
            let reset_to = if reset {
                let tip = match audit::verify(&*store, &audit_key(&settings)?, None).await? {
                    Ok(tip) => tip,
                    Err(broken) => anyhow::bail!(
                        "the chain itself is broken ({broken}); a checkpoint cannot vouch for it"
                    ),
                };
                tip.checkpoint().reset(&checkpoint_path)?;
                Some(tip.checkpoint())
            } else {
                None
            };
            if args.json {
                outln!(
                    "{}",
                    json!({
                        "checkpoint": stored.as_ref().map(ToString::to_string),
                        "checkpoint_file": checkpoint_path.display().to_string(),
                        "reset_to": reset_to.as_ref().map(ToString::to_string),
                    })
                );
                return Ok(true);
            }
            if let Some(tip) = reset_to {
                outln!("checkpoint reset to {tip}");
            }
            Ok(true)
        }
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
