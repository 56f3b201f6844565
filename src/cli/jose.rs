//! `portcullis jose keygen | import-client | rotate | retire | show`: client key pairs and
//! the server's envelope keys.

use crate::config::Settings;
use crate::jose::ServerKey;
use crate::jose::keyring::{self, public_key_to_pem};
use crate::startup::{ENVELOPE_KEY_DIR, envelope_keyring};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// `jose` and its verbs.
#[derive(Debug, Args)]
pub struct JoseArgs {
    #[command(subcommand)]
    verb: Verb,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Make a client key pair: `<name>.key.pem` (private, 0600) and `<name>.pub.pem`, and
    /// print the `[client_keys.<name>]` table for the server's config.
    Keygen {
        /// Client name (the `iss` of its tokens).
        #[arg(long)]
        name: String,
        /// Directory to write the two files to.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Names from `[files]` to put in the printed table (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        files: Vec<String>,
        /// Actions to put in the printed table (default: all eight).
        #[arg(long, value_delimiter = ',')]
        actions: Vec<String>,
    },
    /// Register a client that already has a key pair: check its public key (PEM) and print
    /// the `[client_keys.<name>]` table to add to the server's config.
    ImportClient {
        /// Client name (the `iss` of its tokens).
        #[arg(long)]
        name: String,
        /// The client's public key, PEM (`BEGIN PUBLIC KEY`, P-256).
        #[arg(long)]
        public_key: PathBuf,
        /// Names from `[files]` the client may use (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        files: Vec<String>,
        /// Actions the client may use (default: all eight).
        #[arg(long, value_delimiter = ',')]
        actions: Vec<String>,
    },
    /// Start a rotation of the server key: a new key becomes current, the old one is still
    /// accepted until `retire`. Running servers pick the change up within seconds.
    Rotate,
    /// End a rotation: the previous server key is deleted and no longer accepted.
    Retire,
    /// Print the current public key (PEM) on stdout, e.g. `> server.pem` to pin in clients,
    /// and the key ids on stderr.
    Show,
}

/// Run a `jose` verb.
pub fn run(settings: Settings, args: JoseArgs) -> anyhow::Result<()> {
    let dir = settings.storage.data_dir.join(ENVELOPE_KEY_DIR);
    let configured = settings.envelope.private_key.is_some();
    let json = args.json;
    match args.verb {
        Verb::Keygen {
            name,
            dir,
            files,
            actions,
        } => keygen(&name, &dir, &files, &actions, json),
        Verb::ImportClient {
            name,
            public_key,
            files,
            actions,
        } => import_client(&settings, &name, &public_key, &files, &actions, json),
        Verb::Rotate => {
            anyhow::ensure!(
                !configured,
                "the server key is set in [envelope] private_key: rotate it there (move it to previous_private_key)"
            );
            let keys = keyring::rotate(&dir)?;
            let jwks = keys.jwks();
            let previous = jwks["keys"][1]["kid"].as_str().unwrap_or("-");
            if json {
                outln!(
                    "{}",
                    serde_json::json!({ "current": keys.current().kid(), "previous": previous })
                );
            } else {
                outln!("current key: {}", keys.current().kid());
                outln!("previous key (accepted until `portcullis jose retire`): {previous}");
            }
            Ok(())
        }
        Verb::Retire => {
            anyhow::ensure!(
                !configured,
                "the server key is set in [envelope]: remove previous_private_key there"
            );
            let retired = keyring::retire(&dir)?;
            if json {
                outln!("{}", serde_json::json!({ "retired": retired }));
            } else {
                match retired {
                    Some(kid) => outln!("retired key {kid}"),
                    None => outln!("no previous key to retire"),
                }
            }
            Ok(())
        }
        Verb::Show => {
            // Reading only: a data directory without a key is the wrong one, not a new one.
            if !configured && !dir.join(keyring::CURRENT).exists() {
                anyhow::bail!(
                    "no server key at {}: run this where the server runs (storage.data_dir is \
                     relative to the current directory), or point --config at its settings; \
                     the server creates the key on its first start",
                    std::path::absolute(dir.join(keyring::CURRENT))
                        .unwrap_or_else(|_| dir.join(keyring::CURRENT))
                        .display()
                );
            }
            let keys = envelope_keyring(&settings)?.get();
            let pem = public_key_to_pem(&keys.current().secret().public_key())?;
            let jwks = keys.jwks();
            let kids: Vec<&str> = jwks["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|key| key["kid"].as_str())
                .collect();
            if json {
                outln!(
                    "{}",
                    serde_json::json!({ "kids": kids, "current_public_key": pem, "jwks": jwks })
                );
            } else {
                // The PEM alone on stdout, so `jose show > server.pem` is a file to pin.
                for kid in kids {
                    eprintln!("kid {kid}");
                }
                out!("{pem}");
            }
            Ok(())
        }
    }
}

/// A client name is the `iss` of its tokens and a TOML table name.
fn check_client_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::services::configfiles::valid_name(name),
        "a client name is letters, digits, `_`, `-` and `.`"
    );
    Ok(())
}

