//! The agent rows of a demo or bootstrap seed (the CLI's `neonhub seed`): each found by its
//! natural key before anything is written, so running the seed again changes nothing and
//! a database holding the rows under other ids is completed, not duplicated. Unlike
//! [`Agent::create`], an agent is written with the status it is given (the demo's agents
//! are `ACTIVE` from the start).

use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_schema::enums::AgentStatus;
use neonhub_schema::ids::{AgentCapabilityId, AgentConfigId, AgentId, ToolId};
use neonhub_schema::schema::{agent_capabilities, agent_configs, agents, tools};
use neonhub_schema::{TenantScope, keys, time};
use serde_json::Value;

use crate::{Agent, AgentError, NewAgent, NewAgentCapability, NewTool, limits};

/// Makes sure the agent with `new.slug` exists (inserted with `status` if not); returns
/// its id and whether this call inserted it.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent", op = "seed"))]
pub async fn ensure_agent(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    new: &NewAgent<'_>,
    status: AgentStatus,
) -> Result<(AgentId, bool), AgentError> {
    scope.require(keys::AGENTS_MANAGE)?;
    new.check()?;
    scope
        .transaction(conn, async |tx| {
            let now = time::now();
            let inserted = diesel::insert_into(agents::table)
                .values((
                    new,
                    agents::id.eq(AgentId::generate()),
                    agents::organizationId.eq(scope.organization_id()),
                    agents::status.eq(status),
                    agents::createdAt.eq(now),
                    agents::updatedAt.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            let id = agents::table
                .filter(agents::organizationId.eq(scope.organization_id()))
                .filter(agents::slug.eq(new.slug))
                .select(agents::id)
                .get_result(tx)
                .await?;
            Ok((id, inserted == 1))
        })
        .await
}

/// Makes sure `agent` has a capability named `new.name` (the table has no unique key, so
/// it is locked against concurrent writers, readers continuing, until the caller's
/// transaction ends); whether this call inserted it.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_capability", op = "seed"))]
pub async fn ensure_capability(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    agent: &AgentId,
    new: &NewAgentCapability<'_>,
) -> Result<bool, AgentError> {
    scope.require(keys::AGENTS_MANAGE)?;
    new.check()?;
    scope
        .transaction(conn, async |tx| {
            Agent::parent(tx, scope, agent).await?;
            tx.batch_execute("LOCK TABLE agent_capabilities IN SHARE ROW EXCLUSIVE MODE")
                .await?;
            let found: Option<AgentCapabilityId> = agent_capabilities::table
                .filter(agent_capabilities::agentId.eq(agent))
                .filter(agent_capabilities::name.eq(new.name))
                .select(agent_capabilities::id)
                .first(tx)
                .await
                .optional()?;
            if found.is_some() {
                return Ok(false);
            }
            diesel::insert_into(agent_capabilities::table)
                .values((
                    new,
                    agent_capabilities::id.eq(AgentCapabilityId::generate()),
                    agent_capabilities::agentId.eq(agent),
                    agent_capabilities::createdAt.eq(time::now()),
                ))
                .execute(tx)
                .await?;
            Ok(true)
        })
        .await
}

/// Makes sure `agent` has `key` set (an existing value is kept, unlike
/// [`crate::AgentConfig::set`]); whether this call inserted it.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_config", op = "seed"))]
pub async fn ensure_config(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    agent: &AgentId,
    key: &str,
    value: &Value,
) -> Result<bool, AgentError> {
    scope.require(keys::AGENTS_MANAGE)?;
    limits::name("key", key)?;
    limits::json("value", Some(value))?;
    scope
        .transaction(conn, async |tx| {
            Agent::parent(tx, scope, agent).await?;
            let now = time::now();
            let inserted = diesel::insert_into(agent_configs::table)
                .values((
                    agent_configs::id.eq(AgentConfigId::generate()),
                    agent_configs::agentId.eq(agent),
                    agent_configs::key.eq(key),
                    agent_configs::value.eq(value),
                    agent_configs::createdAt.eq(now),
                    agent_configs::updatedAt.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            Ok(inserted == 1)
        })
        .await
}

/// Makes sure the tool with `new.slug` exists (its schemas checked as by
/// [`crate::Tool::create`]); whether this call inserted it.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "seed"))]
pub async fn ensure_tool(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    new: &NewTool<'_>,
) -> Result<bool, AgentError> {
    scope.require(keys::AGENTS_MANAGE)?;
    new.check()?;
    scope
        .transaction(conn, async |tx| {
            if let Some(agent) = new.agent_id {
                Agent::parent(tx, scope, agent).await?;
            }
            let inserted = diesel::insert_into(tools::table)
                .values((
                    new,
                    tools::id.eq(ToolId::generate()),
                    tools::organizationId.eq(scope.organization_id()),
                    tools::createdAt.eq(time::now()),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            Ok(inserted == 1)
        })
        .await
}
