//! `portcullis store copy --from URL --to URL [--force]`: move an install to another store
//! (SQLite to PostgreSQL, or back), with a progress bar on a terminal.

use crate::config::Settings;
use crate::redis_client::redacted;
use crate::startup::{AUDIT_KEY_FILE, SESSION_KEY_FILE};
use crate::store::copy::{self, Progress};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::Path;

/// `store` and its verbs.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Copy keys (hashes, limits, quotas, metadata), owners, sessions, the audit trail and
    /// messages to another store, in one transaction on the target; counts are checked
    /// after. Stop the servers on the source first: writes made during the copy are not in it.
    Copy {
        /// The source store URL (default: this configuration's store).
        #[arg(long)]
        from: Option<String>,
        /// The target store URL (`postgres://…` or `sqlite://…`).
        #[arg(long)]
        to: String,
        /// Replace what the target holds instead of refusing a non-empty target.
        #[arg(long)]
        force: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a `store` verb.
pub async fn run(settings: Settings, args: StoreArgs) -> anyhow::Result<()> {
    match args.verb {
        Verb::Copy {
            from,
            to,
            force,
            json,
        } => {
            let from = from.unwrap_or_else(|| settings.storage.database_url());
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg:>12} [{bar:40}] {pos}/{len} rows ({eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            let started = std::time::Instant::now();
            let mut show = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.done);
                bar.set_message(p.stage);
            };
            let report = copy::copy(&from, &to, force, &mut show).await;
            bar.finish_and_clear();
            let report = report?;
            if crate::store::is_postgres(&to) {
                secrets_note(&from);
            }
            let elapsed = started.elapsed().as_secs_f64();
            let c = report.copied;
            if json {
                outln!(
                    "{}",
                    json!({
                        "from": redacted(&from),
                        "to": redacted(&to),
                        "copied": c,
                        "seconds": (elapsed * 1000.0).round() / 1000.0,
                    })
                );
            } else {
                outln!(
                    "copied {} owners, {} keys, {} sessions, {} audit records, {} messages \
                     from {} to {} in {elapsed:.1} s; counts match",
                    c.owners,
                    c.keys,
                    c.sessions,
                    c.audit_events,
                    c.messages,
                    redacted(&from),
                    redacted(&to)
                );
            }
            Ok(())
        }
    }
}

/// A SQLite install kept its session and audit keys in its data directory; nodes on the new
/// store need the same ones as settings, or copied sessions stop working and the copied
/// chain no longer verifies.
fn secrets_note(from: &str) {
    let Some(dir) = crate::store::local_file(from).and_then(|f| f.parent().map(Path::to_owned))
    else {
        return;
    };
    let (audit, session) = (dir.join(AUDIT_KEY_FILE), dir.join(SESSION_KEY_FILE));
    if audit.exists() || session.exists() {
        eprintln!(
            "portcullis: note: give every node on the target the source's keys: \
             PORTCULLIS_AUTH__AUDIT_SECRET=$(cat {}) and PORTCULLIS_AUTH__SESSION_SECRET=$(cat {})",
            audit.display(),
            session.display()
        );
    }
}
