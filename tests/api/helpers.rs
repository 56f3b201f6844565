//! Starting servers for tests: in-process with an injected clock (`spawn_app`), or as the real
//! binary in a child process (`ServerProcess`) where signals, environment keys, the CLI and
//! log files are under test. Logs are silent unless `TEST_LOG` is set.

#![allow(dead_code)]

use portcullis::auth::EnvKeys;
use portcullis::clock::ManualClock;
use portcullis::config::{LoggingSettings, Settings};
use portcullis::startup::{Application, INITIAL_ADMIN_KEY_FILE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::Duration;
use tempfile::TempDir;

static TRACING: Once = Once::new();

/// An in-process server.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub admin_key: String,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The PostgreSQL database of a server on that engine, dropped after the server stops.
    pub database: Option<crate::postgres::TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// An HTTP client. reqwest is built without a crypto provider of its own (ring is ours), so
/// the process default must be installed before any client is made, as the binary does.
pub fn client() -> reqwest::Client {
    client_builder().build().expect("client")
}

/// A client builder, with the crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    portcullis::tls::install_crypto_provider();
    reqwest::Client::builder()
}

/// Settings for a test server in `dir`: port 0, quick refresh.
pub fn test_settings(dir: &Path) -> Settings {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.shutdown_grace = Duration::from_secs(2);
    settings.storage.data_dir = dir.join("data");
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_full(configure, EnvKeys::none()).await
}

pub async fn spawn_app_full(configure: impl FnOnce(&mut Settings), env: EnvKeys) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let logging = LoggingSettings {
                level: "debug".into(),
                ..Default::default()
            };
            let guard = portcullis::telemetry::init(&logging).expect("telemetry");
            std::mem::forget(guard);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path());
    configure(&mut settings);
    let data_dir = settings.storage.data_dir.clone();
    let clock = Arc::new(ManualClock::new());
    let app = Application::build(settings, clock.clone(), env)
        .await
        .expect("build app");
    let address = format!("http://{}", app.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let admin_key = std::fs::read_to_string(data_dir.join(INITIAL_ADMIN_KEY_FILE))
        .expect("initial admin key")
        .trim()
        .to_owned();
    TestApp {
        address,
        client: client(),
        admin_key,
        clock,
        dir,
        shutdown: Some(tx),
        database: None,
    }
}

/// A created key: id and plaintext.
pub struct Key {
    pub id: String,
    pub key: String,
    pub body: Value,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send().await.expect("request")
    }

    /// `GET /api/whoami`, with `key` as `X-API-Key` when given: the suite's most used call.
    pub async fn whoami(&self, key: Option<&str>) -> Response {
        self.get("/api/whoami", key).await
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> Response {
        self.get("/healthz", None).await
    }

    pub async fn post_json(&self, path: &str, key: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send().await.expect("request")
    }

    pub async fn post(&self, path: &str, key: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        request.send().await.expect("request")
    }

    /// Create a key through the admin API.
    pub async fn create_key(&self, body: Value) -> Key {
        let response = self
            .post_json("/api/keys", Some(&self.admin_key), &body)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        Key {
            id: body["id"].as_str().expect("id").to_owned(),
            key: body["key"].as_str().expect("key").to_owned(),
            body,
        }
    }

    pub async fn key_with_role(&self, role: &str) -> Key {
        self.create_key(json!({ "owner": format!("{role} owner"), "role": role }))
            .await
    }

    /// Everything the store holds, as bytes to search for secrets: the SQLite files, or on
    /// PostgreSQL every row of every table as text (`bytea` as hex) followed by the
    /// database's files on disk when this process can read them (tests run as root).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        let Some(database) = &self.database else {
            let files = self.db_files();
            assert!(!files.is_empty(), "no database files");
            return files
                .iter()
                .flat_map(|f| std::fs::read(f).unwrap())
                .collect();
        };
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
        let mut bytes = Vec::new();
        let tables: Vec<String> = sqlx::query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("tablename"))
        .collect();
        assert!(tables.iter().any(|t| t == "api_keys"), "{tables:?}");
        for table in &tables {
            let sql = format!("SELECT t::text AS row FROM {table} t");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .unwrap()
            {
                bytes.extend(row.get::<String, _>("row").into_bytes());
            }
        }
        let place: (String, i64) = sqlx::query_as(
            "SELECT current_setting('data_directory'), oid::bigint FROM pg_database \
             WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
        let dir = Path::new(&place.0).join("base").join(place.1.to_string());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
            }
        }
        bytes
    }

    pub fn db_files(&self) -> Vec<PathBuf> {
        let data = self.dir.path().join("data");
        ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm"]
            .iter()
            .map(|f| data.join(f))
            .filter(|p| p.exists())
            .collect()
    }
}

