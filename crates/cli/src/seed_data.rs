//! What the demo seed creates (the reference's SEED_DATA.md); descriptions and JSON
//! configurations are our own where the reference leaves them open.

use neonhub_schema::enums::AgentKind;
use serde_json::{Value, json};

/// Organization slug of the seed's organization.
pub const ORG_SLUG: &str = "primary";
/// Display name of the seed's organization.
pub const ORG_NAME: &str = "NeonHub";
/// Plan of the seed's organization.
pub const ORG_PLAN: &str = "scale";
/// Settings of the seed's organization (a function: `json!` is not const).
pub fn org_settings() -> Value {
    json!({"timezone": "UTC", "theme": "neon"})
}
/// Email of the seed's admin user.
pub const ADMIN_EMAIL: &str = "admin@neonhub.ai";
/// Display name of the seed's admin user.
pub const ADMIN_NAME: &str = "NeonHub Admin";

/// The organization's brand (unique by slug in the organization).
pub struct BrandSeed {
    /// Display name.
    pub name: &'static str,
    /// Slug, unique in the organization.
    pub slug: &'static str,
    /// What the brand sells.
    pub description: &'static str,
    /// Main color, `#RRGGBB`.
    pub main_color: &'static str,
    /// Slogan.
    pub slogan: &'static str,
}

/// The one brand.
pub const BRAND: BrandSeed = BrandSeed {
    name: "NeonHub",
    slug: "neonhub",
    description: "Custom neon signage for creators, events and hospitality.",
    main_color: "#2B26FE",
    slogan: "Stay Neon!",
};

/// Rows per seeded table, in the order the seed writes them, counted from the data below
/// (52 in all).
pub fn seed_counts() -> Vec<(&'static str, i64)> {
    let n = |len: usize| len as i64;
    let per_agent = |f: fn(&AgentSeed) -> usize| n(AGENTS.iter().map(f).sum());
    vec![
        ("organizations", 1),
        ("brands", 1),
        ("users", 1),
        ("organization_members", 1),
        ("personas", n(PERSONAS.len())),
        ("keywords", n(KEYWORDS.len())),
        ("editorial_calendar", n(CALENDAR.len())),
        ("connectors", n(neonhub_connectors::CATALOG.len())),
        ("connector_auths", n(CONNECTOR_AUTHS.len())),
        ("agents", n(AGENTS.len())),
        ("agent_capabilities", per_agent(|a| a.capabilities.len())),
        ("agent_configs", per_agent(|a| a.configs.len())),
        ("tools", n(AGENTS.len())),
    ]
}

/// A marketing persona (personas are global, unique by name).
pub struct PersonaSeed {
    /// Unique name.
    pub name: &'static str,
    /// Who they are.
    pub summary: &'static str,
}

/// The three personas.
pub const PERSONAS: &[PersonaSeed] = &[
    PersonaSeed {
        name: "Creator Pro",
        summary: "Video creators and streamers who want a signature neon look on camera.",
    },
    PersonaSeed {
        name: "Event Planner",
        summary: "Planners of weddings, launches and parties who rent or commission statement signage.",
    },
    PersonaSeed {
        name: "Hospitality Marketer",
        summary: "Restaurant, bar and hotel marketers who use neon to draw foot traffic and bookings.",
    },
];

/// A search keyword (global, unique by term, case-insensitively) and its persona.
pub struct KeywordSeed {
    /// The search term.
    pub term: &'static str,
    /// `keywords.intent` (text in the schema).
    pub intent: &'static str,
    /// The persona's name.
    pub persona: &'static str,
}

/// The six keywords.
pub const KEYWORDS: &[KeywordSeed] = &[
    KeywordSeed {
        term: "custom neon signs",
        intent: "commercial",
        persona: "Creator Pro",
    },
    KeywordSeed {
        term: "youtube studio neon ideas",
        intent: "informational",
        persona: "Creator Pro",
    },
    KeywordSeed {
        term: "event backdrop neon",
        intent: "commercial",
        persona: "Event Planner",
    },
    KeywordSeed {
        term: "wedding neon sign ideas",
        intent: "informational",
        persona: "Event Planner",
    },
    KeywordSeed {
        term: "venue neon signage",
        intent: "commercial",
        persona: "Hospitality Marketer",
    },
    KeywordSeed {
        term: "restaurant neon menu board",
        intent: "commercial",
        persona: "Hospitality Marketer",
    },
];

/// Priority of every seeded keyword.
pub const KEYWORD_PRIORITY: i32 = 80;

/// An editorial calendar entry (global; no unique key, found by title).
pub struct CalendarSeed {
    /// Title, as shown to people.
    pub title: &'static str,
    /// Publication: this many days after the seed runs, at 09:00 UTC.
    pub publish_in_days: i64,
    /// Priority (higher first).
    pub priority: i32,
    /// `editorial_calendar.status` (text in the schema).
    pub status: &'static str,
    /// The persona's name.
    pub persona: &'static str,
}

/// The four calendar entries.
pub const CALENDAR: &[CalendarSeed] = &[
    CalendarSeed {
        title: "How to Design a Neon Logo Sign (Step-by-Step)",
        publish_in_days: 3,
        priority: 90,
        status: "scheduled",
        persona: "Creator Pro",
    },
    CalendarSeed {
        title: "25 Wedding Neon Sign Ideas That Actually Wow",
        publish_in_days: 7,
        priority: 85,
        status: "scheduled",
        persona: "Event Planner",
    },
    CalendarSeed {
        title: "Neon Backdrop Playbook for Experiential Launches",
        publish_in_days: 14,
        priority: 80,
        status: "planned",
        persona: "Event Planner",
    },
    CalendarSeed {
        title: "Hospitality Lighting Trends: Neon That Drives Bookings",
        publish_in_days: 21,
        priority: 75,
        status: "planned",
        persona: "Hospitality Marketer",
    },
];

/// A connection of the admin to a connector, without any token (the seed writes no secret).
pub struct ConnectorAuthSeed {
    /// The connector's unique name.
    pub connector: &'static str,
    /// The account's id at the provider.
    pub account_id: &'static str,
    /// The account's display name.
    pub account_name: &'static str,
    /// `connector_auths.status` (text in the schema).
    pub status: &'static str,
    /// The granted OAuth scopes, space-separated.
    pub scope: Option<&'static str>,
}

/// The admin's three connector accounts.
pub const CONNECTOR_AUTHS: &[ConnectorAuthSeed] = &[
    ConnectorAuthSeed {
        connector: "gmail",
        account_id: "workspace-primary",
        account_name: "NeonHub Workspace Gmail",
        status: "active",
        scope: Some(
            "https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.modify",
        ),
    },
    ConnectorAuthSeed {
        connector: "twilio-sms",
        account_id: "twilio-messaging",
        account_name: "Twilio Messaging Service",
        status: "active",
        scope: None,
    },
    ConnectorAuthSeed {
        connector: "stripe",
        account_id: "stripe-primary",
        account_name: "Stripe Live",
        status: "pending",
        scope: None,
    },
];

/// A name and the JSON that goes with it (built on demand: `json!` is not const).
pub type NamedJson = (&'static str, fn() -> Value);

/// An agent with its capabilities, configuration keys and tool.
pub struct AgentSeed {
    /// Slug, unique in the organization.
    pub slug: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Its kind.
    pub kind: AgentKind,
    /// Free-text description.
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
        kind: AgentKind::Workflow,
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
        kind: AgentKind::Workflow,
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
        kind: AgentKind::Copilot,
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
