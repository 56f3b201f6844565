//! The real binary: first start, environment keys, the CLI on a live store, graceful shutdown,
//! configuration errors, and logs that never hold a key.

use crate::helpers::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const ADMIN_ENV: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const USER_ENV: &str = "b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const DEVICE_ENV: &str = "c1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn get(address: &str, path: &str, key: &str) -> (u16, Value) {
    raw::request(address, "GET", path, &[("X-API-Key", key)], "")
}

pub(crate) mod raw {
    //! A tiny blocking HTTP/1.1 client over std, so these tests need no second runtime.
    use serde_json::Value;
    use std::io::{Read, Write};

    pub fn request(
        address: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let host = address.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status: u16 = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

#[test]
fn first_start_writes_the_admin_key_with_mode_0600_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("portcullis.log");
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap()),
            ("PORTCULLIS_LOGGING__LEVEL", "debug"),
        ],
    );
    let key_file = dir.path().join("data").join("initial-admin.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let admin = server.admin_key();
    let (status, body) = get(&server.address, "/api/whoami", &admin);
    assert_eq!(status, 200);
    assert_eq!(body["role"], "admin");

    // Refusals are logged with the public prefix of the key, the client and the route.
    let wrong = format!("{}{}", &admin[..20], "x".repeat(admin.len() - 20));
    let forged_id = format!("pcl_{}", &admin[4..16]);
    assert_eq!(get(&server.address, "/api/whoami", &wrong).0, 401);
    assert_eq!(
        get(&server.address, "/api/keys", "some-legacy-secret-value").0,
        401
    );

    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let logs = all_text_under(&dir.path().join("logs"));
    assert!(logs.contains("initial-admin.key"), "the path is logged");
    assert!(!logs.contains(&admin), "the admin key reached the log");
    assert!(
        !logs.contains(&admin[17..61]),
        "the secret part of the key reached the log"
    );
    assert!(
        !logs.contains(&wrong[17..]),
        "a presented key reached the log"
    );
    assert!(
        !logs.contains("some-legacy-secret-value"),
        "a presented legacy key reached the log"
    );
    let refusal = logs
        .lines()
        .find(|l| l.contains("authentication refused") && l.contains("route=/api/keys"))
        .expect("refusal logged");
    assert!(refusal.contains("client=127.0.0.1"), "{refusal}");
    assert!(
        logs.lines().any(|l| l.contains("authentication refused")
            && l.contains(&format!("key_prefix={forged_id}"))),
        "{}",
        logs.lines()
            .filter(|l| l.contains("refused"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Daily rotation: the file carries the date.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("portcullis.log.20")),
        "{names:?}"
    );
}

#[test]
fn a_second_start_reuses_the_store_and_writes_no_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = ServerProcess::start(dir.path(), &[]);
    let admin = first.admin_key();
    first.signal("TERM");
    first.wait(Duration::from_secs(10));
    let second = ServerProcess::start(dir.path(), &[]);
    assert_eq!(second.admin_key(), admin);
    assert_eq!(get(&second.address, "/api/whoami", &admin).0, 200);
}

#[test]
fn environment_keys_authenticate_with_their_roles_and_are_written_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("portcullis.log");
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("ADMIN_API_KEY", ADMIN_ENV),
            ("USER_API_KEY", USER_ENV),
            ("TERMUX_API_KEY", DEVICE_ENV),
            ("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap()),
        ],
    );
    for (key, role, owner) in [
        (ADMIN_ENV, "admin", "ADMIN_API_KEY"),
        (USER_ENV, "user", "USER_API_KEY"),
        (DEVICE_ENV, "device", "TERMUX_API_KEY"),
    ] {
        let (status, body) = get(&server.address, "/api/whoami", key);
        assert_eq!(status, 200);
        assert_eq!(body["role"], role);
        assert_eq!(body["owner"], owner);
        assert_eq!(body["source"], "environment");
    }
    assert_eq!(get(&server.address, "/api/keys", ADMIN_ENV).0, 200);
    let (status, body) = get(&server.address, "/api/keys", USER_ENV);
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Admin role required"))
    );
    let (status, _) = get(&server.address, "/api/keys", DEVICE_ENV);
    assert_eq!(status, 403);
    server.signal("TERM");
    server.wait(Duration::from_secs(10));
    let everything = all_text_under(dir.path());
    for key in [ADMIN_ENV, USER_ENV, DEVICE_ENV] {
        assert!(
            !everything.contains(key),
            "an environment key was written to disk"
        );
    }
}

