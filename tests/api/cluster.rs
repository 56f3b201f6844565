//! Several nodes on one PostgreSQL database: three real server processes, started at the
//! same moment on a fresh database, each property of a cluster checked through HTTP — once
//! with Redis and once without (where nonces and token ids go through the database and
//! limits are counted per node, as the README says). Each node polls for key changes only
//! once an hour here, so a change seen on another node within a second was heard through
//! PostgreSQL's `NOTIFY`, not found by the poll.

use crate::backends::{Backend, on};
use crate::engines::{AUDIT_SECRET, SESSION_SECRET};
use crate::helpers::{ServerProcess, cli, client};
use crate::postgres::TestDatabase;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::SigningKey;
use portcullis::jose::client::{TokenOptions, prepare};
use portcullis::jose::jwe::KeyAlg;
use portcullis::jose::keyring::public_key_to_pem;
use portcullis::jose::{EcJwk, ServerKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::Connection;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The Host every node sees, as behind one load balancer: a signature names it.
const PUBLIC_HOST: &str = "api.cluster.example";

struct Cluster {
    nodes: Vec<ServerProcess>,
    dirs: Vec<TempDir>,
    database: TestDatabase,
    admin: String,
    client: reqwest::Client,
    /// The config service's client key (the same client on every node).
    envelope_client: SigningKey,
    envelope_server: ServerKey,
}

/// Three nodes on a fresh database (and Redis, on that backend), started together.
async fn cluster(backend: Backend, test: &str) -> Option<Cluster> {
    let run = on(backend, test)?;
    let database = TestDatabase::create(test).await?;
    let envelope_server = ServerKey::generate().unwrap();
    let envelope_client = SigningKey::from(ServerKey::generate().unwrap().secret().clone());
    let client_pem = public_key_to_pem(&(*envelope_client.verifying_key()).into()).unwrap();
    let mut dirs = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "remember the milk\n").unwrap();
        let redis = match &run.redis_url {
            Some(url) => format!("redis_url = \"{url}\"\n"),
            None => String::new(),
        };
        let config = format!(
            "[storage]\nurl = \"{url}\"\npool_size = 4\n{redis}\n\
             [auth]\nsession_secret = \"{SESSION_SECRET}\"\naudit_secret = \"{AUDIT_SECRET}\"\n\
             refresh_interval = \"1h\"\n\n\
             [limits]\nredis_prefix = \"{prefix}\"\nredis_failure = \"closed\"\n\
             per_address = \"100000/min\"\n\n[limits.groups]\nmessage_posts = \"100000/min\"\n\n\
             [limits.roles]\nadmin = \"1000000/min\"\n\n\
             [envelope]\nprivate_key = '''{server}'''\n\n\
             [files.notes]\npath = \"{notes}\"\nformat = \"text\"\nbackup = false\n\n\
             [client_keys.alice]\npublic_key = '''{client_pem}'''\nfiles = [\"notes\"]\n",
            url = database.url,
            prefix = run.prefix,
            server = envelope_server.to_pem().unwrap().as_str(),
            notes = dir.path().join("notes.txt").display(),
        );
        std::fs::write(dir.path().join("portcullis.toml"), config).unwrap();
        dirs.push(dir);
    }
    // At the same moment: migrations and the first admin key must happen exactly once.
    let nodes: Vec<ServerProcess> = std::thread::scope(|scope| {
        let started: Vec<_> = dirs
            .iter()
            .map(|dir| scope.spawn(|| ServerProcess::start(dir.path(), &[])))
            .collect();
        started.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let keys: Vec<String> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.path().join("data/initial-admin.key")).ok())
        .collect();
    assert_eq!(keys.len(), 1, "exactly one node made the first admin key");
    Some(Cluster {
        nodes,
        dirs,
        database,
        admin: keys[0].trim().to_owned(),
        client: client(),
        envelope_client,
        envelope_server,
    })
}

impl Cluster {
    fn url(&self, node: usize, path: &str) -> String {
        format!("{}{path}", self.nodes[node].address)
    }

