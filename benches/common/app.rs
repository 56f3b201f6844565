//! The whole application in-process, for measuring a request without the network: shared by
//! `benches/request_path.rs` (time) and `examples/request_cost.rs` (instructions).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

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

/// A built application, its runtime and the admin key.
pub struct Fixture {
    pub runtime: tokio::runtime::Runtime,
    pub router: axum::Router,
    pub key: String,
    _dir: tempfile::TempDir,
}

/// The application on a fresh data directory, limits on or off.
pub fn fixture(limits: bool) -> Fixture {
    fixture_with(|settings| settings.limits.enabled = limits)
}

/// The application on a fresh data directory, with settings changed by `configure`.
pub fn fixture_with(configure: impl FnOnce(&mut Settings)) -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.storage.data_dir = dir.path().join("data");
    settings.limits.roles.admin = portcullis::limits::RateSpec::parse("1000000/s").unwrap();
    configure(&mut settings);
    let router = runtime.block_on(async {
        let app = Application::build(settings, Arc::new(SystemClock), EnvKeys::none())
            .await
            .unwrap();
        app.router().unwrap()
    });
    let key = std::fs::read_to_string(dir.path().join("data").join(INITIAL_ADMIN_KEY_FILE))
        .unwrap()
        .trim()
        .to_owned();
    Fixture {
        runtime,
        router,
        key,
        _dir: dir,
    }
}

/// `GET path`, with the key if given, from 127.0.0.1.
pub fn request(path: &str, key: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path).header("host", "localhost");
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    request
}

/// Run one request to the end (body read); its status.
pub fn call(f: &Fixture, path: &str, key: Option<&str>) -> u16 {
    let response = f
        .runtime
        .block_on(f.router.clone().oneshot(request(path, key)))
        .unwrap();
    let status = response.status().as_u16();
    let _ = f
        .runtime
        .block_on(axum::body::to_bytes(response.into_body(), 1 << 16));
    status
}

/// `POST path` with a JSON body, from 127.0.0.1; its status.
pub fn post_json(f: &Fixture, path: &str, body: &str) -> u16 {
    let mut request = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let response = f
        .runtime
        .block_on(f.router.clone().oneshot(request))
        .unwrap();
    let status = response.status().as_u16();
    let _ = f
        .runtime
        .block_on(axum::body::to_bytes(response.into_body(), 1 << 16));
    status
}
