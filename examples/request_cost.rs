//! Instructions per request, for a comparison that machine noise cannot blur: run the same
//! route N times through the whole application (middleware, routing, authentication, limits,
//! handler), in-process, under `valgrind --tool=callgrind`, and subtract a run with N = 0.
//!
//! ```sh
//! cargo build --release --example request_cost
//! scripts/request_cost.sh            # healthz and whoami, 2,000 requests each
//! ```
//!
//! Usage: `request_cost <healthz|whoami> <count>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use portcullis::auth::EnvKeys;
use portcullis::clock::SystemClock;
use portcullis::config::Settings;
use portcullis::startup::{Application, INITIAL_ADMIN_KEY_FILE};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let route = args.next().unwrap_or_else(|| "healthz".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = dir.path().join("data");
    settings.limits.roles.admin = portcullis::limits::RateSpec::parse("1000000/s").unwrap();
    let router = runtime.block_on(async {
        Application::build(settings, Arc::new(SystemClock), EnvKeys::none())
            .await
            .unwrap()
            .router()
    });
    let key = std::fs::read_to_string(dir.path().join("data").join(INITIAL_ADMIN_KEY_FILE))
        .unwrap()
        .trim()
        .to_owned();
    let (path, key) = match route.as_str() {
        "whoami" => ("/api/whoami", Some(key.as_str())),
        _ => ("/healthz", None),
    };
    // One request outside the count: the key is verified and cached, as in a running server.
    let call = || {
        let mut builder = Request::get(path).header("host", "localhost");
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        let mut request = builder.body(Body::empty()).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let response = runtime.block_on(router.clone().oneshot(request)).unwrap();
        assert_eq!(response.status(), 200);
        runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .unwrap();
    };
    call();
    for _ in 0..count {
        call();
    }
}
