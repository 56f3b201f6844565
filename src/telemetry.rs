//! Logging: `tracing` with text or JSON lines, to stderr or to a file rotated daily
//! (`<log_file>.YYYY-MM-DD`, seed 004's daily-rotated log). Secrets never reach a log: the
//! types that hold them print `***`, and the auth layer logs only public key prefixes.

pub mod access_format;
pub mod metrics;
pub mod tick_writer;

use crate::config::{LogFormat, LoggingSettings};
use tick_writer::FlushGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
pub fn init(settings: &LoggingSettings) -> Result<Option<FlushGuard>, TelemetryError> {
    let filter =
        EnvFilter::try_new(&settings.level).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let (writer, guard) = match &settings.log_file {
        None => (Output::Stderr, None),
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
            // Lossy, but never silently: see `tick_writer`.
            let (writer, guard) = tick_writer::spawn(appender)
                .map_err(|e| TelemetryError::Appender(e.to_string()))?;
            (Output::File(writer), Some(guard))
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // `try_init` fails only if a subscriber is already installed (tests); that is fine.
    let _ = match settings.format {
        LogFormat::Text => builder
            .event_format(access_format::TextLines::default())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    Ok(guard)
}

/// Where lines go. An enum rather than `BoxMakeWriter`, which allocates a boxed writer for
/// every event (every request, with the access log on).
enum Output {
    Stderr,
    File(tick_writer::TickWriter),
}

/// One event's writer for [`Output`].
enum OutputLine<'a> {
    Stderr(std::io::Stderr),
    File(tick_writer::Line<'a>),
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = OutputLine<'a>;

    fn make_writer(&'a self) -> OutputLine<'a> {
        match self {
            Output::Stderr => OutputLine::Stderr(std::io::stderr()),
            Output::File(file) => OutputLine::File(file.make_writer()),
        }
    }
}

impl std::io::Write for OutputLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            OutputLine::Stderr(out) => out.write(buf),
            OutputLine::File(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            OutputLine::Stderr(out) => out.flush(),
            OutputLine::File(out) => out.flush(),
        }
    }
}
