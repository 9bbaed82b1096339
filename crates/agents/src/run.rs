//! Agent runs: one execution of an agent, started and finished once, with its metrics.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::{AgentStatus, RunStatus};
use neonhub_schema::ids::{AgentId, AgentRunId, AgentRunMetricId, DatasetId, OrganizationId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, StartedAt, load_page_on};
use neonhub_schema::schema::{agent_run_metrics, agent_runs, datasets};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::{Value, json};

use crate::{Agent, AgentError, limits};

/// One run of an agent.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = agent_runs, check_for_backend(diesel::pg::Pg))]
pub struct AgentRun {
    /// Primary key.
    pub id: AgentRunId,
    /// The agent that ran.
    #[diesel(column_name = agentId)]
    pub agent_id: AgentId,
    /// The organization that owns it.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The dataset it worked on, if any.
    #[diesel(column_name = datasetId)]
    pub dataset_id: Option<DatasetId>,
    /// Running until [`AgentRun::finish`] makes it completed, failed or cancelled.
    pub status: RunStatus,
    /// What it was given.
    pub input: Value,
    /// What it produced.
    pub output: Option<Value>,
    /// `{"durationMs": ..}` plus the metrics it finished with, by name.
    pub metrics: Option<Value>,
    /// When it started (UTC, milliseconds).
    #[diesel(column_name = startedAt)]
    pub started_at: NaiveDateTime,
    /// When it finished.
    #[diesel(column_name = completedAt)]
    pub completed_at: Option<NaiveDateTime>,
}

impl Keyed for AgentRun {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.started_at, &self.id)
    }
}

/// A run to start; the id, organization, status and start time are added by
/// [`AgentRun::start`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agent_runs)]
pub struct NewAgentRun<'a> {
    /// The agent (in the organization, `ACTIVE`).
    #[diesel(column_name = agentId)]
    pub agent_id: &'a AgentId,
    /// The dataset it works on (in the organization).
    #[diesel(column_name = datasetId)]
    pub dataset_id: Option<&'a DatasetId>,
    /// What it is given (at most 1 MiB of JSON).
    pub input: &'a Value,
}

/// One named measurement a run finished with (`tokens`, `cost_usd`, ...).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = agent_run_metrics, check_for_backend(diesel::pg::Pg))]
pub struct AgentRunMetric {
    /// Primary key.
    pub id: AgentRunMetricId,
    /// The run.
    #[diesel(column_name = agentRunId)]
    pub agent_run_id: AgentRunId,
    /// Its name.
    pub name: String,
    /// Its value (finite).
    pub value: Option<f64>,
    /// Anything else about it.
    pub metadata: Option<Value>,
}

/// A metric to record with [`AgentRun::finish`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = agent_run_metrics)]
pub struct NewAgentRunMetric<'a> {
    /// Its name (1 to 200 bytes).
    pub name: &'a str,
    /// Its value: finite (NaN and infinities are refused).
    pub value: Option<f64>,
    /// Anything else about it.
    pub metadata: Option<&'a Value>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome<'a> {
    /// Completed, failed or cancelled (anything else is [`AgentError::NotFinal`]).
    pub status: RunStatus,
    /// What it produced.
    pub output: Option<&'a Value>,
    /// Its measurements (one `agent_run_metrics` row each, and by name in `metrics`).
    pub metrics: &'a [NewAgentRunMetric<'a>],
}

impl RunOutcome<'_> {
    fn check(&self) -> Result<(), AgentError> {
        if !self.status.is_finished() {
            return Err(AgentError::NotFinal(self.status));
        }
        limits::json("output", self.output)?;
        for metric in self.metrics {
            limits::name("metric name", metric.name)?;
            limits::json("metric metadata", metric.metadata)?;
            if let Some(value) = metric.value.filter(|v| !v.is_finite()) {
                return Err(InvalidData::OutOfRange(format!(
                    "metric {} is {value}: NaN and infinities are refused",
                    metric.name
                ))
                .into());
            }
        }
        Ok(())
    }
}

impl AgentRun {
    /// How long it ran, once finished.
    pub fn duration(&self) -> Option<TimeDelta> {
        self.completed_at.map(|end| end - self.started_at)
    }

