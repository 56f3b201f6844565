//! The campaign state machine: `draft → running ⇄ paused → completed`, and `cancelled` from
//! any state but `completed` (or itself). Every move is one compare-and-set in the store, so
//! two callers (or a caller and the send worker) cannot both move a campaign.

use serde::Serialize;

/// Where a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignState {
    /// Being prepared: recipients may be uploaded.
    Draft,
    /// Sending (from `start_at`, when set).
    Running,
    /// Stopped for now: recipients may be added; no new sends.
    Paused,
    /// Every recipient has an outcome.
    Completed,
    /// Stopped for good; what was not sent never will be.
    Cancelled,
}

/// Something asked of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Begin sending.
    Start,
    /// Stop new sends.
    Pause,
    /// Send again.
    Resume,
    /// Stop for good.
    Cancel,
}

impl CampaignState {
    /// Every state.
    pub const ALL: &'static [CampaignState] = &[
        CampaignState::Draft,
        CampaignState::Running,
        CampaignState::Paused,
        CampaignState::Completed,
        CampaignState::Cancelled,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// Parse a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    /// Whether recipients may still be uploaded.
    pub fn takes_recipients(self) -> bool {
        matches!(self, CampaignState::Draft | CampaignState::Paused)
    }
}

impl Action {
    /// The verb, as in "it cannot be paused".
    pub fn past_participle(self) -> &'static str {
        match self {
            Action::Start => "started",
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Cancel => "cancelled",
        }
    }

    /// The audit event kind.
    pub fn event_kind(self) -> &'static str {
        match self {
            Action::Start => "campaign.start",
            Action::Pause => "campaign.pause",
            Action::Resume => "campaign.resume",
            Action::Cancel => "campaign.cancel",
        }
    }

    /// The states it may be taken from.
    pub fn from(self) -> &'static [CampaignState] {
        match self {
            Action::Start => &[CampaignState::Draft],
            Action::Pause => &[CampaignState::Running],
            Action::Resume => &[CampaignState::Paused],
            Action::Cancel => &[
                CampaignState::Draft,
                CampaignState::Running,
                CampaignState::Paused,
            ],
        }
    }

    /// The state it leads to.
    pub fn to(self) -> CampaignState {
        match self {
            Action::Start | Action::Resume => CampaignState::Running,
            Action::Pause => CampaignState::Paused,
            Action::Cancel => CampaignState::Cancelled,
        }
    }
}

/// The refusal of `action` on a campaign in `state`, as the API says it:
/// "Campaign is completed; it cannot be paused".
pub fn refusal(state: CampaignState, action: Action) -> String {
    format!(
        "Campaign is {}; it cannot be {}",
        state.as_str(),
        action.past_participle()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moves_are_exactly_the_documented_ones() {
        let actions = [Action::Start, Action::Pause, Action::Resume, Action::Cancel];
        let mut moves = Vec::new();
        for state in CampaignState::ALL {
            for action in actions {
                if action.from().contains(state) {
                    moves.push((state.as_str(), action.to().as_str()));
                }
            }
        }
        assert_eq!(
            moves,
            [
                ("draft", "running"),
                ("draft", "cancelled"),
                ("running", "paused"),
                ("running", "cancelled"),
                ("paused", "running"),
                ("paused", "cancelled"),
            ]
        );
    }

    #[test]
    fn a_refusal_names_the_state_and_the_action() {
        assert_eq!(
            refusal(CampaignState::Completed, Action::Pause),
            "Campaign is completed; it cannot be paused"
        );
    }
}
