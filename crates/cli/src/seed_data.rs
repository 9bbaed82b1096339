//! What the demo seed creates (the reference's SEED_DATA.md); descriptions and JSON
//! configurations are our own where the reference leaves them open.

use serde_json::{Value, json};

/// Organization slug of the seed's organization.
pub const ORG_SLUG: &str = "primary";
/// Email of the seed's admin user.
pub const ADMIN_EMAIL: &str = "admin@neonhub.ai";

/// Rows per seeded table, in the order the seed writes them (52 in all).
pub const SEED_COUNTS: &[(&str, i64)] = &[
    ("organizations", 1),
    ("brands", 1),
    ("users", 1),
    ("organization_members", 1),
    ("personas", 3),
    ("keywords", 6),
    ("editorial_calendar", 4),
    ("connectors", 16),
    ("connector_auths", 3),
    ("agents", 3),
    ("agent_capabilities", 6),
    ("agent_configs", 4),
    ("tools", 3),
];

/// (name, summary)
pub const PERSONAS: &[(&str, &str)] = &[
    (
        "Creator Pro",
        "Video creators and streamers who want a signature neon look on camera.",
    ),
    (
        "Event Planner",
        "Planners of weddings, launches and parties who rent or commission statement signage.",
    ),
    (
        "Hospitality Marketer",
        "Restaurant, bar and hotel marketers who use neon to draw foot traffic and bookings.",
    ),
];

/// (term, intent, persona)
pub const KEYWORDS: &[(&str, &str, &str)] = &[
    ("custom neon signs", "commercial", "Creator Pro"),
    ("youtube studio neon ideas", "informational", "Creator Pro"),
    ("event backdrop neon", "commercial", "Event Planner"),
    ("wedding neon sign ideas", "informational", "Event Planner"),
    ("venue neon signage", "commercial", "Hospitality Marketer"),
    (
        "restaurant neon menu board",
        "commercial",
        "Hospitality Marketer",
    ),
];

/// Priority of every seeded keyword.
pub const KEYWORD_PRIORITY: i32 = 80;

/// (title, publish in days at 09:00 UTC, priority, status, persona)
pub const CALENDAR: &[(&str, i64, i32, &str, &str)] = &[
    (
        "How to Design a Neon Logo Sign (Step-by-Step)",
        3,
        90,
        "scheduled",
        "Creator Pro",
    ),
    (
        "25 Wedding Neon Sign Ideas That Actually Wow",
        7,
        85,
        "scheduled",
        "Event Planner",
    ),
    (
        "Neon Backdrop Playbook for Experiential Launches",
        14,
        80,
        "planned",
        "Event Planner",
    ),
    (
        "Hospitality Lighting Trends: Neon That Drives Bookings",
        21,
        75,
        "planned",
        "Hospitality Marketer",
    ),
];

/// A connector of the catalog.
pub struct ConnectorSeed {
    /// Unique name.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// `ConnectorKind` label.
    pub category: &'static str,
    /// How it authenticates.
    pub auth_type: &'static str,
    /// Whether NeonHub verified it.
    pub verified: bool,
    /// One-line description.
    pub description: &'static str,
    /// OAuth scopes or credential fields it needs.
    pub scopes: &'static [&'static str],
    /// Events it can trigger on.
    pub triggers: &'static [&'static str],
    /// Actions it can perform.
    pub actions: &'static [&'static str],
}

macro_rules! connector {
    ($name:literal, $display:literal, $cat:literal, $auth:literal, $verified:literal, $desc:literal,
     [$($scope:literal),*], [$($t:literal),*], [$($a:literal),*]) => {
        ConnectorSeed {
            name: $name, display_name: $display, category: $cat, auth_type: $auth, verified: $verified,
            description: $desc, scopes: &[$($scope),*], triggers: &[$($t),*], actions: &[$($a),*],
        }
    };
}