    /// Starts a run of an `ACTIVE` agent of this organization (on a dataset of it, if
    /// given): status `running`, started now.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_run", op = "start"))]
    pub async fn start(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewAgentRun<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        limits::json("input", Some(new.input))?;
        scope
            .transaction(conn, async |tx| {
                let agent = Agent::parent(tx, scope, new.agent_id).await?;
                if agent.status != AgentStatus::Active {
                    return Err(AgentError::AgentNotActive {
                        id: agent.id.to_string(),
                        status: agent.status,
                    });
                }
                if let Some(dataset) = new.dataset_id {
                    let found = datasets::table
                        .filter(datasets::id.eq(dataset))
                        .filter(datasets::organizationId.eq(scope.organization_id()))
                        .select(datasets::id)
                        .first::<DatasetId>(tx)
                        .await
                        .optional()?;
                    if found.is_none() {
                        return Err(AgentError::foreign_parent("dataset", dataset));
                    }
                }
                Ok(diesel::insert_into(agent_runs::table)
                    .values((
                        new,
                        agent_runs::id.eq(AgentRunId::generate()),
                        agent_runs::organizationId.eq(scope.organization_id()),
                        agent_runs::status.eq(RunStatus::Running),
                        agent_runs::startedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Finishes the run once: sets its status, output, completion time and `metrics`
    /// (`durationMs` and each metric by name) and records one metric row each, in one
    /// transaction. The change is conditional on the run not having finished, so a second
    /// finish (or a racing one) gets [`AgentError::AlreadyFinished`] and writes nothing.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_run", op = "finish"))]
    pub async fn finish(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentRunId,
        outcome: &RunOutcome<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        outcome.check()?;
        scope
            .transaction(conn, async |tx| {
                let run = Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| AgentError::not_found("agent run", id))?;
                let now = time::now();
                let mut summary = serde_json::Map::new();
                summary.insert(
                    "durationMs".to_owned(),
                    json!((now - run.started_at).num_milliseconds()),
                );
                for metric in outcome.metrics {
                    summary.insert(metric.name.to_owned(), json!(metric.value));
                }
                let finished = diesel::update(agent_runs::table)
                    .filter(in_org(scope, id))
                    .filter(agent_runs::status.eq_any([RunStatus::Queued, RunStatus::Running]))
                    .set((
                        agent_runs::status.eq(outcome.status),
                        agent_runs::output.eq(outcome.output),
                        agent_runs::metrics.eq(Value::Object(summary)),
                        agent_runs::completedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                let Some(finished) = finished else {
                    // Another finish won: report what it left (read after its commit).
                    let current = Self::find(tx, scope, id)
                        .await?
                        .ok_or_else(|| AgentError::not_found("agent run", id))?;
                    return Err(AgentError::AlreadyFinished {
                        entity: "agent run",
                        id: id.to_string(),
                        status: current.status,
                    });
                };
                if !outcome.metrics.is_empty() {
                    let rows: Vec<_> = outcome
                        .metrics
                        .iter()
                        .map(|metric| {
                            (
                                metric,
                                agent_run_metrics::id.eq(AgentRunMetricId::generate()),
                                agent_run_metrics::agentRunId.eq(id),
                            )
                        })
                        .collect();
                    diesel::insert_into(agent_run_metrics::table)
                        .values(rows)
                        .execute(tx)
                        .await?;
                }
                Ok(finished)
            })
            .await
    }

    /// The run with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_run", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentRunId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| AgentError::not_found("agent run", id))
            })
            .await
    }

    /// The runs of `agent`, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_run", op = "list"))]
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
                let query = agent_runs::table
                    .filter(agent_runs::agentId.eq(agent))
                    .filter(agent_runs::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page_on::<StartedAt, _, _>(tx, query, page).await?)
            })
            .await
    }

    /// The metric rows of the run, by name.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_run", op = "metrics"))]
    pub async fn metrics(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentRunId,
    ) -> Result<Vec<AgentRunMetric>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::parent(tx, scope, id).await?;
                Ok(agent_run_metrics::table
                    .filter(agent_run_metrics::agentRunId.eq(id))
                    .order((agent_run_metrics::name.asc(), agent_run_metrics::id.asc()))
                    .select(AgentRunMetric::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Deletes the run with its metrics (its tool executions stay, detached).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_run", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentRunId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(agent_runs::table)
                    .filter(in_org(scope, id))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("agent run", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentRunId,
    ) -> Result<Option<Self>, AgentError> {
        Ok(agent_runs::table
            .filter(in_org(scope, id))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The run as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentRunId,
    ) -> Result<Self, AgentError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| AgentError::foreign_parent("agent run", id))
    }
}

/// `id = $1 AND "organizationId" = <the scope's>`.
fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a AgentRunId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<agent_runs::id, &'a AgentRunId>,
    diesel::dsl::Eq<agent_runs::organizationId, &'a OrganizationId>,
> {
    agent_runs::id
        .eq(id)
        .and(agent_runs::organizationId.eq(scope.organization_id()))
}