/// The five OWASP headers, a JSON content type and a request id.
pub fn assert_hardened(response: &Response) {
    let headers = response.headers();
    let expect = [
        ("cache-control", "no-store"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-type", "application/json"),
    ];
    for (name, value) in expect {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "header {name} on {}",
            response.status()
        );
    }
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        !id.is_empty(),
        "x-request-id missing on {}",
        response.status()
    );
    assert!(
        headers.get("strict-transport-security").is_none(),
        "HSTS on plain HTTP"
    );
}

/// Assert status and exact JSON body.
/// Exact status, hardened headers, the stable `X-Error-Code` and the exact JSON body.
pub async fn assert_error(
    response: Response,
    status: StatusCode,
    code: &str,
    error: &str,
    message: &str,
) {
    assert_eq!(response.status(), status);
    assert_hardened(&response);
    assert_eq!(
        response
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok()),
        Some(code),
        "X-Error-Code"
    );
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body, json!({ "error": error, "message": message }));
}

/// Exact status, hardened headers and the stable `X-Error-Code`, for answers whose body is
/// checked elsewhere.
pub async fn assert_error_code(response: Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert_hardened(&response);
    assert_eq!(
        response
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok()),
        Some(code)
    );
}

pub async fn assert_401(response: Response) {
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some(r#"Bearer realm="portcullis""#)
    );
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "auth.required",
        "Authentication required",
        "Please provide valid API key",
    )
    .await;
}

pub async fn assert_403_admin(response: Response) {
    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "auth.forbidden",
        "Insufficient permissions",
        "Admin role required",
    )
    .await;
}

/// The real binary, in a child process.
pub struct ServerProcess {
    pub child: Child,
    pub address: String,
    pub dir: PathBuf,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_portcullis")
}

/// A command for the binary, run in `dir`, with a clean portcullis environment.
pub fn command(dir: &Path) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_string();
        if name.starts_with("PORTCULLIS_") || name.ends_with("_API_KEY") {
            command.env_remove(name);
        }
    }
    command
}

