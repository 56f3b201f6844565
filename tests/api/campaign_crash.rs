//! A running campaign through kill -9 and across nodes, with the real binary: after a crash
//! the campaign continues where it stopped, no recipient lost and none sent the same
//! message twice (the phone knows each message by an id that does not change between
//! attempts); two nodes on one PostgreSQL database send one campaign together without ever
//! both taking a recipient.

use crate::engines::{AUDIT_SECRET, Engine, SESSION_SECRET};
use crate::helpers::{ServerProcess, client};
use crate::phones::{Api, PASSWORD, Phone, USERNAME};
use crate::postgres::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const RECIPIENTS: usize = 60;

/// The environment of a node sending to `phone`, on `database` when given.
fn node_env(phone: &Phone, database: Option<&TestDatabase>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PORTCULLIS_SMS__DEVICE_URL", phone.url.as_str()),
        ("PORTCULLIS_SMS__USERNAME", USERNAME),
        ("PORTCULLIS_SMS__PASSWORD", PASSWORD),
        ("PORTCULLIS_SMS__RATE", "1000/s"),
        ("PORTCULLIS_SMS__DEVICE_RATE", "1000/s"),
        ("PORTCULLIS_SMS__SEND_TIMEOUT", "1s"),
        ("PORTCULLIS_SMS__LEASE", "2s"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(database) = database {
        env.push(("PORTCULLIS_STORAGE__URL".into(), database.url.clone()));
        env.push((
            "PORTCULLIS_AUTH__SESSION_SECRET".into(),
            SESSION_SECRET.into(),
        ));
        env.push(("PORTCULLIS_AUTH__AUDIT_SECRET".into(), AUDIT_SECRET.into()));
    }
    env
}

fn start(dir: &std::path::Path, env: &[(String, String)]) -> ServerProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start(dir, &env)
}

/// A started campaign of [`RECIPIENTS`] numbers, made through `node`; its id.
async fn running_campaign(node: &ServerProcess, key: &str) -> String {
    let http = client();
    let campaign: Value = http
        .post(format!("{}/api/campaign/create", node.address))
        .header("x-api-key", key)
        .json(&json!({"name": "crash", "message": "Hello {name}"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = campaign["id"].as_str().unwrap().to_owned();
    let mut csv = String::from("name,phone\n");
    for n in 0..RECIPIENTS {
        csv.push_str(&format!("n{n},{}\n", crate::campaigns::number(n as u32)));
    }
    let (content_type, body) = crate::campaigns::multipart(&[
        ("campaign_id", None, id.as_bytes()),
        ("file", Some("r.csv"), csv.as_bytes()),
    ]);
    let report: Value = http
        .post(format!("{}/api/campaign/upload", node.address))
        .header("x-api-key", key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["accepted"], RECIPIENTS, "{report}");
    let started = http
        .post(format!("{}/api/campaign/start", node.address))
        .header("x-api-key", key)
        .json(&json!({"id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    id
}

async fn wait_completed(node: &ServerProcess, key: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let status: Value = client()
            .get(format!("{}/api/campaign/status?id={id}", node.address))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] == "completed" {
            return status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each recipient's message taken by the phone exactly once.
fn assert_each_once(phone: &Phone) {
    let received = phone.received();
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    let phones: HashSet<&str> = received.iter().map(|r| r.phone.as_str()).collect();
    assert_eq!(received.len(), RECIPIENTS, "taken: {}", received.len());
    assert_eq!(ids.len(), RECIPIENTS);
    assert_eq!(phones.len(), RECIPIENTS);
}

crate::on_each_engine!(a_campaign_killed_mid_way_continues_with_no_repeat_and_no_loss);

async fn a_campaign_killed_mid_way_continues_with_no_repeat_and_no_loss(engine: Engine) {
    let database = match engine {
        Engine::Postgres => match TestDatabase::create("campaign kill -9").await {
            Some(database) => Some(database),
            None => return,
        },
        Engine::Sqlite => None,
    };
    let phone = Phone::start(Api::Android).await;
    phone.be_slow(Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    let env = node_env(&phone, database.as_ref());
    let mut node = start(dir.path(), &env);
    let admin = node.admin_key();
    let id = running_campaign(&node, &admin).await;
    phone.wait_for(15, Duration::from_secs(20)).await;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let before = phone.received().len();
    assert!(
        before < RECIPIENTS,
        "the kill came too late to prove anything"
    );
    // Back up: the rows it was holding are taken again once their lease ends.
    let node = start(dir.path(), &env);
    let status = wait_completed(&node, &admin, &id).await;
    assert_eq!(status["counts"]["sent"], RECIPIENTS, "{status}");
    assert_each_once(&phone);
    // Whatever was resent was recognised by its id, never taken twice.
    let requests = phone.requests();
    assert!(requests.len() >= RECIPIENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_send_a_campaign_without_taking_a_recipient_twice() {
    let Some(database) = TestDatabase::create("two senders").await else {
        return;
    };
    let phone = Phone::start(Api::Android).await;
    phone.be_slow(Duration::from_millis(20));
    let env = node_env(&phone, Some(&database));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = start(a.path(), &env);
    let second = start(b.path(), &env);
    let admin = if a.path().join("data/initial-admin.key").exists() {
        first.admin_key()
    } else {
        second.admin_key()
    };
    let id = running_campaign(&first, &admin).await;
    wait_completed(&second, &admin, &id).await;
    assert_each_once(&phone);
    assert_eq!(
        phone.requests().len(),
        RECIPIENTS,
        "no message was even offered twice"
    );
}
