//! Training jobs: a model version's training, `queued → running → completed | failed |
//! cancelled`.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::TrainStatus;
use neonhub_schema::ids::{ModelVersionId, TrainingJobId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, StartedAt, load_page_on};
use neonhub_schema::schema::training_jobs;
use neonhub_schema::{TenantScope, keys, time};
use serde_json::Value;

use crate::model::ids_in;
use crate::{AgentError, ModelVersion, limits};

/// One training of a model version.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = training_jobs, check_for_backend(diesel::pg::Pg))]
pub struct TrainingJob {
    /// Primary key.
    pub id: TrainingJobId,
    /// The model version it trains.
    #[diesel(column_name = modelVersionId)]
    pub model_version_id: ModelVersionId,
    /// Where it stands; changed only by [`TrainingJob::set_status`].
    pub status: TrainStatus,
    /// Its hyperparameters and data.
    pub config: Value,
    /// What it measured (set when it ends).
    pub metrics: Option<Value>,
    /// When it was queued, then when it started running (UTC, milliseconds).
    #[diesel(column_name = startedAt)]
    pub started_at: NaiveDateTime,
    /// When it ended.
    #[diesel(column_name = completedAt)]
    pub completed_at: Option<NaiveDateTime>,
}

impl Keyed for TrainingJob {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.started_at, &self.id)
    }
}

impl TrainingJob {
    /// Whether the lifecycle allows `from → to`: `queued → running`, and `running →
    /// completed | failed | cancelled`. Nothing else; the three ends are final.
    pub const fn allows(from: TrainStatus, to: TrainStatus) -> bool {
        use TrainStatus::*;
        matches!(
            (from, to),
            (Queued, Running) | (Running, Completed | Failed | Cancelled)
        )
    }

    /// Queues a training of `model` (which must be in this organization) with `config`
    /// (at most 1 MiB of JSON).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "training_job", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        model: &ModelVersionId,
        config: &Value,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        limits::json("config", Some(config))?;
        scope
            .transaction(conn, async |tx| {
                ModelVersion::parent(tx, scope, model).await?;
                Ok(diesel::insert_into(training_jobs::table)
                    .values((
                        training_jobs::id.eq(TrainingJobId::generate()),
                        training_jobs::modelVersionId.eq(model),
                        training_jobs::status.eq(TrainStatus::Queued),
                        training_jobs::config.eq(config),
                        training_jobs::startedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Moves the job to `to` if the lifecycle allows it ([`TrainingJob::allows`]):
    /// `running` restarts the clock (`startedAt`), an end sets `completedAt` and `metrics`.
    /// One conditional `UPDATE`, so of two racing changes at most one wins; the loser gets
    /// [`AgentError::TrainingTransition`] from the status the winner left.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "training_job", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TrainingJobId,
        to: TrainStatus,
        metrics: Option<&Value>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        limits::json("metrics", metrics)?;
        let allowed_from: Vec<TrainStatus> = TrainStatus::ALL
            .iter()
            .copied()
            .filter(|from| Self::allows(*from, to))
            .collect();
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                let update = diesel::update(training_jobs::table)
                    .filter(training_jobs::id.eq(id))
                    .filter(training_jobs::modelVersionId.eq_any(ids_in(scope)))
                    .filter(training_jobs::status.eq_any(&allowed_from));
                let moved = if to == TrainStatus::Running {
                    update
                        .set((
                            training_jobs::status.eq(to),
                            training_jobs::startedAt.eq(now),
                        ))
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                } else {
                    update
                        .set((
                            training_jobs::status.eq(to),
                            training_jobs::metrics.eq(metrics),
                            training_jobs::completedAt.eq(now),
                        ))
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                }
                .optional()?;
                match moved {
                    Some(job) => Ok(job),
                    None => {
                        let current = Self::find(tx, scope, id).await?;
                        Err(AgentError::TrainingTransition {
                            id: id.to_string(),
                            from: current.status,
                            to,
                        })
                    }
                }
            })
            .await
    }

    /// The job with `id`, if its model version is in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "training_job", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TrainingJobId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await)
            .await
    }

    /// The training jobs of `model`, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "training_job", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        model: &ModelVersionId,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                ModelVersion::parent(tx, scope, model).await?;
                let query = training_jobs::table
                    .filter(training_jobs::modelVersionId.eq(model))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page_on::<StartedAt, _, _>(tx, query, page).await?)
            })
            .await
    }

    /// Deletes the job.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "training_job", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TrainingJobId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(training_jobs::table)
                    .filter(training_jobs::id.eq(id))
                    .filter(training_jobs::modelVersionId.eq_any(ids_in(scope)))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("training job", id));
                }
                Ok(())
            })
            .await
    }

    async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TrainingJobId,
    ) -> Result<Self, AgentError> {
        training_jobs::table
            .filter(training_jobs::id.eq(id))
            .filter(training_jobs::modelVersionId.eq_any(ids_in(scope)))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?
            .ok_or_else(|| AgentError::not_found("training job", id))
    }
}