#[test]
fn a_weak_environment_key_stops_the_start_naming_the_variable_only() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path())
        .args(["serve", "--port", "0"])
        .env("USER_API_KEY", "hunter2")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("USER_API_KEY must be at least 32"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
}

#[test]
fn the_cli_manages_keys_on_the_store_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &[("PORTCULLIS_AUTH__REFRESH_INTERVAL", "100ms")],
    );
    let (ok, stdout, stderr) = cli(
        dir.path(),
        &[
            "keys",
            "create",
            "--owner",
            "App 1",
            "--owner-kind",
            "app",
            "--role",
            "user",
            "--json",
        ],
    );
    assert!(ok, "{stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, body) = get(&server.address, "/api/whoami", &key);
    assert_eq!((status, body["owner"].as_str()), (200, Some("App 1")));

    let (ok, stdout, _) = cli(dir.path(), &["keys", "list", "--owner", "App 1", "--json"]);
    assert!(ok);
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listing["keys"][0]["id"], id);
    assert!(!stdout.contains(&key));

    let (ok, stdout, _) = cli(dir.path(), &["keys", "show", &id]);
    assert!(ok);
    assert!(stdout.contains("state:        active"), "{stdout}");

    let (ok, _, _) = cli(dir.path(), &["keys", "revoke", &id]);
    assert!(ok);
    // The server notices within its refresh interval, without a restart.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&server.address, "/api/whoami", &key).0 != 401 {
        assert!(
            Instant::now() < deadline,
            "revocation by the CLI was not noticed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, _, stderr) = cli(dir.path(), &["keys", "rotate", &id]);
    assert!(!ok);
    assert!(
        stderr.contains("a revoked key cannot be rotated"),
        "{stderr}"
    );
}

#[test]
fn the_cli_rotates_and_prints_the_new_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, _) = cli(
        dir.path(),
        &[
            "keys",
            "create",
            "--owner",
            "svc",
            "--role",
            "device",
            "--expires-in",
            "90d",
        ],
    );
    assert!(ok);
    let key = stdout.trim().to_owned();
    assert!(key.starts_with("pcl_"));
    let id = &key[4..16];
    let (ok, stdout, stderr) = cli(
        dir.path(),
        &["keys", "rotate", id, "--grace", "1h", "--json"],
    );
    assert!(ok, "{stderr}");
    let rotated: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rotated["previous"]["id"], id);
    assert_eq!(rotated["previous"]["state"], "active");
    assert_eq!(rotated["role"], "device");
    let (ok, stdout, _) = cli(dir.path(), &["keys", "list", "--state", "active"]);
    assert!(ok);
    assert_eq!(stdout.lines().count(), 3, "header and two keys: {stdout}");
}

#[test]
fn keys_generate_prints_64_hex_characters_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, _) = cli(dir.path(), &["keys", "generate"]);
    assert!(ok);
    let key = stdout.trim();
    assert_eq!(key.len(), 64);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        !dir.path().join("data").exists(),
        "generate must not touch the store"
    );
}

/// Run `command` to its end, killing it (and failing) if it is still running after `limit`.
fn output_within(command: &mut std::process::Command, limit: Duration) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &id.to_string()])
                .status();
            panic!("still running after {limit:?}: it should have refused to start");
        }
    }
}

#[test]
fn an_unknown_config_key_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nhost = \"127.0.0.1\"\nprot = 9000\n",
    )
    .unwrap();
    // `--port 0`: were the settings wrongly accepted, the server would start on a free port
    // (and be killed), never take 8080 from someone else or wait there.
    let output = output_within(
        command(dir.path()).args(["--config", "bad.toml", "serve", "--port", "0"]),
        Duration::from_secs(20),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("prot"), "{stderr}");

    let output = output_within(
        command(dir.path())
            .args(["serve", "--port", "0"])
            .env("PORTCULLIS_LIMITS__MAX_BODY", "5"),
        Duration::from_secs(20),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_body"));
}

