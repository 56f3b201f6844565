//! Instructions per request, for a comparison that machine noise cannot blur: run the same
//! route N times through the whole application (middleware, routing, authentication, limits,
//! handler), in-process, under `valgrind --tool=callgrind`, and subtract a run with N = 0.
//!
//! ```sh
//! cargo build --release --example request_cost
//! scripts/request_cost.sh            # healthz and whoami, 2,000 requests each
//! ```
//!
//! Usage: `request_cost <healthz|whoami> <count> [logged]`. With `logged`, the process logs
//! at `info` to a file as a server with an access log does, so the difference between the two
//! counts is what an access line costs (the writer thread's work included).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/common/app.rs"]
mod app;

fn main() {
    let mut args = std::env::args().skip(1);
    let route = args.next().unwrap_or_else(|| "healthz".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let logs = tempfile::tempdir().unwrap();
    let _guard = (args.next().as_deref() == Some("logged")).then(|| {
        let settings = portcullis::config::LoggingSettings {
            log_file: Some(logs.path().join("portcullis.log")),
            ..Default::default()
        };
        portcullis::telemetry::init(&settings).unwrap()
    });
    let f = app::fixture(true);
    let key = f.key.clone();
    let (path, key) = match route.as_str() {
        "whoami" => ("/api/whoami", Some(key.as_str())),
        _ => ("/healthz", None),
    };
    // One request outside the count: the key is verified and cached, as in a running server.
    for _ in 0..=count {
        assert_eq!(app::call(&f, path, key), 200);
    }
}
