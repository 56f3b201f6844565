//! `GET /metrics`: counts that match what happened, behind `metrics.read`, or on a private
//! listener without a key. The real binary in a child process: the metrics are the
//! process's own, so a fresh process counts only this test's requests.

use crate::helpers::*;
use crate::process::raw;
use serde_json::json;
use std::io::{Read, Write};

/// `GET path` with optional headers: status, headers (lower-case names) and body as text.
fn fetch(address: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The value of the sample written exactly as `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

fn create(server: &ServerProcess, admin: &str, role: &str) -> String {
    let (status, body) = raw::request(
        &server.address,
        "POST",
        "/api/keys",
        &[("X-API-Key", admin), ("Content-Type", "application/json")],
        &json!({"owner": format!("{role} owner"), "role": role}).to_string(),
    );
    assert_eq!(status, 201);
    body["key"].as_str().unwrap().to_owned()
}

#[test]
fn the_counts_are_what_happened_and_only_metrics_read_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let admin = server.admin_key();
    let monitor = create(&server, &admin, "monitor");
    let user = create(&server, &admin, "user");
    for _ in 0..3 {
        assert_eq!(
            raw::request(
                &server.address,
                "GET",
                "/api/whoami",
                &[("X-API-Key", &user)],
                ""
            )
            .0,
            200
        );
    }
    let bad = "not-a-key-but-long-enough-to-be-looked-up";
    assert_eq!(
        raw::request(
            &server.address,
            "GET",
            "/api/whoami",
            &[("X-API-Key", bad)],
            ""
        )
        .0,
        401
    );
    assert_eq!(fetch(&server.address, "/no/such/path/3k9x", &[]).0, 404);
    assert_eq!(
        raw::request(
            &server.address,
            "GET",
            "/api/keys",
            &[("X-API-Key", &user)],
            ""
        )
        .0,
        403
    );
    // The message drop: one burn-after-reading message posted and read.
    let (status, posted) = raw::request(
        &server.address,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        &json!({"message": "once", "burn_after_reading": true}).to_string(),
    );
    assert_eq!(status, 201);
    let url = posted["url"].as_str().unwrap();
    assert_eq!(raw::request(&server.address, "GET", url, &[], "").0, 200);

    // Only metrics.read may look.
    let (status, _, body) = fetch(&server.address, "/metrics", &[("X-API-Key", &user)]);
    assert_eq!(status, 403);
    assert!(body.contains("Monitor role required"), "{body}");
    assert_eq!(fetch(&server.address, "/metrics", &[]).0, 401);

    let (status, head, text) = fetch(&server.address, "/metrics", &[("X-API-Key", &monitor)]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let requests = |route: &str, status: u16| {
        sample(
            &text,
            &format!(
                "portcullis_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("/api/whoami", 200), Some(3.0), "{text}");
    assert_eq!(requests("/api/whoami", 401), Some(1.0));
    assert_eq!(requests("/api/keys", 403), Some(1.0));
    assert_eq!(requests("<unmatched>", 404), Some(1.0));
    assert_eq!(requests("/msg/{id}", 200), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "portcullis_http_request_duration_seconds_count{route=\"/api/whoami\"}"
        ),
        Some(4.0)
    );
    // Authenticated: 2 key creations, 3 whoami, the 403, the 403 and 401 of /metrics
    // (one authenticated), this scrape.
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_outcomes_total{outcome=\"success\",reason=\"api_key\"}"
        ),
        Some(8.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_outcomes_total{outcome=\"refused\",reason=\"unknown_key\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_auth_outcomes_total{outcome=\"refused\",reason=\"missing\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_rate_limit_decisions_total{limit=\"key\",decision=\"allowed\"}"
        ),
        Some(8.0)
    );
    assert_eq!(
        sample(&text, "portcullis_messages_total{event=\"posted\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "portcullis_messages_total{event=\"burned\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "portcullis_messages_live"), Some(0.0));
    assert_eq!(sample(&text, "portcullis_redis_configured"), Some(0.0));
    assert!(
        sample(&text, "portcullis_audit_records_written_total").unwrap() >= 2.0,
        "{text}"
    );
    assert!(sample(&text, "portcullis_store_pool_connections{state=\"idle\"}").is_some());
    // Never a key, a raw path, an address or a message id in a label.
    for secret in [
        user.as_str(),
        monitor.as_str(),
        bad,
        "/no/such",
        "127.0.0.1",
        url,
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}

#[test]
fn a_private_listener_serves_metrics_without_a_key_and_the_api_can_turn_them_off() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("PORTCULLIS_METRICS__LISTEN", listen.as_str()),
            ("PORTCULLIS_METRICS__ENABLED", "false"),
        ],
    );
    let private = format!("http://{listen}");
    let (status, head, text) = fetch(&private, "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    assert!(
        text.contains("# TYPE portcullis_audit_records_written counter"),
        "{text}"
    );
    // The scrape itself is counted, by its route.
    let (_, _, text) = fetch(&private, "/metrics", &[]);
    assert_eq!(
        sample(
            &text,
            "portcullis_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // Nothing else there, and nothing on the API.
    let (status, _, body) = fetch(&private, "/api/whoami", &[]);
    assert_eq!(status, 404);
    assert!(body.contains("\"error\":\"Not found\""), "{body}");
    let admin = server.admin_key();
    assert_eq!(
        fetch(&server.address, "/metrics", &[("X-API-Key", &admin)]).0,
        404
    );
    // Without a key, the listener is limited per address like any route without one
    // (limits.per_address, 60/min burst 20): a flood of scrapes does not become store load.
    let statuses: Vec<u16> = (0..30)
        .map(|_| fetch(&private, "/metrics", &[]).0)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let (status, head, _) = fetch(&private, "/metrics", &[]);
    assert_eq!(status, 429);
    assert!(head.contains("retry-after: "), "{head}");
}

#[test]
fn a_metrics_listener_beyond_loopback_must_be_allowed_in_so_many_words() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = {
        let output = command(dir.path())
            .args(["serve", "--port", "0"])
            .env("PORTCULLIS_METRICS__LISTEN", "0.0.0.0:0")
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert!(!ok);
    assert_eq!(
        stderr,
        "portcullis: configuration error in the environment (PORTCULLIS_METRICS__LISTEN): \
         `metrics.listen`: 0.0.0.0:0 is not a loopback address, and /metrics there needs no key; \
         use 127.0.0.1, or set metrics.allow_remote = true if that network is private\n"
    );
}
