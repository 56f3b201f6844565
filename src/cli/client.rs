//! `portcullis client config <action> …`: the client side of the encrypted config service,
//! so that nobody has to hand-roll tokens, encryption and signature checks.

use crate::jose::EcJwk;
use crate::jose::client::{TokenOptions, prepare};
use crate::jose::jwe::KeyAlg;
use crate::jose::keyring::public_key_from_pem;
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// `client` and its services.
#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    service: Service,
}

#[derive(Debug, Subcommand)]
enum Service {
    /// Call the encrypted config-file service.
    Config(ConfigArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Alg {
    /// ECDH-ES+A256KW (default).
    #[value(name = "ECDH-ES+A256KW")]
    EcdhEsA256Kw,
    /// ECDH-ES (direct key agreement).
    #[value(name = "ECDH-ES")]
    EcdhEs,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// `list_files`, `read_file`, `write_file`, `read_section`, `write_section`,
    /// `delete_section`, `list_backups` or `restore_backup`.
    action: String,
    /// Server base URL.
    #[arg(long, env = "PORTCULLIS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Also trust this CA certificate (PEM) for an https URL, such as the `dev-ca.pem` of
    /// `serve --tls-self-signed`; the system's roots are trusted in any case.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// This client's name (`[client_keys.<name>]` on the server).
    #[arg(long, env = "PORTCULLIS_CLIENT")]
    name: String,
    /// This client's private key (PEM), as written by `portcullis jose keygen`.
    #[arg(long, env = "PORTCULLIS_CLIENT_KEY")]
    key: PathBuf,
    /// The server's public key (PEM, from `portcullis jose show`) to pin; without it the
    /// key set is fetched from the server (trust on first use: prefer pinning over plain HTTP).
    #[arg(long, env = "PORTCULLIS_SERVER_KEY")]
    server_key: Option<PathBuf>,
    /// Key management algorithm of the token.
    #[arg(long, value_enum, default_value = "ECDH-ES+A256KW")]
    alg: Alg,
    /// File entry name.
    #[arg(long)]
    file: Option<String>,
    /// Section name (e.g. `Peer`).
    #[arg(long)]
    section: Option<String>,
    /// Section position among those of the same name.
    #[arg(long)]
    index: Option<usize>,
    /// Select the section having KEY=VALUE (repeatable).
    #[arg(long = "where", value_name = "KEY=VALUE")]
    matching: Vec<String>,
    /// An entry of the section to write, in order (repeatable).
    #[arg(long = "entry", value_name = "KEY=VALUE")]
    entries: Vec<String>,
    /// File with the new content for `write_file` (`-` for stdin).
    #[arg(long)]
    content: Option<PathBuf>,
    /// Refuse to change the file unless it is still at this version.
    #[arg(long)]
    if_version: Option<String>,
    /// Backup id for `restore_backup`.
    #[arg(long)]
    backup: Option<String>,
}

fn pair(text: &str) -> anyhow::Result<(String, String)> {
    let (key, value) = text
        .split_once('=')
        .with_context(|| format!("`{text}` is not KEY=VALUE"))?;
    Ok((key.trim().to_owned(), value.trim().to_owned()))
}

fn request_body(args: &ConfigArgs) -> anyhow::Result<Value> {
    let mut body = json!({ "action": args.action });
    let mut set = |k: &str, v: Value| body[k] = v;
    if let Some(file) = &args.file {
        set("file", file.clone().into());
    }
    if let Some(section) = &args.section {
        set("section", section.clone().into());
    }
    if let Some(index) = args.index {
        set("index", index.into());
    }
    if !args.matching.is_empty() {
        let map: serde_json::Map<String, Value> = args
            .matching
            .iter()
            .map(|m| pair(m).map(|(k, v)| (k, Value::from(v))))
            .collect::<anyhow::Result<_>>()?;
        set("where", Value::Object(map));
    }
    if !args.entries.is_empty() || args.action == "write_section" {
        let entries: Vec<(String, String)> = args
            .entries
            .iter()
            .map(|e| pair(e))
            .collect::<anyhow::Result<_>>()?;
        set("entries", json!(entries));
    }
    if let Some(path) = &args.content {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        };
        set("content", text.into());
    }
    if let Some(version) = &args.if_version {
        set("if_version", version.clone().into());
    }
    if let Some(backup) = &args.backup {
        set("backup", backup.clone().into());
    }
    Ok(body)
}

/// Run `client config`. Prints the decrypted response; `Ok(false)` when its status is not 200.
pub async fn run(args: ClientArgs) -> anyhow::Result<bool> {
    let Service::Config(args) = args.service;
    let pem = Zeroizing::new(
        std::fs::read_to_string(&args.key)
            .with_context(|| format!("reading {}", args.key.display()))?,
    );
    let client_key = SigningKey::from(crate::jose::ServerKey::from_pem(&pem)?.secret().clone());
    let mut http = reqwest::Client::builder();
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        http = http.tls_certs_merge([reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", path.display()))?]);
    }
    let http = http.build().context("building the HTTP client")?;
    let base = args.url.trim_end_matches('/');
    let (server_jwk, server_key) = server_key(&http, base, args.server_key.as_deref()).await?;
    let alg = match args.alg {
        Alg::EcdhEsA256Kw => KeyAlg::EcdhEsA256Kw,
        Alg::EcdhEs => KeyAlg::EcdhEs,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let prepared = prepare(
        &args.name,
        &client_key,
        &server_jwk,
        alg,
        &request_body(&args)?,
        now,
        &TokenOptions::default(),
    )?;
    let response = http
        .post(format!("{base}/api/config"))
        .bearer_auth(&prepared.token)
        .header("content-type", "application/jose")
        .body(prepared.body.clone())
        .send()
        .await
        .with_context(|| format!("POST {base}/api/config"))?;
    let status = response.status();
    let body: Value = response.json().await.context("the response is not JSON")?;
    if body.get("data").is_none() {
        // Refused before the body key was known: a plain JSON error.
        outln!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(false);
    }
    let opened = prepared
        .open_response(&body, &server_key)
        .context("the response failed its signature check or could not be decrypted")?;
    outln!("{}", serde_json::to_string_pretty(&opened)?);
    Ok(status.is_success())
}

async fn server_key(
    http: &reqwest::Client,
    base: &str,
    pinned: Option<&std::path::Path>,
) -> anyhow::Result<(EcJwk, VerifyingKey)> {
    if let Some(path) = pinned {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = public_key_from_pem(&pem)?;
        let mut jwk = EcJwk::from_public_key(&key.into());
        jwk.kid = Some(jwk.thumbprint());
        return Ok((jwk, key));
    }
    if base.starts_with("http://") {
        eprintln!(
            "portcullis: warning: fetching the server's key over plain HTTP without --server-key; \
             whoever sits on the path could hand over their own (trust on first use over plain \
             HTTP is not trust). Pin it: on the server run `portcullis jose show > server.pem`, \
             then pass --server-key server.pem, or use HTTPS"
        );
    }
    let jwks: Value = http
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .with_context(|| format!("GET {base}/.well-known/jwks.json"))?
        .json()
        .await?;
    let Some(first) = jwks["keys"].get(0) else {
        bail!("the server published no keys");
    };
    let jwk: EcJwk =
        serde_json::from_value(first.clone()).context("the server key is not an EC JWK")?;
    let key = VerifyingKey::from(jwk.to_public_key()?);
    Ok((jwk, key))
}