fn check_actions(actions: &[String]) -> anyhow::Result<()> {
    if let Some(action) = actions
        .iter()
        .find(|a| !crate::services::configfiles::ACTIONS.contains(&a.as_str()))
    {
        anyhow::bail!(
            "unknown action `{action}`; the actions are {}",
            crate::services::configfiles::ACTIONS.join(", ")
        );
    }
    Ok(())
}

/// The `[client_keys.<name>]` table for a client's public key.
fn client_table(name: &str, public_pem: &str, files: &[String], actions: &[String]) -> String {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|item| format!("{item:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut table = format!(
        "[client_keys.{name}]\npublic_key = \"\"\"\n{}\n\"\"\"\nfiles = [{}]\n",
        public_pem.trim_end(),
        list(files)
    );
    if !actions.is_empty() {
        table.push_str(&format!("actions = [{}]\n", list(actions)));
    }
    table
}

fn import_client(
    settings: &Settings,
    name: &str,
    public_key: &std::path::Path,
    files: &[String],
    actions: &[String],
    json: bool,
) -> anyhow::Result<()> {
    check_client_name(name)?;
    anyhow::ensure!(
        !settings.client_keys.contains_key(name),
        "a client named `{name}` is already configured"
    );
    let pem = std::fs::read_to_string(public_key)
        .with_context(|| format!("reading {}", public_key.display()))?;
    let key = keyring::public_key_from_pem(&pem)
        .with_context(|| format!("{} is not usable", public_key.display()))?;
    if let Some(file) = files.iter().find(|f| !settings.files.contains_key(*f)) {
        anyhow::bail!("file `{file}` is not in [files] of this configuration");
    }
    if let Some(action) = actions
        .iter()
        .find(|a| !crate::services::configfiles::ACTIONS.contains(&a.as_str()))
    {
        anyhow::bail!(
            "unknown action `{action}`; the actions are {}",
            crate::services::configfiles::ACTIONS.join(", ")
        );
    }
    // Printed in the canonical form, whatever the input's line endings or comments.
    let canonical = public_key_to_pem(&p256::PublicKey::from(&key))?;
    let table = client_table(name, &canonical, files, actions);
    if json {
        outln!(
            "{}",
            serde_json::json!({ "name": name, "public_key": canonical, "client_keys_toml": table })
        );
    } else {
        out!("{table}");
    }
    Ok(())
}

fn keygen(
    name: &str,
    dir: &std::path::Path,
    files: &[String],
    actions: &[String],
    json: bool,
) -> anyhow::Result<()> {
    check_actions(actions)?;
    check_client_name(name)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = ServerKey::generate()?;
    let private = dir.join(format!("{name}.key.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let public_pem = public_key_to_pem(&key.secret().public_key())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .with_context(|| format!("creating {} (it must not exist yet)", private.display()))?;
    file.write_all(key.to_pem()?.as_bytes())?;
    file.sync_all()?;
    std::fs::write(&public, &public_pem)
        .with_context(|| format!("writing {}", public.display()))?;
    eprintln!(
        "wrote {} (private, keep it secret) and {}",
        private.display(),
        public.display()
    );
    let table = client_table(name, &public_pem, files, actions);
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "private_key_file": private.display().to_string(),
                "public_key_file": public.display().to_string(),
                "public_key": public_pem,
                "client_keys_toml": table,
            })
        );
    } else {
        out!("{table}");
    }
    Ok(())
}
