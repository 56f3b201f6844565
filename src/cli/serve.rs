//! `portcullis serve`.

use crate::auth::EnvKeys;
use crate::clock::SystemClock;
use crate::config::{Settings, TlsSettings};
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
    /// Serve HTTPS with a development certificate for localhost, made on first use under
    /// `<data_dir>/tls/` (trust `dev-ca.pem`). Not for production.
    #[arg(long)]
    pub tls_self_signed: bool,
}

/// Start the server and run until SIGTERM/SIGINT.
pub async fn run(mut settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    // SIGHUP ends a process by default. Claim it before anything slow (migrations, key
    // files) so that a logrotate or certificate-renewal hook firing during start-up does
    // not kill the server; once claimed, tokio keeps it for the life of the process.
    let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    // SIGTERM and SIGINT likewise, so a stop sent as soon as the server is up (or during
    // start-up) is a graceful one.
    let shutdown = shutdown_signal()?;
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
    let log_guard = telemetry::init(&settings.logging)?;
    if args.tls_self_signed {
        if settings.server.tls.is_some() {
            anyhow::bail!("--tls-self-signed and [server.tls] are both set; choose one");
        }
        let host = settings.server.host.parse().ok();
        let dev = crate::tls::self_signed::ensure(&settings.storage.data_dir, host)?;
        warn_development_certificate(&dev);
        settings.server.tls = Some(TlsSettings {
            cert: dev.cert,
            key: dev.key,
        });
    }
    let scheme = if settings.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let env_keys = if settings.auth.env_keys {
        EnvKeys::from_env()?
    } else {
        EnvKeys::none()
    };
    let app = Application::build(settings, Arc::new(SystemClock), env_keys).await?;
    let address = app.local_addr()?;
    tracing::info!(%address, "listening");
    let metrics_address = app.metrics_addr();
    if let Some(metrics) = metrics_address {
        tracing::info!(address = %metrics, "metrics listening (no authentication)");
    }
    // Whatever start-up said is in the log file before anyone is told the server is up.
    if let Some(guard) = &log_guard {
        guard.sync(std::time::Duration::from_secs(2));
    }
    // One machine-readable line on stdout, so scripts (and tests) using port 0 find the server.
    // One write for both lines: a reader that takes the first line and closes the pipe
    // must not make the second one fail (and the server stop).
    let mut banner = format!("portcullis listening on {scheme}://{address}");
    if let Some(metrics) = metrics_address {
        banner.push_str(&format!("\nmetrics listening on http://{metrics}/metrics"));
    }
    outln!("{banner}");
    app.run(shutdown).await
}

/// Said loudly, on stderr and in the log: this certificate must not reach production.
fn warn_development_certificate(dev: &crate::tls::self_signed::DevCertificate) {
    let ca = dev.ca.display();
    eprintln!(
        "\n  !!! DEVELOPMENT TLS CERTIFICATE: NOT FOR PRODUCTION !!!\n  \
         {} a certificate for localhost, 127.0.0.1 and ::1, signed by a throwaway CA.\n  \
         Clients must trust {ca}, e.g. curl --cacert {ca} https://localhost:<port>/healthz\n  \
         For production, set [server.tls] cert and key to a real certificate.\n",
        if dev.created { "Made" } else { "Reusing" },
    );
    tracing::warn!(ca = %ca, cert = %dev.cert.display(), "serving a DEVELOPMENT certificate (--tls-self-signed): not for production");
}