#[test]
fn settings_come_from_the_file_then_the_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        "[storage]\ndata_dir = \"from-file\"\n[limits]\nmax_body_bytes = 10\n",
    )
    .unwrap();
    let server = ServerProcess::start(dir.path(), &[("PORTCULLIS_LIMITS__MAX_BODY_BYTES", "20")]);
    assert!(
        dir.path()
            .join("from-file")
            .join("initial-admin.key")
            .exists()
    );
    let admin =
        std::fs::read_to_string(dir.path().join("from-file").join("initial-admin.key")).unwrap();
    let body = "{\"owner\":\"abcdefghi\",\"role\":\"user\"}";
    let (status, _) = raw::request(
        &server.address,
        "POST",
        "/api/keys",
        &[
            ("X-API-Key", admin.trim()),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!(
        status, 413,
        "the environment's 20 bytes beat the file's 10, and the body is 35"
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let log = logs.join("portcullis.log");
    let mut server = ServerProcess::start(
        dir.path(),
        &[("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap())],
    );
    let admin = server.admin_key();
    let host = server.address.trim_start_matches("http://").to_owned();
    let body = "{\"owner\":\"late\",\"role\":\"user\"}";
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // `Expect: 100-continue`: the server says "100 Continue" when the handler starts reading
    // the body, so the test knows the request is in flight, without guessing a pause.
    write!(stream, "POST /api/keys HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {admin}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    server.signal("TERM");
    wait_for_log(&logs, "shutting down: finishing in-flight requests", 1);
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(server.wait(Duration::from_secs(10)).success());
    // The key created during shutdown survived it.
    let (ok, stdout, _) = cli(dir.path(), &["keys", "list", "--owner", "late", "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_key_created_just_before_kill_9_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let admin = server.admin_key();
    let (status, body) = raw::request(
        &server.address,
        "POST",
        "/api/keys",
        &[("X-API-Key", &admin), ("Content-Type", "application/json")],
        "{\"owner\":\"durable\",\"role\":\"user\"}",
    );
    assert_eq!(status, 201);
    server.signal("KILL");
    server.wait(Duration::from_secs(5));
    let restarted = ServerProcess::start(dir.path(), &[]);
    let (status, who) = get(
        &restarted.address,
        "/api/whoami",
        body["key"].as_str().unwrap(),
    );
    assert_eq!((status, who["owner"].as_str()), (200, Some("durable")));
}

#[test]
fn session_tokens_csrf_tokens_and_keys_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("portcullis.log");
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap()),
            ("PORTCULLIS_LOGGING__LEVEL", "trace"),
        ],
    );
    let admin = server.admin_key();
    let body = format!("{{\"username\":\"admin\",\"key\":\"{admin}\"}}");
    let (status, login) = raw::request(
        &server.address,
        "POST",
        "/user/login",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(status, 200);
    let token = login["session"].as_str().unwrap().to_owned();
    let csrf = login["csrf_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        raw::request(
            &server.address,
            "GET",
            "/api/whoami",
            &[("Authorization", &bearer)],
            ""
        )
        .0,
        200
    );
    let cookie = format!("portcullis_session={token}");
    assert_eq!(
        raw::request(
            &server.address,
            "POST",
            "/api/keys",
            &[
                ("Cookie", &cookie),
                ("X-CSRF-Token", &csrf),
                ("Content-Type", "application/json")
            ],
            "{\"owner\":\"o\",\"role\":\"user\"}"
        )
        .0,
        201
    );
    let wrong = format!("{}{}", &token[..token.len() - 8], "00000000");
    assert_eq!(
        raw::request(
            &server.address,
            "GET",
            "/api/whoami",
            &[("Authorization", &format!("Bearer {wrong}"))],
            ""
        )
        .0,
        401
    );
    assert_eq!(
        raw::request(
            &server.address,
            "POST",
            "/user/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "username=admin&key=hunter2hunter2hunter2hunter2"
        )
        .0,
        401
    );
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let logs = all_text_under(dir.path()).replace(&all_text_under(&dir.path().join("data")), "");
    assert!(logs.contains("login refused"), "the log was written");
    for secret in [
        &token[21..],
        &wrong[21..],
        csrf.as_str(),
        &admin[17..61],
        "hunter2hunter2",
    ] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

#[test]
fn the_access_log_names_route_status_client_and_request_id_but_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("portcullis.log");
    let mut server = ServerProcess::start(
        dir.path(),
        &[("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap())],
    );
    let json = [("Content-Type", "application/json")];
    let (status, created) = raw::request(
        &server.address,
        "POST",
        "/",
        &json,
        "{\"message\":\"body-secret-xyz\"}",
    );
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let token = created["delete_token"].as_str().unwrap().to_owned();
    let (status, _) = raw::request(
        &server.address,
        "GET",
        &format!("/msg/{id}?token=query-secret-abc"),
        &[("X-Request-Id", "access-test-1")],
        "",
    );
    assert_eq!(status, 200);
    let (status, _) = raw::request(
        &server.address,
        "PUT",
        "/",
        &[("X-Request-Id", "access-test-2")],
        "",
    );
    assert_eq!(status, 405);
    let (status, _) = raw::request(
        &server.address,
        "GET",
        "/no/such/path?key=another-secret",
        &[("X-Request-Id", "access-test-3")],
        "",
    );
    assert_eq!(status, 404);
    let admin = server.admin_key();
    let (status, whoami) = raw::request(
        &server.address,
        "GET",
        "/api/whoami",
        &[
            ("X-API-Key", admin.as_str()),
            ("X-Request-Id", "access-test-4"),
        ],
        "",
    );
    assert_eq!(status, 200);
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());

    // Rotated daily: today's file is `portcullis.log.YYYY-MM-DD` (UTC).
    let today = time::OffsetDateTime::now_utc().date();
    let name = format!(
        "portcullis.log.{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    let logs = std::fs::read_to_string(dir.path().join("logs").join(&name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let line = |request_id: &str| {
        logs.lines()
            .find(|l| l.contains("portcullis::access") && l.contains(request_id))
            .unwrap_or_else(|| panic!("no access line for {request_id}:\n{logs}"))
            .to_owned()
    };
    let read = line("request_id=access-test-1");
    for part in [
        "method=GET",
        "route=/msg/{id}",
        "status=200",
        "client=127.0.0.1",
        "latency_ms=",
    ] {
        assert!(read.contains(part), "{part} missing from {read}");
    }
    let refused = line("request_id=access-test-2");
    assert!(
        refused.contains("method=PUT route=/ status=405"),
        "{refused}"
    );
    let unmatched = line("request_id=access-test-3");
    assert!(
        unmatched.contains("route=<unmatched> status=404"),
        "{unmatched}"
    );
    assert!(unmatched.ends_with("key_id=- owner_id=-"), "{unmatched}");
    // An authenticated request names the key by its public id and its owner, never the key.
    let known = line("request_id=access-test-4");
    assert!(
        known.ends_with(&format!(
            "key_id={} owner_id={}",
            whoami["key_id"].as_str().unwrap(),
            whoami["owner_id"].as_str().unwrap()
        )),
        "{known}"
    );
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("portcullis::access"))
            .count(),
        5
    );
    for secret in [
        admin.as_str(),
        id.as_str(),
        token.as_str(),
        "body-secret-xyz",
        "query-secret-abc",
        "another-secret",
        "/no/such/path",
    ] {
        assert!(!logs.contains(secret), "{secret} reached the log");
    }
}

#[test]
fn messages_posted_and_burned_just_before_kill_9_stay_that_way() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let json = [("Content-Type", "application/json")];
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body) = raw::request(
            &server.address,
            "POST",
            "/",
            &json,
            &format!("{{\"message\":\"durable {i}\"}}"),
        );
        assert_eq!(status, 201);
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (_, burn) = raw::request(
        &server.address,
        "POST",
        "/",
        &json,
        "{\"message\":\"once\",\"burn_after_reading\":true}",
    );
    let burn = burn["id"].as_str().unwrap().to_owned();
    let (status, _) = raw::request(&server.address, "GET", &format!("/msg/{burn}"), &[], "");
    assert_eq!(status, 200);
    server.signal("KILL");
    server.wait(Duration::from_secs(5));

    let restarted = ServerProcess::start(dir.path(), &[]);
    for (i, id) in ids.iter().enumerate() {
        let (status, body) =
            raw::request(&restarted.address, "GET", &format!("/msg/{id}"), &[], "");
        assert_eq!(status, 200);
        assert_eq!(body["message"], format!("durable {i}"));
    }
    // The read that burned it was answered, so it stays burned.
    let (status, _) = raw::request(&restarted.address, "GET", &format!("/msg/{burn}"), &[], "");
    assert_eq!(status, 404);
}

