//! Agent configs: one JSON value per key and agent, set by upsert.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{AgentConfigId, AgentId};
use neonhub_schema::schema::agent_configs;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{Agent, AgentError, limits};

/// One configuration key of an agent (`daily_send_cap = 5000`, ...).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = agent_configs, check_for_backend(diesel::pg::Pg))]
pub struct AgentConfig {
    /// Primary key (kept when the value is replaced).
    pub id: AgentConfigId,
    /// The agent it configures.
    #[diesel(column_name = agentId)]
    pub agent_id: AgentId,
    /// The key, unique per agent.
    pub key: String,
    /// The value.
    pub value: Value,
    /// When the key was first set (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When the value last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl AgentConfig {
    /// Sets `key` of `agent` to `value`: inserts it, or replaces the value of the key the
    /// agent has (one `INSERT ... ON CONFLICT ("agentId", key) DO UPDATE`, so two racing
    /// sets leave one row holding the later value). The key is 1 to 200 bytes, the value at
    /// most 1 MiB of JSON.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_config", op = "set"))]
    pub async fn set(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        agent: &AgentId,
        key: &str,
        value: &Value,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        limits::name("key", key)?;
        limits::json("value", Some(value))?;
        scope
            .transaction(conn, async |tx| {
                Agent::parent(tx, scope, agent).await?;
                let now = time::now();
                Ok(diesel::insert_into(agent_configs::table)
                    .values((
                        agent_configs::id.eq(AgentConfigId::generate()),
                        agent_configs::agentId.eq(agent),
                        agent_configs::key.eq(key),
                        agent_configs::value.eq(value),
                        agent_configs::createdAt.eq(now),
                        agent_configs::updatedAt.eq(now),
                    ))
                    .on_conflict((agent_configs::agentId, agent_configs::key))
                    .do_update()
                    .set((
                        agent_configs::value.eq(excluded(agent_configs::value)),
                        agent_configs::updatedAt.eq(excluded(agent_configs::updatedAt)),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The value of `key` for `agent`, if set.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_config", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        agent: &AgentId,
        key: &str,
    ) -> Result<Option<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        InvalidData::check_text("key", key)?;
        scope
            .transaction(conn, async |tx| {
                Agent::parent(tx, scope, agent).await?;
                Ok(agent_configs::table
                    .filter(agent_configs::agentId.eq(agent))
                    .filter(agent_configs::key.eq(key))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// Every key of `agent`, in key order (an agent has a handful: not paginated).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_config", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        agent: &AgentId,
    ) -> Result<Vec<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Agent::parent(tx, scope, agent).await?;
                Ok(agent_configs::table
                    .filter(agent_configs::agentId.eq(agent))
                    .order(agent_configs::key.asc())
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Removes `key` from `agent`; whether it was set.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_config", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        agent: &AgentId,
        key: &str,
    ) -> Result<bool, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        InvalidData::check_text("key", key)?;
        scope
            .transaction(conn, async |tx| {
                Agent::parent(tx, scope, agent).await?;
                let deleted = diesel::delete(agent_configs::table)
                    .filter(agent_configs::agentId.eq(agent))
                    .filter(agent_configs::key.eq(key))
                    .execute(tx)
                    .await?;
                Ok(deleted == 1)
            })
            .await
    }
}
