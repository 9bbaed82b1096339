//! `neonhub seed`: the demo organization, admin, catalog and agents, idempotently.
//!
//! Every row is found by its natural key before anything is written, so a second run
//! changes nothing (same ids, `updatedAt` untouched) and a database that holds part of the
//! seed, or the seed under other ids (an adopted one), is completed rather than duplicated.
//! Where a unique index exists the insert is `ON CONFLICT DO NOTHING` (safe against a
//! concurrent seed); the two tables without one are locked before their lookups. All in
//! one transaction. No token or secret is written.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{Duration, NaiveTime};
use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_identity::{IdentityError, Membership, Organization};
use neonhub_schema::enums::{AgentKind, AgentStatus, ConnectorKind};
use neonhub_schema::ids::*;
use neonhub_schema::schema::*;
use neonhub_schema::{Citext, TenantScope, UnknownEnumLabel, time};
use serde_json::json;

use crate::seed_data::*;

/// Why the seed failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The database refused a statement.
    #[error("seeding failed: {0}")]
    Database(#[from] diesel::result::Error),
    /// The seed data names an enum label the schema lacks.
    #[error("seed data is invalid: {0}")]
    Label(#[from] UnknownEnumLabel),
    /// Installing the organization's roles and permissions failed.
    #[error("seeding roles and permissions failed: {0}")]
    Access(#[from] IdentityError),
}

/// What one seed run did, per table.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeedReport {
    /// table -> counts, in the order the seed writes them.
    pub tables: Vec<TableReport>,
    /// The organization's roles and permissions (beyond SEED_DATA.md's rows).
    pub access: AccessReport,
}

/// What the seed added of the organization's default roles, permissions and grants, and
/// whether it made the admin the owner; all zero / false on a second run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AccessReport {
    /// Default roles created.
    pub roles_added: usize,
    /// Permission keys created.
    pub permissions_added: usize,
    /// Role-permission grants created.
    pub grants_added: usize,
    /// Whether the admin, who had no role, was given the owner role.
    pub admin_made_owner: bool,
}

/// Rows created and found in one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Rows this run inserted.
    pub created: usize,
    /// Seed rows that were already there.
    pub existing: usize,
}

impl SeedReport {
    /// Rows inserted by this run.
    pub fn created(&self) -> usize {
        self.tables.iter().map(|t| t.created).sum()
    }

    /// Seed rows found already present.
    pub fn existing(&self) -> usize {
        self.tables.iter().map(|t| t.existing).sum()
    }
}