/// Every file and directory under `dir` with its permission bits.
fn modes_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        out.push((path.clone(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            out.extend(modes_under(&path));
        }
    }
    out
}

#[test]
fn everything_the_server_keeps_on_disk_is_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    // Left readable by an older version or a careless copy: tightened at start.
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("stray"), "x").unwrap();
    std::fs::set_permissions(data.join("stray"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let logs = dir.path().join("logs");
    let log = logs.join("portcullis.log");
    let mut server = ServerProcess::start_with_umask(
        dir.path(),
        "000",
        &[("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap())],
    );
    let admin = server.admin_key();
    let (status, _) = raw::request(
        &server.address,
        "POST",
        "/api/keys",
        &[("X-API-Key", &admin), ("Content-Type", "application/json")],
        r#"{"owner":"o","role":"user"}"#,
    );
    assert_eq!(status, 201);
    // Checked while it runs (the WAL exists then; a clean stop folds it back) and after.
    let check = |names: &[&str]| {
        let mut seen = modes_under(&data);
        seen.extend(modes_under(&logs));
        for dir in [&data, &logs] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            seen.push((dir.clone(), mode));
        }
        for name in names {
            assert!(
                seen.iter().any(|(p, _)| p.ends_with(name)),
                "{name} missing: {seen:?}"
            );
        }
        for (path, mode) in &seen {
            let wanted = if path.is_dir() { 0o700 } else { 0o600 };
            assert_eq!(*mode, wanted, "{}", path.display());
        }
    };
    check(&[
        "portcullis.db",
        "portcullis.db-wal",
        "portcullis.db-shm",
        "audit.key",
        "session.key",
    ]);
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    check(&[
        "portcullis.db",
        "audit.key",
        "session.key",
        "audit.checkpoint",
    ]);
    let logged = all_text_under(&logs);
    assert!(
        logged.contains("was readable by other users; made private"),
        "the tightening is reported"
    );
}

#[test]
fn keys_bootstrap_prints_the_first_admin_key_once_instead_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = cli(dir.path(), &["keys", "bootstrap"]);
    assert!(ok, "{stderr}");
    let key = stdout.lines().next().unwrap().trim().to_owned();
    assert!(key.starts_with("pcl_"), "{stdout}");
    let (ok, _, stderr) = cli(dir.path(), &["keys", "bootstrap"]);
    assert!(!ok, "a second bootstrap is refused");
    assert!(stderr.contains("already has keys"), "{stderr}");
    // The server then starts on a store that has a key, and writes no file.
    let server = ServerProcess::start(dir.path(), &[]);
    assert!(!dir.path().join("data").join("initial-admin.key").exists());
    let (status, body) = get(&server.address, "/api/whoami", &key);
    assert_eq!(status, 200);
    assert_eq!(body["role"], "admin");
}

/// The system calls of `portcullis <args>` in `dir` that touch files, as strace prints
/// them (`pid call(args) = result`), or `None` when strace is missing (then the test says so,
/// and fails under CI).
fn traced(dir: &std::path::Path, args: &[&str]) -> Option<Vec<String>> {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is missing, and under CI every test must run"
        );
        eprintln!("NOT RUN: fsync tracing — install strace (apt-get install strace) to run it");
        return None;
    }
    let trace = dir.join("strace.txt");
    let status = std::process::Command::new("strace")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args([
            "-f",
            "-e",
            "trace=openat,fsync,fdatasync,rename,renameat,renameat2",
            "-o",
        ])
        .arg(&trace)
        .arg(binary())
        .args(args)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(
        std::fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// `(pid, fd)` from a line such as `123 openat(AT_FDCWD, "x", …) = 5` whose text holds `path`.
fn opened(lines: &[String], path: &str) -> Vec<(usize, String, String)> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("openat(") && l.contains(path) && !l.contains("= -1"))
        .map(|(i, l)| {
            let pid = l.split_whitespace().next().unwrap().to_owned();
            let fd = l.rsplit("= ").next().unwrap().trim().to_owned();
            (i, pid, fd)
        })
        .collect()
}

