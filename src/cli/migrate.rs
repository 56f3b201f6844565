//! `portcullis migrate [--check]`: bring the store's schema up to date explicitly (the
//! server also does it at start, under the same lock), or report what is pending.

use crate::config::Settings;
use crate::redis_client::redacted;
use clap::Args;
use serde_json::json;

/// `migrate` and its flags.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Only report pending migrations (exit status 1 when there are some); apply nothing.
    #[arg(long)]
    check: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Run `migrate`. `Ok(false)`: `--check` found pending migrations.
pub async fn run(settings: Settings, args: MigrateArgs) -> anyhow::Result<bool> {
    let url = settings.storage.database_url();
    let shown = redacted(&url);
    if args.check {
        let status = crate::store::migration_status(&url).await?;
        if args.json {
            let pending: Vec<_> = status
                .pending
                .iter()
                .map(|(version, name)| json!({ "version": version, "name": name }))
                .collect();
            outln!(
                "{}",
                json!({
                    "store": shown,
                    "engine": status.engine,
                    "applied": status.applied,
                    "pending": pending,
                })
            );
        } else if status.pending.is_empty() {
            outln!(
                "{shown} ({}): up to date, {} migrations applied",
                status.engine,
                status.applied.len()
            );
        } else {
            outln!(
                "{shown} ({}): {} pending",
                status.engine,
                status.pending.len()
            );
            for (version, name) in &status.pending {
                outln!("  {version:>4}  {name}");
            }
        }
        return Ok(status.pending.is_empty());
    }
    if crate::store::local_file(&url).is_some() {
        crate::startup::create_private_dir(&settings.storage.data_dir)?;
    }
    let applied = crate::store::migrate(&url).await?;
    if args.json {
        outln!("{}", json!({ "store": shown, "applied": applied }));
    } else if applied.is_empty() {
        outln!("{shown}: nothing to apply; up to date");
    } else {
        let list: Vec<String> = applied.iter().map(i64::to_string).collect();
        outln!("{shown}: applied {}", list.join(", "));
    }
    Ok(true)
}