/// The 16 connectors.
pub const CONNECTORS: &[ConnectorSeed] = &[
    connector!(
        "gmail",
        "Gmail",
        "EMAIL",
        "oauth2",
        true,
        "Send and track campaign email from a Google Workspace mailbox.",
        [
            "https://www.googleapis.com/auth/gmail.send",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/gmail.modify"
        ],
        ["email.received", "email.replied", "email.bounced"],
        ["email.send", "email.draft", "email.label"]
    ),
    connector!(
        "outlook",
        "Outlook 365",
        "EMAIL",
        "oauth2",
        true,
        "Send and track email through Microsoft 365 mailboxes.",
        ["Mail.Send", "Mail.ReadWrite", "offline_access"],
        ["email.received", "email.replied"],
        ["email.send", "email.draft"]
    ),
    connector!(
        "twilio-sms",
        "Twilio SMS",
        "SMS",
        "api_key",
        true,
        "Two-way SMS campaigns through a Twilio messaging service.",
        ["account_sid", "auth_token", "messaging_service_sid"],
        ["sms.received", "sms.delivered", "sms.failed"],
        ["sms.send"]
    ),
    connector!(
        "whatsapp-business",
        "WhatsApp Business",
        "WHATSAPP",
        "api_key",
        false,
        "Template and session messages on the WhatsApp Business Platform.",
        ["phone_number_id", "access_token"],
        ["message.received", "message.read"],
        ["message.send_template", "message.send"]
    ),
    connector!(
        "reddit-ads",
        "Reddit Ads",
        "REDDIT",
        "oauth2",
        false,
        "Launch and report on Reddit ad campaigns.",
        ["ads_read", "ads_edit"],
        ["campaign.status_changed"],
        ["campaign.create", "report.fetch"]
    ),
    connector!(
        "instagram-graph",
        "Instagram Graph",
        "INSTAGRAM",
        "oauth2",
        false,
        "Publish posts and read engagement on Instagram business accounts.",
        [
            "instagram_basic",
            "instagram_content_publish",
            "instagram_manage_insights"
        ],
        ["comment.created", "mention.created"],
        ["post.publish", "insights.fetch"]
    ),
    connector!(
        "facebook-marketing",
        "Facebook Marketing",
        "FACEBOOK",
        "oauth2",
        true,
        "Manage Facebook pages and Meta ad campaigns.",
        ["pages_manage_posts", "ads_management", "read_insights"],
        ["lead.created", "comment.created"],
        ["post.publish", "campaign.create", "insights.fetch"]
    ),
    connector!(
        "x-ads",
        "X Ads",
        "X",
        "oauth1",
        false,
        "Post and promote content on X.",
        ["tweet.write", "ads.read"],
        ["mention.created"],
        ["post.publish", "campaign.create"]
    ),
    connector!(
        "youtube-studio",
        "YouTube Studio",
        "YOUTUBE",
        "oauth2",
        true,
        "Upload videos and read channel analytics.",
        [
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/yt-analytics.readonly"
        ],
        ["video.published", "comment.created"],
        ["video.upload", "analytics.fetch"]
    ),
    connector!(
        "tiktok-ads",
        "TikTok Ads",
        "TIKTOK",
        "oauth2",
        false,
        "Create TikTok ad campaigns and read their results.",
        ["ad.read", "ad.write"],
        ["campaign.status_changed"],
        ["campaign.create", "report.fetch"]
    ),
    connector!(
        "google-ads",
        "Google Ads",
        "GOOGLE_ADS",
        "oauth2",
        true,
        "Search and display campaigns with conversion reporting.",
        ["https://www.googleapis.com/auth/adwords"],
        ["conversion.recorded", "budget.exhausted"],
        ["campaign.create", "keyword.add", "report.fetch"]
    ),
    connector!(
        "shopify",
        "Shopify",
        "SHOPIFY",
        "oauth2",
        true,
        "Orders, customers and products from a Shopify store.",
        ["read_orders", "read_customers", "read_products"],
        ["order.created", "customer.created", "cart.abandoned"],
        ["discount.create", "customer.tag"]
    ),
    connector!(
        "stripe",
        "Stripe",
        "STRIPE",
        "api_key",
        true,
        "Payments and subscriptions for revenue attribution.",
        ["secret_key", "webhook_secret"],
        ["payment.succeeded", "subscription.created", "invoice.paid"],
        ["customer.lookup", "coupon.create"]
    ),
    connector!(
        "slack",
        "Slack",
        "SLACK",
        "oauth2",
        true,
        "Team notifications and approvals in Slack channels.",
        ["chat:write", "channels:read", "commands"],
        ["message.posted", "command.invoked"],
        ["message.post", "approval.request"]
    ),
    connector!(
        "discord",
        "Discord",
        "DISCORD",
        "bot_token",
        false,
        "Community announcements through a Discord bot.",
        ["bot_token", "guild_id"],
        ["message.created", "member.joined"],
        ["message.post"]
    ),
    connector!(
        "linkedin",
        "LinkedIn",
        "LINKEDIN",
        "oauth2",
        false,
        "Company page posts and sponsored content on LinkedIn.",
        ["w_organization_social", "r_organization_social", "rw_ads"],
        ["comment.created"],
        ["post.publish", "campaign.create"]
    ),
];

/// (connector, accountId, accountName, status, scope)
pub const CONNECTOR_AUTHS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (
        "gmail",
        "workspace-primary",
        "NeonHub Workspace Gmail",
        "active",
        Some(
            "https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.modify",
        ),
    ),
    (
        "twilio-sms",
        "twilio-messaging",
        "Twilio Messaging Service",
        "active",
        None,
    ),
    ("stripe", "stripe-primary", "Stripe Live", "pending", None),
];

