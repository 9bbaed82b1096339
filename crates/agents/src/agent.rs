//! Agents: the organization's configured AI workers, with their lifecycle
//! `DRAFT → ACTIVE ⇄ PAUSED → DISABLED`.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::{AgentKind, AgentStatus};
use neonhub_schema::ids::{AgentId, OrganizationId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::agents;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{AgentError, limits};

/// An agent of one organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = agents, check_for_backend(diesel::pg::Pg))]
pub struct Agent {
    /// Primary key (UUIDv7 text for rows made here; any text for adopted rows).
    pub id: AgentId,
    /// The organization that owns it.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// URL-safe key, unique in the organization ([`Agent::by_slug`]).
    pub slug: String,
    /// Copilot, workflow or analyst.
    pub kind: AgentKind,
    /// Where it stands in its lifecycle; changed only by [`Agent::set_status`].
    pub status: AgentStatus,
    /// Free-text description.
    pub description: Option<String>,
    /// The application's version label for its behaviour (`1.0.0`, ...).
    pub version: Option<String>,
    /// Free-form configuration (per-key settings live in [`crate::AgentConfig`]).
    pub config: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Agent {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// An agent to create, as a `DRAFT`; the id, organization, status and timestamps are
/// added by [`Agent::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agents)]
pub struct NewAgent<'a> {
    /// Display name (1 to 200 bytes).
    pub name: &'a str,
    /// URL-safe key, unique in the organization (1 to 128 bytes of `a-z0-9-_.`).
    pub slug: &'a str,
    /// Copilot, workflow or analyst.
    pub kind: AgentKind,
    /// Free-text description.
    pub description: Option<&'a str>,
    /// Version label.
    pub version: Option<&'a str>,
    /// Free-form configuration (at most 1 MiB of JSON).
    pub config: Option<&'a Value>,
}

impl NewAgent<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        limits::name("name", self.name)?;
        InvalidData::check_slug("slug", self.slug)?;
        limits::text("description", self.description)?;
        limits::text("version", self.version)?;
        limits::json("config", self.config)
    }
}

/// What may change on an agent (its status changes through [`Agent::set_status`] only):
/// `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = agents)]
pub struct AgentChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New slug (unique in the organization).
    pub slug: Option<&'a str>,
    /// New kind.
    pub kind: Option<AgentKind>,
    /// New description.
    pub description: Option<Option<&'a str>>,
    /// New version label.
    pub version: Option<Option<&'a str>>,
    /// New configuration.
    pub config: Option<Option<&'a Value>>,
}

impl AgentChanges<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        self.name.map_or(Ok(()), |v| limits::name("name", v))?;
        self.slug
            .map_or(Ok(()), |v| InvalidData::check_slug("slug", v))?;
        limits::text("description", self.description.flatten())?;
        limits::text("version", self.version.flatten())?;
        limits::json("config", self.config.flatten())
    }
}

impl Agent {
    /// Whether the lifecycle allows `from → to`: `DRAFT → ACTIVE`, `ACTIVE → PAUSED`,
    /// `PAUSED → ACTIVE`, `PAUSED → DISABLED`. `DISABLED` is final; an agent is paused
    /// before it is disabled, so its in-flight work has stopped.
    pub const fn allows(from: AgentStatus, to: AgentStatus) -> bool {
        use AgentStatus::*;
        matches!(
            (from, to),
            (Draft, Active) | (Active, Paused) | (Paused, Active) | (Paused, Disabled)
        )
    }

    /// Creates an agent as a `DRAFT` (it runs once [`Agent::set_status`] made it `ACTIVE`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewAgent<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                diesel::insert_into(agents::table)
                    .values((
                        new,
                        agents::id.eq(AgentId::generate()),
                        agents::organizationId.eq(scope.organization_id()),
                        agents::status.eq(AgentStatus::Draft),
                        agents::createdAt.eq(now),
                        agents::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| slug_taken(e, Some(new.slug)))
            })
            .await
    }

    /// The agent with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| AgentError::not_found("agent", id))
            })
            .await
    }

    /// The agent with `slug` in this organization, if there is one.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        slug: &str,
    ) -> Result<Option<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        InvalidData::check_text("slug", slug)?;
        scope
            .transaction(conn, async |tx| {
                Ok(agents::table
                    .filter(agents::organizationId.eq(scope.organization_id()))
                    .filter(agents::slug.eq(slug))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's agents, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = agents::table
                    .filter(agents::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentId,
        changes: &AgentChanges<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(agents::table)
                    .filter(in_org(scope, id))
                    .set((changes, agents::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| slug_taken(e, changes.slug))?
                    .ok_or_else(|| AgentError::not_found("agent", id))
            })
            .await
    }

    /// Moves the agent to `to` if the lifecycle allows it from the status it has
    /// ([`Agent::allows`]). The change is one conditional `UPDATE ... WHERE status = <a
    /// status that allows it>`, so of two racing changes at most one wins; the loser gets
    /// [`AgentError::AgentTransition`] from the status the winner left.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentId,
        to: AgentStatus,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        let allowed_from: Vec<AgentStatus> = AgentStatus::ALL
            .iter()
            .copied()
            .filter(|from| Self::allows(*from, to))
            .collect();
        scope
            .transaction(conn, async |tx| {
                let moved = diesel::update(agents::table)
                    .filter(in_org(scope, id))
                    .filter(agents::status.eq_any(&allowed_from))
                    .set((agents::status.eq(to), agents::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                match moved {
                    Some(agent) => Ok(agent),
                    None => {
                        let current = Self::find(tx, scope, id)
                            .await?
                            .ok_or_else(|| AgentError::not_found("agent", id))?;
                        Err(AgentError::AgentTransition {
                            id: id.to_string(),
                            from: current.status,
                            to,
                        })
                    }
                }
            })
            .await
    }

    /// Deletes the agent with its capabilities, configs and runs (the foreign keys
    /// cascade; its tools stay, unassigned).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(agents::table)
                    .filter(in_org(scope, id))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("agent", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentId,
    ) -> Result<Option<Self>, AgentError> {
        Ok(agents::table
            .filter(in_org(scope, id))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The agent as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentId,
    ) -> Result<Self, AgentError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| AgentError::foreign_parent("agent", id))
    }
}

/// The ids of this organization's agents, as a subselect: what children filter their
/// `agentId` on (`"agentId" IN (SELECT id FROM agents WHERE "organizationId" = $1)`).
pub(crate) fn ids_in(
    scope: &TenantScope,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<agents::table, diesel::dsl::Eq<agents::organizationId, &OrganizationId>>,
    agents::id,
> {
    agents::table
        .filter(agents::organizationId.eq(scope.organization_id()))
        .select(agents::id)
}

/// `id = $1 AND "organizationId" = <the scope's>`.
fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a AgentId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<agents::id, &'a AgentId>,
    diesel::dsl::Eq<agents::organizationId, &'a OrganizationId>,
> {
    agents::id
        .eq(id)
        .and(agents::organizationId.eq(scope.organization_id()))
}

fn slug_taken(e: diesel::result::Error, slug: Option<&str>) -> AgentError {
    AgentError::slug_taken(e, "agents_organizationId_slug_key", "agent", slug)
}
