//! The command line: `portcullis [--config PATH] <command>`.

mod keys;
mod serve;

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
}

/// Run the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => serve::run(settings, args).await,
        Command::Keys(args) => keys::run(settings, args).await,
    }
}
