//! `neonhub seed`: the demo organization, admin, catalog and agents, idempotently.
//!
//! Every row is found by its natural key before anything is written, so a second run
//! changes nothing (same ids, `updatedAt` untouched) and a database that holds part of the
//! seed, or the seed under other ids (an adopted one), is completed rather than duplicated.
//! Where a unique index exists the insert is `ON CONFLICT DO NOTHING` (safe against a
//! concurrent seed); the two tables without one are locked before their lookups. All in
//! one transaction. No token or secret is written.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveTime};
use diesel::prelude::ExpressionMethods;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_agents::seed as agents_seed;
use neonhub_agents::{AgentError, NewAgent, NewAgentCapability, NewTool};
use neonhub_campaigns::{Brand, CalendarEntry, Keyword, NewBrand, NewCalendarEntry, Persona};
use neonhub_connectors::{Connector, Upserted};
use neonhub_identity::IdentityError;
use neonhub_identity::seed::{self as identity_seed, SeedOrganization, SeedUser};
use neonhub_schema::enums::AgentStatus;
use neonhub_schema::ids::*;
use neonhub_schema::schema::*;
use neonhub_schema::{TenantScope, time};

use crate::seed_data::*;

/// Why the seed failed; nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The database refused a statement.
    #[error("seeding failed: {0}")]
    Database(#[from] diesel::result::Error),
    /// Installing the organization's roles and permissions failed.
    #[error("seeding roles and permissions failed: {0}")]
    Access(#[from] IdentityError),
    /// Seeding the agents, their capabilities, configs or tools failed.
    #[error("seeding agents failed: {0}")]
    Agents(#[from] AgentError),
    /// Writing the connector catalog failed.
    #[error("seeding the connector catalog failed: {0}")]
    Connectors(#[from] neonhub_connectors::ConnectorError),
    /// The brand could not be written.
    #[error("seeding the brand failed: {0}")]
    Campaigns(#[from] neonhub_campaigns::CampaignError),
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
        let tables = seed_counts()
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
/// Identity's rows come from `neonhub_identity::seed`; the tables whose crates do not exist
/// yet are seeded here, one function per table, in the order of [`seed_counts`].
pub async fn seed(conn: &mut AsyncPgConnection) -> Result<SeedReport, SeedError> {
    conn.transaction(async |tx| {
        let mut tally = Tally::default();
        let settings = org_settings();
        let (org, inserted) = identity_seed::ensure_organization(
            tx,
            &SeedOrganization {
                slug: ORG_SLUG,
                name: ORG_NAME,
                plan: ORG_PLAN,
                settings: Some(&settings),
            },
        )
        .await?;
        tally.note("organizations", inserted);
        let scope = TenantScope::trusted_system(org);
        let access = scope
            .transaction(tx, async |tx| {
                let admin = seed_in_org(tx, &scope, &mut tally).await?;
                let access = identity_seed::ensure_access(tx, &scope, &admin).await?;
                Ok::<_, SeedError>(AccessReport {
                    roles_added: access.installed.roles_added,
                    permissions_added: access.installed.permissions_added,
                    grants_added: access.installed.grants_added,
                    admin_made_owner: access.made_owner,
                })
            })
            .await?;
        Ok(SeedReport {
            access,
            ..tally.into_report()
        })
    })
    .await
}

/// Seeds the rows of SEED_DATA.md in the organization; returns the admin's id.
async fn seed_in_org(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    tally: &mut Tally,
) -> Result<UserId, SeedError> {
    tally.note("brands", brand(tx, scope).await?);
    let (admin, inserted) = identity_seed::ensure_user(
        tx,
        &SeedUser {
            email: ADMIN_EMAIL,
            name: Some(ADMIN_NAME),
            is_beta_user: true,
        },
    )
    .await?;
    tally.note("users", inserted);
    tally.note(
        "organization_members",
        identity_seed::ensure_member(tx, scope, &admin).await?,
    );
    let personas = personas(tx, tally).await?;
    keywords(tx, &personas, tally).await?;
    editorial_calendar(tx, &personas, tally).await?;
    let connectors = connectors(tx, tally).await?;
    connector_auths(tx, scope, &admin, &connectors, tally).await?;
    for agent in AGENTS {
        self::agent(tx, scope, agent, tally).await?;
    }
    Ok(admin)
}

/// The brand, through `neonhub-campaigns` (found by its slug on a second run); whether it
/// was inserted.
async fn brand(tx: &mut AsyncPgConnection, scope: &TenantScope) -> Result<bool, SeedError> {
    if Brand::by_slug(tx, scope, BRAND.slug).await?.is_some() {
        return Ok(false);
    }
    Brand::create(
        tx,
        scope,
        &NewBrand {
            name: Some(BRAND.name),
            slug: Some(BRAND.slug),
            description: Some(BRAND.description),
            main_color: Some(BRAND.main_color),
            slogan: Some(BRAND.slogan),
            metadata: None,
        },
    )
    .await?;
    Ok(true)
}

/// The personas, through `neonhub-campaigns`; their ids by name.
async fn personas(
    tx: &mut AsyncPgConnection,
    tally: &mut Tally,
) -> Result<BTreeMap<&'static str, PersonaId>, SeedError> {
    let mut ids = BTreeMap::new();
    for persona in PERSONAS {
        let (row, inserted) = Persona::ensure(tx, persona.name, Some(persona.summary)).await?;
        tally.note("personas", inserted);
        ids.insert(persona.name, row.id);
    }
    Ok(ids)
}

/// The keywords, each linked to its persona, through `neonhub-campaigns`.
async fn keywords(
    tx: &mut AsyncPgConnection,
    personas: &BTreeMap<&'static str, PersonaId>,
    tally: &mut Tally,
) -> Result<(), SeedError> {
    for keyword in KEYWORDS {
        let (_, inserted) = Keyword::ensure(
            tx,
            keyword.term,
            keyword.intent,
            Some(KEYWORD_PRIORITY),
            Some(personas[keyword.persona]),
        )
        .await?;
        tally.note("keywords", inserted);
    }
    Ok(())
}

/// The calendar entries, found by title, through `neonhub-campaigns`.
async fn editorial_calendar(
    tx: &mut AsyncPgConnection,
    personas: &BTreeMap<&'static str, PersonaId>,
    tally: &mut Tally,
) -> Result<(), SeedError> {
    let now = time::now();
    let nine = NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a time");
    for entry in CALENDAR {
        let (_, inserted) = CalendarEntry::ensure(
            tx,
            &NewCalendarEntry {
                title: entry.title,
                publish_at: (now.date() + Duration::days(entry.publish_in_days)).and_time(nine),
                priority: Some(entry.priority),
                status: Some(entry.status),
                persona: Some(personas[entry.persona]),
            },
        )
        .await?;
        tally.note("editorial_calendar", inserted);
    }
    Ok(())
}

/// The connector catalog (`neonhub_connectors::CATALOG`); the connectors' ids by name.
async fn connectors(
    tx: &mut AsyncPgConnection,
    tally: &mut Tally,
) -> Result<BTreeMap<&'static str, ConnectorId>, SeedError> {
    let mut ids = BTreeMap::new();
    let catalog = neonhub_connectors::CATALOG;
    for (def, (connector, outcome)) in catalog
        .iter()
        .zip(Connector::upsert_all(tx, catalog).await?)
    {
        tally.note("connectors", outcome == Upserted::Inserted);
        ids.insert(def.name, connector.id);
    }
    Ok(ids)
}

/// The admin's connector accounts, without any token.
async fn connector_auths(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    admin: &UserId,
    connectors: &BTreeMap<&'static str, ConnectorId>,
    tally: &mut Tally,
) -> Result<(), SeedError> {
    let now = time::now();
    for auth in CONNECTOR_AUTHS {
        let inserted = diesel::insert_into(connector_auths::table)
            .values((
                connector_auths::id.eq(ConnectorAuthId::generate()),
                connector_auths::userId.eq(admin),
                connector_auths::connectorId.eq(&connectors[auth.connector]),
                connector_auths::organizationId.eq(scope.organization_id()),
                connector_auths::accountId.eq(auth.account_id),
                connector_auths::accountName.eq(auth.account_name),
                connector_auths::scope.eq(auth.scope),
                connector_auths::status.eq(auth.status),
                connector_auths::createdAt.eq(now),
                connector_auths::updatedAt.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(tx)
            .await?;
        tally.note("connector_auths", inserted == 1);
    }
    Ok(())
}

/// One agent with its capabilities, configs and tool, through `neonhub_agents::seed`.
async fn agent(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    agent: &AgentSeed,
    tally: &mut Tally,
) -> Result<(), SeedError> {
    let config = (agent.config)();
    let new = NewAgent {
        name: agent.name,
        slug: agent.slug,
        kind: agent.kind,
        description: Some(agent.description),
        version: Some("1.0.0"),
        config: Some(&config),
    };
    let (agent_id, inserted) =
        agents_seed::ensure_agent(tx, scope, &new, AgentStatus::Active).await?;
    tally.note("agents", inserted);
    for (name, config) in agent.capabilities {
        let config = config();
        let capability = NewAgentCapability {
            name,
            config: Some(&config),
        };
        let inserted = agents_seed::ensure_capability(tx, scope, &agent_id, &capability).await?;
        tally.note("agent_capabilities", inserted);
    }
    for (key, value) in agent.configs {
        let inserted = agents_seed::ensure_config(tx, scope, &agent_id, key, &value()).await?;
        tally.note("agent_configs", inserted);
    }
    let (slug, name, description) = agent.tool;
    let (input, output) = (agent.tool_schemas)();
    let tool = NewTool {
        agent_id: Some(&agent_id),
        name,
        slug,
        description: Some(description),
        input_schema: Some(&input),
        output_schema: Some(&output),
    };
    tally.note("tools", agents_seed::ensure_tool(tx, scope, &tool).await?);
    Ok(())
}
