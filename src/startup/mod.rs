//! Build the application from settings, and run it until a shutdown signal.

mod checks;
mod data_dir;

use crate::audit::{AuditEvent, AuditLog, AuditOptions, CHECKPOINT_FILE, Checkpoint, Outcome};
use crate::auth::envelope::{EnvelopeParts, EnvelopeVerifier};
use crate::auth::lockout::{Lockout, LockoutPolicy};
use crate::auth::session_cache::SessionCache;
use crate::auth::signature::replay::ReplayCache;
use crate::auth::{
    Authenticator, AuthnPolicy, EnvKeys, KeyManager, KeyVerifier, SessionKey, SessionManager,
    keys::CreateKey,
};
use crate::clock::Clock;
use crate::config::RedisFailure;
use crate::config::Settings;
use crate::http::middleware::client_ip::TrustedProxies;
use crate::http::router;
use crate::http::server::{self, ConnectionLimits};
use crate::http::state::{AppState, HealthCache, Shared};
use crate::jose::keyring::LiveKeyring;
use crate::jose::{Keyring, ServerKey};
use crate::limits::Limiter;
use crate::limits::policy::RatePolicy;
use crate::net::Cidr;
use crate::secret::SecretKey;
use crate::services::configfiles::{ACTIONS, ConfigFiles};
use crate::services::messages::Messages;
use crate::store::{self, MessageStore, OwnerKind, RedisMessages};
use crate::tls::ReloadingCert;
use crate::workers::{
    EnvelopeKeyReload, KeyRefresh, LastUsedFlush, MessagePurge, NoncePurge, RefusalFlush, Workers,
};
use anyhow::Context;
use checks::{
    announce_redis, check_audit_checkpoint, tighten_private_files,
    warn_if_one_address_can_fill_the_drop,
};
use data_dir::write_initial_admin_key;
pub use data_dir::{
    AUDIT_KEY_FILE, BACKUP_DIR, ENVELOPE_KEY_DIR, INITIAL_ADMIN_KEY_FILE, SESSION_KEY_FILE,
    audit_key, create_private_dir, envelope_keyring, initial_admin_key,
};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

/// A built, bound, not yet running server.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    settings: Settings,
    audit_writer: tokio::task::JoinHandle<()>,
    certificate: Option<Arc<ReloadingCert>>,
}

