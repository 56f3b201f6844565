//! `portcullis jose keygen | rotate | retire | show`: client key pairs and the server's
//! envelope keys.

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
    },
    /// Start a rotation of the server key: a new key becomes current, the old one is still
    /// accepted until `retire`. Running servers pick the change up within seconds.
    Rotate,
    /// End a rotation: the previous server key is deleted and no longer accepted.
    Retire,
    /// Print the server's key ids and the current public key (PEM), e.g. to pin in clients.
    Show,
}

/// Run a `jose` verb.
pub fn run(settings: Settings, args: JoseArgs) -> anyhow::Result<()> {
    let dir = settings.storage.data_dir.join(ENVELOPE_KEY_DIR);
    let configured = settings.envelope.private_key.is_some();
    match args.verb {
        Verb::Keygen { name, dir } => keygen(&name, &dir),
        Verb::Rotate => {
            anyhow::ensure!(
                !configured,
                "the server key is set in [envelope] private_key: rotate it there (move it to previous_private_key)"
            );
            let keys = keyring::rotate(&dir)?;
            let jwks = keys.jwks();
            println!("current key: {}", keys.current().kid());
            println!(
                "previous key (accepted until `portcullis jose retire`): {}",
                jwks["keys"][1]["kid"].as_str().unwrap_or("-")
            );
            Ok(())
        }
        Verb::Retire => {
            anyhow::ensure!(
                !configured,
                "the server key is set in [envelope]: remove previous_private_key there"
            );
            match keyring::retire(&dir)? {
                Some(kid) => println!("retired key {kid}"),
                None => println!("no previous key to retire"),
            }
            Ok(())
        }
        Verb::Show => {
            let keys = envelope_keyring(&settings)?.get();
            for key in keys.jwks()["keys"].as_array().into_iter().flatten() {
                println!("kid {}", key["kid"].as_str().unwrap_or_default());
            }
            print!(
                "{}",
                public_key_to_pem(&keys.current().secret().public_key())?
            );
            Ok(())
        }
    }
}

fn keygen(name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::configfiles::valid_name(name),
        "a client name is letters, digits, `_`, `-` and `.`"
    );
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
    println!("[client_keys.{name}]");
    println!("public_key = \"\"\"\n{}\"\"\"", public_pem);
    println!("files = []");
    Ok(())
}
