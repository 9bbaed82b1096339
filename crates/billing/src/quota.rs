//! Plan quotas on a subscription: what a period's usage is counted against.

/// A counted resource of a subscription and the pair of columns that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    /// Campaigns created (`campaignsUsed` of `campaignLimit`).
    Campaigns,
    /// Emails sent (`emailsSent` of `emailLimit`).
    Emails,
    /// Social posts published (`socialPosts` of `socialLimit`).
    SocialPosts,
    /// Agent calls (`agentCalls` of `agentCallLimit`).
    AgentCalls,
}

impl Quota {
    /// All four.
    pub const ALL: [Quota; 4] = [
        Self::Campaigns,
        Self::Emails,
        Self::SocialPosts,
        Self::AgentCalls,
    ];
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Campaigns => "campaigns",
            Self::Emails => "emails",
            Self::SocialPosts => "social posts",
            Self::AgentCalls => "agent calls",
        })
    }
}
