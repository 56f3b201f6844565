//! Route groups: the names by which settings address a set of routes (`limits.groups`,
//! `auth.signed_groups`) and by which routes declare where they belong. One list, so a route
//! and the settings cannot disagree on a spelling.

/// A set of routes that share limits and the signed-request rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteGroup {
    /// `/api/whoami`, `/user/logout`.
    Identity,
    /// `/api/keys…`.
    Keys,
    /// `POST /api/keys/verify`: keys checked on behalf of another service.
    Verify,
    /// `/api/sessions…`.
    Sessions,
    /// `/api/audit`.
    Audit,
    /// `/api/config` (the config-file service).
    Config,
    /// Reads and deletes of the message drop.
    Messages,
    /// Posts to the message drop.
    MessagePosts,
    /// `/user/login`, `/api/login` (unauthenticated: limited per address).
    Login,
    /// The campaign manager's campaign, SMS, upload, database and suppression routes.
    Campaigns,
    /// The phone's reports: `/api/device/…` (the webhook is limited per address).
    Device,
    /// `GET /metrics` on the API.
    Metrics,
}

impl RouteGroup {
    /// Every group, in the order the documentation lists them.
    pub const ALL: [RouteGroup; 12] = [
        Self::Identity,
        Self::Keys,
        Self::Verify,
        Self::Sessions,
        Self::Audit,
        Self::Config,
        Self::Messages,
        Self::MessagePosts,
        Self::Login,
        Self::Campaigns,
        Self::Device,
        Self::Metrics,
    ];

    /// The name used in settings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Keys => "keys",
            Self::Verify => "verify",
            Self::Sessions => "sessions",
            Self::Audit => "audit",
            Self::Config => "config",
            Self::Messages => "messages",
            Self::MessagePosts => "message_posts",
            Self::Login => "login",
            Self::Campaigns => "campaigns",
            Self::Device => "device",
            Self::Metrics => "metrics",
        }
    }

    /// The group of that name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|group| group.as_str() == name)
    }

    /// Whether a signature can be required here: login is how a session starts.
    pub fn can_require_signatures(self) -> bool {
        self != Self::Login
    }

    /// `identity, keys, …` for error messages.
    pub fn names(filter: impl Fn(RouteGroup) -> bool) -> String {
        Self::ALL
            .into_iter()
            .filter(|group| filter(*group))
            .map(RouteGroup::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
