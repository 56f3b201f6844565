//! Building audit events. Nothing secret goes in: actors are ids, keys appear only as their
//! public ids, and free text is ours, never a request body.

use crate::store::AuditDraft;
use serde_json::Value;

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
}

impl AuditEvent {
    /// A new event of `kind` (e.g. `login.failure`), in the `api` context.
    pub fn new(kind: &str, outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            draft: AuditDraft {
                at_ms: 0,
                kind: kind.to_owned(),
                outcome: outcome.as_str().to_owned(),
                route: None,
                message: message.into(),
                context: "api".to_owned(),
                owner_id: None,
                key_id: None,
                client: None,
                extra: serde_json::Map::new(),
            },
        }
    }

    /// Where it happened: `api`, `cli`, `system`.
    pub fn context(mut self, context: &str) -> Self {
        self.draft.context = context.to_owned();
        self
    }

    /// The matched route.
    pub fn route(mut self, route: Option<&str>) -> Self {
        self.draft.route = route.map(str::to_owned);
        self
    }

    /// The acting owner and key, by id (never a secret).
    pub fn actor_ids(mut self, owner_id: Option<&str>, key_id: Option<&str>) -> Self {
        self.draft.owner_id = owner_id.map(str::to_owned);
        self.draft.key_id = key_id.map(str::to_owned);
        self
    }

    /// Client address.
    pub fn client(mut self, client: Option<String>) -> Self {
        self.draft.client = client;
        self
    }

    /// An extra field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.draft.extra.insert(key.to_owned(), value.into());
        self
    }
}