#[derive(Default)]
struct Tally(BTreeMap<&'static str, (usize, usize)>);

impl Tally {
    /// Records whether the seed row of `table` was inserted (`true`) or found.
    fn note(&mut self, table: &'static str, inserted: bool) {
        let entry = self.0.entry(table).or_default();
        if inserted { entry.0 += 1 } else { entry.1 += 1 }
    }

    fn into_report(self) -> SeedReport {
        let tables = SEED_COUNTS
            .iter()
            .map(|(table, _)| {
                let (created, existing) = self.0.get(table).copied().unwrap_or_default();
                TableReport {
                    table: (*table).to_owned(),
                    created,
                    existing,
                }
            })
            .collect();
        SeedReport {
            tables,
            access: AccessReport::default(),
        }
    }
}

/// Seeds the database in one transaction and reports what was created and what existed.
pub async fn seed(conn: &mut AsyncPgConnection) -> Result<SeedReport, SeedError> {
    conn.transaction(async |tx| {
        let mut tally = Tally::default();
        let org = ensure_organization(tx, &mut tally).await?;
        let scope = TenantScope::trusted_system(org);
        let access = scope
            .transaction(tx, async |tx| {
                let admin = seed_in_org(tx, &scope, &mut tally).await?;
                seed_access(tx, &scope, &admin).await
            })
            .await?;
        Ok(SeedReport {
            access,
            ..tally.into_report()
        })
    })
    .await
}

async fn ensure_organization(
    conn: &mut AsyncPgConnection,
    tally: &mut Tally,
) -> Result<OrganizationId, SeedError> {
    let now = time::now();
    let inserted = diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(OrganizationId::generate()),
            organizations::slug.eq(ORG_SLUG),
            organizations::name.eq("NeonHub"),
            organizations::plan.eq("scale"),
            organizations::settings.eq(json!({"timezone": "UTC", "theme": "neon"})),
            organizations::createdAt.eq(now),
            organizations::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    tally.note("organizations", inserted == 1);
    Ok(organizations::table
        .filter(organizations::slug.eq(ORG_SLUG))
        .select(organizations::id)
        .get_result(conn)
        .await?)
}

/// The default roles and permissions through `neonhub-identity`, and the admin as owner
/// when the admin has no role yet (a role someone chose is left alone). Audited like any
/// other change, and only when something changes, so the seed stays idempotent.
async fn seed_access(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    admin: &UserId,
) -> Result<AccessReport, SeedError> {
    let installed = Organization::install_defaults(conn, scope).await?;
    let role: Option<Option<OrganizationRoleId>> = organization_members::table
        .filter(organization_members::organizationId.eq(scope.organization_id()))
        .filter(organization_members::userId.eq(admin))
        .select(organization_members::roleId)
        .first(conn)
        .await
        .optional()?;
    let admin_made_owner = matches!(role, Some(None));
    if admin_made_owner {
        Membership::change_role(conn, scope, admin, &installed.roles.owner).await?;
    }
    Ok(AccessReport {
        roles_added: installed.roles_added,
        permissions_added: installed.permissions_added,
        grants_added: installed.grants_added,
        admin_made_owner,
    })
}

/// Seeds the rows of SEED_DATA.md in the organization; returns the admin's id.
async fn seed_in_org(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    tally: &mut Tally,
) -> Result<UserId, SeedError> {
    let org = scope.organization_id();
    let now = time::now();

    let inserted = diesel::insert_into(brands::table)
        .values((
            brands::id.eq(BrandId::generate()),
            brands::organizationId.eq(org),
            brands::name.eq("NeonHub"),
            brands::slug.eq("neonhub"),
            brands::description.eq("Custom neon signage for creators, events and hospitality."),
            brands::mainColor.eq("#2B26FE"),
            brands::slogan.eq("Stay Neon!"),
            brands::createdAt.eq(now),
            brands::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    tally.note("brands", inserted == 1);

    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(UserId::generate()),
            users::email.eq(ADMIN_EMAIL),
            users::name.eq("NeonHub Admin"),
            users::emailVerified.eq(now),
            users::isBetaUser.eq(true),
            users::createdAt.eq(now),
            users::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    tally.note("users", inserted == 1);
    let admin: UserId = users::table
        .filter(users::email.eq(ADMIN_EMAIL))
        .select(users::id)
        .get_result(conn)
        .await?;

    let inserted = diesel::insert_into(organization_members::table)
        .values((
            organization_members::id.eq(OrganizationMemberId::generate()),
            organization_members::organizationId.eq(org),
            organization_members::userId.eq(&admin),
            organization_members::status.eq("active"),
            organization_members::joinedAt.eq(now),
            organization_members::createdAt.eq(now),
            organization_members::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    tally.note("organization_members", inserted == 1);

    let mut persona_ids = BTreeMap::new();
    for (name, summary) in PERSONAS {
        let inserted = diesel::insert_into(personas::table)
            .values((
                personas::name.eq(name),
                personas::summary.eq(summary),
                personas::createdAt.eq(now),
                personas::updatedAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        tally.note("personas", inserted == 1);
        let id: PersonaId = personas::table
            .filter(personas::name.eq(name))
            .select(personas::id)
            .get_result(conn)
            .await?;
        persona_ids.insert(*name, id);
    }

    for (term, intent, persona) in KEYWORDS {
        let inserted = diesel::insert_into(keywords::table)
            .values((
                keywords::term.eq(Citext::new(*term)),
                keywords::intent.eq(intent),
                keywords::priority.eq(KEYWORD_PRIORITY),
                keywords::personaId.eq(persona_ids[persona]),
                keywords::createdAt.eq(now),
                keywords::updatedAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        tally.note("keywords", inserted == 1);
    }

    // No unique key on titles: lock out concurrent writers (readers continue) while looking up.
    conn.batch_execute(
        "LOCK TABLE editorial_calendar, agent_capabilities IN SHARE ROW EXCLUSIVE MODE",
    )
    .await?;
    let nine = NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a time");
    for (title, days, priority, status, persona) in CALENDAR {
        let found: Option<EditorialCalendarEntryId> = editorial_calendar::table
            .filter(editorial_calendar::title.eq(title))
            .select(editorial_calendar::id)
            .first(conn)
            .await
            .optional()?;
        if found.is_none() {
            let publish_at = (now.date() + Duration::days(*days)).and_time(nine);
            diesel::insert_into(editorial_calendar::table)
                .values((
                    editorial_calendar::title.eq(title),
                    editorial_calendar::publishAt.eq(publish_at),
                    editorial_calendar::priority.eq(priority),
                    editorial_calendar::status.eq(status),
                    editorial_calendar::personaId.eq(persona_ids[persona]),
                    editorial_calendar::createdAt.eq(now),
                    editorial_calendar::updatedAt.eq(now),
                ))
                .execute(conn)
                .await?;
        }
        tally.note("editorial_calendar", found.is_none());
    }

    let mut connector_ids = BTreeMap::new();
    for c in CONNECTORS {
        let inserted = diesel::insert_into(connectors::table)
            .values((
                connectors::id.eq(ConnectorId::generate()),
                connectors::name.eq(c.name),
                connectors::displayName.eq(c.display_name),
                connectors::description.eq(c.description),
                connectors::category.eq(ConnectorKind::from_str(c.category)?),
                connectors::authType.eq(c.auth_type),
                connectors::authConfig.eq(
                    json!({"provider": c.name, "type": c.auth_type, "requiredScopes": c.scopes}),
                ),
                connectors::isEnabled.eq(true),
                connectors::isVerified.eq(c.verified),
                connectors::triggers.eq(json!(c.triggers)),
                connectors::actions.eq(json!(c.actions)),
                connectors::createdAt.eq(now),
                connectors::updatedAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        tally.note("connectors", inserted == 1);
        let id: ConnectorId = connectors::table
            .filter(connectors::name.eq(c.name))
            .select(connectors::id)
            .get_result(conn)
            .await?;
        connector_ids.insert(c.name, id);
    }

    for (connector, account_id, account_name, status, scope_text) in CONNECTOR_AUTHS {
        let inserted = diesel::insert_into(connector_auths::table)
            .values((
                connector_auths::id.eq(ConnectorAuthId::generate()),
                connector_auths::userId.eq(&admin),
                connector_auths::connectorId.eq(&connector_ids[connector]),
                connector_auths::organizationId.eq(org),
                connector_auths::accountId.eq(account_id),
                connector_auths::accountName.eq(account_name),
                connector_auths::scope.eq(scope_text),
                connector_auths::status.eq(status),
                connector_auths::createdAt.eq(now),
                connector_auths::updatedAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        tally.note("connector_auths", inserted == 1);
    }

    for agent in AGENTS {
        let inserted = diesel::insert_into(agents::table)
            .values((
                agents::id.eq(AgentId::generate()),
                agents::organizationId.eq(org),
                agents::name.eq(agent.name),
                agents::slug.eq(agent.slug),
                agents::kind.eq(AgentKind::from_str(agent.kind)?),
                agents::status.eq(AgentStatus::Active),
                agents::description.eq(agent.description),
                agents::version.eq("1.0.0"),
                agents::config.eq((agent.config)()),
                agents::createdAt.eq(now),
                agents::updatedAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        tally.note("agents", inserted == 1);
        let agent_id: AgentId = agents::table
            .filter(agents::organizationId.eq(org))
            .filter(agents::slug.eq(agent.slug))
            .select(agents::id)
            .get_result(conn)
            .await?;

        for (name, config) in agent.capabilities {
            let found: Option<AgentCapabilityId> = agent_capabilities::table
                .filter(agent_capabilities::agentId.eq(&agent_id))
                .filter(agent_capabilities::name.eq(name))
                .select(agent_capabilities::id)
                .first(conn)
                .await
                .optional()?;
            if found.is_none() {
                diesel::insert_into(agent_capabilities::table)
                    .values((
                        agent_capabilities::id.eq(AgentCapabilityId::generate()),
                        agent_capabilities::agentId.eq(&agent_id),
                        agent_capabilities::name.eq(name),
                        agent_capabilities::config.eq(config()),
                        agent_capabilities::createdAt.eq(now),
                    ))
                    .execute(conn)
                    .await?;
            }
            tally.note("agent_capabilities", found.is_none());
        }

        for (key, value) in agent.configs {
            let inserted = diesel::insert_into(agent_configs::table)
                .values((
                    agent_configs::id.eq(AgentConfigId::generate()),
                    agent_configs::agentId.eq(&agent_id),
                    agent_configs::key.eq(key),
                    agent_configs::value.eq(value()),
                    agent_configs::createdAt.eq(now),
                    agent_configs::updatedAt.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            tally.note("agent_configs", inserted == 1);
        }

        let (slug, name, description) = agent.tool;
        let (input, output) = (agent.tool_schemas)();
        let inserted = diesel::insert_into(tools::table)
            .values((
                tools::id.eq(ToolId::generate()),
                tools::organizationId.eq(org),
                tools::name.eq(name),
                tools::slug.eq(slug),
                tools::description.eq(description),
                tools::inputSchema.eq(input),
                tools::outputSchema.eq(output),
                tools::agentId.eq(&agent_id),
                tools::createdAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        tally.note("tools", inserted == 1);
    }
    Ok(admin)
}