impl Application {
    /// Open the store, prepare authentication, create the first admin key on an empty store,
    /// and bind the listener.
    pub async fn build(
        settings: Settings,
        clock: Arc<dyn Clock>,
        env_keys: EnvKeys,
    ) -> anyhow::Result<Self> {
        crate::tls::install_crypto_provider();
        settings.require_shared_secrets()?;
        create_private_dir(&settings.storage.data_dir)?;
        tighten_private_files(&settings);
        // A bad certificate stops the start, before anything listens.
        let certificate = match &settings.server.tls {
            Some(tls) => {
                let cert = ReloadingCert::load(&tls.cert, &tls.key)
                    .context("loading [server.tls] certificate")?;
                tracing::info!(cert = %tls.cert.display(), fingerprint = %cert.fingerprint(), "serving HTTPS");
                Some(Arc::new(cert))
            }
            None => None,
        };
        let store = store::connect_with(
            &settings.storage.database_url(),
            &settings.storage.store_options(),
        )
        .await
        .context("opening the store")?;
        // A database other nodes share, and no Redis: one-time values are remembered in the
        // database, and limits are counted per node (said once, here).
        let shared_nonces: Option<Arc<dyn crate::store::NonceStore>> = (store.engine().shared()
            && settings.storage.redis_url.is_none())
        .then(|| Arc::clone(&store) as Arc<dyn crate::store::NonceStore>);
        if shared_nonces.is_some() {
            tracing::warn!(
                engine = store.engine().as_str(),
                "no storage.redis_url: rate limits and quotas are counted by each node on its \
                 own (N nodes admit up to N times a limit); nonces and token ids are shared \
                 through the database"
            );
        }
        // One line per variable: a plain string field in JSON logs, not a list in a string.
        for variable in env_keys.variables() {
            tracing::info!(variable, "accepting a key from the environment");
        }
        let verifier = Arc::new(KeyVerifier::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            env_keys,
            &settings.auth,
        ));
        let keys = KeyManager::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            Some(Arc::clone(&verifier)),
        );
        let checkpoint = settings.storage.data_dir.join(CHECKPOINT_FILE);
        let checkpoint_holds = check_audit_checkpoint(&*store, &checkpoint).await;
        let (audit, audit_writer) = AuditLog::spawn(
            Arc::clone(&store),
            Arc::clone(&clock),
            audit_key(&settings)?,
            AuditOptions {
                // A checkpoint the chain no longer matches is evidence: keep it as it is.
                checkpoint: checkpoint_holds.then_some(checkpoint),
                refusal_window: settings.audit.refusal_window,
            },
        );
        // Key changes made through the API are recorded by the manager itself.
        let keys = keys.with_audit(audit.clone());
        if store.count_keys().await? == 0
            && let Some(path) = write_initial_admin_key(&keys, &settings.storage.data_dir).await?
        {
            audit
                .record(
                    AuditEvent::new("key.create", Outcome::Success, "initial admin key created")
                        .context("system"),
                )
                .await;
            tracing::warn!(path = %path.display(), "created the initial admin key; store it safely and delete the file");
        }
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address}"))?;
        let metrics_listener = match settings.metrics.listen {
            Some(address) => {
                if !address.ip().is_loopback() {
                    tracing::warn!(
                        %address,
                        "metrics.listen is not a loopback address: /metrics there needs no key, \
                         so keep that address private"
                    );
                }
                Some(
                    TcpListener::bind(address)
                        .await
                        .with_context(|| format!("binding metrics.listen {address}"))?,
                )
            }
            None => None,
        };
        let session_key = match &settings.auth.session_secret {
            Some(secret) => SessionKey::from_hex(secret.expose())
                .context("auth.session_secret must be 64 hex characters")?,
            None => {
                let path = settings.storage.data_dir.join(SESSION_KEY_FILE);
                SessionKey::load_or_create(&path)
                    .with_context(|| format!("reading {}", path.display()))?
            }
        };
        let auth = &settings.auth;
        let sessions = SessionManager::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            Arc::clone(&verifier),
            session_key,
            auth.session_ttl,
            auth.single_session,
            // Sessions ended on another node are trusted here at most this long, the bound a
            // key changed elsewhere has without the change feed.
            SessionCache::new(auth.cache_capacity, auth.refresh_interval),
        );
        // TLS served here, or terminated in front of us (the public URL is https): either way
        // cookies get `Secure` and responses carry HSTS.
        let tls = certificate.is_some()
            || settings
                .server
                .base_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://"));
        let window = i64::try_from(auth.signature_window.as_secs()).unwrap_or(i64::MAX);
        let scheme = match &settings.server.base_url {
            Some(url) if url.starts_with("https://") => "https",
            Some(_) => "http",
            None if tls => "https",
            None => "http",
        };
        let limits = &settings.limits;
        let limiter = Arc::new(match &settings.storage.redis_url {
            Some(url) => Limiter::redis(
                url,
                &limits.redis_prefix,
                limits.redis_timeout,
                limits.redis_failure == RedisFailure::Open,
                limits.memory_capacity,
                Arc::clone(&clock),
            )
            .context("configuring redis")?,
            None => Limiter::memory(limits.memory_capacity, Arc::clone(&clock)),
        });
        if let Some(url) = &settings.storage.redis_url {
            announce_redis(&limiter, url, limits).await;
        }
        let authn = Arc::new(Authenticator {
            limiter: Arc::clone(&limiter),
            rates: RatePolicy {
                roles: limits.roles.clone(),
                per_address: limits.per_address,
                verify_misses: limits.verify_misses,
                groups: limits.groups.clone(),
                enabled: limits.enabled,
            },
            verifier: Arc::clone(&verifier),
            sessions: sessions.clone(),
            lockout: Arc::new(Lockout::new(
                LockoutPolicy {
                    threshold: auth.lockout_threshold,
                    window: auth.lockout_window,
                    base: auth.lockout_base,
                    max: auth.lockout_max,
                    capacity: auth.lockout_capacity,
                },
                Arc::clone(&clock),
            )),
            // Nonces must outlive every `created` the window accepts, on either side.
            replay: {
                let cache = ReplayCache::new(
                    auth.replay_cache_capacity,
                    auth.replay_cache_per_key,
                    auth.signature_window * 2 + std::time::Duration::from_secs(1),
                );
                match &shared_nonces {
                    Some(nonces) => cache.shared_through(Arc::clone(nonces), Arc::clone(&clock)),
                    None => cache,
                }
            },
            audit: audit.clone(),
            policy: AuthnPolicy {
                window,
                signed_groups: auth.signed_groups.clone(),
                session_bearer: auth.session_bearer,
                session_cookie: auth.session_cookie,
                scheme,
                token_hash_signs: auth
                    .signature_schemes
                    .contains(&crate::config::SignatureScheme::TokenHash),
            },
        });
        let configfiles = ConfigFiles::new(
            &settings.files,
            &settings.storage.data_dir.join(BACKUP_DIR),
            settings.envelope.max_file_bytes,
            Arc::clone(&clock),
        )?;
        configfiles.sweep_temporaries();
        let envelope = Arc::new(
            EnvelopeVerifier::new(
                EnvelopeParts {
                    keyring: Arc::new(envelope_keyring(&settings)?),
                    limiter: Arc::clone(&limiter),
                    clock: Arc::clone(&clock),
                    max_lifetime: settings.envelope.max_token_lifetime,
                    skew: settings.envelope.clock_skew,
                    replay_capacity: settings.envelope.replay_cache_capacity,
                    shared_nonces,
                },
                &settings.client_keys,
                &|file| configfiles.contains(file),
                &|action| ACTIONS.contains(&action),
            )
            .context("configuring [client_keys]")?,
        );
        let message_store = match &settings.storage.redis_url {
            Some(url) => {
                let redis = Arc::new(
                    RedisMessages::new(url, &limits.redis_prefix, MESSAGE_REDIS_TIMEOUT)
                        .context("configuring redis for messages")?,
                );
                let check = Arc::clone(&redis);
                tokio::spawn(async move { check.warn_if_volatile().await });
                redis as Arc<dyn MessageStore>
            }
            None => store.messages(),
        };
        warn_if_one_address_can_fill_the_drop(&settings);
        for range in &settings.server.trusted_proxies {
            if Cidr::parse(range).is_some_and(|cidr| cidr.is_broad()) {
                tracing::warn!(
                    range = %range,
                    "server.trusted_proxies holds a broad range: every peer in it may set \
                     X-Forwarded-For and is exempt from max_connections_per_address"
                );
            }
        }
        let messages = Messages::new(message_store, Arc::clone(&clock), settings.messages.clone());
        let campaigns = campaigns(&settings, &store, &clock, &audit, &limiter)?;
        let state = AppState::new(Shared {
            store,
            clock,
            verifier,
            keys,
            sessions,
            authn,
            audit,
            tls,
            health: Arc::new(HealthCache::default()),
            limiter,
            proxies: TrustedProxies(Arc::new(
                settings
                    .server
                    .trusted_proxies
                    .iter()
                    .filter_map(|p| Cidr::parse(p))
                    .collect(),
            )),
            envelope,
            configfiles,
            messages,
            campaigns,
            mount: settings
                .server
                .mount_path()
                .map_err(|reason| anyhow::anyhow!("server.base_url: {reason}"))?
                .into(),
        });
        Ok(Self {
            listener,
            metrics_listener,
            state,
            settings,
            audit_writer,
            certificate,
        })
    }

    /// The HTTP application itself, without the listener: for benchmarks that measure the
    /// cost of a request without the network.
    pub fn router(&self) -> anyhow::Result<axum::Router> {
        router::build(self.state.clone(), &self.settings)
    }

    /// The OpenAPI document of this application's routes (`portcullis openapi`, and the test
    /// that every route is described).
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        router::document(&self.state, &self.settings)
    }

    /// The private metrics listener's address, when `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` completes, then let in-flight requests finish (at most
    /// `server.shutdown_grace`) and flush pending state.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            metrics_listener,
            state,
            settings,
            audit_writer,
            certificate,
        } = self;
        let app = router::build(state.clone(), &settings)?;
        let mut workers = start_workers(&state, &settings);
        match state.store.listen_key_changes().await {
            Ok(Some(feed)) => workers.adopt(
                "key change feed",
                crate::workers::key_changes::spawn(Arc::clone(&state.verifier), feed),
            ),
            Ok(None) => {}
            Err(err) => tracing::error!(
                error = %err,
                "cannot listen for key changes; other nodes' changes are found by polling \
                 (auth.refresh_interval)"
            ),
        }
        let acceptor = match certificate {
            Some(certificate) => {
                workers.adopt(
                    "certificate reload",
                    spawn_certificate_reloader(Arc::clone(&certificate)),
                );
                Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
                    certificate,
                )?))
            }
            None => {
                workers.adopt("SIGHUP without TLS", spawn_certificate_reloader_noop());
                None
            }
        };
        let limits = ConnectionLimits {
            max_connections: settings.limits.max_connections,
            header_read_timeout: settings.limits.header_read_timeout,
            tls_handshake_timeout: settings.limits.tls_handshake_timeout,
            shutdown_grace: settings.server.shutdown_grace,
            hsts: state.tls,
        };
        let per_address = crate::http::connections::PerAddress::new(
            settings.limits.max_connections_per_address,
            state.proxies.clone(),
        );
        // The private metrics listener stops with the API's.
        let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(false);
        let metrics_server = metrics_listener.map(|listener| {
            let app = router::build_metrics(state.clone(), &settings.limits);
            let per_address = crate::http::connections::PerAddress::new(
                settings.limits.max_connections_per_address,
                state.proxies.clone(),
            );
            let mut stopped = metrics_stopped;
            let limits = ConnectionLimits {
                hsts: false,
                ..limits
            };
            tokio::spawn(async move {
                server::serve(listener, None, app, limits, per_address, async move {
                    let _ = stopped.changed().await;
                })
                .await;
            })
        });
        server::serve(listener, acceptor, app, limits, per_address, shutdown).await;
        let _ = stop_metrics.send(true);
        if let Some(metrics_server) = metrics_server {
            let _ = metrics_server.await;
        }
        // Each worker finishes the step it is in; the final flushes below then run alone.
        workers.stop(WORKER_GRACE).await;
        if let Err(err) = state.verifier.flush_last_used().await {
            tracing::warn!(error = %err, "could not record last-used times at shutdown");
        }
        // Counted refusals whose window has not ended yet are recorded now, not lost.
        state.audit.drain_refusals().await;
        // Dropping the last handles closes the audit queue; wait for it to drain.
        drop(state);
        if tokio::time::timeout(std::time::Duration::from_secs(10), audit_writer)
            .await
            .is_err()
        {
            tracing::error!("audit writer did not drain in time");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Periodic work: pick up key changes made elsewhere; write last-used times.
fn start_workers(state: &AppState, settings: &Settings) -> Workers {
    let mut workers = Workers::new();
    workers.spawn(Arc::new(KeyRefresh::new(
        Arc::clone(&state.verifier),
        settings.auth.refresh_interval,
    )));
    workers.spawn(Arc::new(LastUsedFlush::new(
        Arc::clone(&state.verifier),
        settings.auth.last_used_flush,
    )));
    workers.spawn(Arc::new(EnvelopeKeyReload::new(
        Arc::clone(&state.envelope),
        settings.envelope.key_reload_interval,
    )));
    workers.spawn(Arc::new(RefusalFlush::new(state.audit.clone())));
    workers.spawn(Arc::new(MessagePurge::new(state.messages.clone())));
    if state.campaigns.settings().enabled {
        workers.spawn(Arc::new(
            crate::services::campaigns::sender::SendWorker::new(state.campaigns.clone()),
        ));
    }
    if state.store.engine().shared() && settings.storage.redis_url.is_none() {
        workers.spawn(Arc::new(NoncePurge::new(
            Arc::clone(&state.store),
            Arc::clone(&state.clock),
        )));
    }
    workers
}

/// The campaign manager, with the phone driver the settings name. The termux driver sends
/// the seed's `TERMUX_API_KEY` to the phone unless `sms.device_key` is set.
fn campaigns(
    settings: &Settings,
    store: &Arc<dyn crate::store::Store>,
    clock: &Arc<dyn Clock>,
    audit: &AuditLog,
    limiter: &Arc<Limiter>,
) -> anyhow::Result<crate::services::campaigns::Campaigns> {
    use crate::services::campaigns::{Campaigns, gateway};
    let termux_key = std::env::var("TERMUX_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(crate::secret::SecretString::new);
    let gateway = gateway::from_settings(&settings.sms, termux_key).context("configuring [sms]")?;
    if settings.sms.enabled && gateway.is_none() {
        tracing::info!("no sms.device_url: campaign messages queue until a phone is configured");
    }
    Ok(Campaigns::new(
        store.campaigns(),
        Arc::clone(clock),
        settings.sms.clone(),
        gateway,
        audit.clone(),
        Arc::clone(limiter),
    ))
}

/// SIGHUP: read the certificate files again. New connections get the new certificate;
/// open ones keep theirs. A file that does not load is logged and the old certificate stays.
fn spawn_certificate_reloader(certificate: Arc<ReloadingCert>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; certificates will not reload");
            return;
        };
        while hangups.recv().await.is_some() {
            let certificate = Arc::clone(&certificate);
            match tokio::task::spawn_blocking(move || certificate.reload()).await {
                Ok(Ok(fingerprint)) => {
                    tracing::info!(%fingerprint, "SIGHUP: TLS certificate reloaded");
                }
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "SIGHUP: certificate not reloaded; still serving the previous one");
                }
                Err(err) => tracing::error!(error = %err, "SIGHUP: reload task failed"),
            }
        }
    })
}

/// Without TLS, SIGHUP has nothing to reload; it must not end the process (its default).
fn spawn_certificate_reloader_noop() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: no TLS certificate configured; nothing to reload");
        }
    })
}

/// Message storage calls to Redis carry up to 64 KiB; they get longer than limit checks.
const MESSAGE_REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long shutdown waits for background workers to finish their current step.
const WORKER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Resolve on SIGTERM or SIGINT.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered now, not when first polled: a SIGTERM sent the moment the server says it
    // is listening must start the graceful shutdown, not kill the process by default.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}