/// Whether, after line `from`, process `pid` syncs file descriptor `fd`.
fn synced_after(lines: &[String], from: usize, pid: &str, fd: &str) -> Option<usize> {
    lines.iter().enumerate().skip(from + 1).find_map(|(i, l)| {
        let ours = l.starts_with(&format!("{pid} "));
        let call = l.contains(&format!("fsync({fd})")) || l.contains(&format!("fdatasync({fd})"));
        (ours && call).then_some(i)
    })
}

#[test]
fn writes_are_synced_to_disk_before_they_are_acknowledged() {
    // kill -9 cannot show a missing fsync (the page cache outlives the process), so the
    // system calls are read instead: strace records what the binary asks of the kernel.
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());

    // The durable writer (config files, key files): for each file, the temporary file is
    // synced, renamed over the old one, and the directory synced before anything else is
    // written — `jose rotate` writes two files this way, previous.pem then current.pem.
    let Some(lines) = traced(dir.path(), &["jose", "rotate"]) else {
        return;
    };
    for name in ["previous.pem", "current.pem"] {
        let (open_at, pid, fd) = opened(&lines, &format!("data/envelope/.{name}."))
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{name} is written to a temporary file"));
        let synced =
            synced_after(&lines, open_at, &pid, &fd).unwrap_or_else(|| panic!("{name}: synced"));
        let renamed = lines
            .iter()
            .enumerate()
            .skip(synced)
            .find(|(_, l)| {
                l.contains("rename(") && l.contains(&format!("\"data/envelope/{name}\""))
            })
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("{name}: then renamed into place"));
        // Up to the next temporary file (or the end), the directory must be synced.
        let next_write = lines
            .iter()
            .enumerate()
            .skip(renamed + 1)
            .find(|(_, l)| l.contains("O_CREAT"))
            .map_or(lines.len(), |(i, _)| i);
        let span = &lines[renamed..next_write];
        assert!(
            opened(span, "\"data/envelope\"")
                .iter()
                .any(|(i, p, f)| synced_after(span, *i, p, f).is_some()),
            "{name}: the directory is synced after the rename, so it survives a power cut: {span:#?}"
        );
    }

    // The store: a key created from the CLI is in the synced WAL before the command reports it.
    let Some(lines) = traced(
        dir.path(),
        &["keys", "create", "--owner", "o", "--role", "user"],
    ) else {
        return;
    };
    let wal = opened(&lines, "portcullis.db-wal");
    assert!(!wal.is_empty(), "the WAL is opened");
    assert!(
        wal.iter()
            .any(|(at, pid, fd)| synced_after(&lines, *at, pid, fd).is_some()),
        "the WAL is synced (synchronous = FULL): {:#?}",
        lines
            .iter()
            .filter(|l| l.contains("sync"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_plain_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs").join("p.log");
    let admin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap()),
            ("PORTCULLIS_LOGGING__FORMAT", "json"),
            ("ADMIN_API_KEY", admin),
        ],
    );
    let (status, _) = raw::request(
        &server.address,
        "GET",
        "/api/whoami",
        &[("X-API-Key", admin), ("X-Request-Id", "json-log-1")],
        "",
    );
    assert_eq!(status, 200);
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let logs = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(!logs.contains(admin), "the key reached the log");
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let env = lines
        .iter()
        .find(|l| l["message"] == "accepting a key from the environment")
        .unwrap_or_else(|| panic!("no environment line:\n{logs}"));
    assert_eq!(env["variable"], "ADMIN_API_KEY");
    let access = lines
        .iter()
        .find(|l| l["request_id"] == "json-log-1")
        .unwrap_or_else(|| panic!("no access line:\n{logs}"));
    assert_eq!(access["target"], "portcullis::access");
    assert_eq!(access["route"], "/api/whoami");
    assert_eq!(access["status"], 200);
    assert_eq!(access["key_id"], "ADMIN_API_KEY");
}
