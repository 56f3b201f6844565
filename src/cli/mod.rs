//! The command line: `portcullis [--config PATH] <command>`.

/// `println!` that returns the error instead of panicking, so a closed pipe
/// (`portcullis keys list | head`) ends the command quietly (see [`is_broken_pipe`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?;
    }};
}

/// `print!` that returns the error instead of panicking (see [`outln!`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?;
    }};
}

mod audit;
mod campaigns;
mod client;
mod jose;
mod keys;
mod migrate;
mod openapi;
mod serve;
mod store;

use crate::config::Settings;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// A secure API server in one binary.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Configuration file (default: ./portcullis.toml if present).
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(serve::ServeArgs),
    /// Manage API keys directly in the store (works whether or not a server is running).
    Keys(keys::KeysArgs),
    /// Check or export the audit trail.
    Audit(audit::AuditArgs),
    /// SMS campaigns: import recipients, list, status, start, pause, resume, export.
    Campaigns(campaigns::CampaignArgs),
    /// Client key pairs and the server's envelope keys (rotation).
    Jose(jose::JoseArgs),
    /// Call a Portcullis service as a client (`client config …`).
    Client(client::ClientArgs),
    /// Apply the store's pending schema migrations (`--check`: only report them).
    Migrate(migrate::MigrateArgs),
    /// Move an install between stores (`store copy --from sqlite://… --to postgres://…`).
    Store(store::StoreArgs),
    /// Print the OpenAPI 3.1 document of the server these settings describe.
    Openapi(openapi::OpenApiArgs),
}

/// Whether `error` is stdout closed by its reader (`| head`): Unix tools end quietly then.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The store the settings name. Commands that read or change existing keys never create one:
/// run from the wrong directory they would leave an empty store behind and report on it.
/// With `create` (`keys create`, `keys bootstrap`) a missing store is made, and stderr says so.
async fn open_store(
    settings: &Settings,
    create: bool,
) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
    settings.require_shared_secrets()?;
    let url = settings.storage.database_url();
    if !create {
        return Ok(crate::store::connect_existing(&url).await?);
    }
    crate::startup::create_private_dir(&settings.storage.data_dir)?;
    if let Some(file) = crate::store::local_file(&url).filter(|f| !f.exists()) {
        eprintln!(
            "portcullis: no store at {}; creating a new, empty one there",
            std::path::absolute(&file).unwrap_or(file).display()
        );
    }
    Ok(crate::store::connect(&url).await?)
}

/// Run the parsed command. `Ok(false)` means "ran, but the answer is no" (exit status 1),
/// as when `audit verify` finds a broken chain.
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    // Before anything is created: every file and directory this process makes is private.
    crate::file_modes::private_umask();
    crate::tls::install_crypto_provider();
    if let Command::Client(args) = cli.command {
        // A client needs no server settings.
        return client::run(args).await;
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => serve::run(settings, args).await.map(|()| true),
        Command::Keys(args) => keys::run(settings, args).await.map(|()| true),
        Command::Audit(args) => audit::run(settings, args).await,
        Command::Campaigns(args) => campaigns::run(settings, args).await.map(|()| true),
        Command::Jose(args) => jose::run(settings, args).map(|()| true),
        Command::Migrate(args) => migrate::run(settings, args).await,
        Command::Store(args) => store::run(settings, args).await.map(|()| true),
        Command::Openapi(args) => openapi::run(settings, args).await.map(|()| true),
        Command::Client(_) => Ok(false),
    }
}
