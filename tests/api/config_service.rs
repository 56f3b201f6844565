//! The encrypted config-file service (seed 002): tokens, sealed bodies and signed responses,
//! every action, optimistic concurrency, backups, refusals, key rotation, and crash safety.
//! Python's jwcrypto judges the same contract from outside in `tests/interop/envelope.py`.

use crate::helpers::{TestApp, assert_hardened, command, spawn_app_with};
use p256::ecdsa::{SigningKey, VerifyingKey};
use portcullis::clock::Clock;
use portcullis::config::{ClientKeySettings, FileSettings, Settings};
use portcullis::jose::client::{Prepared, TokenOptions, prepare};
use portcullis::jose::jwe::KeyAlg;
use portcullis::jose::keyring::{self, public_key_to_pem};
use portcullis::jose::{EcJwk, ServerKey, b64};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WG0: &str = "# wg0 on the gateway\n[Interface]\nPrivateKey = cHJpdmF0ZQ==\nAddress = 10.10.200.1/32\nListenPort = 51820\n\n# laptop\n[Peer]\nPublicKey = bGFwdG9w=\nAllowedIPs = 10.10.200.2/32\n\n# phone\n[Peer]\nPublicKey = cGhvbmU=\nAllowedIPs = 10.10.200.3/32\n";

struct Client {
    name: &'static str,
    key: SigningKey,
}

impl Client {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            key: SigningKey::from(ServerKey::generate().unwrap().secret().clone()),
        }
    }

    fn pem(&self) -> String {
        public_key_to_pem(&(*self.key.verifying_key()).into()).unwrap()
    }
}

struct Service {
    app: TestApp,
    alice: Client,
    bob: Client,
    wg0: PathBuf,
    notes: PathBuf,
}