    async fn whoami(&self, node: usize, key: &str) -> StatusCode {
        self.client
            .get(self.url(node, "/api/whoami"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn create_key(&self, node: usize, body: Value) -> Value {
        let response = self
            .client
            .post(self.url(node, "/api/keys"))
            .header("x-api-key", &self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn admin_post(&self, node: usize, path: &str) -> StatusCode {
        self.client
            .post(self.url(node, path))
            .header("x-api-key", &self.admin)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Wait until `node` answers `key` with `status`; how long it took.
    async fn until(&self, node: usize, key: &str, status: StatusCode) -> Duration {
        let started = Instant::now();
        while self.whoami(node, key).await != status {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "node {node} still does not answer {status}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    async fn sql(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.database.url)
            .await
            .unwrap()
    }
}

/// `on_each_cluster!(a, b)`: each async fn `a(Backend)` runs on a cluster without Redis
/// (`without_redis::a`) and with Redis (`with_redis::a`).
macro_rules! on_each_cluster {
    ($($name:ident),* $(,)?) => {
        mod without_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
                super::$name(crate::backends::Backend::Postgres).await;
            })*
        }
        mod with_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
                super::$name(crate::backends::Backend::Redis).await;
            })*
        }
    };
}

on_each_cluster!(
    nodes_started_together_migrate_once_and_make_one_admin_key,
    a_key_changed_on_one_node_is_refused_on_the_others_within_a_second,
    a_node_whose_listener_reconnects_forgets_what_it_may_have_missed,
    a_session_opened_on_one_node_works_on_all_and_logout_ends_it_everywhere,
    a_signature_or_token_used_on_one_node_is_refused_on_another,
    a_burn_after_reading_message_is_read_exactly_once_across_nodes,
    the_audit_chain_stays_one_chain_when_every_node_appends_at_once,
    limits_are_global_with_redis_and_per_node_without,
    a_node_killed_under_load_loses_nothing_acknowledged_and_the_others_serve_on,
);

async fn nodes_started_together_migrate_once_and_make_one_admin_key(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: one migration").await else {
        return;
    };
    let mut conn = cluster.sql().await;
    let migrations: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(migrations, [(1,), (2,), (3,)]);
    let keys: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.0, 1);
    for node in 0..3 {
        assert_eq!(cluster.whoami(node, &cluster.admin).await, StatusCode::OK);
    }
    let (ok, stdout, _) = cli(cluster.dirs[1].path(), &["migrate", "--check"]);
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("up to date, 3 migrations applied"),
        "{stdout}"
    );
}

async fn a_key_changed_on_one_node_is_refused_on_the_others_within_a_second(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: key changes").await else {
        return;
    };
    for (change, verb) in [
        ("revoke", "revoke"),
        ("disable", "disable"),
        ("rotate", "rotate"),
    ] {
        let key = cluster
            .create_key(0, json!({"owner": "App 1", "role": "user"}))
            .await;
        let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
        // Every node has it cached.
        for node in 0..3 {
            assert_eq!(
                cluster.whoami(node, secret).await,
                StatusCode::OK,
                "{change}"
            );
        }
        let changed = cluster
            .admin_post(0, &format!("/api/keys/{id}/{verb}"))
            .await;
        assert!(changed.is_success(), "{change}: {changed}");
        for node in 1..3 {
            let took = cluster.until(node, secret, StatusCode::UNAUTHORIZED).await;
            assert!(
                took < Duration::from_secs(1),
                "{change} on node {node}: {took:?}"
            );
        }
    }
    // And a key re-enabled on one node works on the others.
    let key = cluster
        .create_key(1, json!({"owner": "App 2", "role": "user"}))
        .await;
    let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    assert!(
        cluster
            .admin_post(1, &format!("/api/keys/{id}/disable"))
            .await
            .is_success()
    );
    cluster.until(2, secret, StatusCode::UNAUTHORIZED).await;
    assert!(
        cluster
            .admin_post(1, &format!("/api/keys/{id}/enable"))
            .await
            .is_success()
    );
    let took = cluster.until(2, secret, StatusCode::OK).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
}

