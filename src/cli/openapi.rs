//! `portcullis openapi`: print the OpenAPI 3.1 document of the server these settings describe,
//! without a running server and without touching its store.
//!
//! The document comes from the router itself, and the router needs a built application (its
//! guards hold the authenticator). So the application is built for real, on a throwaway
//! SQLite data directory, with no Redis, no TLS, no metrics listener and an ephemeral
//! loopback port: everything that decides which routes exist (`[sms] enabled`,
//! `[metrics] enabled`, `[messages] posting`, `server.base_url`) is the configuration's own.

use crate::auth::EnvKeys;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::startup::Application;
use anyhow::Context;
use clap::Args;
use std::sync::Arc;

/// `openapi` and its flags.
#[derive(Debug, Args)]
pub struct OpenApiArgs {
    /// Indent the JSON for people.
    #[arg(long)]
    pretty: bool,
}

/// Run `openapi`.
pub async fn run(mut settings: Settings, args: OpenApiArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("creating a scratch data directory")?;
    settings.storage.data_dir = scratch.path().join("data");
    settings.storage.url = None;
    settings.storage.redis_url = None;
    settings.server.tls = None;
    settings.server.host = "127.0.0.1".to_owned();
    settings.server.port = 0;
    settings.metrics.listen = None;
    let app = Application::build(settings, Arc::new(SystemClock), EnvKeys::none()).await?;
    let api = app.openapi();
    let text = if args.pretty {
        api.to_pretty_json()
    } else {
        api.to_json()
    }
    .context("serializing the document")?;
    outln!("{text}");
    Ok(())
}
