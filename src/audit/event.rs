//! Building audit events. Nothing secret goes in: actors are ids, keys appear only as their
//! public ids, and free text is ours, never a request body.
//!
//! Every value is bounded as it enters an event: a string is cut to [`MAX_TEXT`] characters,
//! a list to [`MAX_ITEMS`] entries, nesting to [`MAX_DEPTH`]. A refusal may carry something
//! the client chose (a username, a header value); without a bound, one request could add
//! hundreds of kilobytes to a trail that is never pruned.

use crate::store::AuditDraft;
use serde_json::Value;
use std::net::IpAddr;

/// Longest string kept in an event, in characters.
pub const MAX_TEXT: usize = 200;
/// Most entries kept of a list or an object inside an event.
pub const MAX_ITEMS: usize = 32;
/// Deepest nesting kept inside an event's extra fields.
pub const MAX_DEPTH: usize = 4;

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Success,
    /// Credentials or a signature were refused.
    Failure,
    /// Authenticated, but not allowed.
    Denied,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// An event under construction; the time is stamped when it is recorded.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub(crate) draft: AuditDraft,
    /// The client address, typed: refusals are aggregated per address.
    pub(crate) client_ip: Option<IpAddr>,
    /// Counted like a refusal though it succeeded (see [`AuditEvent::repeats_counted`]).
    pub(crate) repeats_counted: bool,
}

/// `text` cut to [`MAX_TEXT`] characters (marked with `…` when cut).
pub fn bounded_text(text: &str) -> String {
    bounded_string(text.to_owned())
}

/// [`bounded_text`] in place: a short string is returned as it is, without a copy.
fn bounded_string(mut text: String) -> String {
    // A string of at most MAX_TEXT bytes has at most MAX_TEXT characters.
    if text.len() <= MAX_TEXT {
        return text;
    }
    if let Some((end, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(end);
        text.push('…');
    }
    text
}

/// `value` with every string, list and object bounded, and nesting cut at [`MAX_DEPTH`].
pub fn bounded(value: Value) -> Value {
    bounded_at(value, 0)
}

fn bounded_at(value: Value, depth: usize) -> Value {
    match value {
        Value::String(text) => Value::String(bounded_string(text)),
        Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => Value::String("…".to_owned()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .take(MAX_ITEMS)
                .map(|v| bounded_at(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .take(MAX_ITEMS)
                .map(|(k, v)| (bounded_string(k), bounded_at(v, depth + 1)))
                .collect(),
        ),
        other => other,
    }
}

impl AuditEvent {
    /// A new event of `kind` (e.g. `login.failure`), in the `api` context.
    pub fn new(kind: &str, outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            draft: AuditDraft {
                at_ms: 0,
                kind: bounded_text(kind),
                outcome: outcome.as_str().to_owned(),
                route: None,
                message: bounded_string(message.into()),
                context: "api".to_owned(),
                owner_id: None,
                key_id: None,
                client: None,
                extra: serde_json::Map::new(),
            },
            client_ip: None,
            repeats_counted: false,
        }
    }

    /// Repeats of this event are counted, as refusals are (the first of its kind, client,
    /// reason and subject in a window in full, then one summary with the count), and the
    /// caller does not wait for it to be committed: for a success that changes nothing, such
    /// as a key verification, which another service may ask for on every one of its own
    /// requests.
    pub fn repeats_counted(mut self) -> Self {
        self.repeats_counted = true;
        self
    }

    /// Whether the caller waits until the event is committed: a success acknowledges a
    /// change, and must not be acknowledged before its record is durable.
    pub(crate) fn awaits_commit(&self) -> bool {
        self.draft.outcome == Outcome::Success.as_str() && !self.repeats_counted
    }

    /// Where it happened: `api`, `cli`, `system`.
    pub fn context(mut self, context: &str) -> Self {
        self.draft.context = bounded_text(context);
        self
    }

    /// A refused request, as every refusal is recorded: where it came from, which route, and
    /// why by a reason code — never a value the client sent (repeats from one address are
    /// aggregated by the log).
    pub fn refused(
        kind: &str,
        message: &str,
        route: Option<&str>,
        client: Option<IpAddr>,
        reason: &str,
    ) -> Self {
        Self::new(kind, Outcome::Failure, message)
            .route(route)
            .client(client)
            .with("reason", reason)
    }

    /// The matched route.
    pub fn route(mut self, route: Option<&str>) -> Self {
        self.draft.route = route.map(bounded_text);
        self
    }

    /// The acting owner and key, by id (never a secret).
    pub fn actor_ids(mut self, owner_id: Option<&str>, key_id: Option<&str>) -> Self {
        self.draft.owner_id = owner_id.map(bounded_text);
        self.draft.key_id = key_id.map(bounded_text);
        self
    }

    /// Client address.
    pub fn client(mut self, client: Option<IpAddr>) -> Self {
        self.draft.client = client.map(|ip| ip.to_string());
        self.client_ip = client;
        self
    }

    /// An extra field, bounded (see the module comment).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if self.draft.extra.len() < MAX_ITEMS || self.draft.extra.contains_key(key) {
            self.draft
                .extra
                .insert(bounded_text(key), bounded(value.into()));
        }
        self
    }

    /// Whether repeats of this event are counted rather than recorded one by one.
    pub(crate) fn counts_repeats(&self) -> bool {
        self.draft.outcome != Outcome::Success.as_str() || self.repeats_counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_value_chosen_by_a_client_is_cut() {
        let event = AuditEvent::new("auth.failure", Outcome::Failure, "x".repeat(10_000))
            .with("reason", "A".repeat(400_000))
            .with("list", vec!["b".repeat(300); 1000]);
        let text = serde_json::to_string(&event.draft).unwrap();
        assert!(text.len() < 10_000, "{} bytes", text.len());
        assert_eq!(
            event.draft.extra["reason"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            MAX_TEXT + 1
        );
        assert_eq!(
            event.draft.extra["list"].as_array().unwrap().len(),
            MAX_ITEMS
        );
    }

    #[test]
    fn deep_nesting_is_cut_and_short_values_are_kept() {
        let deep = json!({"a": {"b": {"c": {"d": {"e": 1}}}}});
        assert_eq!(bounded(deep), json!({"a": {"b": {"c": {"d": "…"}}}}));
        assert_eq!(bounded(json!("short")), json!("short"));
        assert_eq!(bounded(json!(42)), json!(42));
    }
}
