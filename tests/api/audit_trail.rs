//! The audit trail: what is recorded, filtering, nothing secret, and tamper detection on a
//! real database file by `portcullis audit verify`.

use crate::engines::{Engine, spawn_on};
use crate::helpers::*;
use portcullis::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;

async fn security_events_are_recorded_with_actor_route_client_and_outcome(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "security_events_are_recorded_with_actor_route_client_and_outcome",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    app.get("/api/keys", Some(&key.key)).await; // denied
    app.whoami(Some("pcl_aaaaaaaaaaaa_bad")).await; // refused
    let session = app.login("user1", &key.key).await;
    app.post(
        &format!("/api/keys/{}/revoke", key.id),
        Some(&app.admin_key),
    )
    .await;

    let created = app.wait_for_audit("key.create", 2).await;
    assert_eq!(created[0]["context"], "system", "the initial admin key");
    assert_eq!(created[1]["outcome"], "success");
    assert_eq!(created[1]["extra"]["target_key_id"], key.id);
    assert_eq!(created[1]["context"], "api");
    let denied = app.wait_for_audit("permission.denied", 1).await;
    assert_eq!(denied[0]["outcome"], "denied");
    assert_eq!(denied[0]["route"], "/api/keys");
    assert_eq!(denied[0]["client"], "127.0.0.1");
    assert_eq!(denied[0]["key_id"], key.id);
    assert_eq!(denied[0]["extra"]["permission"], "keys.manage");
    let refused = app.wait_for_audit("auth.failure", 1).await;
    assert_eq!(refused[0]["key_id"], "aaaaaaaaaaaa");
    assert_eq!(refused[0]["extra"]["reason"], "malformed");
    let login = app.wait_for_audit("login.success", 1).await;
    assert_eq!(login[0]["extra"]["session_id"], session.id);
    assert_eq!(login[0]["route"], "/user/login");
    app.wait_for_audit("key.revoke", 1).await;

    // Filters: by actor and outcome, and paging.
    let body: Value = app
        .get(
            &format!("/api/audit?actor={}&outcome=denied", key.id),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    let body: Value = app
        .get("/api/audit?limit=2", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    let cursor = body["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(
            &format!("/api/audit?limit=2&cursor={cursor}"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        next["events"][0]["seq"].as_i64().unwrap(),
        body["events"][1]["seq"].as_i64().unwrap() + 1
    );
    let later = (app.clock.now() + Duration::from_secs(3600))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body: Value = app
        .get(&format!("/api/audit?since={later}"), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 0);
    for query in [
        "?since=yesterday",
        "?outcome=maybe",
        "?limit=0",
        "?cursor=x",
        "?colour=red",
    ] {
        assert_eq!(
            app.get(&format!("/api/audit{query}"), Some(&app.admin_key))
                .await
                .status(),
            StatusCode::BAD_REQUEST,
            "{query}"
        );
    }
    let reader = app.key_with_role("user").await;
    assert_403_admin(app.get("/api/audit", Some(&reader.key)).await).await;

    // Nothing secret: neither the API's view nor the database holds a key or a session token.
    let everything = app
        .get("/api/audit?limit=500", Some(&app.admin_key))
        .await
        .text()
        .await
        .unwrap();
    let mut bytes = Vec::new();
    for file in app.db_files() {
        bytes.extend(std::fs::read(file).unwrap());
    }
    for secret in [
        &key.key[17..61],
        &app.admin_key[17..61],
        &session.token[21..],
        &session.csrf,
    ] {
        assert!(!everything.contains(secret));
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret reached the database"
        );
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn restore(pristine: &std::path::Path, data: &std::path::Path) {
    std::fs::remove_dir_all(data).unwrap();
    copy_dir(pristine, data);
}

fn verify(dir: &std::path::Path) -> (bool, String) {
    let (ok, stdout, stderr) = cli(dir, &["audit", "verify"]);
    (ok, format!("{stdout}{stderr}"))
}

async fn tamper(db: &std::path::Path, sql: &'static str) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn audit_verify_finds_the_first_modified_removed_or_reordered_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let admin = server.admin_key();
    let client = client();
    for i in 0..4 {
        let response = client
            .post(format!("{}/api/keys", server.address))
            .header("X-API-Key", &admin)
            .json(&json!({"owner": format!("o{i}"), "role": "user"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let (ok, out) = verify(dir.path());
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0], "audit chain intact: 5 records",
        "the initial key and four more"
    );
    assert!(lines[1].starts_with("last record: 5:"), "{out}");
    let noted = lines[1].trim_start_matches("last record: ").to_owned();
    assert_eq!(
        lines[2],
        format!("checkpoint {noted}: present and unchanged"),
        "the server's shutdown left the checkpoint at the last record"
    );

    let (ok, stdout, _) = cli(dir.path(), &["audit", "export", "--kind", "key.create"]);
    assert!(ok);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[3]["prev_hash"], lines[2]["hash"]);

    let data = dir.path().join("data");
    let db = data.join("portcullis.db");
    let pristine = dir.path().join("pristine");
    copy_dir(&data, &pristine);
    tamper(
        &db,
        "UPDATE audit_events SET message = 'nothing happened' WHERE seq = 2",
    )
    .await;
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "audit chain BROKEN: record 2 was modified (its hash does not match its content)"
    );

    restore(&pristine, &data);
    tamper(&db, "DELETE FROM audit_events WHERE seq = 3").await;
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "audit chain BROKEN: record 4 does not follow record 2 (records removed or reordered)"
    );

    restore(&pristine, &data);
    tamper(&db, "UPDATE audit_events SET seq = -2 WHERE seq = 2").await;
    tamper(&db, "UPDATE audit_events SET seq = 2 WHERE seq = 3").await;
    tamper(&db, "UPDATE audit_events SET seq = 3 WHERE seq = -2").await;
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "audit chain BROKEN: record 2 does not follow record 1 (records removed or reordered)"
    );

    // Restored, the chain verifies again.
    restore(&pristine, &data);
    assert!(verify(dir.path()).0);

    // An edit a JSON parser would hide: a repeated key, the original value last, so that
    // parsing yields the original and `json_extract` the forgery.
    tamper(
        &db,
        "UPDATE audit_events SET extra = '{\"target_key_id\":\"FORGED\",\"target_key_id\":' || json_quote(json_extract(extra, '$.target_key_id')) || '}' WHERE seq = 3",
    )
    .await;
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "audit chain BROKEN: record 3 was modified (its hash does not match its content)"
    );

    // Cutting the end, or deleting every record, leaves a chain that holds together; the
    // checkpoint beside the audit key says how far it reached.
    restore(&pristine, &data);
    tamper(&db, "DELETE FROM audit_events WHERE seq >= 4").await;
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert_eq!(
        out.trim(),
        format!(
            "audit chain BROKEN: the chain ends at record 3 but the checkpoint saw record 5: \
             records were removed from the end (checkpoint {noted})"
        )
    );
    restore(&pristine, &data);
    tamper(&db, "DELETE FROM audit_events").await;
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert!(
        out.starts_with(
            "audit chain BROKEN: the chain ends at record 0 but the checkpoint saw record 5"
        ),
        "{out}"
    );
    // With the checkpoint file gone too, a value the operator noted still tells.
    std::fs::remove_file(data.join("audit.checkpoint")).unwrap();
    let (ok, stdout, _) = cli(dir.path(), &["audit", "verify", "--expect", &noted]);
    assert!(!ok);
    assert!(
        stdout.starts_with(
            "audit chain BROKEN: the chain ends at record 0 but the checkpoint saw record 5"
        ),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with(&format!("(--expect {noted})")),
        "{stdout}"
    );
    restore(&pristine, &data);
    let (ok, stdout, _) = cli(dir.path(), &["audit", "verify", "--expect", &noted]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains(&format!("--expect {noted}: present and unchanged")));
    let (ok, _, stderr) = cli(dir.path(), &["audit", "verify", "--expect", "5:zz"]);
    assert!(!ok);
    assert!(stderr.contains("<seq>:<64 hex characters>"), "{stderr}");
}

#[tokio::test]
async fn a_server_started_on_a_cut_trail_says_so_and_keeps_the_checkpoint_as_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let admin = server.admin_key();
    for i in 0..3 {
        let response = client()
            .post(format!("{}/api/keys", server.address))
            .header("X-API-Key", &admin)
            .json(&json!({"owner": format!("o{i}"), "role": "user"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let data = dir.path().join("data");
    let checkpoint = std::fs::read_to_string(data.join("audit.checkpoint")).unwrap();
    assert!(checkpoint.contains("\"seq\":4"), "{checkpoint}");
    tamper(
        &data.join("portcullis.db"),
        "DELETE FROM audit_events WHERE seq >= 3",
    )
    .await;

    let log = dir.path().join("server.log");
    let mut server = ServerProcess::start(
        dir.path(),
        &[("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap())],
    );
    // New records are appended (seq 3, 4, 5 again) but the checkpoint stays as it was.
    for i in 0..3 {
        let response = client()
            .post(format!("{}/api/keys", server.address))
            .header("X-API-Key", &admin)
            .json(&json!({"owner": format!("p{i}"), "role": "user"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let logged = all_text_under(dir.path());
    assert!(
        logged.contains("THE AUDIT TRAIL DOES NOT MATCH ITS CHECKPOINT"),
        "the start-up check speaks up"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("audit.checkpoint")).unwrap(),
        checkpoint,
        "the evidence is kept"
    );
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert!(
        out.starts_with("audit chain BROKEN: record 4 is not the record the checkpoint saw"),
        "{out}"
    );

    // After investigating, an operator accepts the chain as it is now.
    let (ok, stdout, _) = cli(dir.path(), &["audit", "checkpoint", "--reset"]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("checkpoint reset to 5:"), "{stdout}");
    assert!(verify(dir.path()).0);
}

async fn a_flood_of_refusals_from_one_address_is_one_record_and_a_count(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "a_flood_of_refusals_from_one_address_is_one_record_and_a_count",
        |s| {
            s.auth.lockout_threshold = 100_000;
            s.limits.per_address = portcullis::limits::RateSpec::parse("10000/s").unwrap();
        },
    )
    .await
    else {
        return;
    };
    for i in 0..200 {
        let response = app.whoami(Some(&format!("legacy-wrong-key-{i}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Another reason is other evidence, recorded in full.
    assert_eq!(app.whoami(None).await.status(), StatusCode::UNAUTHORIZED);
    let refused = app.wait_for_refusals("auth.failure", 201).await;
    let reasons: Vec<(&str, u64)> = refused
        .iter()
        .map(|e| {
            (
                e["extra"]["reason"].as_str().unwrap(),
                e["extra"]["repeated"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [("unknown_key", 0), ("missing", 0), ("unknown_key", 199)],
        "the first in full, the rest counted into one summary"
    );
    let summary = &refused[2];
    assert_eq!(summary["client"], "127.0.0.1");
    assert_eq!(summary["message"], "repeated refusals, counted");
    assert!(summary["extra"]["window_start"].is_string());
    assert!(summary["extra"]["last_at"].is_string());
}

async fn an_audit_page_is_bounded_by_bytes_as_well_as_rows(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "an_audit_page_is_bounded_by_bytes_as_well_as_rows",
        |_| {},
    )
    .await
    else {
        return;
    };
    app.wait_for_audit("key.create", 1).await;
    // Records written before fields were bounded could be large: plant thirty of 100 KB.
    let fat = "x".repeat(100 * 1024);
    let zeros = [0u8; 32];
    match &app.database {
        None => {
            let db = app.dir.path().join("data/portcullis.db");
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            for seq in 2..32i64 {
                sqlx::query(
                    "INSERT INTO audit_events (seq, at_ms, kind, outcome, message, context, extra, prev_hash, hash) \
                     VALUES (?, 0, 'legacy', 'failure', ?, 'api', '{}', ?, ?)",
                )
                .bind(seq)
                .bind(&fat)
                .bind(&zeros[..])
                .bind(&zeros[..])
                .execute(&mut conn)
                .await
                .unwrap();
            }
            conn.close().await.unwrap();
        }
        Some(database) => {
            let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
            for seq in 2..32i64 {
                sqlx::query(
                    "INSERT INTO audit_events (seq, at_ms, kind, outcome, message, context, extra, prev_hash, hash) \
                     VALUES ($1, 0, 'legacy', 'failure', $2, 'api', '{}', $3, $4)",
                )
                .bind(seq)
                .bind(&fat)
                .bind(&zeros[..])
                .bind(&zeros[..])
                .execute(&mut conn)
                .await
                .unwrap();
            }
            conn.close().await.unwrap();
        }
    }
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut seen = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/audit?limit=500&kind=legacy&cursor={c}"),
            None => "/api/audit?limit=500&kind=legacy".to_owned(),
        };
        let text = app
            .get(&path, Some(&app.admin_key))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            text.len() <= 1024 * 1024 + 110 * 1024,
            "a page of {} bytes",
            text.len()
        );
        let page: Value = serde_json::from_str(&text).unwrap();
        seen += page["events"].as_array().unwrap().len();
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 30, "every record is reachable through the cursor");
    assert!(pages >= 3, "{pages} pages");
}

async fn key_and_session_changes_are_recorded_with_their_targets(engine: Engine) {
    let Some(app) = spawn_on(
        engine,
        "key_and_session_changes_are_recorded_with_their_targets",
        |_| {},
    )
    .await
    else {
        return;
    };
    let key = app
        .create_key(json!({"owner": "user1", "role": "user"}))
        .await;
    let path = |verb: &str| format!("/api/keys/{}/{verb}", key.id);
    assert_eq!(
        app.post(&path("disable"), Some(&app.admin_key))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post(&path("enable"), Some(&app.admin_key))
            .await
            .status(),
        StatusCode::OK
    );
    let session = app.login("user1", &key.key).await;
    let response = app
        .client
        .post(app.url("/user/logout"))
        .header("Authorization", format!("Bearer {}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let second = app.login("user1", &key.key).await;
    let response = app
        .post(
            &format!("/api/sessions/{}/end", second.id),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = app.post(&path("rotate"), Some(&app.admin_key)).await;
    assert_eq!(rotated.status(), StatusCode::CREATED);

    let admin_id = app
        .whoami(Some(&app.admin_key))
        .await
        .json::<Value>()
        .await
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for kind in ["key.disable", "key.enable", "key.rotate"] {
        let events = app.wait_for_audit(kind, 1).await;
        assert_eq!(events.len(), 1, "{kind}");
        assert_eq!(events[0]["outcome"], "success");
        assert_eq!(events[0]["extra"]["target_key_id"], key.id, "{kind}");
        assert_eq!(events[0]["key_id"], admin_id, "{kind}: the admin acted");
    }
    let ended = app.wait_for_audit("session.end", 2).await;
    assert_eq!(ended[0]["extra"]["session_id"], session.id, "logout");
    assert_eq!(ended[0]["key_id"], key.id, "the user logged out");
    assert_eq!(
        ended[1]["extra"]["sessions"],
        json!([second.id]),
        "ended by the admin"
    );
    assert_eq!(ended[1]["key_id"], admin_id);
}

#[tokio::test]
async fn a_record_rewritten_and_rehashed_without_the_audit_key_is_caught() {
    use portcullis::audit::chain_hash;
    use portcullis::secret::SecretKey;
    use portcullis::store::{AuditFilter, AuditStore, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[]);
    let admin = server.admin_key();
    for i in 0..3 {
        let response = client()
            .post(format!("{}/api/keys", server.address))
            .header("X-API-Key", &admin)
            .json(&json!({"owner": format!("o{i}"), "role": "user"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
    let data = dir.path().join("data");
    for secret in ["audit.key", "session.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    // The attacker can write the database but does not hold the audit key: they rewrite
    // record 2 and rebuild the chain from there with a key of their own, as they would a
    // plain SHA-256 chain.
    let db = data.join("portcullis.db");
    let store = SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let records = store
        .audit_events(&AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 4);
    let theirs = SecretKey::from_hex(&"42".repeat(32)).unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let mut prev = records[0].hash;
    for record in &records[1..] {
        let mut event = record.event.clone();
        if record.seq == 2 {
            event.message = "nothing happened".to_owned();
        }
        let hash = chain_hash(&theirs, &prev, record.seq, &event);
        sqlx::query("UPDATE audit_events SET message = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&event.message)
            .bind(&prev[..])
            .bind(&hash[..])
            .bind(record.seq)
            .execute(&mut conn)
            .await
            .unwrap();
        prev = hash;
    }
    conn.close().await.unwrap();
    let (ok, out) = verify(dir.path());
    assert!(!ok);
    assert_eq!(
        out.trim(),
        "audit chain BROKEN: record 2 was modified (its hash does not match its content)"
    );
}

crate::on_each_engine!(
    security_events_are_recorded_with_actor_route_client_and_outcome,
    a_flood_of_refusals_from_one_address_is_one_record_and_a_count,
    an_audit_page_is_bounded_by_bytes_as_well_as_rows,
    key_and_session_changes_are_recorded_with_their_targets,
);
