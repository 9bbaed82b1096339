//! The permission catalogue, the default roles every organization starts with, what a
//! scope may do ([`PermissionSet`]) and why it may not ([`Denied`]).
//!
//! Keys are `area:action`. Every public repository operation of every domain crate names
//! one key and checks it first (`scope.require(keys::X)?`): reads need the area's read key,
//! writes its write or manage key. Each key's documentation lists the operations that need
//! it. Organizations may add keys of their own (`neonhub_identity::Permission::create`);
//! these are the ones every organization gets. Here rather than in `neonhub-identity` so
//! every domain crate names its keys and returns the same refusal without depending on it.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::enums::MemberStatus;
use crate::ids::{OrganizationId, UserId};

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

/// Declares the catalogue once: each key's constant (documented with what it allows and
/// the operations that need it) and its [`PermissionDef`], so the two cannot drift apart.
/// The one macro of this module; it defines only the constants written in its invocation.
macro_rules! catalogue {
    ($($konst:ident = $key:literal, $roles:expr, $doc:literal, needed_by: $ops:literal;)+) => {
        /// The catalogue's keys as constants, so a typo is a compile error.
        pub mod keys {
            $(
                #[doc = $doc]
                #[doc = ""]
                #[doc = concat!("Needed by: ", $ops)]
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
    ORGANIZATION_READ = "organization:read", ALL_ROLES, "Read the organization's name, slug, plan and settings.",
        needed_by: "`Organization::get`.";
    ORGANIZATION_MANAGE = "organization:manage", MANAGERS, "Change the organization's name, slug, plan and settings.",
        needed_by: "`Organization::update`.";
    ORGANIZATION_DELETE = "organization:delete", OWNERS, "Delete the organization and everything it owns.",
        needed_by: "`Organization::delete`.";
    MEMBERS_READ = "members:read", ALL_ROLES, "List members and invitations.",
        needed_by: "`Membership::get`, `Membership::list`, `TeamMember::list`.";
    MEMBERS_MANAGE = "members:manage", MANAGERS, "Invite, suspend, reactivate and remove members and change their roles.",
        needed_by: "`Membership::invite`, `change_role`, `suspend`, `reactivate`, `remove`; `TeamMember::add`, `update`, `remove`.";
    OWNERS_MANAGE = "owners:manage", OWNERS, "Grant or take the owner role, and suspend or remove owners.",
        needed_by: "the membership changes above when an owner is concerned (besides `members:manage`).";
    ROLES_READ = "roles:read", ALL_ROLES, "List the organization's roles and permission keys.",
        needed_by: "`Role::list`, `Role::by_slug`, `Role::permissions`, `Permission::list`.";
    ROLES_MANAGE = "roles:manage", MANAGERS, "Create and delete custom roles and permissions; grant and revoke permissions.",
        needed_by: "`Role::create`, `delete`, `grant`, `revoke` (grant and revoke also need the key itself); `Permission::create`; `Organization::install_defaults`.";
    AUDIT_READ = "audit:read", MANAGERS, "Read the audit log.",
        needed_by: "`AuditEntry::list`.";
    AUDIT_WRITE = "audit:write", ALL_ROLES, "Append the application's own entries to the audit log.",
        needed_by: "`AuditEntry::append`.";
    API_KEYS_MANAGE = "api_keys:manage", MANAGERS, "Create and revoke the organization's API keys.",
        needed_by: "`ApiKey::issue` (with every key given to the new key), `ApiKey::list`, `ApiKey::revoke`.";
    TASKS_READ = "tasks:read", ALL_ROLES, "Read the organization's tasks.",
        needed_by: "`Task::get`, `Task::for_assignee`, `Task::due_before`.";
    TASKS_WRITE = "tasks:write", STAFF, "Create, assign and complete tasks.",
        needed_by: "`Task::create`, `Task::assign`, `Task::complete`.";
    FEEDBACK_WRITE = "feedback:write", ALL_ROLES, "Give feedback about the organization.",
        needed_by: "`Feedback::open`.";
    FEEDBACK_MANAGE = "feedback:manage", MANAGERS, "Respond to and resolve feedback.",
        needed_by: "`Feedback::list`, `Feedback::respond`, `Feedback::resolve`.";
    // campaigns
    BRANDS_READ = "brands:read", ALL_ROLES, "Read brands, brand assets and brand voices.",
        needed_by: "the read operations of `neonhub-campaigns` on brands (to come).";
    BRANDS_WRITE = "brands:write", STAFF, "Create and change brands, brand assets and brand voices.",
        needed_by: "the write operations of `neonhub-campaigns` on brands (to come).";
    CAMPAIGNS_READ = "campaigns:read", ALL_ROLES, "Read campaigns, marketing campaigns, leads and metrics.",
        needed_by: "the read operations of `neonhub-campaigns` on campaigns (to come).";
    CAMPAIGNS_WRITE = "campaigns:write", STAFF, "Create and change campaigns, sequences, posts and A/B tests.",
        needed_by: "the write operations of `neonhub-campaigns` on campaigns (to come).";
    CONTENT_READ = "content:read", ALL_ROLES, "Read content, drafts, snippets and SEO data.",
        needed_by: "the read operations of `neonhub-campaigns` on content and SEO (to come).";
    CONTENT_WRITE = "content:write", STAFF, "Create and change content, drafts, snippets and the editorial calendar.",
        needed_by: "the write operations of `neonhub-campaigns` on content and SEO (to come).";
    // connectors
    CONNECTORS_READ = "connectors:read", ALL_ROLES, "See which connectors are configured.",
        needed_by: "`Connector::list`, `by_name`, `get`; `ConnectorAuth::get`, `list`, `record_use`, `record_error`, `refresh`; `Credential::get`, `list`, `record_use`; `TriggerConfig::list`, `record_fired`; `ActionConfig::list`, `record_executed` in `neonhub-connectors` (using a connection is reading it).";
    CONNECTORS_MANAGE = "connectors:manage", MANAGERS, "Connect, configure and disconnect connectors and their credentials.",
        needed_by: "`ConnectorAuth::connect`, `set_tokens`, `set_status`, `disconnect`; `Credential::store`, `set_tokens`, `delete`; `create`, `set_active` and `delete` of `TriggerConfig` and `ActionConfig` in `neonhub-connectors`.";
    // agents
    AGENTS_READ = "agents:read", ALL_ROLES, "Read agents, their runs and jobs.",
        needed_by: "`get`, `list` and the finders of `Agent`, `AgentCapability`, `AgentConfig`, `Tool`, `AgentRun` (and `AgentRun::metrics`), `ToolExecution`, `ModelVersion`, `TrainingJob`, `InferenceEndpoint` (`by_slug`), `Job` in `neonhub-agents`.";
    AGENTS_RUN = "agents:run", STAFF, "Start agent runs and jobs.",
        needed_by: "`AgentRun::start`, `AgentRun::finish`, `ToolExecution::start`, `ToolExecution::finish`, `Job::enqueue`, `Job::enqueue_many`, `Job::cancel` in `neonhub-agents`; a job's creator must still hold it when the job is claimed.";
    AGENTS_MANAGE = "agents:manage", MANAGERS, "Create and configure agents, tools, models and endpoints.",
        needed_by: "`create`, `update` and `delete` of `Agent`, `AgentCapability`, `Tool`, `ModelVersion`, `InferenceEndpoint`; `Agent::set_status`; `AgentConfig::set` and `delete`; `TrainingJob::create`, `set_status`, `delete`; `AgentRun::delete`; the `neonhub_agents::seed` functions.";
    // rag
    KNOWLEDGE_READ = "knowledge:read", ALL_ROLES, "Search and read datasets, documents and conversations.",
        needed_by: "`get`, `list` and the finders of `EmbeddingSpace`, `Dataset`, `Document`, `Chunk`, `Conversation`, `Message` (`by_name`, `by_slug`, `list_in_dataset`, `list_in_document`); `Chunk::search`, `Chunk::hybrid_search`, `Message::search`, `vector_search`; `IndexManager::list`.";
    KNOWLEDGE_WRITE = "knowledge:write", STAFF, "Ingest documents and chunks; manage embedding spaces and indexes.",
        needed_by: "`create`, `update` and `delete` of `EmbeddingSpace`, `Dataset`, `Document`, `Chunk`, `Conversation`, `Message`; `Chunk::insert_many`, `Chunk::copy_in`; `IndexManager::create`, `rebuild`, `drop`.";
    // billing
    BILLING_READ = "billing:read", MANAGERS, "Read budgets, the ledger, payments and payouts.",
        needed_by: "`get`, `by_name`, `list` and the finders of `BudgetProfile`, `BudgetAllocation`, `BudgetReservation`, `LedgerEntry`, `BudgetTransaction`, `Payment`, `Payout`; `BudgetProfile::audit` in `neonhub-billing`.";
    BILLING_MANAGE = "billing:manage", OWNERS, "Change budgets, their totals and allocations; refund and adjust; record payments and payouts.",
        needed_by: "`BudgetProfile::create`, `update`, `set_total`, `delete`, `refund`, `adjust`; `BudgetAllocation::create`, `set_status`; `Payment::sync`, `Payout::sync` in `neonhub-billing`.";
    BUDGET_SPEND = "budget:spend", STAFF, "Reserve, commit, release and spend within a budget (without managing it).",
        needed_by: "`BudgetProfile::reserve`, `commit`, `release`, `spend` in `neonhub-billing`.";
    // crm
    CRM_READ = "crm:read", ALL_ROLES, "Read people, their identities, consents, notes and events.",
        needed_by: "`get`, `list` and the finders of `Person` (`by_external_id`, `by_identity`), `PersonIdentity`, `PersonNote`, `PersonTopic`, `PersonObjective`, `Memory` (and `Memory::search`); `Consent::history`, `Consent::may_contact`; `Suppression::is_suppressed`; `Event::list`, `Event::explain_list` in `neonhub-crm`.";
    CRM_WRITE = "crm:write", STAFF, "Create and change people and their records.",
        needed_by: "`Person::create`, `update`, `delete`, `merge`; `PersonIdentity::add`, `verify`, `remove`; `Consent::record`; `Event::insert_many`, `copy_in`; `Memory::remember`, `forget`; `PersonNote::add`, `delete`; `PersonTopic::set`; `PersonObjective::create`, `set_status`; `Suppression::add` in `neonhub-crm`.";
    CRM_EXPORT = "crm:export", MANAGERS, "Export everything held about a person (a data subject's access request).",
        needed_by: "`Person::export` in `neonhub-crm`.";
    CRM_ERASE = "crm:erase", MANAGERS, "Erase a person for good: delete everything held about them and suppress their identities.",
        needed_by: "`Person::erase` in `neonhub-crm`.";
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

/// What a [`crate::TenantScope`] may do: every key (trusted system code), or the keys its
/// holder was granted when it was authorized (a member's role, intersected with an API
/// key's scopes). Cheap to clone: the set is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSet(Grant);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Grant {
    All,
    Keys(Arc<BTreeSet<String>>),
}

impl PermissionSet {
    /// Every key, including keys an organization defines later: only
    /// [`crate::TenantScope::trusted_system`] holds it.
    pub(crate) fn all() -> Self {
        Self(Grant::All)
    }

    /// Exactly `keys`.
    pub fn of<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        Self(Grant::Keys(Arc::new(
            keys.into_iter().map(Into::into).collect(),
        )))
    }

    /// No key at all (a scope that only records who acts, e.g. a user accepting an
    /// invitation).
    pub fn none() -> Self {
        Self::of(std::iter::empty::<String>())
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &str) -> bool {
        match &self.0 {
            Grant::All => true,
            Grant::Keys(keys) => keys.contains(key),
        }
    }

    /// Whether this is the system's set of every key.
    pub fn is_all(&self) -> bool {
        matches!(self.0, Grant::All)
    }

    /// The keys of a bounded set, sorted; `None` for the system's set of every key.
    pub fn keys(&self) -> Option<impl Iterator<Item = &str>> {
        match &self.0 {
            Grant::All => None,
            Grant::Keys(keys) => Some(keys.iter().map(String::as_str)),
        }
    }

    /// The keys held by both (an API key's scopes within its member's permissions).
    pub fn intersection(&self, other: &PermissionSet) -> PermissionSet {
        match (&self.0, &other.0) {
            (Grant::All, _) => other.clone(),
            (_, Grant::All) => self.clone(),
            (Grant::Keys(a), Grant::Keys(b)) => Self::of(a.intersection(b).cloned()),
        }
    }
}

/// Why an organization refused to let a user act: from `authorize`, `ApiKey::verify`, or a
/// repository operation whose key the scope lacks. Every domain crate's error wraps it, so
/// a service maps it to 403 in one place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// The user has no membership in the organization (or the organization does not exist).
    #[error("user {user} is not a member of organization {organization}")]
    NotMember {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
    },
    /// The membership is invited or suspended, not active.
    #[error("user {user}'s membership in organization {organization} is {status}, not active")]
    Inactive {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
        /// The membership's status.
        status: MemberStatus,
    },
    /// The user (or the scope acting for them) does not hold the key.
    #[error("user {user} lacks permission {key:?} in organization {organization}")]
    MissingPermission {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
        /// The key asked for.
        key: String,
    },
    /// The request or the stored membership cannot be read (a NUL byte in an id, a
    /// membership status this version does not know): denied, and a client error (400),
    /// not an outage.
    #[error("authorization refused: {0}")]
    Invalid(#[from] crate::InvalidData),
    /// The check itself failed; denied, since nothing could be proven.
    #[error("authorization could not be checked: {0}")]
    Unavailable(#[source] diesel::result::Error),
}

impl Denied {
    /// [`Denied::Invalid`] when `e` is invalid input or an unreadable row, else
    /// [`Denied::Unavailable`].
    pub fn from_query(e: diesel::result::Error) -> Self {
        match crate::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Unavailable(e),
        }
    }
}

/// The permission set of an active member, in one query: the keys its role holds (roles
/// and keys of the same organization only), or why the user is not an active member
/// ([`Denied::NotMember`], [`Denied::Inactive`]). What `authorize` builds a scope from, and
/// what a job queue re-checks a job's creator with at claim.
pub async fn member_permissions(
    conn: &mut diesel_async::AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
) -> Result<PermissionSet, Denied> {
    use diesel::OptionalExtension;
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Member {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: MemberStatus,
        #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
        keys: Vec<String>,
    }
    // Before any scope, so through the narrow lookup function (the application role cannot
    // read memberships under row-level security): LEFT JOINs there, so a member without a
    // role (or a role without keys) still yields its row.
    let row: Option<(MemberStatus, Vec<String>)> =
        diesel::sql_query("SELECT status, keys FROM public.nh_member_permissions($1, $2)")
            .bind::<diesel::sql_types::Text, _>(org)
            .bind::<diesel::sql_types::Text, _>(user)
            .get_result::<Member>(conn)
            .await
            .optional()
            .map_err(Denied::from_query)?
            .map(|m| (m.status, m.keys));
    match row {
        None => Err(Denied::NotMember {
            organization: org.clone(),
            user: user.clone(),
        }),
        Some((status, _)) if status != MemberStatus::Active => Err(Denied::Inactive {
            organization: org.clone(),
            user: user.clone(),
            status,
        }),
        Some((_, keys)) => Ok(PermissionSet::of(keys)),
    }
}