async fn a_session_opened_on_one_node_works_on_all_and_logout_ends_it_everywhere(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: sessions").await else {
        return;
    };
    let key = cluster
        .create_key(0, json!({"owner": "alice", "role": "user"}))
        .await;
    let login: Value = cluster
        .client
        .post(cluster.url(0, "/user/login"))
        .form(&[("username", "alice"), ("key", key["key"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["session"].as_str().unwrap();
    let with_session = |node: usize| {
        cluster
            .client
            .get(cluster.url(node, "/api/whoami"))
            .bearer_auth(token)
            .send()
    };
    for node in 0..3 {
        let whoami: Value = with_session(node).await.unwrap().json().await.unwrap();
        assert_eq!(whoami["owner"], "alice", "node {node}");
    }
    let logout = cluster
        .client
        .post(cluster.url(2, "/user/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::OK);
    // Refused at once where it ended; the others cached the session and forget it when
    // PostgreSQL's NOTIFY reaches them (the poll runs once an hour here).
    assert_eq!(
        with_session(2).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    for node in 0..2 {
        let started = Instant::now();
        while with_session(node).await.unwrap().status() != StatusCode::UNAUTHORIZED {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "node {node} still accepts the ended session"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Signed requests of the ended session are refused everywhere too.
    let session_id = login["session_id"].as_str().unwrap();
    for node in 0..3 {
        let mut request = cluster.client.get(cluster.url(node, "/api/whoami"));
        for (name, value) in signed_whoami(session_id, token, &format!("after-logout-{node}")) {
            request = request.header(name, value);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "node {node}");
    }
}

/// An RFC 9421 signature over `GET /api/whoami` at [`PUBLIC_HOST`].
fn signed_whoami(session_id: &str, token: &str, nonce: &str) -> Vec<(&'static str, String)> {
    let created = time::OffsetDateTime::now_utc().unix_timestamp();
    let params = format!(
        "(\"@method\" \"@target-uri\");created={created};keyid=\"{session_id}\";nonce=\"{nonce}\";alg=\"hmac-sha256\""
    );
    let base = format!(
        "\"@method\": GET\n\"@target-uri\": http://{PUBLIC_HOST}/api/whoami\n\"@signature-params\": {params}"
    );
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("host", PUBLIC_HOST.to_owned()),
        ("signature-input", format!("sig1={params}")),
        ("signature", format!("sig1=:{signature}:")),
    ]
}

async fn a_signature_or_token_used_on_one_node_is_refused_on_another(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: replays").await else {
        return;
    };
    let key = cluster
        .create_key(0, json!({"owner": "alice", "role": "user"}))
        .await;
    let login: Value = cluster
        .client
        .post(cluster.url(0, "/user/login"))
        .form(&[("username", "alice"), ("key", key["key"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = signed_whoami(
        login["session_id"].as_str().unwrap(),
        login["session"].as_str().unwrap(),
        "once-only",
    );
    let send = |node: usize| {
        let mut request = cluster.client.get(cluster.url(node, "/api/whoami"));
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    assert_eq!(send(0).await.unwrap().status(), StatusCode::OK);
    for node in [1, 2, 0] {
        let replayed = send(node).await.unwrap();
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "node {node}");
        let body: Value = replayed.json().await.unwrap();
        assert_eq!(body["message"], "nonce already used", "node {node}");
    }

    // The config service's token id: used on node 1, refused on nodes 0 and 2.
    let jwk: EcJwk = cluster.envelope_server.public_jwk();
    let prepared = prepare(
        "alice",
        &cluster.envelope_client,
        &jwk,
        KeyAlg::EcdhEsA256Kw,
        &json!({"action": "list_files"}),
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &TokenOptions::default(),
    )
    .unwrap();
    let exchange = |node: usize| {
        cluster
            .client
            .post(cluster.url(node, "/api/config"))
            .bearer_auth(&prepared.token)
            .header("content-type", "application/jose")
            .body(prepared.body.clone())
            .send()
    };
    assert_eq!(exchange(1).await.unwrap().status(), StatusCode::OK);
    for node in [0, 2] {
        let replayed = exchange(node).await.unwrap();
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "node {node}");
        assert_eq!(replayed.headers()["x-error-code"], "envelope.replayed");
    }
}

async fn a_burn_after_reading_message_is_read_exactly_once_across_nodes(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: burn after reading").await else {
        return;
    };
    for round in 0..5 {
        let created: Value = cluster
            .client
            .post(cluster.url(round % 3, "/"))
            .json(&json!({"message": format!("secret {round}"), "burn_after_reading": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let path = format!("/msg/{}", created["id"].as_str().unwrap());
        let readers = (0..12).map(|i| {
            let request = cluster.client.get(cluster.url(i % 3, &path)).send();
            async move { request.await.unwrap().status() }
        });
        let statuses = futures_join_all(readers).await;
        let read = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let gone = statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_FOUND)
            .count();
        assert_eq!((read, gone), (1, 11), "round {round}: {statuses:?}");
    }
}

/// Start every future now, as a task of its own (so the requests really overlap).
fn spawn_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<tokio::task::JoinHandle<F::Output>>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    futures.into_iter().map(tokio::spawn).collect()
}

/// Wait for every task started by [`spawn_all`].
async fn join_all<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Run every future at once and collect their outputs.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    join_all(spawn_all(futures)).await
}

async fn the_audit_chain_stays_one_chain_when_every_node_appends_at_once(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: one audit chain").await else {
        return;
    };
    let writes = (0..60).map(|i| {
        let request = cluster
            .client
            .post(cluster.url(i % 3, "/api/keys"))
            .header("x-api-key", &cluster.admin)
            .json(&json!({"owner": format!("owner {i}"), "role": "user"}))
            .send();
        async move { request.await.unwrap().status() }
    });
    let statuses = futures_join_all(writes).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let mut conn = cluster.sql().await;
    let created: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE kind = 'key.create'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(created.0, 61, "60 keys and the first admin key");
    let (ok, stdout, stderr) = cli(cluster.dirs[2].path(), &["audit", "verify"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("audit chain intact"), "{stdout}");
}

async fn limits_are_global_with_redis_and_per_node_without(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: limits").await else {
        return;
    };
    let key = cluster
        .create_key(
            0,
            json!({"owner": "App 1", "role": "user", "rate": "4/min"}),
        )
        .await;
    let secret = key["key"].as_str().unwrap();
    let mut allowed = 0;
    for _ in 0..2 {
        for node in 0..3 {
            if cluster.whoami(node, secret).await == StatusCode::OK {
                allowed += 1;
            }
        }
    }
    match backend {
        // One bucket in Redis for the whole cluster.
        Backend::Redis => assert_eq!(allowed, 4),
        // Each node its own bucket: two requests each fit in 4/min.
        _ => assert_eq!(allowed, 6),
    }
}

async fn a_node_killed_under_load_loses_nothing_acknowledged_and_the_others_serve_on(
    backend: Backend,
) {
    let Some(mut cluster) = cluster(backend, "cluster: kill -9").await else {
        return;
    };
    let started = Instant::now();
    let kill_at = Duration::from_millis(700);
    let stop_at = Duration::from_millis(2000);
    let addresses: Vec<String> = cluster.nodes.iter().map(|n| n.address.clone()).collect();
    let workers = (0..6).map(|worker| {
        let (client, admin, addresses) = (
            cluster.client.clone(),
            cluster.admin.clone(),
            addresses.clone(),
        );
        async move {
            let mut acked_keys = Vec::new();
            let mut acked_messages = Vec::new();
            let mut after_kill_on_survivors = 0;
            let mut i = 0usize;
            while started.elapsed() < stop_at {
                let node = (worker + i) % 3;
                i += 1;
                let key = client
                    .post(format!("{}/api/keys", addresses[node]))
                    .header("x-api-key", &admin)
                    .json(&json!({"owner": format!("load {worker}"), "role": "user"}))
                    .send()
                    .await;
                let message = client
                    .post(format!("{}/", addresses[node]))
                    .json(&json!({"message": format!("load {worker} {i}")}))
                    .send()
                    .await;
                let late = started.elapsed() > kill_at + Duration::from_millis(100);
                for (response, acked) in [(key, &mut acked_keys), (message, &mut acked_messages)] {
                    match response {
                        Ok(response) if response.status() == StatusCode::CREATED => {
                            let body: Value = response.json().await.unwrap();
                            acked.push(body["id"].as_str().unwrap().to_owned());
                            if late && node != 1 {
                                after_kill_on_survivors += 1;
                            }
                        }
                        Ok(response) => {
                            assert!(node == 1, "a surviving node answered {}", response.status())
                        }
                        // Only the killed node may fail to answer.
                        Err(err) => assert_eq!(node, 1, "node {node}: {err}"),
                    }
                }
            }
            (acked_keys, acked_messages, after_kill_on_survivors)
        }
    });
    let load = spawn_all(workers);
    tokio::time::sleep(kill_at).await;
    cluster.nodes[1].child.kill().unwrap();
    let results = join_all(load).await;
    let (mut keys, mut messages, mut survivors) = (Vec::new(), Vec::new(), 0);
    for (k, m, s) in results {
        keys.extend(k);
        messages.extend(m);
        survivors += s;
    }
    assert!(
        keys.len() > 20 && messages.len() > 20,
        "{} keys, {} messages",
        keys.len(),
        messages.len()
    );
    assert!(
        survivors > 10,
        "the surviving nodes served on after the kill: {survivors}"
    );
    for id in &keys {
        let response = cluster
            .client
            .get(cluster.url(0, &format!("/api/keys/{id}")))
            .header("x-api-key", &cluster.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "key {id}");
    }
    for id in &messages {
        let response = cluster
            .client
            .get(cluster.url(2, &format!("/msg/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "message {id}");
    }
    // Every acknowledged key's creation is in the trail, and the chain holds.
    let mut conn = cluster.sql().await;
    let recorded: Vec<(String,)> =
        sqlx::query_as("SELECT extra FROM audit_events WHERE kind = 'key.create'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let recorded: String = recorded.into_iter().map(|(e,)| e).collect();
    for id in &keys {
        assert!(
            recorded.contains(id.as_str()),
            "no key.create event for {id}"
        );
    }
    let (ok, stdout, stderr) = cli(cluster.dirs[0].path(), &["audit", "verify"]);
    assert!(ok, "{stdout}{stderr}");
}

async fn a_node_whose_listener_reconnects_forgets_what_it_may_have_missed(backend: Backend) {
    let Some(cluster) = cluster(backend, "cluster: listener reconnect").await else {
        return;
    };
    let key = cluster
        .create_key(0, json!({"owner": "App 1", "role": "user"}))
        .await;
    let (id, secret) = (key["id"].as_str().unwrap(), key["key"].as_str().unwrap());
    for node in 0..3 {
        assert_eq!(cluster.whoami(node, secret).await, StatusCode::OK);
    }
    // A change no node hears of (made by hand, no NOTIFY), as one sent while a listener
    // was disconnected would be lost: the cached key is now stale everywhere.
    let mut conn = cluster.sql().await;
    sqlx::query("UPDATE api_keys SET revoked_at = 1 WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        cluster.whoami(1, secret).await,
        StatusCode::OK,
        "still cached"
    );
    // Cut every node's LISTEN connection; each reconnects, and forgets its cache.
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(cut.len(), 3, "one listener per node: {cut:?}");
    for node in 0..3 {
        cluster.until(node, secret, StatusCode::UNAUTHORIZED).await;
    }
}
