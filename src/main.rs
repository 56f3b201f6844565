//! The `portcullis` binary: parse the command line and hand over to the library.

use clap::Parser;
use portcullis::cli::{self, Cli};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        // The reader went away (`| head`): nothing more to say, as with any Unix tool.
        Err(err) if cli::is_broken_pipe(&err) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portcullis: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
