//! A large SQLite store for measuring `portcullis store copy`: N keys (one owner per 100)
//! and M audit records chained under a given audit key, written straight into a fresh
//! store in one transaction (the API would take hours for a million audit records).
//!
//! ```sh
//! cargo run --release --example fill_store -- data/portcullis.db 100000 1000000 "$(cat data/audit.key)"
//! ```
//!
//! With a fifth argument, a file name, the keys are real ones (`key_format::generate`, stored
//! by their SHA-256 as the server stores them) and their tokens are written to that file,
//! one per line, for load tests that need many working keys (`scripts/memory_soak.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::audit::chain_hash;
use portcullis::auth::key_format;
use portcullis::secret::SecretKey;
use portcullis::store::AuditDraft;
use sqlx::Connection;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("database path");
    let keys: i64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let events: i64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let audit_key = SecretKey::from_hex(&args.next().expect("audit key (64 hex)")).unwrap();
    let mut tokens = args.next().map(|out| {
        // Working keys in plaintext: readable by the owner only.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .expect("a new tokens file");
        std::io::BufWriter::new(file)
    });
    let url = format!("sqlite://{path}");
    // Created and migrated by the store itself, then filled directly.
    drop(portcullis::store::connect(&url).await.unwrap());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for owner in 0..(keys + 99) / 100 {
        sqlx::query("INSERT INTO owners (id, name, kind, created_at) VALUES (?, ?, 'app', 0)")
            .bind(format!("owner{owner:08}"))
            .bind(format!("App {owner}"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    for key in 0..keys {
        let (id, hash) = match tokens.as_mut() {
            Some(out) => {
                let generated = key_format::generate().unwrap();
                let token = generated.token.expose();
                writeln!(out, "{token}").unwrap();
                (generated.id, key_format::hash(token))
            }
            None => (format!("{key:012}"), [(key % 251) as u8; 32]),
        };
        sqlx::query(
            "INSERT INTO api_keys (id, owner_id, role, label, key_hash, metadata, enabled, \
             created_at, revision) VALUES (?, ?, 'user', 'generated', ?, '{\"n\":1}', TRUE, ?, 1)",
        )
        .bind(id)
        .bind(format!("owner{:08}", key / 100))
        .bind(&hash[..])
        .bind(1_700_000_000 + key)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let mut prev = [0u8; 32];
    for seq in 1..=events {
        let draft = AuditDraft {
            at_ms: 1_700_000_000_000 + seq,
            kind: "key.create".to_owned(),
            outcome: "success".to_owned(),
            route: Some("/api/keys".to_owned()),
            message: "key created".to_owned(),
            context: "api".to_owned(),
            owner_id: Some("owner00000000".to_owned()),
            key_id: Some(format!("{:012}", seq % keys.max(1))),
            client: Some("127.0.0.1".to_owned()),
            extra: serde_json::Map::from_iter([(
                "target_key_id".to_owned(),
                serde_json::Value::String(format!("{:012}", seq % keys.max(1))),
            )]),
        };
        let hash = chain_hash(&audit_key, &prev, seq, &draft);
        sqlx::query(
            "INSERT INTO audit_events (seq, at_ms, kind, outcome, route, message, context, \
             owner_id, key_id, client, extra, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(draft.at_ms)
        .bind(&draft.kind)
        .bind(&draft.outcome)
        .bind(&draft.route)
        .bind(&draft.message)
        .bind(&draft.context)
        .bind(&draft.owner_id)
        .bind(&draft.key_id)
        .bind(&draft.client)
        .bind(serde_json::to_string(&draft.extra).unwrap())
        .bind(&prev[..])
        .bind(&hash[..])
        .execute(&mut *tx)
        .await
        .unwrap();
        prev = hash;
    }
    tx.commit().await.unwrap();
    if let Some(mut out) = tokens {
        out.flush().unwrap();
    }
    println!("{path}: {keys} keys, {events} audit records");
}
