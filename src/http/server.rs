//! The accept loop. Written on hyper directly instead of `axum::serve` because a server that
//! faces the internet needs three things `axum::serve` does not set: a deadline for reading
//! request headers (slow-loris), an idle limit for kept-alive connections (the same timer),
//! and a cap on open connections — without them an unauthenticated client can hold sockets
//! and tasks without bound. It also gives graceful shutdown a deadline. With TLS, the
//! handshake runs in the connection's task under its own short deadline, so a client that
//! opens a socket and never finishes its hello holds a permit only briefly.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::connections::PerAddress;
use super::framing_errors::Hardened;
use super::header_timer::ConnectionTimer;
use tower::ServiceExt;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Time allowed to send a request's headers, and to stay idle between requests.
    pub header_read_timeout: Duration,
    /// Time allowed to complete a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// After the shutdown signal, how long in-flight requests may take.
    pub shutdown_grace: Duration,
    /// Whether responses carry HSTS (TLS here or in front): hyper's own error answers,
    /// rewritten into ours, carry it too.
    pub hsts: bool,
}

/// Serve `app` on `listener` (over TLS with `tls`) until `shutdown` resolves; then stop
/// accepting, let open requests finish within the grace period, and return.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnectionLimits,
    per_address: Arc<PerAddress>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = per_address.admit(peer.ip()) else {
            // Closed at once: this address holds its share of the connections already.
            tracing::debug!(%peer, "connection refused: too many open from this address");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let mut builder = builder.clone();
        // One timer per connection: it arms one sleep for many requests (`header_timer`).
        builder.timer(ConnectionTimer::new());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = limits.tls_handshake_timeout;
        let hsts = limits.hsts;
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let result =
                match tls {
                    None => {
                        let io = TokioIo::new(Hardened::new(stream, hsts));
                        watcher.watch(builder.serve_connection(io, service)).await
                    }
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(err)) => {
                                    tracing::debug!(error = %err, %peer, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                        let io = TokioIo::new(Hardened::new(stream, hsts));
                        watcher.watch(builder.serve_connection(io, service)).await
                    }
                };
            if let Err(err) = result {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; dropping remaining connections");
    }
}