impl ServerProcess {
    /// Start `portcullis serve --port 0` in `dir` with extra environment.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let stderr = if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        Self::start_with(dir, &[], env, stderr)
    }

    /// Start `portcullis serve --port 0 <args>` in `dir`, stderr going to `stderr`.
    pub fn start_with(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> ServerProcess {
        let mut command = command(dir);
        command.args(["serve", "--port", "0"]).args(args);
        Self::spawn(dir, command, env, stderr)
    }

    /// Start `portcullis serve --port 0` in `dir` from a shell that first sets `umask`, as an
    /// operator's careless shell might.
    pub fn start_with_umask(dir: &Path, umask: &str, env: &[(&str, &str)]) -> ServerProcess {
        let clean = command(dir);
        let mut shell = Command::new("sh");
        shell.current_dir(dir);
        for (name, _) in clean.get_envs() {
            shell.env_remove(name);
        }
        shell.args([
            "-c",
            &format!("umask {umask} && exec \"$0\" serve --port 0"),
            binary(),
        ]);
        Self::spawn(dir, shell, env, Stdio::null())
    }

    fn spawn(
        dir: &Path,
        mut command: Command,
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> ServerProcess {
        command
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().expect("spawn portcullis");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let address = line
            .trim()
            .strip_prefix("portcullis listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        ServerProcess {
            child,
            address,
            dir: dir.to_owned(),
        }
    }

    pub fn admin_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("data").join(INITIAL_ADMIN_KEY_FILE))
            .expect("initial admin key")
            .trim()
            .to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the CLI in `dir`; returns (status, stdout, stderr).
pub fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = command(dir).args(args).output().expect("run cli");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every file under `dir`, concatenated, as lossy text.
pub fn all_text_under(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                text.push_str(&all_text_under(&path));
            } else if let Ok(bytes) = std::fs::read(&path) {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}

/// A logged-in session.
pub struct Session {
    pub token: String,
    pub id: String,
    pub csrf: String,
    pub cookie: Option<String>,
}

impl TestApp {
    /// Log in with JSON; panics unless it succeeds.
    pub async fn login(&self, username: &str, key: &str) -> Session {
        let response = self
            .post_json(
                "/user/login",
                None,
                &json!({"username": username, "key": key}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["success"], true);
        Session {
            token: body["session"].as_str().unwrap().to_owned(),
            id: body["session_id"].as_str().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            cookie,
        }
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
    }

    /// The audit events of `kind`, via the admin API.
    pub async fn audit_events(&self, kind: &str) -> Vec<Value> {
        let body: Value = self
            .get(
                &format!("/api/audit?kind={kind}&limit=500"),
                Some(&self.admin_key),
            )
            .await
            .json()
            .await
            .unwrap();
        body["events"].as_array().unwrap().clone()
    }

    /// Every refusal of `kind`, counting those aggregated into summaries: moves the clock past
    /// the aggregation window so the summaries are written, then waits until the records
    /// account for at least `n` refusals (a full record counts 1, a summary its `repeated`).
    pub async fn wait_for_refusals(&self, kind: &str, n: u64) -> Vec<Value> {
        self.clock.advance(Duration::from_secs(61));
        let mut events = Vec::new();
        for _ in 0..250 {
            events = self.audit_events(kind).await;
            let total: u64 = events
                .iter()
                .map(|e| e["extra"]["repeated"].as_u64().unwrap_or(1))
                .sum();
            if total >= n {
                assert_eq!(total, n, "more refusals than expected: {events:#?}");
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {n} refusals of kind {kind}: {events:#?}");
    }

    /// Wait until the background audit writer has written at least `n` events of `kind`.
    pub async fn wait_for_audit(&self, kind: &str, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            let events = self.audit_events(kind).await;
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {n} audit events of kind {kind}");
    }
}

/// Wait until the text of the files under `dir` (a log directory) holds `needle` at least
/// `count` times: for behaviour a test can only see in the log. Panics after 10 s.
pub fn wait_for_log(dir: &Path, needle: &str, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = all_text_under(dir).matches(needle).count();
        if seen >= count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "`{needle}` logged {seen} times, not {count}, within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send raw bytes and read until `until` appears in the body of the response, the server
/// closes the connection, or 5 s pass. A reset connection ends the reading like a close.
pub async fn raw_exchange(app: &TestApp, request: &[u8], until: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    // The server may answer and close before taking all of a hostile request.
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response);
        if text
            .split_once("\r\n\r\n")
            .is_some_and(|(_, b)| b.contains(until))
        {
            return text.into_owned();
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => {
                return String::from_utf8_lossy(&response).into_owned();
            }
            Ok(Ok(n)) => response.extend_from_slice(&buf[..n]),
        }
    }
}

/// The headers of a raw response, lower-cased names, as (name, value) pairs.
pub fn raw_headers(text: &str) -> Vec<(String, String)> {
    let head = text.split_once("\r\n\r\n").map_or(text, |(h, _)| h);
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// What `assert_hardened` checks, on a raw response.
pub fn assert_raw_hardened(text: &str) {
    let headers = raw_headers(text);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    for (name, value) in [
        ("cache-control", "no-store"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(get(name), Some(value), "{name} in {text}");
    }
    assert!(
        get("x-request-id").is_some_and(|id| !id.is_empty()),
        "{text}"
    );
}
