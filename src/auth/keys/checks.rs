//! What a key request may hold: names, roles, lifetimes, limits and ids, each refused with
//! the field named.

use super::*;

pub(super) fn validate_limits(
    rate: Option<&str>,
    quota: Option<QuotaRequest>,
) -> Result<KeyLimits, KeyError> {
    let rate_limit = rate
        .map(|text| {
            RateSpec::parse(text)
                .map(|spec| spec.to_string())
                .map_err(|e| KeyError::Invalid(format!("rate: {e}")))
        })
        .transpose()?;
    if let Some(q) = quota
        && !(1..=1_000_000_000_000).contains(&q.limit)
    {
        return Err(KeyError::Invalid(
            "quota.limit must be between 1 and 10^12".to_owned(),
        ));
    }
    Ok(KeyLimits {
        rate_limit,
        quota: quota.map(|q| (q.limit, q.refill.as_str().to_owned())),
    })
}

pub(super) fn validate_metadata(
    metadata: serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, KeyError> {
    if serde_json::to_vec(&metadata)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
        > MAX_METADATA_BYTES
    {
        return Err(KeyError::Invalid(format!(
            "metadata must serialize to at most {MAX_METADATA_BYTES} bytes"
        )));
    }
    Ok(metadata)
}

pub(super) fn validate_name(field: &str, value: &str) -> Result<String, KeyError> {
    let trimmed = value.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_NAME_LEN
        || trimmed.chars().any(char::is_control)
    {
        return Err(KeyError::Invalid(format!(
            "{field} must be 1 to {MAX_NAME_LEN} characters without control characters"
        )));
    }
    Ok(trimmed.to_owned())
}

pub(super) fn parse_role(name: &str) -> Result<Role, KeyError> {
    Role::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        KeyError::Invalid(format!("role must be one of: {}", names.join(", ")))
    })
}

/// Parse `"90d"`, `"12h"`, `"30m"` into seconds, within (0, ten years].
pub fn parse_lifetime(field: &str, text: &str) -> Result<i64, KeyError> {
    let duration = crate::duration::parse(text).ok_or_else(|| {
        KeyError::Invalid(format!(
            "{field} must be a duration such as \"90d\" or \"12h\""
        ))
    })?;
    if duration.is_zero() || duration > MAX_LIFETIME {
        return Err(KeyError::Invalid(format!(
            "{field} must be more than zero and at most ten years"
        )));
    }
    i64::try_from(duration.as_secs()).map_err(|_| KeyError::Invalid(format!("{field} is too long")))
}

/// Key ids are short base36 strings; anything else cannot exist, so don't ask the store.
pub(super) fn check_id(id: &str) -> Result<(), KeyError> {
    if id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        Ok(())
    } else if id.starts_with(|c: char| c.is_ascii_uppercase()) && id.ends_with("_API_KEY") {
        Err(KeyError::EnvironmentKey)
    } else {
        Err(KeyError::NotFound)
    }
}
