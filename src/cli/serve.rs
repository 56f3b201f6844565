//! `portcullis serve`.

use crate::auth::EnvKeys;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::startup::{Application, shutdown_signal};
use crate::telemetry;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of `serve`; they override the file and the environment.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long)]
    pub port: Option<u16>,
    /// Directory for the database and local state.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Start the server and run until SIGTERM/SIGINT.
pub async fn run(mut settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(host) = args.host {
        settings.server.host = host;
    }
    if let Some(port) = args.port {
        settings.server.port = port;
    }
    if let Some(dir) = args.data_dir {
        settings.storage.data_dir = dir;
    }
    settings.validate()?;
    let _guard = telemetry::init(&settings.logging)?;
    let env_keys = if settings.auth.env_keys {
        EnvKeys::from_env()?
    } else {
        EnvKeys::none()
    };
    let app = Application::build(settings, Arc::new(SystemClock), env_keys).await?;
    let address = app.local_addr()?;
    tracing::info!(%address, "listening");
    // One machine-readable line on stdout, so scripts (and tests) using port 0 find the server.
    println!("portcullis listening on http://{address}");
    app.run(shutdown_signal()).await
}
