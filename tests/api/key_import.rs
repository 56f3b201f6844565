//! Keys issued by another system, imported by their hash: seed 000's Flask app stores
//! SHA-256 hex of 64-hex keys; its clients must keep sending the keys they have.

use crate::helpers::*;
use crate::process::raw;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Seed 000's key format: 64 hex characters (`secrets.token_hex(32)`).
const SEED_KEY: &str = "4f3c2b1a09f8e7d6c5b4a392817f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5";
/// Any visible ASCII string of 32 to 256 characters is accepted as a legacy key.
const LONG_KEY: &str = "legacy-key:with/symbols&more=40+chars!!";

fn sha256_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn sha256_b64(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(key.as_bytes()))
}

async fn import(app: &TestApp, keys: Value) -> reqwest::Response {
    app.post_json(
        "/api/keys/import",
        Some(&app.admin_key),
        &json!({ "keys": keys }),
    )
    .await
}

async fn key_count(app: &TestApp) -> usize {
    let page: Value = app
        .get("/api/keys?limit=200", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    page["keys"].as_array().unwrap().len()
}

#[tokio::test]
async fn imported_keys_work_as_they_did_and_are_keys_like_any_other() {
    let app = spawn_app().await;
    let response = import(
        &app,
        json!([
            {"hash": sha256_hex(SEED_KEY), "owner": "Phone app", "owner_kind": "app",
             "role": "user", "label": "from flask", "metadata": {"origin": "seed 000"}},
            {"hash": sha256_b64(LONG_KEY), "owner": "Ops", "role": "admin",
             "expires_at": "2030-01-01T00:00:00Z"},
        ]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_hardened(&response);
    let body: Value = response.json().await.unwrap();
    let imported = body["imported"].as_array().unwrap();
    assert_eq!(imported.len(), 2);
    let phone = &imported[0];
    assert_eq!(phone["source"], "imported");
    assert_eq!(phone["owner"], "Phone app");
    assert_eq!(phone["owner_kind"], "app");
    assert_eq!(phone["label"], "from flask");
    assert_eq!(phone["metadata"], json!({"origin": "seed 000"}));
    assert_eq!(phone["state"], "active");
    assert_eq!(imported[1]["expires_at"], "2030-01-01T00:00:00Z");
    assert!(
        !body.to_string().contains(&sha256_hex(SEED_KEY)),
        "no hash shown"
    );
    let id = phone["id"].as_str().unwrap().to_owned();

    // Accepted exactly as before, in either header.
    let who: Value = app.whoami(Some(SEED_KEY)).await.json().await.unwrap();
    assert_eq!(who["key_id"], id.as_str());
    assert_eq!(who["role"], "user");
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("Authorization", format!("Bearer {LONG_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "admin");
    // Seed 001's login works with it too.
    let session = app.login("Phone app", SEED_KEY).await;
    assert_eq!(
        app.get_bearer("/api/whoami", &session.token).await.status(),
        StatusCode::OK
    );
    // Listed and shown with its source; native keys say "issued".
    let shown: Value = app
        .get(&format!("/api/keys/{id}"), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["source"], "imported");
    let native = app.key_with_role("user").await;
    assert_eq!(native.body["source"], "issued");

    // Rotation issues one of ours; the old key stops at once.
    let response = app
        .post(&format!("/api/keys/{id}/rotate"), Some(&app.admin_key))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let rotated: Value = response.json().await.unwrap();
    let successor = rotated["key"].as_str().unwrap();
    assert!(successor.starts_with("pcl_"), "{successor}");
    assert_eq!(rotated["source"], "issued");
    assert_eq!(rotated["owner"], "Phone app");
    assert_eq!(rotated["label"], "from flask");
    assert_eq!(app.whoami(Some(successor)).await.status(), StatusCode::OK);
    assert_401(app.whoami(Some(SEED_KEY)).await).await;

    // Revocation of an imported key.
    let ops = imported[1]["id"].as_str().unwrap();
    let response = app
        .post(&format!("/api/keys/{ops}/revoke"), Some(&app.admin_key))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_401(app.whoami(Some(LONG_KEY)).await).await;
    let events = app.wait_for_audit("key.import", 2).await;
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn a_hash_is_imported_once() {
    let app = spawn_app().await;
    let entry = json!({"hash": sha256_hex(SEED_KEY), "owner": "A", "role": "user"});
    assert_eq!(
        import(&app, json!([entry.clone()])).await.status(),
        StatusCode::CREATED
    );
    let before = key_count(&app).await;
    // Again, with the hash in the other encoding and a new key beside it: nothing imported.
    let again = json!([
        {"hash": sha256_hex(LONG_KEY), "owner": "B", "role": "user"},
        {"hash": sha256_b64(SEED_KEY), "owner": "A", "role": "user"},
    ]);
    let response = import(&app, again).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_hardened(&response);
    assert_eq!(response.headers()["x-error-code"], "key.exists");
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("line 2: a key with this hash exists: "),
        "{message}"
    );
    assert_eq!(key_count(&app).await, before);
    assert_401(app.whoami(Some(LONG_KEY)).await).await;
    // Twice in one batch.
    let response = import(
        &app,
        json!([
            {"hash": sha256_hex(LONG_KEY), "owner": "B", "role": "user"},
            {"hash": sha256_hex(LONG_KEY).to_uppercase(), "owner": "C", "role": "user"},
        ]),
    )
    .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "line 2: the same hash as line 1",
    )
    .await;
    assert_eq!(key_count(&app).await, before);
}

#[tokio::test]
async fn a_bad_import_names_every_bad_line_and_writes_nothing() {
    let app = spawn_app().await;
    let before = key_count(&app).await;
    let response = import(
        &app,
        json!([
            {"hash": sha256_hex(SEED_KEY), "owner": "Fine", "role": "user"},
            {"hash": "abc", "owner": "A", "role": "user"},
            {"hash": sha256_hex(LONG_KEY), "owner": "A", "role": "root"},
            {"hash": sha256_hex("x".repeat(40).as_str()), "owner": "A", "role": "user",
             "expires_at": "tomorrow"},
            {"hash": sha256_hex("y".repeat(40).as_str()), "owner": "", "role": "user"},
        ]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    for expected in [
        "line 2: hash must be a SHA-256: 64 hex characters, or base64 of 32 bytes",
        "line 3: ",
        "line 4: expires_at must be an RFC 3339 time",
        "line 5: ",
    ] {
        assert!(message.contains(expected), "{expected} in {message}");
    }
    assert!(!message.contains("line 1"), "{message}");
    assert_eq!(key_count(&app).await, before);
    assert_401(app.whoami(Some(SEED_KEY)).await).await;

    for (body, status) in [
        (json!({"keys": []}), StatusCode::BAD_REQUEST),
        (
            json!({"keys": [{"hash": sha256_hex(SEED_KEY), "owner": "A", "role": "user",
                          "secret": "x"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"hash": sha256_hex(SEED_KEY)}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let response = app
            .post_json("/api/keys/import", Some(&app.admin_key), &body)
            .await;
        assert_eq!(response.status(), status, "{body}");
        assert_hardened(&response);
    }
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"hash": sha256_hex(&format!("key number {i:04} ................")), "owner": "A", "role": "user"}))
        .collect();
    let response = import(&app, Value::Array(many)).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "an import holds at most 1000 keys; send more in several requests",
    )
    .await;
    assert_eq!(key_count(&app).await, before);
    // Only admins import.
    let user = app.key_with_role("user").await;
    let response = app
        .post_json(
            "/api/keys/import",
            Some(&user.key),
            &json!({"keys": [{"hash": sha256_hex(SEED_KEY), "owner": "A", "role": "admin"}]}),
        )
        .await;
    assert_403_admin(response).await;
}

#[tokio::test]
async fn legacy_strings_too_short_to_import_are_refused_unread() {
    // A 31-character key cannot have been imported (32 is the floor), so it is refused
    // without a look-up, whatever hash was imported for it.
    let app = spawn_app().await;
    let short = "k".repeat(31);
    let response = import(
        &app,
        json!([{"hash": sha256_hex(&short), "owner": "A", "role": "user"}]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_401(app.whoami(Some(&short)).await).await;
}

#[test]
fn the_cli_imports_a_csv_or_json_lines_file_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    // The server first: it writes the first admin key only into an empty store.
    let server = ServerProcess::start(
        dir.path(),
        &[("PORTCULLIS_AUTH__REFRESH_INTERVAL", "100ms")],
    );
    let csv = dir.path().join("flask-keys.csv");
    std::fs::write(
        &csv,
        format!(
            "hash,owner,role,label,metadata\n\
             {},Phone app,user,\"=HYPERLINK(\"\"x\"\")\",\"{{\"\"team\"\": \"\"sms\"\"}}\"\n",
            sha256_hex(SEED_KEY)
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = cli(dir.path(), &["keys", "import", csv.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("imported 1 keys\n"), "{stdout}");
    // A JSON Lines file with one bad line imports nothing and names the line.
    let jsonl = dir.path().join("more.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "{}\n\n{{\"hash\": \"{}\", \"owner\": \"Ops\", \"role\": \"admin\"}}\nnot json\n",
            json!({"hash": sha256_hex(LONG_KEY), "owner": "Ops", "role": "admin"}),
            sha256_hex("z".repeat(40).as_str()),
        ),
    )
    .unwrap();
    let (ok, _, stderr) = cli(dir.path(), &["keys", "import", jsonl.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("line 4: not a key"), "{stderr}");
    std::fs::write(
        &jsonl,
        format!(
            "{}\n",
            json!({"hash": sha256_hex(LONG_KEY), "owner": "Ops", "role": "admin"})
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = cli(
        dir.path(),
        &["keys", "import", jsonl.to_str().unwrap(), "--json"],
    );
    assert!(ok, "{stderr}");
    let listing: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listing["imported"][0]["role"], "admin");
    // Importing the CSV again is refused: the hash is known.
    let (ok, _, stderr) = cli(dir.path(), &["keys", "import", csv.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("line 2: a key with this hash exists"),
        "{stderr}"
    );

    // The running server finds the imported keys (a hash it had not seen is looked up).
    let deadline = Instant::now() + Duration::from_secs(5);
    let body = loop {
        let (status, body) = raw::request(
            &server.address,
            "GET",
            "/api/whoami",
            &[("X-API-Key", SEED_KEY)],
            "",
        );
        if status == 200 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the imported key was not accepted"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(body["owner"], "Phone app");
    let admin = server.admin_key();
    let (_, listing) = raw::request(
        &server.address,
        "GET",
        "/api/keys?limit=10",
        &[("X-API-Key", &admin)],
        "",
    );
    let phone = listing["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["owner"] == "Phone app")
        .unwrap()
        .clone();
    // The hostile cell is kept as text (CSV output neutralises it; JSON has no formulas).
    assert_eq!(phone["label"], "=HYPERLINK(\"x\")");
    assert_eq!(phone["metadata"], json!({"team": "sms"}));
    let (status, _) = raw::request(
        &server.address,
        "GET",
        "/api/whoami",
        &[("Authorization", &format!("Bearer {LONG_KEY}"))],
        "",
    );
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_hash_of_an_environment_key_is_refused() {
    // It is accepted already, checked before any stored key: a stored copy could never be
    // revoked or told apart.
    let env = portcullis::auth::EnvKeys::from_lookup(|name| {
        (name == "USER_API_KEY").then(|| SEED_KEY.to_owned())
    })
    .unwrap();
    let app = spawn_app_full(|_| {}, env).await;
    let response = import(
        &app,
        json!([{"hash": sha256_hex(SEED_KEY), "owner": "A", "role": "admin"}]),
    )
    .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "line 1: this is the hash of a key given in the environment (ADMIN_API_KEY, …), which \
         is accepted already and cannot be revoked here",
    )
    .await;
    let who: Value = app.whoami(Some(SEED_KEY)).await.json().await.unwrap();
    assert_eq!(who["role"], "user", "still the environment's user key");
}
