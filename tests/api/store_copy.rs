//! `portcullis store copy`: a single-node SQLite install moved to PostgreSQL (and back)
//! keeps working as it was — keys with their limits, quotas and metadata, sessions, the
//! audit chain under the same audit key, messages by their URLs — and a non-empty target
//! is refused unless forced.

use crate::helpers::{ServerProcess, cli, client};
use crate::postgres::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// A key another system issued, imported by its hash into the source install.
const IMPORTED: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// What the source install holds, to look for on the target.
struct Install {
    admin: String,
    key: Value,
    old: Value,
    rotated: Value,
    session: Value,
    message_url: String,
    audit_key: String,
    session_key: String,
}

/// A SQLite install with something of everything, stopped cleanly (SIGTERM flushes).
async fn sqlite_install(dir: &Path) -> Install {
    let mut server = ServerProcess::start(dir, &[]);
    let admin = server.admin_key();
    let http = client();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", server.address))
            .header("x-api-key", &admin)
            .json(&body)
            .send()
    };
    let key: Value = post(
        "/api/keys",
        json!({"owner": "App 1", "owner_kind": "app", "role": "user", "label": "billing",
               "metadata": {"team": "payments"}, "expires_in": "90d"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = key["id"].as_str().unwrap();
    let limited = post(
        &format!("/api/keys/{id}/limits"),
        json!({"rate": "100/min", "quota": {"limit": 1000, "refill": "monthly"}}),
    )
    .await
    .unwrap();
    assert_eq!(limited.status(), StatusCode::OK);
    // An imported key (by its hash) travels too, and still works on the target.
    let imported = post(
        "/api/keys/import",
        json!({"keys": [{"hash": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(IMPORTED)),
                          "owner": "alice", "role": "user"}]}),
    )
    .await
    .unwrap();
    assert_eq!(imported.status(), StatusCode::CREATED);
    let old: Value = post("/api/keys", json!({"owner": "alice", "role": "user"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated: Value = post(
        &format!("/api/keys/{}/rotate", old["id"].as_str().unwrap()),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let session: Value = http
        .post(format!("{}/user/login", server.address))
        .form(&[
            ("username", "alice"),
            ("key", rotated["key"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message: Value = http
        .post(format!("{}/", server.address))
        .json(&json!({"message": "moved along"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let read = |name: &str| {
        std::fs::read_to_string(dir.join("data").join(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    Install {
        admin,
        key,
        old,
        rotated,
        session,
        message_url: message["url"].as_str().unwrap().to_owned(),
        audit_key: read("audit.key"),
        session_key: read("session.key"),
    }
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("data/portcullis.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_install_moved_to_postgresql_works_as_before() {
    let Some(database) = TestDatabase::create("store copy").await else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    let install = sqlite_install(source.path()).await;
    let from = sqlite_url(source.path());

    let (ok, stdout, stderr) = cli(
        source.path(),
        &[
            "store",
            "copy",
            "--from",
            &from,
            "--to",
            &database.url,
            "--json",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["copied"]["keys"], 5, "{report}");
    assert_eq!(report["copied"]["owners"], 3, "{report}");
    assert_eq!(report["copied"]["sessions"], 1, "{report}");
    assert_eq!(report["copied"]["messages"], 1, "{report}");
    assert!(
        report["copied"]["audit_events"].as_u64().unwrap() >= 5,
        "{report}"
    );
    assert!(
        !stdout.contains("postgres@"),
        "the URL's user is masked: {stdout}"
    );

    // A node on the target, with the source's secrets, serves the same install.
    let node_dir = tempfile::tempdir().unwrap();
    let env = [
        ("PORTCULLIS_STORAGE__URL", database.url.as_str()),
        ("PORTCULLIS_AUTH__AUDIT_SECRET", install.audit_key.as_str()),
        (
            "PORTCULLIS_AUTH__SESSION_SECRET",
            install.session_key.as_str(),
        ),
    ];
    let node = ServerProcess::start(node_dir.path(), &env);
    assert!(
        !node_dir.path().join("data/initial-admin.key").exists(),
        "a copied store has keys: no new admin key"
    );
    let http = client();
    let get = |path: String, key: &str| {
        http.get(format!("{}{path}", node.address))
            .header("x-api-key", key)
            .send()
    };
    let id = install.key["id"].as_str().unwrap();
    let shown: Value = get(format!("/api/keys/{id}"), &install.admin)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["label"], "billing");
    assert_eq!(shown["metadata"], json!({"team": "payments"}));
    assert_eq!(shown["owner_kind"], "app");
    assert_eq!(shown["expires_at"], install.key["expires_at"]);
    assert_eq!(shown["rate_limit"], "100/min", "{shown}");
    assert_eq!(shown["quota"]["limit"], 1000, "{shown}");
    let whoami = get("/api/whoami".into(), install.key["key"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(whoami.status(), StatusCode::OK);
    let whoami = get("/api/whoami".into(), IMPORTED).await.unwrap();
    assert_eq!(
        whoami.status(),
        StatusCode::OK,
        "the imported key, found by its hash"
    );
    let successor = get(
        "/api/whoami".into(),
        install.rotated["key"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        successor.status(),
        StatusCode::OK,
        "the rotated key's successor works"
    );
    assert_eq!(
        get("/api/whoami".into(), install.old["key"].as_str().unwrap())
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "the rotated-away key stays revoked"
    );
    // The session opened on SQLite works on PostgreSQL (same session key).
    let whoami: Value = http
        .get(format!("{}/api/whoami", node.address))
        .bearer_auth(install.session["session"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["owner"], "alice");
    // The message reads back by its URL.
    let path = install.message_url.split_once("/msg/").unwrap().1;
    let message: Value = http
        .get(format!("{}/msg/{path}", node.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message["message"], "moved along");
    // New keys continue after the copied ones.
    let created = http
        .post(format!("{}/api/keys", node.address))
        .header("x-api-key", &install.admin)
        .json(&json!({"owner": "App 2", "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    drop(node);

    // The chain verifies on the target under the same audit key.
    let (ok, stdout, stderr) = {
        let mut command = crate::helpers::command(node_dir.path());
        let output = command
            .envs(env)
            .args(["audit", "verify"])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("audit chain intact"), "{stdout}");

    // A second copy onto the same target is refused, and changes nothing...
    let (ok, _, stderr) = cli(
        source.path(),
        &["store", "copy", "--from", &from, "--to", &database.url],
    );
    assert!(!ok);
    assert!(
        stderr.contains("the target is not empty (6 keys"),
        "{stderr}"
    );
    assert!(stderr.contains("pass --force"), "{stderr}");
    // ...unless forced, which replaces it with the source exactly.
    let (ok, stdout, stderr) = cli(
        source.path(),
        &[
            "store",
            "copy",
            "--from",
            &from,
            "--to",
            &database.url,
            "--force",
            "--json",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let forced: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(forced["copied"], report["copied"]);

    // And back to a new SQLite file: the same rows.
    let back = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = cli(
        back.path(),
        &[
            "store",
            "copy",
            "--from",
            &database.url,
            "--to",
            &sqlite_url(back.path()),
            "--json",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let returned: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(returned["copied"], report["copied"]);
}

#[tokio::test]
async fn a_copy_from_a_store_that_does_not_exist_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = sqlite_url(&dir.path().join("nowhere"));
    let target = sqlite_url(&dir.path().join("target"));
    let (ok, _, stderr) = cli(
        dir.path(),
        &["store", "copy", "--from", &missing, "--to", &target],
    );
    assert!(!ok);
    assert!(stderr.contains("no store at"), "{stderr}");
    assert!(!dir.path().join("target").exists());
    let (ok, _, stderr) = cli(
        dir.path(),
        &["store", "copy", "--from", &target, "--to", &target],
    );
    assert!(!ok);
    assert!(stderr.contains("the same store"), "{stderr}");
}
