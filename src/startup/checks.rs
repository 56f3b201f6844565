//! Start-up checks that say what is wrong in the log: file modes, Redis, the audit
//! checkpoint, and settings that let one address fill the message drop.

use super::*;

/// Make the data directory and the log files private (0700/0600) if something left them
/// readable by others, saying what was changed; warn about a database outside the data
/// directory that others can read (that one is the operator's to fix).
pub(super) fn tighten_private_files(settings: &Settings) {
    let mut tightened = Vec::new();
    match crate::file_modes::tighten_tree(&settings.storage.data_dir) {
        Ok(paths) => tightened.extend(paths),
        Err(err) => {
            tracing::warn!(dir = %settings.storage.data_dir.display(), error = %err, "could not check the data directory's permissions")
        }
    }
    if let Some(log_file) = &settings.logging.log_file {
        match crate::file_modes::tighten_log_files(log_file) {
            Ok(paths) => tightened.extend(paths),
            Err(err) => {
                tracing::warn!(file = %log_file.display(), error = %err, "could not check the log files' permissions")
            }
        }
    }
    for path in tightened {
        tracing::warn!(path = %path.display(), "was readable by other users; made private (0600 files, 0700 directories)");
    }
    let url = settings.storage.database_url();
    if let Some(file) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let file = Path::new(file.split('?').next().unwrap_or(file));
        let inside = file.starts_with(&settings.storage.data_dir);
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        for path in [file.to_owned(), PathBuf::from(wal)] {
            if !inside && crate::file_modes::is_loose(&path).unwrap_or(false) {
                tracing::warn!(path = %path.display(), "the database lies outside the data directory and other users can read it; chmod 600 it");
            }
        }
    }
}

/// Ask Redis at start and say plainly what that means, so neither the log nor `/healthz`
/// claims shared limits that no request has tried yet.
pub(super) async fn announce_redis(
    limiter: &Limiter,
    url: &str,
    limits: &crate::config::LimitSettings,
) {
    let shown = crate::redis_client::redacted(url);
    match limiter.check_redis().await {
        Some(true) => {
            tracing::info!(redis = %shown, prefix = %limits.redis_prefix, "rate limits shared through redis")
        }
        Some(false) if limits.redis_failure == RedisFailure::Open => tracing::error!(
            redis = %shown,
            "REDIS DOES NOT ANSWER: rate limits, quotas and nonces are this node's own until it \
             does (limits.redis_failure = \"open\"); the message drop answers 503. Start Redis or \
             fix storage.redis_url"
        ),
        Some(false) => tracing::error!(
            redis = %shown,
            "REDIS DOES NOT ANSWER: limited requests get 503 until it does \
             (limits.redis_failure = \"closed\"). Start Redis or fix storage.redis_url"
        ),
        None => {}
    }
}

/// Compare the chain with its checkpoint (one read). A mismatch means records were cut or
/// rewritten while the server was down: say so loudly, and return false so the checkpoint
/// is left as evidence until an operator resets it (`portcullis audit checkpoint --reset`).
pub(super) async fn check_audit_checkpoint(store: &dyn crate::store::Store, path: &Path) -> bool {
    let checkpoint = match Checkpoint::read(path) {
        Ok(Some(checkpoint)) => checkpoint,
        Ok(None) => return true,
        Err(err) => {
            tracing::error!(path = %path.display(), error = %err, "the audit checkpoint cannot be read; it will not be updated until `portcullis audit checkpoint --reset`");
            return false;
        }
    };
    match crate::audit::matches_checkpoint(store, &checkpoint).await {
        Ok(Ok(())) => true,
        Ok(Err(broken)) => {
            tracing::error!(
                path = %path.display(),
                %broken,
                "THE AUDIT TRAIL DOES NOT MATCH ITS CHECKPOINT; run `portcullis audit verify`. \
                 The checkpoint is kept as evidence until `portcullis audit checkpoint --reset`"
            );
            false
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not compare the audit trail with its checkpoint");
            true
        }
    }
}

/// With open posting, the most messages one address can keep alive is its posting rate times
/// the longest lifetime. When that reaches `max_live`, one client can fill the drop and keep
/// it full; say so at start, with the settings that change it.
pub(super) fn warn_if_one_address_can_fill_the_drop(settings: &Settings) {
    let messages = &settings.messages;
    let limits = &settings.limits;
    if messages.posting != crate::config::Posting::Open || !limits.enabled {
        return;
    }
    let per_second =
        |spec: &crate::limits::RateSpec| f64::from(spec.count) / f64::from(spec.period_secs.max(1));
    let mut rate = per_second(&limits.per_address);
    if let Some(group) = limits
        .groups
        .get(crate::config::RouteGroup::MessagePosts.as_str())
    {
        rate = rate.min(per_second(group));
    }
    let reachable = rate * messages.max_expires_in.as_secs_f64();
    let max_live = messages.max_live as f64;
    if reachable >= max_live {
        tracing::warn!(
            reachable = reachable.round(),
            max_live = messages.max_live,
            "one client address can keep more messages alive than messages.max_live and fill the \
             message drop for everyone; lower limits.groups.message_posts or messages.max_expires_in, \
             or set messages.posting = \"key\""
        );
    }
}
