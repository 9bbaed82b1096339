//! The permission catalogue and the default roles every organization starts with.
//!
//! Keys are `area:action`. Each domain crate's operations map onto one key; an application
//! passes the key to [`crate::authorize`]. Organizations may add keys of their own
//! ([`crate::Permission::create`]); these are the ones every organization gets.

/// The four roles every organization is created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefaultRole {
    /// Every permission; the only role that can grant or take the owner role.
    Owner,
    /// Runs the organization day to day: everything but deleting it, billing changes and
    /// the owner role.
    Admin,
    /// Does the marketing work: reads and writes content, campaigns, knowledge, CRM.
    Member,
    /// Reads.
    Viewer,
}

impl DefaultRole {
    /// All four, most privileged first.
    pub const ALL: [DefaultRole; 4] = [Self::Owner, Self::Admin, Self::Member, Self::Viewer];

    /// The role's slug (unique per organization).
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// The role's display name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Member => "Member",
            Self::Viewer => "Viewer",
        }
    }

    /// What the role is for.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Owner => "Full control, including deleting the organization and managing owners",
            Self::Admin => "Manages members, roles, connectors, agents and content",
            Self::Member => "Creates and edits campaigns, content, knowledge and CRM records",
            Self::Viewer => "Read-only access",
        }
    }

    /// The default role with this slug, if any.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.slug() == slug)
    }
}

/// One permission of the catalogue and the default roles that hold it.
#[derive(Debug, Clone, Copy)]
pub struct PermissionDef {
    /// The key, `area:action`.
    pub key: &'static str,
    /// What it allows.
    pub description: &'static str,
    /// The default roles granted it (the owner holds every key).
    pub granted_to: &'static [DefaultRole],
}

use DefaultRole::{Admin, Member, Owner, Viewer};

const ALL_ROLES: &[DefaultRole] = &[Owner, Admin, Member, Viewer];
const STAFF: &[DefaultRole] = &[Owner, Admin, Member];
const MANAGERS: &[DefaultRole] = &[Owner, Admin];
const OWNERS: &[DefaultRole] = &[Owner];

macro_rules! catalogue {
    ($($konst:ident = $key:literal, $roles:expr, $doc:literal;)+) => {
        /// The catalogue's keys as constants, so a typo is a compile error.
        pub mod keys {
            $(
                #[doc = $doc]
                pub const $konst: &str = $key;
            )+
        }

        /// Every permission an organization is created with.
        pub const PERMISSIONS: &[PermissionDef] = &[
            $(PermissionDef { key: $key, description: $doc, granted_to: $roles },)+
        ];
    };
}

catalogue! {
    // identity
    ORGANIZATION_MANAGE = "organization:manage", MANAGERS, "Change the organization's name, slug, plan and settings.";
    ORGANIZATION_DELETE = "organization:delete", OWNERS, "Delete the organization and everything it owns.";
    MEMBERS_READ = "members:read", ALL_ROLES, "List members and invitations.";
    MEMBERS_MANAGE = "members:manage", MANAGERS, "Invite, suspend, reactivate and remove members and change their roles.";
    OWNERS_MANAGE = "owners:manage", OWNERS, "Grant or take the owner role, and suspend or remove owners.";
    ROLES_MANAGE = "roles:manage", MANAGERS, "Create and delete custom roles and permissions; grant and revoke permissions.";
    AUDIT_READ = "audit:read", MANAGERS, "Read the audit log.";
    API_KEYS_MANAGE = "api_keys:manage", MANAGERS, "Create and revoke the organization's API keys.";
    TASKS_WRITE = "tasks:write", STAFF, "Create, assign and complete tasks.";
    FEEDBACK_MANAGE = "feedback:manage", MANAGERS, "Respond to and resolve feedback.";
    // campaigns
    BRANDS_READ = "brands:read", ALL_ROLES, "Read brands, brand assets and brand voices.";
    BRANDS_WRITE = "brands:write", STAFF, "Create and change brands, brand assets and brand voices.";
    CAMPAIGNS_READ = "campaigns:read", ALL_ROLES, "Read campaigns, marketing campaigns, leads and metrics.";
    CAMPAIGNS_WRITE = "campaigns:write", STAFF, "Create and change campaigns, sequences, posts and A/B tests.";
    CONTENT_READ = "content:read", ALL_ROLES, "Read content, drafts, snippets and SEO data.";
    CONTENT_WRITE = "content:write", STAFF, "Create and change content, drafts, snippets and the editorial calendar.";
    // connectors
    CONNECTORS_READ = "connectors:read", ALL_ROLES, "See which connectors are configured.";
    CONNECTORS_MANAGE = "connectors:manage", MANAGERS, "Connect, configure and disconnect connectors and their credentials.";
    // agents
    AGENTS_READ = "agents:read", ALL_ROLES, "Read agents, their runs and jobs.";
    AGENTS_RUN = "agents:run", STAFF, "Start agent runs and jobs.";
    AGENTS_MANAGE = "agents:manage", MANAGERS, "Create and configure agents, tools, models and endpoints.";
    // rag
    KNOWLEDGE_READ = "knowledge:read", ALL_ROLES, "Search and read datasets, documents and conversations.";
    KNOWLEDGE_WRITE = "knowledge:write", STAFF, "Ingest documents and chunks; manage embedding spaces and indexes.";
    // billing
    BILLING_READ = "billing:read", MANAGERS, "Read subscriptions, invoices, usage and budgets.";
    BILLING_MANAGE = "billing:manage", OWNERS, "Change subscriptions, payment details and budgets.";
    // crm
    CRM_READ = "crm:read", ALL_ROLES, "Read people, their identities, consents, notes and events.";
    CRM_WRITE = "crm:write", STAFF, "Create and change people and their records.";
}

/// The catalogue entry for `key`, if it is one.
pub fn permission(key: &str) -> Option<&'static PermissionDef> {
    PERMISSIONS.iter().find(|p| p.key == key)
}

/// Whether `role` holds `key` by default.
pub fn default_grant(role: DefaultRole, key: &str) -> bool {
    permission(key).is_some_and(|p| role == Owner || p.granted_to.contains(&role))
}

/// Validates a permission key: `area:action`, lower-case ASCII letters, digits and `_`.
pub fn is_valid_key(key: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.len() <= 48
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    matches!(key.split_once(':'), Some((area, action)) if part(area) && part(action))
}
