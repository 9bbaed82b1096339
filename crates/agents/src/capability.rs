//! Agent capabilities: named abilities of an agent with their own settings.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{AgentCapabilityId, AgentId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::agent_capabilities;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::agent::ids_in;
use crate::{Agent, AgentError, limits};

/// A named ability of an agent (`deliverability-optimizer`, ...), reached through its
/// agent's organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = agent_capabilities, check_for_backend(diesel::pg::Pg))]
pub struct AgentCapability {
    /// Primary key.
    pub id: AgentCapabilityId,
    /// The agent it belongs to.
    #[diesel(column_name = agentId)]
    pub agent_id: AgentId,
    /// Its name.
    pub name: String,
    /// Its settings.
    pub config: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for AgentCapability {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A capability to add to an agent; the id, agent and timestamp are added by
/// [`AgentCapability::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agent_capabilities)]
pub struct NewAgentCapability<'a> {
    /// Its name (1 to 200 bytes).
    pub name: &'a str,
    /// Its settings (at most 1 MiB of JSON).
    pub config: Option<&'a Value>,
}

impl NewAgentCapability<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        limits::name("name", self.name)?;
        limits::json("config", self.config)
    }
}

/// What may change on a capability: `None` leaves a column alone, `Some(None)` clears the
/// settings.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = agent_capabilities)]
pub struct AgentCapabilityChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New settings.
    pub config: Option<Option<&'a Value>>,
}

impl AgentCapabilityChanges<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        self.name.map_or(Ok(()), |v| limits::name("name", v))?;
        limits::json("config", self.config.flatten())
    }
}

impl AgentCapability {
    /// Adds a capability to `agent` (which must be in this organization).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_capability", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        agent: &AgentId,
        new: &NewAgentCapability<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                Agent::parent(tx, scope, agent).await?;
                Ok(diesel::insert_into(agent_capabilities::table)
                    .values((
                        new,
                        agent_capabilities::id.eq(AgentCapabilityId::generate()),
                        agent_capabilities::agentId.eq(agent),
                        agent_capabilities::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The capability with `id`, if its agent is in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_capability", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentCapabilityId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await)
            .await
    }

    /// The capabilities of `agent`, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_capability", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        agent: &AgentId,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Agent::parent(tx, scope, agent).await?;
                let query = agent_capabilities::table
                    .filter(agent_capabilities::agentId.eq(agent))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_capability", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentCapabilityId,
        changes: &AgentCapabilityChanges<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                if changes.name.is_none() && changes.config.is_none() {
                    // An empty SET is not SQL: nothing to change is the row as it is.
                    return Self::find(tx, scope, id).await;
                }
                diesel::update(agent_capabilities::table)
                    .filter(agent_capabilities::id.eq(id))
                    .filter(agent_capabilities::agentId.eq_any(ids_in(scope)))
                    .set(changes)
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| AgentError::not_found("agent capability", id))
            })
            .await
    }

    /// Removes the capability.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_capability", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentCapabilityId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(agent_capabilities::table)
                    .filter(agent_capabilities::id.eq(id))
                    .filter(agent_capabilities::agentId.eq_any(ids_in(scope)))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("agent capability", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if its agent is in this organization (inside a scope transaction).
    async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentCapabilityId,
    ) -> Result<Self, AgentError> {
        agent_capabilities::table
            .filter(agent_capabilities::id.eq(id))
            .filter(agent_capabilities::agentId.eq_any(ids_in(scope)))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?
            .ok_or_else(|| AgentError::not_found("agent capability", id))
    }
}