/// A name and the JSON that goes with it (built on demand: `json!` is not const).
pub type NamedJson = (&'static str, fn() -> Value);

/// An agent with its capabilities, configuration keys and tool.
pub struct AgentSeed {
    /// Slug, unique in the organization.
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// `AgentKind` label.
    pub kind: &'static str,
    /// Description.
    pub description: &'static str,
    /// The agent's `config` column.
    pub config: fn() -> Value,
    /// (capability name, config)
    pub capabilities: &'static [NamedJson],
    /// (key, value)
    pub configs: &'static [NamedJson],
    /// (slug, name, description)
    pub tool: (&'static str, &'static str, &'static str),
    /// The tool's input and output JSON schemas.
    pub tool_schemas: fn() -> (Value, Value),
}

/// The three agents.
pub const AGENTS: &[AgentSeed] = &[
    AgentSeed {
        slug: "email-campaign-agent",
        name: "Email Campaign Agent",
        kind: "WORKFLOW",
        description: "Plans, sends and throttles email campaigns with deliverability guardrails.",
        config: || json!({"defaultConnector": "gmail", "fallbackConnector": "outlook", "enforceDkim": true, "enforceSpf": true, "maxSendsPerMinute": 200}),
        capabilities: &[
            (
                "deliverability-optimizer",
                || json!({"checks": ["dkim", "spf", "dmarc"], "warmup": true}),
            ),
            (
                "email-throttle-manager",
                || json!({"maxSendsPerMinute": 200}),
            ),
        ],
        configs: &[
            ("default_connector", || json!("gmail")),
            ("daily_send_cap", || json!(5000)),
        ],
        tool: (
            "email-delivery",
            "Email Delivery",
            "Sends one templated email through the agent's email connector.",
        ),
        tool_schemas: || {
            (
                json!({"type": "object", "required": ["to", "subject", "html"],
                       "properties": {"to": {"type": "string", "format": "email"}, "subject": {"type": "string"}, "html": {"type": "string"}}}),
                json!({"type": "object", "properties": {"messageId": {"type": "string"}, "status": {"type": "string"}}}),
            )
        },
    },
    AgentSeed {
        slug: "sms-engagement-agent",
        name: "SMS Engagement Agent",
        kind: "WORKFLOW",
        description: "Runs opt-in SMS conversations that respect quiet hours and consent.",
        config: || json!({"defaultConnector": "twilio-sms", "fallbackConnector": "whatsapp-business", "doubleOptIn": true, "locale": "en-US"}),
        capabilities: &[
            (
                "sms-personalization",
                || json!({"mergeFields": ["firstName", "lastOrder"]}),
            ),
            (
                "compliance-guardrail",
                || json!({"quietHours": {"start": "21:30", "end": "08:30"}}),
            ),
        ],
        configs: &[(
            "sms_quiet_hours",
            || json!({"start": "21:30", "end": "08:30", "timezone": "America/New_York"}),
        )],
        tool: (
            "sms-delivery",
            "SMS Delivery",
            "Sends one SMS through the agent's messaging connector.",
        ),
        tool_schemas: || {
            (
                json!({"type": "object", "required": ["to", "body"],
                       "properties": {"to": {"type": "string"}, "body": {"type": "string", "maxLength": 1600}}}),
                json!({"type": "object", "properties": {"sid": {"type": "string"}, "status": {"type": "string"}}}),
            )
        },
    },
    AgentSeed {
        slug: "social-advocacy-agent",
        name: "Social Advocacy Agent",
        kind: "COPILOT",
        description: "Drafts and schedules social posts across the brand's networks.",
        config: || json!({"connectors": ["instagram-graph", "facebook-marketing", "x-ads", "tiktok-ads"], "contentHorizonDays": 30}),
        capabilities: &[
            ("social-scheduling", || json!({"horizonDays": 30})),
            (
                "engagement-insights",
                || json!({"metrics": ["reach", "engagementRate", "clicks"]}),
            ),
        ],
        configs: &[(
            "default_publish_window",
            || json!({"start": "14:00", "end": "18:00", "timezone": "UTC"}),
        )],
        tool: (
            "social-publish",
            "Social Publish",
            "Publishes or schedules one post on a connected social network.",
        ),
        tool_schemas: || {
            (
                json!({"type": "object", "required": ["network", "text"],
                       "properties": {"network": {"type": "string"}, "text": {"type": "string"}, "publishAt": {"type": "string", "format": "date-time"}}}),
                json!({"type": "object", "properties": {"postId": {"type": "string"}, "scheduled": {"type": "boolean"}}}),
            )
        },
    },
];
