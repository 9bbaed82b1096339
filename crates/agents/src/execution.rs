//! Tool executions: one call of a tool, its input and output checked against the tool's
//! contract.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::RunStatus;
use neonhub_schema::ids::{AgentRunId, ToolExecutionId, ToolId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, StartedAt, load_page_on};
use neonhub_schema::schema::{tool_executions, tools};
use neonhub_schema::{TenantScope, keys, time};
use serde_json::Value;

use crate::{AgentError, AgentRun, Tool, limits};

/// One call of a tool, optionally within an agent run.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tool_executions, check_for_backend(diesel::pg::Pg))]
pub struct ToolExecution {
    /// Primary key.
    pub id: ToolExecutionId,
    /// The tool called.
    #[diesel(column_name = toolId)]
    pub tool_id: ToolId,
    /// The run it belongs to (cleared when the run is deleted).
    #[diesel(column_name = agentRunId)]
    pub agent_run_id: Option<AgentRunId>,
    /// Running until [`ToolExecution::finish`] makes it completed, failed or cancelled.
    pub status: RunStatus,
    /// What the tool was given (valid against its input schema).
    pub input: Option<Value>,
    /// What it returned (valid against its output schema when completed).
    pub output: Option<Value>,
    /// When it started (UTC, milliseconds).
    #[diesel(column_name = startedAt)]
    pub started_at: NaiveDateTime,
    /// When it finished.
    #[diesel(column_name = completedAt)]
    pub completed_at: Option<NaiveDateTime>,
    /// Anything else about it (latency, retries, ...).
    pub metadata: Option<Value>,
}

impl Keyed for ToolExecution {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.started_at, &self.id)
    }
}

/// A tool call to record; the id, status and start time are added by
/// [`ToolExecution::start`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tool_executions)]
pub struct NewToolExecution<'a> {
    /// The tool (in the organization).
    #[diesel(column_name = toolId)]
    pub tool_id: &'a ToolId,
    /// The run it belongs to (in the organization, not finished).
    #[diesel(column_name = agentRunId)]
    pub agent_run_id: Option<&'a AgentRunId>,
    /// What the tool is given: checked against its input schema.
    pub input: &'a Value,
    /// Anything else about it.
    pub metadata: Option<&'a Value>,
}

impl ToolExecution {
    /// Records the start of a tool call: the tool (and run, if given) must be in this
    /// organization, the run not finished, and `input` valid against the tool's input
    /// schema ([`AgentError::ContractViolation`] names the JSON path otherwise).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool_execution", op = "start"))]
    pub async fn start(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewToolExecution<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        limits::json("input", Some(new.input))?;
        limits::json("metadata", new.metadata)?;
        scope
            .transaction(conn, async |tx| {
                let tool = Tool::parent(tx, scope, new.tool_id).await?;
                if let Some(run) = new.agent_run_id {
                    let run = AgentRun::parent(tx, scope, run).await?;
                    if run.status.is_finished() {
                        return Err(AgentError::AlreadyFinished {
                            entity: "agent run",
                            id: run.id.to_string(),
                            status: run.status,
                        });
                    }
                }
                tool.check_input(new.input)?;
                Ok(diesel::insert_into(tool_executions::table)
                    .values((
                        new,
                        tool_executions::id.eq(ToolExecutionId::generate()),
                        tool_executions::status.eq(RunStatus::Running),
                        tool_executions::startedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Finishes the call once with `status` (completed, failed or cancelled) and `output`;
    /// a completed call's output must satisfy the tool's output schema. Conditional on the
    /// call not having finished: a second finish gets [`AgentError::AlreadyFinished`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool_execution", op = "finish"))]
    pub async fn finish(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolExecutionId,
        status: RunStatus,
        output: Option<&Value>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        if !status.is_finished() {
            return Err(AgentError::NotFinal(status));
        }
        limits::json("output", output)?;
        scope
            .transaction(conn, async |tx| {
                let (execution, tool) = Self::find(tx, scope, id).await?;
                if status == RunStatus::Completed {
                    tool.check_output(output.unwrap_or(&Value::Null))?;
                }
                let finished = diesel::update(tool_executions::table)
                    .filter(tool_executions::id.eq(id))
                    .filter(tool_executions::status.eq_any([RunStatus::Queued, RunStatus::Running]))
                    .set((
                        tool_executions::status.eq(status),
                        tool_executions::output.eq(output),
                        tool_executions::completedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                match finished {
                    Some(finished) => Ok(finished),
                    None => {
                        let (current, _) = Self::find(tx, scope, &execution.id).await?;
                        Err(AgentError::AlreadyFinished {
                            entity: "tool execution",
                            id: id.to_string(),
                            status: current.status,
                        })
                    }
                }
            })
            .await
    }

    /// The call with `id`, if its tool is in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool_execution", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolExecutionId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| Ok(Self::find(tx, scope, id).await?.0))
            .await
    }

    /// The tool calls of `run`, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool_execution", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        run: &AgentRunId,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                AgentRun::parent(tx, scope, run).await?;
                let query = tool_executions::table
                    .filter(tool_executions::agentRunId.eq(run))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page_on::<StartedAt, _, _>(tx, query, page).await?)
            })
            .await
    }

    /// The call and its tool, if the tool is in this organization.
    async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolExecutionId,
    ) -> Result<(Self, Tool), AgentError> {
        tool_executions::table
            .inner_join(tools::table)
            .filter(tool_executions::id.eq(id))
            .filter(tools::organizationId.eq(scope.organization_id()))
            .select((Self::as_select(), Tool::as_select()))
            .first(tx)
            .await
            .optional()?
            .ok_or_else(|| AgentError::not_found("tool execution", id))
    }
}
