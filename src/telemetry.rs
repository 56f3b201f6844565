//! Logging: `tracing` with text or JSON lines, to stderr or to a file rotated daily
//! (`<log_file>.YYYY-MM-DD`, seed 004's daily-rotated log). Secrets never reach a log: the
//! types that hold them print `***`, and the auth layer logs only public key prefixes.

use crate::config::{LogFormat, LoggingSettings};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Errors setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log file's directory could not be created.
    #[error("cannot create log directory {path}: {source}")]
    LogDir {
        /// The directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The log file name is not usable.
    #[error("log_file must name a file")]
    LogFile,
    /// The rolling file could not be opened.
    #[error("cannot open the log file: {0}")]
    Appender(String),
    /// The filter does not parse (already validated with the settings, so unlikely).
    #[error("invalid log level: {0}")]
    Filter(String),
}

/// Install the global subscriber. Keep the returned guard alive for the life of the process:
/// dropping it flushes buffered lines.
pub fn init(settings: &LoggingSettings) -> Result<Option<WorkerGuard>, TelemetryError> {
    let filter =
        EnvFilter::try_new(&settings.level).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let (writer, guard, ansi) = match &settings.log_file {
        None => (BoxMakeWriter::new(std::io::stderr), None, false),
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let name = path.file_name().ok_or(TelemetryError::LogFile)?;
            std::fs::create_dir_all(dir).map_err(|source| TelemetryError::LogDir {
                path: dir.display().to_string(),
                source,
            })?;
            let mut builder = tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(name.to_string_lossy());
            if settings.keep_files > 0 {
                builder = builder.max_log_files(settings.keep_files);
            }
            let appender = builder
                .build(dir)
                .map_err(|e| TelemetryError::Appender(e.to_string()))?;
            // Lossy, but never silently: when the disk falls behind a flood, lines are dropped
            // rather than stalling every request on a full buffer (which would turn a slow
            // disk into an outage), and the number dropped is logged as soon as it can be.
            let (writer, guard) = tracing_appender::non_blocking(appender);
            report_dropped_lines(writer.error_counter());
            (BoxMakeWriter::new(writer), Some(guard), false)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    // `try_init` fails only if a subscriber is already installed (tests); that is fine.
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    Ok(guard)
}

/// Every 10 s, log how many lines the file writer had to drop since the last report.
fn report_dropped_lines(counter: tracing_appender::non_blocking::ErrorCounter) {
    let spawned = std::thread::Builder::new()
        .name("log-drops".to_owned())
        .spawn(move || {
            let mut reported = 0;
            loop {
                std::thread::sleep(std::time::Duration::from_secs(10));
                let dropped = counter.dropped_lines();
                if dropped > reported {
                    tracing::warn!(
                        dropped = dropped - reported,
                        total = dropped,
                        "the log file fell behind; lines were dropped"
                    );
                    reported = dropped;
                }
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot watch for dropped log lines");
    }
}
