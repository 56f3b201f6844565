//! `portcullis keys …`: the same verbs as the admin API, straight on the store, so keys can
//! be managed with no server running (or alongside one: its cache picks up the change within
//! `auth.refresh_interval`).

use crate::audit::{AuditLog, CHECKPOINT_FILE};
use crate::auth::KeyManager;
use crate::auth::key_format;
use crate::auth::keys::{
    ChangedBy, CreateKey, ImportFormat, IssuedKey, KeyView, QuotaRequest, SetLimits, read_import,
};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::limits::Refill;
use crate::startup::audit_key;
use crate::store::{KeyFilter, KeyState, OwnerKind};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use std::sync::Arc;

/// `keys` and its verbs.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    verb: Verb,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Create a key and print it, once.
    Create {
        /// Owner name (a user or an application); created on first use.
        #[arg(long)]
        owner: String,
        /// Whether a new owner is a person or a program.
        #[arg(long, value_enum, default_value = "user")]
        owner_kind: Kind,
        /// admin, user or device.
        #[arg(long)]
        role: String,
        /// Label to tell this owner's keys apart.
        #[arg(long)]
        label: Option<String>,
        /// Lifetime, e.g. 90d.
        #[arg(long)]
        expires_in: Option<String>,
        /// Free-form JSON object.
        #[arg(long)]
        metadata: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Set a key's rate limit and quota (flags left out are removed).
    Limits {
        /// Key id.
        id: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List keys.
    List {
        /// Only this owner's keys.
        #[arg(long)]
        owner: Option<String>,
        /// Only keys with this role.
        #[arg(long)]
        role: Option<String>,
        /// Only keys in this state.
        #[arg(long, value_enum)]
        state: Option<State>,
        /// Page size.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Cursor from the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one key.
    Show {
        /// Key id.
        id: String,
    },
    /// Revoke a key for good.
    Revoke {
        /// Key id.
        id: String,
    },
    /// Replace a key with a new one for the same owner and role.
    Rotate {
        /// Key id.
        id: String,
        /// How long the old key keeps working, e.g. 1h (default: revoked at once).
        #[arg(long)]
        grace: Option<String>,
    },
    /// Enable a disabled key.
    Enable {
        /// Key id.
        id: String,
    },
    /// Disable a key (reversible).
    Disable {
        /// Key id.
        id: String,
    },
    /// Import keys issued by another system, by their SHA-256, from a JSON Lines or CSV
    /// file: all of them, or none when any line is bad or its hash is known already.
    Import {
        /// The file (`-` for standard input).
        file: std::path::PathBuf,
        /// jsonl or csv (default: from the file's extension, else jsonl).
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
    },
    /// Print a fresh random 64-hex-character key without storing it (for ADMIN_API_KEY etc.).
    Generate,
    /// On a store with no keys yet: create the first admin key and print it once, here,
    /// instead of `serve` writing it to `initial-admin.key`. Refused once any key exists.
    Bootstrap,
}

/// Rate limit and quota flags.
#[derive(Debug, Args)]
struct LimitArgs {
    /// Rate limit, e.g. "100/min" or "10/s burst 20" (default: the role's).
    #[arg(long)]
    rate: Option<String>,
    /// Number of uses allowed per period.
    #[arg(long)]
    quota: Option<i64>,
    /// When the quota refills.
    #[arg(long, value_enum, default_value = "never", requires = "quota")]
    refill: RefillArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RefillArg {
    Never,
    Daily,
    Monthly,
}

impl LimitArgs {
    fn quota(&self) -> Option<QuotaRequest> {
        self.quota.map(|limit| QuotaRequest {
            limit,
            refill: match self.refill {
                RefillArg::Never => Refill::Never,
                RefillArg::Daily => Refill::Daily,
                RefillArg::Monthly => Refill::Monthly,
            },
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    User,
    App,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FileFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum State {
    Active,
    Disabled,
    Expired,
    Revoked,
}

/// Run a `keys` verb.
pub async fn run(settings: Settings, args: KeysArgs) -> anyhow::Result<()> {
    if let Verb::Generate = args.verb {
        let key = key_format::generate_hex64()?;
        if args.json {
            outln!("{}", json!({ "key": key.expose() }));
        } else {
            outln!("{}", key.expose());
        }
        return Ok(());
    }
    let creates = matches!(
        args.verb,
        Verb::Create { .. } | Verb::Bootstrap | Verb::Import { .. }
    );
    let store = super::open_store(&settings, creates).await?;
    let clock = Arc::new(SystemClock);
    let audit = AuditLog::direct(
        Arc::clone(&store),
        clock.clone(),
        audit_key(&settings)?,
        Some(settings.storage.data_dir.join(CHECKPOINT_FILE)),
    );
    let keys = KeyManager::new(Arc::clone(&store), clock, None).with_audit(audit);
    match args.verb {
        Verb::Bootstrap => {
            let issued = keys
                .create_first(crate::startup::initial_admin_key(), ChangedBy::CommandLine)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the store at {} already has keys; bootstrap only creates the first one \
                         (use `portcullis keys create --role admin` with an admin's consent instead)",
                        crate::redis_client::redacted(&settings.storage.database_url())
                    )
                })?;
            print_issued(&keys, &issued, None, args.json)?;
        }
        Verb::Create {
            owner,
            owner_kind,
            role,
            label,
            expires_in,
            metadata,
            limits,
        } => {
            let metadata = match metadata {
                Some(text) => Some(
                    serde_json::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("--metadata must be a JSON object: {e}"))?,
                ),
                None => None,
            };
            let issued = keys
                .create(
                    CreateKey {
                        owner,
                        owner_kind: match owner_kind {
                            Kind::User => OwnerKind::User,
                            Kind::App => OwnerKind::App,
                        },
                        role,
                        label,
                        expires_in,
                        metadata,
                        rate: limits.rate.clone(),
                        quota: limits.quota(),
                    },
                    ChangedBy::CommandLine,
                )
                .await?;
            print_issued(&keys, &issued, None, args.json)?;
        }
        Verb::List {
            owner,
            role,
            state,
            limit,
            cursor,
        } => {
            let filter = KeyFilter {
                owner,
                role,
                state: state.map(|s| match s {
                    State::Active => KeyState::Active,
                    State::Disabled => KeyState::Disabled,
                    State::Expired => KeyState::Expired,
                    State::Revoked => KeyState::Revoked,
                }),
                after: None,
                limit,
            };
            let page = keys.list(filter, cursor.as_deref()).await?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                outln!(
                    "{:<14} {:<8} {:<9} {:<24} {:<21} LABEL",
                    "ID",
                    "ROLE",
                    "STATE",
                    "OWNER",
                    "EXPIRES"
                );
                for key in &page.keys {
                    outln!(
                        "{:<14} {:<8} {:<9} {:<24} {:<21} {}",
                        key.id,
                        key.role,
                        state_name(key.state),
                        key.owner,
                        key.expires_at.as_deref().unwrap_or("never"),
                        key.label.as_deref().unwrap_or("")
                    );
                }
                if let Some(cursor) = page.next_cursor {
                    outln!("more: --cursor {cursor}");
                }
            }
        }
        Verb::Show { id } => print_view(&keys.present(&keys.get(&id).await?), args.json)?,
        Verb::Limits { id, limits } => {
            let request = SetLimits {
                rate: limits.rate.clone(),
                quota: limits.quota(),
            };
            let view = keys.present(
                &keys
                    .set_limits(&id, request, ChangedBy::CommandLine)
                    .await?,
            );
            print_view(&view, args.json)?;
        }
        Verb::Revoke { id } => {
            let view = keys.present(&keys.revoke(&id, ChangedBy::CommandLine).await?);
            print_view(&view, args.json)?;
        }
        Verb::Enable { id } => {
            let view = keys.present(&keys.set_enabled(&id, true, ChangedBy::CommandLine).await?);
            print_view(&view, args.json)?;
        }
        Verb::Disable { id } => {
            let view = keys.present(&keys.set_enabled(&id, false, ChangedBy::CommandLine).await?);
            print_view(&view, args.json)?;
        }
        Verb::Rotate { id, grace } => {
            let (old, issued) = keys
                .rotate(&id, grace.as_deref(), ChangedBy::CommandLine)
                .await?;
            let previous = keys.present(&old);
            print_issued(&keys, &issued, Some(previous), args.json)?;
        }
        Verb::Import { file, format } => {
            let format = match format {
                Some(FileFormat::Csv) => ImportFormat::Csv,
                Some(FileFormat::Jsonl) => ImportFormat::JsonLines,
                None if file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
                {
                    ImportFormat::Csv
                }
                None => ImportFormat::JsonLines,
            };
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            let records = keys
                .import(read_import(&text, format)?, ChangedBy::CommandLine)
                .await?;
            let views: Vec<KeyView> = records.iter().map(|r| keys.present(r)).collect();
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "imported": views }))?
                );
            } else {
                outln!("imported {} keys", views.len());
                for view in &views {
                    outln!("{:<14} {:<8} {}", view.id, view.role, view.owner);
                }
            }
        }
        Verb::Generate => {}
    }
    Ok(())
}

fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Active => "active",
        KeyState::Disabled => "disabled",
        KeyState::Expired => "expired",
        KeyState::Revoked => "revoked",
    }
}

fn print_view(view: &KeyView, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(view)?);
    } else {
        outln!("id:           {}", view.id);
        outln!("owner:        {} ({:?})", view.owner, view.owner_kind);
        outln!("role:         {}", view.role);
        outln!("state:        {}", state_name(view.state));
        outln!("label:        {}", view.label.as_deref().unwrap_or("-"));
        outln!(
            "created:      {}",
            view.created_at.as_deref().unwrap_or("-")
        );
        outln!(
            "expires:      {}",
            view.expires_at.as_deref().unwrap_or("never")
        );
        outln!(
            "last used:    {}",
            view.last_used_at.as_deref().unwrap_or("never")
        );
        outln!(
            "revoked:      {}",
            view.revoked_at.as_deref().unwrap_or("-")
        );
        if let Some(next) = &view.replaced_by {
            outln!("replaced by:  {next}");
        }
    }
    Ok(())
}

fn print_issued(
    keys: &KeyManager,
    issued: &IssuedKey,
    previous: Option<KeyView>,
    json: bool,
) -> anyhow::Result<()> {
    let view = keys.present(&issued.record);
    if json {
        let mut body = serde_json::to_value(&view)?;
        if let Some(object) = body.as_object_mut() {
            object.insert("key".to_owned(), json!(issued.token.expose()));
            if let Some(previous) = &previous {
                object.insert("previous".to_owned(), serde_json::to_value(previous)?);
            }
        }
        outln!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        outln!("{}", issued.token.expose());
        eprintln!(
            "key {} for {} ({}) created; it is shown only this once.",
            view.id, view.owner, view.role
        );
        if let Some(previous) = previous {
            match previous.state {
                KeyState::Revoked => eprintln!("previous key {} is revoked.", previous.id),
                _ => eprintln!(
                    "previous key {} keeps working until {}.",
                    previous.id,
                    previous.expires_at.as_deref().unwrap_or("-")
                ),
            }
        }
    }
    Ok(())
}
