//! What a newcomer and an operator meet first: configuration mistakes said once, in words,
//! naming the file or variable, the key, the value and what is expected; commands run from
//! the wrong directory that create nothing; a closed pipe; the mount path of `base_url`;
//! seed 002's own config form.

use crate::helpers::*;
use crate::process::raw;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;

/// Run the CLI in `dir` with extra environment: (success, stdout, stderr).
fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = command(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn configuration_mistakes_are_said_once_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let file = |text: &str| {
        std::fs::write(dir.path().join("portcullis.toml"), text).unwrap();
        // `keys generate` loads the settings and touches no store.
        let (ok, stdout, stderr) = run(dir.path(), &["keys", "generate"], &[]);
        assert!(!ok && stdout.is_empty(), "{stdout}");
        stderr
    };
    assert_eq!(
        file("[server]\nport = \"abc\"\n"),
        "portcullis: configuration error in portcullis.toml: `server.port` = \"abc\": expected a whole number from 0 to 65535\n"
    );
    assert_eq!(
        file("[logging]\nlevel = \"verbose\"\n"),
        "portcullis: configuration error in portcullis.toml: `logging.level`: \"verbose\": `verbose` is not a log level; \
         use one of off, error, warn, info, debug, trace, or directives such as \"info,portcullis::access=warn\"\n"
    );
    assert_eq!(
        file("[client_keys.alice]\nfiles = [\"wg0\"]\n"),
        "portcullis: configuration error in portcullis.toml: `client_keys.alice.public_key` is required but missing\n"
    );
    // Seed 002's sample `[files]` line is not TOML; the error says where.
    let stderr = file("[files]\nwireguard_wg0 = [\"/etc/wireguard/wg0.conf\", backup=true]\n");
    assert!(
        stderr.starts_with(
            "portcullis: configuration error in portcullis.toml: portcullis.toml is not valid TOML: \
             TOML parse error at line 2, column"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("TOML parse error").count(), 1, "{stderr}");
    std::fs::remove_file(dir.path().join("portcullis.toml")).unwrap();

    // The environment: the variable is named as the operator wrote it.
    let (ok, _, stderr) = run(
        dir.path(),
        &["keys", "generate"],
        &[("PORTCULLIS_SERVER__PORT", "x")],
    );
    assert!(!ok);
    assert_eq!(
        stderr,
        "portcullis: configuration error in the environment: PORTCULLIS_SERVER__PORT = \"x\": expected a whole number from 0 to 65535\n"
    );
    // Lists in a variable: `a,b`, `a` and `["a","b"]` all work; a wrong entry is named.
    for value in [
        "keys,audit",
        "keys",
        "[\"keys\",\"audit\"]",
        " keys , audit ",
    ] {
        let (ok, _, stderr) = run(
            dir.path(),
            &["keys", "generate"],
            &[("PORTCULLIS_AUTH__SIGNED_GROUPS", value)],
        );
        assert!(ok, "{value}: {stderr}");
    }
    let (ok, _, stderr) = run(
        dir.path(),
        &["keys", "generate"],
        &[("PORTCULLIS_AUTH__SIGNED_GROUPS", "keys,audi")],
    );
    assert!(!ok);
    assert_eq!(
        stderr,
        "portcullis: configuration error in the environment (PORTCULLIS_AUTH__SIGNED_GROUPS): `auth.signed_groups`: \
         unknown route group `audi`; known: identity, keys, verify, sessions, audit, config, messages, message_posts, campaigns, device, metrics\n"
    );
    // A missing --config file.
    let (ok, _, stderr) = run(
        dir.path(),
        &["--config", "nope.toml", "keys", "generate"],
        &[],
    );
    assert!(!ok);
    assert_eq!(
        stderr,
        "portcullis: configuration error in nope.toml: cannot read nope.toml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_list_in_the_environment_takes_effect() {
    // Not only accepted: `keys,audit` makes both groups require signed requests.
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(
        dir.path(),
        &[("PORTCULLIS_AUTH__SIGNED_GROUPS", "keys,audit")],
    );
    let admin = server.admin_key();
    for path in ["/api/keys", "/api/audit"] {
        let (status, body) = raw::request(
            &server.address,
            "GET",
            path,
            &[("X-API-Key", admin.as_str())],
            "",
        );
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"], "Signature required", "{path}");
    }
    let (status, _) = raw::request(
        &server.address,
        "GET",
        "/api/whoami",
        &[("X-API-Key", admin.as_str())],
        "",
    );
    assert_eq!(status, 200);
    server.signal("TERM");
    assert!(server.wait(std::time::Duration::from_secs(10)).success());
}

#[test]
fn commands_that_read_create_no_store_and_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    let looked = dir
        .path()
        .canonicalize()
        .unwrap()
        .join("data")
        .join("portcullis.db");
    let expected = format!(
        "portcullis: no store at {}: nothing to read. Run this command where the server runs \
         (storage.data_dir is relative to the current directory), or point --config or \
         PORTCULLIS_STORAGE__DATA_DIR at the server's settings\n",
        looked.display()
    );
    for args in [
        &["keys", "list"][..],
        &["keys", "show", "abcdefghijkm"],
        &["keys", "revoke", "abcdefghijkm"],
        &["audit", "verify"],
        &["audit", "checkpoint"],
        &["audit", "export"],
    ] {
        let (ok, stdout, stderr) = run(dir.path(), args, &[]);
        assert!(!ok, "{args:?}");
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(stderr, expected, "{args:?}");
    }
    let (ok, _, stderr) = run(dir.path(), &["jose", "show"], &[]);
    assert!(!ok);
    assert!(
        stderr.starts_with("portcullis: no server key at "),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "a read-only command created the data directory"
    );
    // `keys create` may start a store, and says so.
    let (ok, stdout, stderr) = run(
        dir.path(),
        &["keys", "create", "--owner", "a", "--role", "user"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("pcl_"), "{stdout}");
    assert!(
        stderr.starts_with(&format!(
            "portcullis: no store at {}; creating a new, empty one there\n",
            looked.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_data_directory_that_cannot_be_one_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), "").unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (ok, _, stderr) = run(
        dir.path(),
        &["serve", "--port", "0"],
        &[("PORTCULLIS_STORAGE__DATA_DIR", "afile")],
    );
    assert!(!ok);
    assert_eq!(
        stderr,
        format!(
            "portcullis: the data directory {} is a file, not a directory: move the file away, or set \
             storage.data_dir (PORTCULLIS_STORAGE__DATA_DIR) to a directory\n",
            root.join("afile").display()
        )
    );
    // Beneath a file: the OS refuses, and the path and the setting are named.
    let (ok, _, stderr) = run(
        dir.path(),
        &["serve", "--port", "0"],
        &[("PORTCULLIS_STORAGE__DATA_DIR", "afile/data")],
    );
    assert!(!ok);
    assert_eq!(
        stderr,
        format!(
            "portcullis: cannot create the data directory {}: Not a directory (os error 20); set \
             storage.data_dir (PORTCULLIS_STORAGE__DATA_DIR) to a directory this user may write\n",
            root.join("afile/data").display()
        )
    );
}

#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..40 {
        let (ok, _, stderr) = run(
            dir.path(),
            &[
                "keys",
                "create",
                "--owner",
                &format!("owner {n}"),
                "--role",
                "user",
            ],
            &[],
        );
        assert!(ok, "{stderr}");
    }
    // `keys list --json | head -c 300`: the reader leaves after 300 bytes.
    let mut child = command(dir.path())
        .args(["keys", "list", "--json", "--limit", "200"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 300];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn audit_and_jose_verbs_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(
        dir.path(),
        &["keys", "create", "--owner", "a", "--role", "user"],
        &[],
    );
    assert!(ok, "{stderr}");
    let (ok, stdout, _) = run(dir.path(), &["audit", "verify", "--json"], &[]);
    assert!(ok);
    let verified: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verified["intact"], true);
    assert_eq!(verified["records"], 1);
    let last = verified["last_record"].as_str().unwrap().to_owned();
    assert!(last.starts_with("1:"), "{last}");
    let wrong = format!("1:{}", "0".repeat(64));
    let (ok, stdout, _) = run(
        dir.path(),
        &["audit", "verify", "--json", "--expect", &wrong],
        &[],
    );
    assert!(!ok);
    let broken: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(broken["intact"], false);
    assert!(
        broken["broken"]
            .as_str()
            .unwrap()
            .ends_with(&format!("(--expect {wrong})")),
        "{broken}"
    );
    let (ok, stdout, _) = run(dir.path(), &["audit", "checkpoint", "--json"], &[]);
    assert!(ok);
    let checkpoint: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(checkpoint["checkpoint"], last);
    assert_eq!(checkpoint["reset_to"], Value::Null);
    let (ok, stdout, _) = run(dir.path(), &["audit", "export", "--json"], &[]);
    assert!(ok);
    let event: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(event["kind"], "key.create");
    let (ok, stdout, stderr) = run(
        dir.path(),
        &[
            "jose", "keygen", "--name", "alice", "--dir", "keys", "--json",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let made: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(made["private_key_file"], "keys/alice.key.pem");
    assert!(
        made["client_keys_toml"]
            .as_str()
            .unwrap()
            .starts_with("[client_keys.alice]\n")
    );
    let (ok, stdout, stderr) = run(dir.path(), &["jose", "rotate", "--json"], &[]);
    assert!(ok, "{stderr}");
    let rotated: Value = serde_json::from_str(&stdout).unwrap();
    let (ok, stdout, _) = run(dir.path(), &["jose", "show", "--json"], &[]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown["kids"],
        json!([rotated["current"], rotated["previous"]])
    );
    assert!(
        shown["current_public_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
}

#[test]
fn a_client_key_is_imported_from_pem_and_other_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(
        dir.path(),
        &["jose", "keygen", "--name", "bob", "--dir", "keys"],
        &[],
    );
    assert!(ok, "{stderr}");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "n\n").unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!("[files]\nnotes = {{ path = \"{}\" }}\n", notes.display()),
    )
    .unwrap();
    let (ok, table, stderr) = run(
        dir.path(),
        &[
            "jose",
            "import-client",
            "--name",
            "carol",
            "--public-key",
            "keys/bob.pub.pem",
            "--files",
            "notes",
            "--actions",
            "read_file,list_files",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let pem = std::fs::read_to_string(dir.path().join("keys/bob.pub.pem")).unwrap();
    assert_eq!(
        table,
        format!(
            "[client_keys.carol]\npublic_key = \"\"\"\n{}\n\"\"\"\nfiles = [\"notes\"]\nactions = [\"read_file\", \"list_files\"]\n",
            pem.trim_end()
        )
    );
    // The printed table is a working configuration.
    let mut config = std::fs::read_to_string(dir.path().join("portcullis.toml")).unwrap();
    config.push_str(&table);
    std::fs::write(dir.path().join("portcullis.toml"), config).unwrap();
    let (ok, _, stderr) = run(dir.path(), &["keys", "generate"], &[]);
    assert!(ok, "{stderr}");
    // A private key, an RSA key, a file not in [files], an unknown action: each named.
    let rsa = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMvqW0pD3pn8o6vCTq2eEqa6ZBpJ0Dl2\nGSyXFjfoVhcKpRbKpVUmpMkJiy9iCU1NNJgXyrpNIGjsd1rxpz1RjK0CAwEAAQ==\n-----END PUBLIC KEY-----\n";
    std::fs::write(dir.path().join("rsa.pem"), rsa).unwrap();
    for (args, said) in [
        (
            vec!["--name", "d", "--public-key", "keys/bob.key.pem"],
            "keys/bob.key.pem is not usable: invalid key: a private key: give the client's public key",
        ),
        (
            vec!["--name", "d", "--public-key", "rsa.pem"],
            "rsa.pem is not usable: invalid key: an RSA key: the envelope uses P-256",
        ),
        (
            vec![
                "--name",
                "d",
                "--public-key",
                "keys/bob.pub.pem",
                "--files",
                "wg0",
            ],
            "file `wg0` is not in [files] of this configuration",
        ),
        (
            vec![
                "--name",
                "d",
                "--public-key",
                "keys/bob.pub.pem",
                "--actions",
                "rm",
            ],
            "unknown action `rm`; the actions are ",
        ),
        (
            vec!["--name", "carol", "--public-key", "keys/bob.pub.pem"],
            "a client named `carol` is already configured",
        ),
    ] {
        let mut all = vec!["jose", "import-client"];
        all.extend(args);
        let (ok, stdout, stderr) = run(dir.path(), &all, &[]);
        assert!(!ok && stdout.is_empty());
        assert!(
            stderr.starts_with(&format!("portcullis: {said}")),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn base_url_mounts_every_route_under_its_path() {
    let app = spawn_app_with(|s| s.server.base_url = Some("/portcullis/".into())).await;
    assert_eq!(
        app.get("/portcullis/healthz", None).await.status(),
        StatusCode::OK
    );
    let whoami = app
        .get("/portcullis/api/whoami", Some(&app.admin_key))
        .await;
    assert_eq!(whoami.status(), StatusCode::OK);
    // Outside the path: our 404, hardened like any answer.
    for outside in ["/healthz", "/api/whoami", "/", "/portcullisx/healthz"] {
        let response = app.get(outside, Some(&app.admin_key)).await;
        assert_error(
            response,
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "The requested resource does not exist",
        )
        .await;
    }
    // Links the server returns carry the path.
    let created = app
        .post_json(
            "/portcullis/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "o", "role": "user"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    assert_eq!(
        location,
        format!("/portcullis/api/keys/{}", body["id"].as_str().unwrap())
    );
    let posted = app
        .post_json("/portcullis/", None, &json!({"message": "hi"}))
        .await;
    assert_eq!(posted.status(), StatusCode::CREATED);
    let message: Value = posted.json().await.unwrap();
    let url = message["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("/portcullis/msg/{}", message["id"].as_str().unwrap())
    );
    assert_eq!(message["delete_url"], format!("{url}/delete"));
    let read: Value = app.get(url, None).await.json().await.unwrap();
    assert_eq!(read["message"], "hi");
    // The seed's allow list still holds under the path.
    let put = app
        .client
        .put(app.url("/portcullis/"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.headers()["allow"], "GET, POST");
    assert_error_code(put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let described: Value = app.get("/portcullis/", None).await.json().await.unwrap();
    assert!(
        described["endpoints"]["GET /portcullis/msg/{id}"].is_string(),
        "{described}"
    );
}

#[test]
fn a_base_url_that_is_not_a_url_or_a_path_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(
        dir.path(),
        &["serve", "--port", "0"],
        &[("PORTCULLIS_SERVER__BASE_URL", "portcullis")],
    );
    assert!(!ok);
    assert_eq!(
        stderr,
        "portcullis: configuration error in the environment (PORTCULLIS_SERVER__BASE_URL): `server.base_url`: \
         \"portcullis\": use a URL such as \"https://api.example.com/portcullis\" or a path such as \"/portcullis\"\n"
    );
}

#[test]
fn a_redis_that_does_not_answer_is_said_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let log = logs.join("p.log");
    for (failure, said) in [
        (
            "open",
            "REDIS DOES NOT ANSWER: rate limits, quotas and nonces are this node's own until it does",
        ),
        (
            "closed",
            "REDIS DOES NOT ANSWER: limited requests get 503 until it does",
        ),
    ] {
        let mut server = ServerProcess::start(
            dir.path(),
            &[
                (
                    "PORTCULLIS_STORAGE__REDIS_URL",
                    "redis://:hunter2@127.0.0.1:1",
                ),
                ("PORTCULLIS_LIMITS__REDIS_FAILURE", failure),
                ("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap()),
            ],
        );
        // Said before the server listens: the log holds it once the address is known.
        let text = all_text_under(&logs);
        assert!(text.contains(said), "{failure}: {text}");
        assert!(text.contains("redis=redis://:***@127.0.0.1:1"), "{text}");
        assert!(
            !text.contains("hunter2"),
            "the Redis password reached the log"
        );
        assert!(!text.contains("rate limits shared through redis"), "{text}");
        server.signal("TERM");
        let status = server.wait(std::time::Duration::from_secs(10));
        assert!(status.success(), "{failure}: {status:?}");
        std::fs::remove_dir_all(&logs).unwrap();
    }
}

#[test]
fn seed_002s_config_toml_is_named_not_silently_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[server]\nport = 8000\n").unwrap();
    let (ok, _, stderr) = run(dir.path(), &["keys", "generate"], &[]);
    assert!(ok);
    assert_eq!(
        stderr,
        "portcullis: note: ./config.toml is not read; settings come from ./portcullis.toml, or pass --config config.toml\n"
    );
    // Named with --config, its seed-style `debug = true` is understood.
    std::fs::write(dir.path().join("config.toml"), "[logging]\ndebug = true\n").unwrap();
    let (ok, _, stderr) = run(
        dir.path(),
        &["--config", "config.toml", "keys", "generate"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "");
}
