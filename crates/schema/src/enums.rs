//! The 17 PostgreSQL enum types of the schema as Rust enums.
//!
//! Each maps to its type in [`crate::schema::sql_types`]; the variants follow the
//! database labels in order. Reading a label that this build does not know (one added
//! to the type later) is a deserialization error naming the label, never a panic.

use crate::pg_enum;

pg_enum! {
    /// The `AgentKind` enum type.
    AgentKind {
        Copilot = "COPILOT",
        Workflow = "WORKFLOW",
        Analyst = "ANALYST",
    }
}

pg_enum! {
    /// The `AgentStatus` enum type.
    AgentStatus {
        Draft = "DRAFT",
        Active = "ACTIVE",
        Paused = "PAUSED",
        Disabled = "DISABLED",
    }
}

pg_enum! {
    /// The `BudgetAllocationStatus` enum type.
    BudgetAllocationStatus {
        Planned = "planned",
        Approved = "approved",
        Executing = "executing",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

pg_enum! {
    /// The `BudgetTransactionType` enum type.
    BudgetTransactionType {
        Allocate = "allocate",
        Spend = "spend",
        Reserve = "reserve",
        Refund = "refund",
        Adjustment = "adjustment",
    }
}

pg_enum! {
    /// The `CampaignStatus` enum type.
    CampaignStatus {
        Draft = "draft",
        Scheduled = "scheduled",
        Active = "active",
        Paused = "paused",
        Completed = "completed",
        Archived = "archived",
    }
}

pg_enum! {
    /// The `ConnectorKind` enum type.
    ConnectorKind {
        Email = "EMAIL",
        Sms = "SMS",
        Whatsapp = "WHATSAPP",
        Reddit = "REDDIT",
        Instagram = "INSTAGRAM",
        Facebook = "FACEBOOK",
        X = "X",
        Youtube = "YOUTUBE",
        Tiktok = "TIKTOK",
        GoogleAds = "GOOGLE_ADS",
        GoogleSearchConsole = "GOOGLE_SEARCH_CONSOLE",
        Shopify = "SHOPIFY",
        Stripe = "STRIPE",
        Slack = "SLACK",
        Discord = "DISCORD",
        Linkedin = "LINKEDIN",
    }
}

pg_enum! {
    /// The `ConsentStatus` enum type.
    ConsentStatus {
        Granted = "granted",
        Revoked = "revoked",
        Denied = "denied",
        Pending = "pending",
    }
}

pg_enum! {
    /// The `ContentKind` enum type.
    ContentKind {
        Article = "article",
        Email = "email",
        SocialScript = "social_script",
        AdCopy = "ad_copy",
    }
}

pg_enum! {
    /// The `ConversationKind` enum type.
    ConversationKind {
        Support = "support",
        Campaign = "campaign",
        Planning = "planning",
        AdHoc = "ad_hoc",
    }
}

pg_enum! {
    /// The `DatasetKind` enum type.
    DatasetKind {
        Documents = "documents",
        Faq = "faq",
        Analytics = "analytics",
    }
}

pg_enum! {
    /// The `MarketingCampaignStatus` enum type.
    MarketingCampaignStatus {
        Draft = "draft",
        Scheduled = "scheduled",
        Active = "active",
        Paused = "paused",
        Completed = "completed",
        Archived = "archived",
    }
}

pg_enum! {
    /// The `MarketingCampaignType` enum type.
    MarketingCampaignType {
        Email = "email",
        Social = "social",
        Ppc = "ppc",
        Content = "content",
        Seo = "seo",
        Display = "display",
        Video = "video",
        Influencer = "influencer",
        Event = "event",
        Other = "other",
    }
}

pg_enum! {
    /// The `MarketingLeadGrade` enum type.
    MarketingLeadGrade {
        A = "A",
        B = "B",
        C = "C",
        D = "D",
        F = "F",
    }
}

pg_enum! {
    /// The `MarketingLeadStatus` enum type.
    MarketingLeadStatus {
        New = "new",
        Contacted = "contacted",
        Qualified = "qualified",
        Nurturing = "nurturing",
        Converted = "converted",
        Lost = "lost",
        Unqualified = "unqualified",
    }
}

pg_enum! {
    /// The `MarketingTouchpointType` enum type.
    MarketingTouchpointType {
        PageView = "page_view",
        EmailOpen = "email_open",
        EmailClick = "email_click",
        AdImpression = "ad_impression",
        AdClick = "ad_click",
        SocialView = "social_view",
        SocialClick = "social_click",
        FormSubmit = "form_submit",
        Download = "download",
        VideoView = "video_view",
        Call = "call",
        Chat = "chat",
    }
}

pg_enum! {
    /// The `MessageRole` enum type.
    MessageRole {
        System = "system",
        User = "user",
        Assistant = "assistant",
        Tool = "tool",
    }
}

pg_enum! {
    /// The `TrainStatus` enum type.
    TrainStatus {
        Queued = "queued",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

crate::text_enum! {
    /// Where a membership stands (the text column `organization_members.status`).
    MemberStatus, "organization_members.status" {
        /// Invited, not yet accepted: no access.
        Invited = "invited",
        /// A member with the access of its role.
        Active = "active",
        /// Suspended: no access until reactivated.
        Suspended = "suspended",
    }
}

crate::text_enum! {
    /// Where an agent run or a tool execution stands (the text columns
    /// `agent_runs.status` and `tool_executions.status`, default `queued`).
    RunStatus, "agent_runs.status" {
        /// Recorded, not started.
        Queued = "queued",
        /// Started, not finished.
        Running = "running",
        /// Finished successfully.
        Completed = "completed",
        /// Finished with an error.
        Failed = "failed",
        /// Stopped before it finished.
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// Whether the run is over: completed, failed or cancelled (nothing changes it again).
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

crate::text_enum! {
    /// Where a queued agent job stands (the text column `agent_jobs.status`).
    JobStatus, "agent_jobs.status" {
        /// Waiting for `runAt` and a worker (also a failed attempt waiting for its retry).
        Queued = "queued",
        /// Claimed by a worker that holds its lease.
        Running = "running",
        /// Done; its effects were committed with the completion.
        Completed = "completed",
        /// Failed its last attempt (or was rescued too often, or its creator may no longer
        /// run it); kept with its errors until retried or discarded.
        Dead = "dead",
        /// Cancelled before it finished.
        Cancelled = "cancelled",
    }
}