fn files_dir(settings: &Settings) -> PathBuf {
    let dir = settings.storage.data_dir.parent().unwrap().join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn service() -> Service {
    service_with(|_| {}).await
}

async fn service_with(extra: impl FnOnce(&mut Settings)) -> Service {
    let alice = Client::new("alice");
    let bob = Client::new("bob");
    let (alice_pem, bob_pem) = (alice.pem(), bob.pem());
    let app = spawn_app_with(|s| {
        let dir = files_dir(s);
        std::fs::write(dir.join("wg0.conf"), WG0).unwrap();
        std::fs::write(dir.join("notes.txt"), "remember the milk\n").unwrap();
        s.files.insert(
            "wireguard_wg0".into(),
            FileSettings {
                path: dir.join("wg0.conf"),
                backup: true,
                format: None,
                keep_backups: 3,
            },
        );
        s.files.insert(
            "notes".into(),
            FileSettings {
                path: dir.join("notes.txt"),
                backup: false,
                format: Some("text".into()),
                keep_backups: 10,
            },
        );
        s.client_keys.insert(
            "alice".into(),
            ClientKeySettings {
                public_key: alice_pem,
                files: vec!["wireguard_wg0".into(), "notes".into()],
                actions: None,
                all_files: false,
            },
        );
        s.client_keys.insert(
            "bob".into(),
            ClientKeySettings {
                public_key: bob_pem,
                files: vec!["wireguard_wg0".into()],
                actions: Some(vec!["read_file".into(), "list_files".into()]),
                all_files: false,
            },
        );
        s.envelope.key_reload_interval = Duration::from_millis(50);
        extra(s);
    })
    .await;
    let etc = app.dir.path().join("etc");
    Service {
        app,
        alice,
        bob,
        wg0: etc.join("wg0.conf"),
        notes: etc.join("notes.txt"),
    }
}

impl Service {
    async fn jwks(&self) -> Value {
        let response = self
            .app
            .client
            .get(format!("{}/.well-known/jwks.json", self.app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn server_key(&self) -> (EcJwk, VerifyingKey) {
        let jwk: EcJwk = serde_json::from_value(self.jwks().await["keys"][0].clone()).unwrap();
        let key = VerifyingKey::from(jwk.to_public_key().unwrap());
        (jwk, key)
    }

    async fn prepare(&self, client: &Client, request: Value, options: &TokenOptions) -> Prepared {
        let (jwk, _) = self.server_key().await;
        prepare(
            client.name,
            &client.key,
            &jwk,
            KeyAlg::EcdhEsA256Kw,
            &request,
            self.app.clock.now().unix_timestamp(),
            options,
        )
        .unwrap()
    }

    async fn send(&self, token: &str, body: String) -> reqwest::Response {
        self.app
            .client
            .post(format!("{}/api/config", self.app.address))
            .bearer_auth(token)
            .header("content-type", "application/jose")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Send, check the signature, decrypt; the decrypted status must equal the HTTP status.
    async fn call(&self, client: &Client, request: Value) -> (StatusCode, Value) {
        let prepared = self
            .prepare(client, request, &TokenOptions::default())
            .await;
        self.exchange(&prepared).await
    }

    async fn exchange(&self, prepared: &Prepared) -> (StatusCode, Value) {
        let response = self.send(&prepared.token, prepared.body.clone()).await;
        let status = response.status();
        assert_hardened(&response);
        let envelope: Value = response.json().await.unwrap();
        let (_, key) = self.server_key().await;
        let opened = prepared.open_response(&envelope, &key).unwrap();
        assert_eq!(opened["status"], status.as_u16(), "{opened}");
        assert!(opened["timestamp"].as_str().unwrap().ends_with('Z'));
        (status, opened)
    }

    fn disk(&self) -> String {
        std::fs::read_to_string(&self.wg0).unwrap()
    }
}

#[tokio::test]
async fn the_key_set_is_public_and_holds_no_private_part() {
    let service = service().await;
    let jwks = service.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk: EcJwk = serde_json::from_value(keys[0].clone()).unwrap();
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[0]["alg"], "ECDH-ES+A256KW");
    assert!(keys[0].get("d").is_none());
    assert_eq!(jwk.kid.as_deref(), Some(jwk.thumbprint().as_str()));
    let pem =
        std::fs::read_to_string(service.app.dir.path().join("data/envelope/current.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(service.app.dir.path().join("data/envelope/current.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_client_lists_reads_and_writes_whole_files_with_versions_and_backups() {
    let service = service().await;
    let (status, listed) = service
        .call(&service.alice, json!({"action": "list_files"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        listed["files"],
        json!([
            {"name": "notes", "format": "text", "backup": false},
            {"name": "wireguard_wg0", "format": "ini", "backup": true}
        ])
    );
    let (_, bobs) = service
        .call(&service.bob, json!({"action": "list_files"}))
        .await;
    assert_eq!(
        bobs["files"],
        json!([{"name": "wireguard_wg0", "format": "ini", "backup": true}])
    );

    let (status, read) = service
        .call(
            &service.alice,
            json!({"action": "read_file", "file": "wireguard_wg0"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["content"], WG0);
    assert_eq!(read["message"], "File read");
    let version = read["version"].as_str().unwrap().to_owned();
    assert!(version.starts_with("sha256:") && version.len() == 71);

    let new = WG0.replace("51820", "51821");
    let (status, written) = service
        .call(
            &service.alice,
            json!({"action": "write_file", "file": "wireguard_wg0", "content": new, "if_version": version}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["message"], "File written successfully");
    assert_eq!(service.disk(), new);
    let backup = written["backup"].as_str().unwrap().to_owned();
    assert_ne!(written["version"], version.as_str());

    // The same stale version again: 409, nothing written.
    let (status, stale) = service
        .call(
            &service.alice,
            json!({"action": "write_file", "file": "wireguard_wg0", "content": WG0, "if_version": version}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["error"], "Version conflict");
    assert_eq!(stale["current_version"], written["version"]);
    assert_eq!(service.disk(), new);

    let (_, backups) = service
        .call(
            &service.alice,
            json!({"action": "list_backups", "file": "wireguard_wg0"}),
        )
        .await;
    assert_eq!(backups["backups"].as_array().unwrap().len(), 1);
    assert_eq!(backups["backups"][0]["id"], backup.as_str());
    assert_eq!(backups["backups"][0]["version"], version.as_str());
    assert_eq!(backups["backups"][0]["size"], WG0.len());

    let (status, restored) = service
        .call(
            &service.alice,
            json!({"action": "restore_backup", "file": "wireguard_wg0", "backup": backup}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["version"], version.as_str());
    assert_eq!(service.disk(), WG0);
    // Restoring is a change like any other: the replaced content was backed up too.
    let (_, backups) = service
        .call(
            &service.alice,
            json!({"action": "list_backups", "file": "wireguard_wg0"}),
        )
        .await;
    assert_eq!(backups["backups"].as_array().unwrap().len(), 2);

    // The seed's field name for content is accepted.
    let (status, _) = service
        .call(
            &service.alice,
            json!({"action": "write_file", "file": "notes", "data": "buy bread\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::fs::read_to_string(&service.notes).unwrap(),
        "buy bread\n"
    );
}

#[tokio::test]
async fn sections_are_read_added_replaced_and_deleted_keeping_comments() {
    let service = service().await;
    let (status, peer) = service
        .call(
            &service.alice,
            json!({"action": "read_section", "file": "wireguard_wg0", "section": "Peer", "where": {"PublicKey": "cGhvbmU="}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{peer}");
    assert_eq!(
        peer["section"],
        json!({"name": "Peer", "index": 1, "entries": [["PublicKey", "cGhvbmU="], ["AllowedIPs", "10.10.200.3/32"]]})
    );
    let (status, ambiguous) = service
        .call(
            &service.alice,
            json!({"action": "read_section", "file": "wireguard_wg0", "section": "Peer"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{ambiguous}");

    let tablet = json!([["PublicKey", "dGFibGV0"], ["AllowedIPs", "10.10.200.4/32"]]);
    let (status, added) = service
        .call(
            &service.alice,
            json!({"action": "write_section", "file": "wireguard_wg0", "section": "Peer", "where": {"PublicKey": "dGFibGV0"}, "entries": tablet}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["outcome"], "added");
    assert_eq!(
        service.disk(),
        format!("{WG0}\n[Peer]\nPublicKey = dGFibGV0\nAllowedIPs = 10.10.200.4/32\n")
    );

    let (status, replaced) = service
        .call(
            &service.alice,
            json!({"action": "write_section", "file": "wireguard_wg0", "section": "Peer", "where": {"PublicKey": "bGFwdG9w="},
                   "entries": [["PublicKey", "bGFwdG9w="], ["AllowedIPs", "10.10.200.20/32"]], "if_version": added["version"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["outcome"], "replaced");
    let disk = service.disk();
    assert!(
        disk.contains("# laptop\n[Peer]\nPublicKey = bGFwdG9w=\nAllowedIPs = 10.10.200.20/32\n"),
        "{disk}"
    );
    assert!(disk.starts_with("# wg0 on the gateway\n[Interface]\n"));

    let (status, deleted) = service
        .call(
            &service.alice,
            json!({"action": "delete_section", "file": "wireguard_wg0", "section": "Peer", "index": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert!(!service.disk().contains("dGFibGV0"));

    let (status, missing) = service
        .call(
            &service.alice,
            json!({"action": "delete_section", "file": "wireguard_wg0", "section": "Peer", "where": {"PublicKey": "bm9ib2R5"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");

    // Injection through an entry is refused and changes nothing.
    let before = service.disk();
    let (status, refused) = service
        .call(
            &service.alice,
            json!({"action": "write_section", "file": "wireguard_wg0", "section": "Peer", "index": 0,
                   "entries": [["PublicKey", "x\n[Interface]\nPrivateKey = evil"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(service.disk(), before);

    // The text format has no sections.
    let (status, text) = service
        .call(
            &service.alice,
            json!({"action": "read_section", "file": "notes", "section": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text["message"],
        "files in `text` format have no sections; read or write the whole file"
    );
}

#[tokio::test]
async fn writes_that_would_not_parse_and_bad_requests_change_nothing() {
    let service = service().await;
    let cases = [
        (
            json!({"action": "write_file", "file": "wireguard_wg0", "content": "[Interface]\nthis is not a key value line\n"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_file", "file": "wireguard_wg0", "content": "Key = before any section\n"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_file", "file": "wireguard_wg0"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_file", "file": "wireguard_wg0", "content": WG0, "if_verison": "x"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"action": "format_disk"}), StatusCode::BAD_REQUEST),
        (
            json!({"action": "read_file", "file": "../../etc/passwd"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"action": "read_file", "file": "/etc/passwd"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"action": "restore_backup", "file": "wireguard_wg0", "backup": "../../../etc/passwd"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"action": "read_section", "file": "wireguard_wg0", "section": "Peer", "index": 0, "where": {"a": "b"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_file", "file": "wireguard_wg0", "content": "x".repeat(300 * 1024)}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        // File names are exact: no case, NUL or space variants of a known one.
        (
            json!({"action": "read_file", "file": "WIREGUARD_WG0"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"action": "read_file", "file": "wireguard_wg0\u{0}"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"action": "read_file", "file": " wireguard_wg0"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"action": "read_file", "file": "wireguard_wg0 "}),
            StatusCode::NOT_FOUND,
        ),
        // Content that would not survive as text, or lines smuggled into an INI file.
        (
            json!({"action": "write_file", "file": "wireguard_wg0", "content": "[Interface]\nKey = a\u{0}b\n"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_section", "file": "wireguard_wg0", "section": "Peer", "index": 2, "entries": [["AllowedIPs", "10.0.0.9/32\u{85}[Interface]"]]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_section", "file": "wireguard_wg0", "section": "Peer]\n[Interface", "entries": [["A", "b"]]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"action": "write_section", "file": "wireguard_wg0", "section": "Peer", "index": 2, "entries": [["Allowed\nIPs", "x"]]}),
            StatusCode::BAD_REQUEST,
        ),
        // A position past usize.
        (
            serde_json::from_str::<Value>(r#"{"action": "read_section", "file": "wireguard_wg0", "section": "Peer", "index": 18446744073709551616}"#).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (request, expected) in cases {
        let (status, answer) = service.call(&service.alice, request.clone()).await;
        assert_eq!(status, expected, "{request} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(service.disk(), WG0);
    assert!(
        !service
            .app
            .dir
            .path()
            .join("data/backups/wireguard_wg0")
            .exists()
    );

    // A body that is not a JWE, with a valid token: 400, sealed.
    let prepared = service
        .prepare(
            &service.alice,
            json!({"action": "list_files"}),
            &TokenOptions::default(),
        )
        .await;
    let response = service
        .send(&prepared.token, "{\"action\":\"list_files\"}".into())
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, key) = service.server_key().await;
    let opened = prepared
        .open_response(&response.json().await.unwrap(), &key)
        .unwrap();
    assert_eq!(opened["status"], 400);
    assert_eq!(opened["error"], "Bad request");
}

#[tokio::test]
async fn clients_are_held_to_their_files_and_actions() {
    let service = service().await;
    let (status, answer) = service
        .call(
            &service.bob,
            json!({"action": "write_file", "file": "wireguard_wg0", "content": "[Interface]\n"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["message"], "client `bob` may not use `write_file`");
    let (status, answer) = service
        .call(
            &service.bob,
            json!({"action": "read_file", "file": "notes"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["message"], "client `bob` may not use file `notes`");
    assert_eq!(service.disk(), WG0);
    let denied = service.app.wait_for_audit("config.write_file", 1).await;
    assert_eq!(denied[0]["outcome"], "denied");
    assert_eq!(denied[0]["extra"]["client"], "bob");
}

/// A refusal in plain JSON before the body key is known; the code follows from the answer
/// (`envelope.malformed`, `envelope.expired`, …) and is checked too.
async fn plain_error(response: reqwest::Response, status: StatusCode, error: &str, message: &str) {
    assert_eq!(response.status(), status);
    assert_hardened(&response);
    let code = match (status.as_u16(), message) {
        (400, _) => "envelope.malformed",
        (403, _) => "envelope.signature",
        (_, "Authorization header with a Bearer token required") => "envelope.missing",
        (_, "token cannot be decrypted") => "envelope.undecryptable",
        (_, "token already used") => "envelope.replayed",
        (_, "token expired or not yet valid") => "envelope.expired",
        (_, m) if m.starts_with("token lives too long") => "envelope.too_long",
        (503, _) => "unavailable",
        other => panic!("no code known for {other:?}"),
    };
    assert_eq!(response.headers()["x-error-code"], code, "{message}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": error, "message": message}));
}

#[tokio::test]
async fn forged_expired_replayed_and_malformed_tokens_are_refused_in_plain_json() {
    let service = service().await;
    let list = json!({"action": "list_files"});
    let url = format!("{}/api/config", service.app.address);

    let response = service
        .app
        .client
        .post(&url)
        .body("x")
        .send()
        .await
        .unwrap();
    plain_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "Authorization header with a Bearer token required",
    )
    .await;

    let response = service.send("not.a.jwe", "x".into()).await;
    plain_error(
        response,
        StatusCode::BAD_REQUEST,
        "Bad request",
        "token: malformed JOSE object: a compact JWE has five parts",
    )
    .await;

    // Replayed: the same token twice.
    let prepared = service
        .prepare(&service.alice, list.clone(), &TokenOptions::default())
        .await;
    assert_eq!(service.exchange(&prepared).await.0, StatusCode::OK);
    let response = service.send(&prepared.token, prepared.body.clone()).await;
    plain_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "token already used",
    )
    .await;

    // Expired, from the future, and valid for too long.
    let now = service.app.clock.now().unix_timestamp();
    for (iat, exp, message) in [
        (now - 400, now - 100, "token expired or not yet valid"),
        (now + 120, now + 180, "token expired or not yet valid"),
        (
            now,
            now + 3600,
            "token lives too long: exp - iat may be at most 300 s",
        ),
    ] {
        let options = TokenOptions {
            iat: Some(iat),
            exp: Some(exp),
            jti: None,
        };
        let prepared = service
            .prepare(&service.alice, list.clone(), &options)
            .await;
        let response = service.send(&prepared.token, prepared.body.clone()).await;
        plain_error(
            response,
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            message,
        )
        .await;
    }

    // Signed by a key that is not alice's, and by an unknown issuer: the same 403.
    let mallory = Client {
        name: "alice",
        key: Client::new("x").key,
    };
    let prepared = service
        .prepare(&mallory, list.clone(), &TokenOptions::default())
        .await;
    let response = service.send(&prepared.token, prepared.body.clone()).await;
    plain_error(
        response,
        StatusCode::FORBIDDEN,
        "Signature validation failed",
        "token signature could not be verified",
    )
    .await;
    let stranger = Client::new("mallory");
    let prepared = service
        .prepare(&stranger, list.clone(), &TokenOptions::default())
        .await;
    let response = service.send(&prepared.token, prepared.body.clone()).await;
    plain_error(
        response,
        StatusCode::FORBIDDEN,
        "Signature validation failed",
        "token signature could not be verified",
    )
    .await;

    // Encrypted to a key the server does not hold, and tampered with.
    let foreign = ServerKey::generate().unwrap().public_jwk();
    let prepared = prepare(
        "alice",
        &service.alice.key,
        &foreign,
        KeyAlg::EcdhEs,
        &list,
        now,
        &TokenOptions::default(),
    )
    .unwrap();
    let response = service.send(&prepared.token, prepared.body.clone()).await;
    plain_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "token cannot be decrypted",
    )
    .await;
    let prepared = service
        .prepare(&service.alice, list.clone(), &TokenOptions::default())
        .await;
    let mut parts: Vec<&str> = prepared.token.split('.').collect();
    let flipped = b64::encode(&[0u8; 16]);
    parts[4] = &flipped;
    let response = service.send(&parts.join("."), prepared.body.clone()).await;
    plain_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "token cannot be decrypted",
    )
    .await;

    // Only POST.
    let response = service.app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    let refused = service.app.wait_for_refusals("config.refused", 10).await;
    assert!(refused.iter().all(|e| e["outcome"] == "failure"));
}

#[tokio::test]
async fn a_rotated_key_is_accepted_until_retired_and_signs_its_own_responses() {
    let service = service().await;
    let (old_jwk, old_key) = service.server_key().await;
    let keys = service.app.dir.path().join("data/envelope");
    keyring::rotate(&keys).unwrap();
    let mut jwks = service.jwks().await;
    for _ in 0..100 {
        if jwks["keys"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        jwks = service.jwks().await;
    }
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(
        jwks["keys"][1]["kid"],
        old_jwk.kid.clone().unwrap().as_str()
    );
    // A client still holding the old key is served, and verifies with the old key.
    let now = service.app.clock.now().unix_timestamp();
    let prepared = prepare(
        "alice",
        &service.alice.key,
        &old_jwk,
        KeyAlg::EcdhEsA256Kw,
        &json!({"action": "list_files"}),
        now,
        &TokenOptions::default(),
    )
    .unwrap();
    let response = service.send(&prepared.token, prepared.body.clone()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(
        prepared.open_response(&envelope, &old_key).unwrap()["status"],
        200
    );
    // And the new key works.
    assert_eq!(
        service
            .call(&service.alice, json!({"action": "list_files"}))
            .await
            .0,
        StatusCode::OK
    );

    keyring::retire(&keys).unwrap();
    for _ in 0..100 {
        if service.jwks().await["keys"].as_array().unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let prepared = prepare(
        "alice",
        &service.alice.key,
        &old_jwk,
        KeyAlg::EcdhEsA256Kw,
        &json!({"action": "list_files"}),
        now,
        &TokenOptions::default(),
    )
    .unwrap();
    let response = service.send(&prepared.token, prepared.body.clone()).await;
    plain_error(
        response,
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "token cannot be decrypted",
    )
    .await;
}

#[tokio::test]
async fn a_client_entry_naming_an_unknown_file_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.client_keys.insert(
        "alice".into(),
        ClientKeySettings {
            public_key: Client::new("alice").pem(),
            files: vec!["nope".into()],
            actions: None,
            all_files: false,
        },
    );
    let err = portcullis::startup::Application::build(
        settings,
        std::sync::Arc::new(portcullis::clock::ManualClock::new()),
        portcullis::auth::EnvKeys::none(),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(
        format!("{err:#}"),
        "configuring [client_keys]: client_keys.alice: file `nope` is not in [files]"
    );
}

/// The CLI client against the real binary: `jose keygen`, then `client config`.
#[tokio::test]
async fn the_cli_client_does_the_whole_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = crate::helpers::cli(
        dir.path(),
        &["jose", "keygen", "--name", "ops", "--dir", "keys"],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("[client_keys.ops]\npublic_key = \"\"\"\n-----BEGIN PUBLIC KEY-----\n"),
        "{stdout}"
    );
    let wg0 = dir.path().join("wg0.conf");
    std::fs::write(&wg0, WG0).unwrap();
    let config = format!(
        "[files]\nwireguard_wg0 = {{ path = \"{}\" }}\n\n{}",
        wg0.display(),
        stdout.replace("files = []", "files = [\"wireguard_wg0\"]")
    );
    std::fs::write(dir.path().join("portcullis.toml"), config).unwrap();
    let server = crate::helpers::ServerProcess::start(dir.path(), &[]);
    let client = |args: &[&str]| {
        let mut all = vec!["client", "config"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--url",
            &server.address,
            "--name",
            "ops",
            "--key",
            "keys/ops.key.pem",
        ]);
        let output = command(dir.path()).args(&all).output().unwrap();
        (
            output.status.success(),
            serde_json::from_slice::<Value>(&output.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, read, stderr) = client(&["read_file", "--file", "wireguard_wg0"]);
    assert!(ok, "{stderr}");
    assert_eq!(read["content"], WG0);
    let (ok, written, stderr) = client(&[
        "write_section",
        "--file",
        "wireguard_wg0",
        "--section",
        "Peer",
        "--where",
        "PublicKey=dGFibGV0",
        "--entry",
        "PublicKey=dGFibGV0",
        "--entry",
        "AllowedIPs=10.10.200.4/32",
        "--alg",
        "ECDH-ES",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(written["outcome"], "added");
    assert!(
        std::fs::read_to_string(&wg0)
            .unwrap()
            .ends_with("[Peer]\nPublicKey = dGFibGV0\nAllowedIPs = 10.10.200.4/32\n")
    );
    let (ok, stale, _) = client(&[
        "delete_section",
        "--file",
        "wireguard_wg0",
        "--section",
        "Peer",
        "--index",
        "0",
        "--if-version",
        read["version"].as_str().unwrap(),
    ]);
    assert!(!ok);
    assert_eq!(stale["status"], 409);
    // Pinning the server key works as well as fetching it.
    // Fetched over plain HTTP, the key comes with a warning: that is not trust.
    let (ok, _, stderr) = client(&["list_files"]);
    assert!(ok);
    assert!(
        stderr.contains("warning: fetching the server's key over plain HTTP without --server-key"),
        "{stderr}"
    );
    let (ok, show, kids) = crate::helpers::cli(dir.path(), &["jose", "show"]);
    assert!(ok);
    // stdout is the PEM alone, ready to pin; the key ids go to stderr.
    assert!(show.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{show}");
    assert!(show.ends_with("-----END PUBLIC KEY-----\n"), "{show}");
    assert!(kids.starts_with("kid "), "{kids}");
    std::fs::write(dir.path().join("server.pem"), &show).unwrap();
    let (ok, listed, stderr) = client(&["list_files", "--server-key", "server.pem"]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(listed["files"][0]["name"], "wireguard_wg0");
}

/// Kill -9 while writes are in flight: the file is always the old or the new content, whole,
/// and a write that was answered 200 is on disk after the crash.
#[tokio::test]
async fn a_crash_at_any_point_leaves_the_old_or_the_new_file_never_a_torn_one() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new("ops");
    let wg0 = dir.path().join("wg0.conf");
    // Big enough that a write takes a while, so kills land inside it.
    let body = |tag: char| {
        let mut text = String::from("[Interface]\nPrivateKey = cHJpdmF0ZQ==\n");
        while text.len() < 200 * 1024 {
            text.push_str(&format!(
                "\n[Peer]\nPublicKey = {}\nAllowedIPs = 10.0.0.1/32\n",
                tag.to_string().repeat(40)
            ));
        }
        text
    };
    let versions: Vec<String> = ['A', 'B', 'C', 'D'].into_iter().map(body).collect();
    std::fs::write(&wg0, &versions[0]).unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "[files]\nwireguard_wg0 = {{ path = \"{}\", keep_backups = 2 }}\n[client_keys.ops]\npublic_key = \"\"\"\n{}\"\"\"\nfiles = [\"wireguard_wg0\"]\n[limits]\nenabled = false\n",
            wg0.display(),
            client.pem()
        ),
    )
    .unwrap();
    for round in 0..8u64 {
        let mut server = crate::helpers::ServerProcess::start(dir.path(), &[]);
        // A fresh client per round: a pooled connection to the killed server would fail.
        let http = crate::helpers::client();
        let jwks: Value = http
            .get(format!("{}/.well-known/jwks.json", server.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwk: EcJwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let sender = {
            let (http, address, jwk, key, versions) = (
                http.clone(),
                server.address.clone(),
                jwk.clone(),
                client.key.clone(),
                versions.clone(),
            );
            tokio::spawn(async move {
                let mut acked = None;
                let mut first_tx = Some(first_tx);
                for i in 0usize.. {
                    let content = &versions[(i + 1) % versions.len()];
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    let prepared = prepare("ops", &key, &jwk, KeyAlg::EcdhEsA256Kw, &json!({"action": "write_file", "file": "wireguard_wg0", "content": content}), now, &TokenOptions::default()).unwrap();
                    let sent = http
                        .post(format!("{address}/api/config"))
                        .bearer_auth(&prepared.token)
                        .body(prepared.body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == StatusCode::OK => {
                            acked = Some(content.clone());
                            if let Some(tx) = first_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(response) => panic!("write refused: {}", response.status()),
                        Err(_) => return acked,
                    }
                }
                acked
            })
        };
        // Once a first write is acknowledged (a slow, busy machine may take a while), kill at a
        // different point of a later write each round.
        tokio::time::timeout(Duration::from_secs(30), first_rx)
            .await
            .expect("no write acknowledged within 30 s")
            .expect("the writer stopped before its first acknowledgement");
        tokio::time::sleep(Duration::from_millis(round * 97 % 400)).await;
        server.signal("KILL");
        server.wait(Duration::from_secs(5));
        let acked = sender.await.unwrap();
        let on_disk = std::fs::read_to_string(&wg0).unwrap();
        assert!(
            versions.contains(&on_disk),
            "round {round}: torn file of {} bytes",
            on_disk.len()
        );
        // The last acknowledged write, or the one after it (in flight at the kill).
        let acked = acked.expect("a write was acknowledged before the kill");
        let position = |text: &str| versions.iter().position(|v| v == text).unwrap();
        let allowed = [position(&acked), (position(&acked) + 1) % versions.len()];
        assert!(
            allowed.contains(&position(&on_disk)),
            "round {round}: an acknowledged write was lost"
        );
    }
    // The next start sweeps away temporary files an interrupted write left behind: plant one
    // (in case no kill landed mid-write), and one that is not ours and must stay.
    std::fs::write(dir.path().join(".wg0.conf.0123456789abcdef.tmp"), "torn").unwrap();
    std::fs::write(dir.path().join(".wg0.conf.notours.tmp"), "someone else's").unwrap();
    let server = crate::helpers::ServerProcess::start(dir.path(), &[]);
    let mut leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    leftovers.sort();
    assert_eq!(leftovers, [".wg0.conf.notours.tmp"]);
    // A kill between saving a backup and pruning may leave one backup too many; the next
    // write prunes to exactly the configured number.
    let http = crate::helpers::client();
    let jwks: Value = http
        .get(format!("{}/.well-known/jwks.json", server.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk: EcJwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let prepared = prepare(
        "ops",
        &client.key,
        &jwk,
        KeyAlg::EcdhEsA256Kw,
        &json!({"action": "write_file", "file": "wireguard_wg0", "content": versions[0]}),
        now,
        &TokenOptions::default(),
    )
    .unwrap();
    let response = http
        .post(format!("{}/api/config", server.address))
        .bearer_auth(&prepared.token)
        .body(prepared.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(server);
    let backups = dir.path().join("data/backups/wireguard_wg0");
    let names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".bak")).count(),
        2,
        "keep_backups = 2: {names:?}"
    );
}

/// A compact JWE whose protected header is `header`, with dummy other parts.
fn jwe_with_header(header: &Value) -> String {
    format!(
        "{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
        b64::encode(header.to_string().as_bytes())
    )
}

#[tokio::test]
async fn a_token_header_full_of_attacker_text_costs_the_audit_trail_a_few_hundred_bytes() {
    let service = service_with(|s| {
        s.limits.groups.insert(
            "config".into(),
            portcullis::limits::RateSpec::parse("1000/s").unwrap(),
        );
        s.limits.per_address = portcullis::limits::RateSpec::parse("1000/s").unwrap();
    })
    .await;
    // The review's attack: a ~6 KB `alg` (the most a token may carry now), fifty times.
    let huge = "A".repeat(6000);
    let token = jwe_with_header(&json!({"alg": huge, "enc": "A256GCM"}));
    for _ in 0..50 {
        plain_error(
            service.send(&token, "x".into()).await,
            StatusCode::BAD_REQUEST,
            "Bad request",
            &format!("token: unsupported JOSE feature: alg {}…", "A".repeat(32)),
        )
        .await;
    }
    let refused = service.app.wait_for_refusals("config.refused", 50).await;
    assert_eq!(
        refused.len(),
        2,
        "one record in full, one summary: {refused:#?}"
    );
    assert_eq!(refused[0]["extra"], json!({"reason": "malformed"}));
    assert_eq!(refused[1]["extra"]["repeated"], 49);
    let trail = service
        .app
        .get(
            "/api/audit?kind=config.refused",
            Some(&service.app.admin_key),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(trail.len() < 2000, "{} bytes", trail.len());
    assert!(!trail.contains("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

    // Anything longer than a token can be is refused before it is parsed.
    let oversized = jwe_with_header(&json!({"alg": "A".repeat(9000), "enc": "A256GCM"}));
    plain_error(
        service.send(&oversized, "x".into()).await,
        StatusCode::BAD_REQUEST,
        "Bad request",
        "token: longer than 8192 bytes",
    )
    .await;
}

#[tokio::test]
async fn tokens_asking_for_what_the_envelope_does_not_do_are_refused_over_http() {
    let service = service_with(|s| {
        s.limits.groups.insert(
            "config".into(),
            portcullis::limits::RateSpec::parse("1000/s").unwrap(),
        );
        s.limits.per_address = portcullis::limits::RateSpec::parse("1000/s").unwrap();
    })
    .await;
    let (jwk, _) = service.server_key().await;
    let kid = jwk.kid.clone().unwrap();
    let epk = json!({"kty": "EC", "crv": "P-256", "x": jwk.x, "y": jwk.y});
    let cases = [
        (
            json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "zip": "DEF", "kid": kid}),
            "token: unsupported JOSE feature: zip DEF",
        ),
        (
            json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "crit": ["exp"], "kid": kid}),
            "token: unsupported JOSE feature: crit",
        ),
        (
            json!({"alg": "ECDH-ES+A256KW", "enc": "A128GCM", "kid": kid}),
            "token: enc must be A256GCM",
        ),
        (
            json!({"alg": "dir", "enc": "A256GCM", "kid": kid}),
            "token: alg must be ECDH-ES+A256KW or ECDH-ES",
        ),
        (
            json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": kid}),
            "token: unsupported JOSE feature: alg RSA-OAEP",
        ),
    ];
    for (header, message) in cases {
        plain_error(
            service.send(&jwe_with_header(&header), "x".into()).await,
            StatusCode::BAD_REQUEST,
            "Bad request",
            message,
        )
        .await;
    }
    // Ephemeral keys that are not P-256 points are refused before any key agreement.
    let mut off_curve = epk.clone();
    off_curve["y"] = json!(b64::encode(&[1u8; 32]));
    let zero = json!({"kty": "EC", "crv": "P-256", "x": b64::encode(&[0u8; 32]), "y": b64::encode(&[0u8; 32])});
    let p384 = json!({"kty": "EC", "crv": "P-384", "x": jwk.x, "y": jwk.y});
    for (bad, status, error, message) in [
        (
            off_curve,
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            "token cannot be decrypted",
        ),
        (
            zero,
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            "token cannot be decrypted",
        ),
        (
            p384,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "key type EC P-384",
        ),
    ] {
        let header = json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": kid, "epk": bad});
        plain_error(
            service.send(&jwe_with_header(&header), "x".into()).await,
            status,
            error,
            message,
        )
        .await;
    }
    // An unknown kid cannot be decrypted.
    let header = json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": "nobody", "epk": epk});
    plain_error(
        service.send(&jwe_with_header(&header), "x".into()).await,
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "token cannot be decrypted",
    )
    .await;
}

#[tokio::test]
async fn inner_tokens_signed_with_none_or_hs256_are_refused() {
    use portcullis::jose::jwe::encrypt_ecdh;
    let service = service().await;
    let (jwk, _) = service.server_key().await;
    let server = jwk.to_public_key().unwrap();
    let now = service.app.clock.now().unix_timestamp();
    let claims = json!({"iss": "alice", "iat": now, "exp": now + 60, "jti": "j1", "body_key": b64::encode(&[7u8; 32])});
    for alg in ["none", "HS256"] {
        let inner = format!(
            "{}.{}.{}",
            b64::encode(json!({"alg": alg}).to_string().as_bytes()),
            b64::encode(claims.to_string().as_bytes()),
            if alg == "none" { "" } else { "c2ln" }
        );
        let token = encrypt_ecdh(
            inner.as_bytes(),
            &server,
            KeyAlg::EcdhEsA256Kw,
            jwk.kid.as_deref(),
            Some("JWT"),
        )
        .unwrap();
        plain_error(
            service.send(&token, "x".into()).await,
            StatusCode::BAD_REQUEST,
            "Bad request",
            &format!("token: unsupported JOSE feature: alg {alg}"),
        )
        .await;
    }
}

#[tokio::test]
async fn the_public_key_set_keeps_its_cache_policy() {
    let service = service().await;
    let response = service
        .app
        .client
        .get(format!("{}/.well-known/jwks.json", service.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
