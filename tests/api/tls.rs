//! HTTPS: the real binary, spoken to by real TLS clients (reqwest on rustls, curl and
//! openssl's s_client on OpenSSL).

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA and a leaf for localhost signed by it: (CA PEM, leaf PEM, leaf key PEM).
fn certificate_authority(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("test CA {name}"));
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (issuer.pem(), cert.pem(), key.serialize_pem())
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn port(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Run a command; (exit code, stdout, stderr).
fn run(program: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tls_self_signed_serves_https_with_hsts_and_secure_cookies_and_says_so_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.txt")).unwrap();
    let server = ServerProcess::start_with(dir.path(), &["--tls-self-signed"], &[], stderr.into());
    assert!(
        server.address.starts_with("https://127.0.0.1:"),
        "{}",
        server.address
    );
    let banner = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(
        banner.contains("DEVELOPMENT TLS CERTIFICATE: NOT FOR PRODUCTION"),
        "{banner}"
    );
    let ca_path = dir.path().join("data/tls/dev-ca.pem");
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let base = format!("https://localhost:{}", port(&server.address));
    let client = https_client(&ca);

    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    // HSTS on errors too.
    let response = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("strict-transport-security"));

    // Session cookies are Secure over TLS.
    let response = client
        .post(format!("{base}/user/login"))
        .json(&serde_json::json!({"username": "admin", "key": server.admin_key()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // The message drop over HTTPS, end to end.
    let created: Value = client
        .post(format!("{base}/"))
        .json(&serde_json::json!({"message": "over TLS"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let read: Value = client
        .get(format!("{base}{}", created["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["message"], "over TLS");

    // A client that does not trust the development CA is refused; so is plain HTTP.
    let (_, other_ca, _) = certificate_authority("other");
    let stranger = https_client(&other_ca);
    let err = stranger
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let plain = crate::helpers::client()
        .get(format!(
            "http://127.0.0.1:{}/healthz",
            port(&server.address)
        ))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.unwrap().status() != StatusCode::OK,
        "plain HTTP must not be served on the TLS port"
    );

    // The same development certificate is reused on the next start.
    let fingerprint = std::fs::read(dir.path().join("data/tls/dev-cert.pem")).unwrap();
    drop(server);
    let again = ServerProcess::start_with(dir.path(), &["--tls-self-signed"], &[], Stdio::null());
    assert_eq!(
        std::fs::read(dir.path().join("data/tls/dev-cert.pem")).unwrap(),
        fingerprint
    );
    let response = https_client(&ca)
        .get(format!(
            "https://localhost:{}/healthz",
            port(&again.address)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn curl_and_openssl_agree_tls_12_and_13_with_aead_suites_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path(),
        &["--tls-self-signed"],
        &[("PORTCULLIS_LIMITS__TLS_HANDSHAKE_TIMEOUT", "1s")],
        Stdio::null(),
    );
    let ca = dir.path().join("data/tls/dev-ca.pem");
    let ca = ca.to_str().unwrap();
    let port = port(&server.address);
    let url = format!("https://localhost:{port}/healthz");
    let connect = format!("127.0.0.1:{port}");

    let (code, body, err) = run("curl", &["-sS", "--cacert", ca, &url], "");
    assert_eq!((code, body.as_str()), (0, "{\"status\":\"ok\"}"), "{err}");
    let (code, body, err) = run(
        "curl",
        &["-sS", "--tlsv1.2", "--tls-max", "1.2", "--cacert", ca, &url],
        "",
    );
    assert_eq!((code, body.as_str()), (0, "{\"status\":\"ok\"}"), "{err}");
    // TLS 1.1, offered by a client allowed to (security level 0): the server sends an alert.
    let (code, _, err) = run(
        "curl",
        &[
            "-sS",
            "--tlsv1.1",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT@SECLEVEL=0",
            "--cacert",
            ca,
            &url,
        ],
        "",
    );
    assert_eq!(code, 35, "{err}");
    assert!(
        err.contains("alert"),
        "refused by the server, not the client: {err}"
    );

    // openssl: a modern TLS 1.2 suite is accepted, a CBC suite without forward secrecy is not.
    let (_, out, _) = run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "-CAfile",
            ca,
        ],
        "",
    );
    assert!(
        out.contains("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{out}"
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    let (_, out, err) = run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &connect,
            "-tls1_2",
            "-cipher",
            "AES128-SHA",
            "-CAfile",
            ca,
        ],
        "",
    );
    assert!(err.contains("alert handshake failure"), "{out}\n{err}");
    let (_, out, _) = run(
        "openssl",
        &[
            "s_client", "-connect", &connect, "-tls1_3", "-CAfile", ca, "-alpn", "http/1.1",
        ],
        "",
    );
    assert!(out.contains("TLSv1.3"), "{out}");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");

    // TLS 1.0 is refused like 1.1.
    let (code, _, err) = run(
        "curl",
        &[
            "-sS",
            "--tlsv1.0",
            "--tls-max",
            "1.0",
            "--ciphers",
            "DEFAULT@SECLEVEL=0",
            "--cacert",
            ca,
            &url,
        ],
        "",
    );
    assert_eq!(code, 35, "{err}");
    assert!(err.contains("alert"), "{err}");
    // RSA key exchange is refused even with an AEAD cipher.
    let (_, out, err) = run(
        "openssl",
        &[
            "s_client",
            "-connect",
            &connect,
            "-tls1_2",
            "-cipher",
            "AES128-GCM-SHA256",
            "-CAfile",
            ca,
        ],
        "",
    );
    assert!(err.contains("alert handshake failure"), "{out}\n{err}");
    // A client that speaks only HTTP/2 is told there is no protocol in common.
    let (_, out, err) = run(
        "openssl",
        &[
            "s_client", "-connect", &connect, "-tls1_3", "-CAfile", ca, "-alpn", "h2",
        ],
        "",
    );
    assert!(err.contains("no application protocol"), "{out}\n{err}");

    // A socket that never says hello is closed after the handshake deadline (1 s here).
    let mut idle = std::net::TcpStream::connect(&connect).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = std::io::Read::read(&mut idle, &mut buf);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(15),
        "closed after {waited:?}"
    );
}

/// One TLS connection kept open across requests.
struct OpenConnection {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

impl OpenConnection {
    async fn open(address: &str, ca_pem: &str) -> std::io::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(portcullis::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(address).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        Ok(Self {
            stream: connector.connect(name, tcp).await?,
        })
    }

    /// `GET /healthz` on this connection; the status.
    async fn healthz(&mut self) -> u16 {
        self.stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed");
            buffer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buffer).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if body.len() >= length {
                    return head[9..12].parse().unwrap();
                }
            }
        }
    }
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    // As an operator would: new files renamed into place.
    std::fs::write(dir.join("cert.pem.new"), cert).unwrap();
    std::fs::write(dir.join("key.pem.new"), key).unwrap();
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_a, cert_a, key_a) = certificate_authority("A");
    let (ca_b, cert_b, key_b) = certificate_authority("B");
    write_pair(dir.path(), &cert_a, &key_a);
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let logs = dir.path().join("logs");
    let log = logs.join("portcullis.log");
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("PORTCULLIS_LOGGING__LOG_FILE", log.to_str().unwrap()),
            ("PORTCULLIS_SERVER__TLS__CERT", cert.to_str().unwrap()),
            ("PORTCULLIS_SERVER__TLS__KEY", key.to_str().unwrap()),
        ],
    );
    let address = server.address.trim_start_matches("https://").to_owned();
    let mut kept = OpenConnection::open(&address, &ca_a).await.unwrap();
    assert_eq!(kept.healthz().await, 200);
    assert!(OpenConnection::open(&address, &ca_b).await.is_err());

    write_pair(dir.path(), &cert_b, &key_b);
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while OpenConnection::open(&address, &ca_b).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut fresh = OpenConnection::open(&address, &ca_b).await.unwrap();
    assert_eq!(fresh.healthz().await, 200);
    // The connection opened before the reload still works, on its old certificate.
    assert_eq!(kept.healthz().await, 200);
    assert!(OpenConnection::open(&address, &ca_a).await.is_err());

    // A broken file on reload is refused; the server keeps the certificate it has.
    std::fs::write(&cert, "not a certificate").unwrap();
    server.signal("HUP");
    // Judged once the server has tried and refused, not after a guessed pause.
    wait_for_log(&logs, "certificate not reloaded", 1);
    let mut still = OpenConnection::open(&address, &ca_b).await.unwrap();
    assert_eq!(still.healthz().await, 200);
    // A key from another certificate is refused as well.
    write_pair(dir.path(), &cert_a, &key_b);
    server.signal("HUP");
    wait_for_log(&logs, "certificate not reloaded", 2);
    assert!(OpenConnection::open(&address, &ca_b).await.is_ok());
    assert_eq!(fresh.healthz().await, 200);
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert_a, _) = certificate_authority("A");
    let (_, _, key_b) = certificate_authority("B");
    write_pair(dir.path(), &cert_a, &key_b);
    // `serve` with `[server.tls]` naming `cert`; it must fail: (stdout, stderr).
    let refused = |cert: &str, extra: &[&str]| {
        let output = command(dir.path())
            .args(["serve", "--port", "0"])
            .args(extra)
            .env("PORTCULLIS_SERVER__TLS__CERT", dir.path().join(cert))
            .env("PORTCULLIS_SERVER__TLS__KEY", dir.path().join("key.pem"))
            .output()
            .unwrap();
        assert!(!output.status.success());
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = refused("cert.pem", &[]);
    // Said once, naming both files and what to do.
    assert_eq!(
        stderr,
        format!(
            "portcullis: loading [server.tls] certificate: the key in {} does not belong to the \
             certificate in {}: give the key the certificate was issued for (server.tls.key), or \
             the certificate of this key (server.tls.cert)\n",
            dir.path().join("key.pem").display(),
            dir.path().join("cert.pem").display()
        )
    );
    assert!(stdout.is_empty());
    // Both the flag and the section, and a missing file: refused with a clear message.
    let (_, stderr) = refused("cert.pem", &["--tls-self-signed"]);
    assert!(stderr.contains("choose one"), "{stderr}");
    let (_, stderr) = refused("missing.pem", &[]);
    assert!(stderr.contains("missing.pem"), "{stderr}");
}

#[test]
fn the_cli_client_speaks_https_trusting_the_development_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = cli(
        dir.path(),
        &["jose", "keygen", "--name", "ops", "--dir", "keys"],
    );
    assert!(ok, "{stderr}");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "over TLS\n").unwrap();
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "[files]\nnotes = {{ path = \"{}\", format = \"text\" }}\n\n{}",
            notes.display(),
            stdout.replace("files = []", "files = [\"notes\"]")
        ),
    )
    .unwrap();
    let server = ServerProcess::start_with(dir.path(), &["--tls-self-signed"], &[], Stdio::null());
    let url = format!("https://localhost:{}", port(&server.address));
    let read = |extra: &[&str]| {
        let mut args = vec![
            "client",
            "config",
            "read_file",
            "--file",
            "notes",
            "--url",
            &url,
            "--name",
            "ops",
            "--key",
            "keys/ops.key.pem",
        ];
        args.extend_from_slice(extra);
        let output = command(dir.path()).args(&args).output().unwrap();
        (
            output.status.success(),
            serde_json::from_slice::<Value>(&output.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, body, stderr) = read(&["--ca-cert", "data/tls/dev-ca.pem"]);
    assert!(ok, "{stderr}");
    assert_eq!(body["content"], "over TLS\n");
    // Without the CA the certificate is not trusted, and nothing is sent.
    let (ok, _, stderr) = read(&[]);
    assert!(!ok);
    assert!(
        stderr.contains("invalid peer certificate: UnknownIssuer"),
        "{stderr}"
    );
}
