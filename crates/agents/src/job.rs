//! Agent jobs, the tenant's side: enqueue (one, or thousands per statement), read, cancel.
//! Claims, leases, completions and rescues cross organizations and live in
//! [`crate::queue`], on the system connection.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    QueryableByName, Selectable, SelectableHelper,
};
use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::JobStatus;
use neonhub_schema::ids::{AgentJobId, OrganizationId, UserId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{agent_jobs, agents};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{AgentError, limits};

/// How many attempts a job gets unless its [`NewJob`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;
/// The most attempts a job may be given.
pub const MAX_ATTEMPTS_LIMIT: i32 = 100;
/// How many rescues a job survives unless its [`NewJob`] says otherwise.
pub const DEFAULT_MAX_RESCUES: i32 = 3;
/// The most rescues a job may be allowed.
pub const MAX_RESCUES_LIMIT: i32 = 1000;

/// A job on the queue.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = agent_jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    /// Primary key.
    pub id: AgentJobId,
    /// The organization (none once it was deleted: such a job is never claimed).
    #[diesel(column_name = organizationId)]
    pub organization_id: Option<OrganizationId>,
    /// The agent's slug: which handler runs it.
    pub agent: String,
    /// What the handler is given.
    pub input: Value,
    /// What the handler returned.
    pub output: Option<Value>,
    /// Where it stands.
    pub status: JobStatus,
    /// The last error.
    pub error: Option<String>,
    /// Free-form measurements.
    pub metrics: Option<Value>,
    /// Who enqueued it: the handler runs in a scope for this user, re-authorized at claim.
    #[diesel(column_name = createdById)]
    pub created_by_id: Option<UserId>,
    /// When it was enqueued.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// When it may run (a retry's backoff moves it later).
    #[diesel(column_name = runAt)]
    pub run_at: NaiveDateTime,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts made (a running job's is the one in progress); rescues are not counted.
    pub attempt: i32,
    /// Attempts allowed before the job is dead.
    #[diesel(column_name = maxAttempts)]
    pub max_attempts: i32,
    /// The worker holding the lease.
    #[diesel(column_name = leaseOwner)]
    pub lease_owner: Option<String>,
    /// When the lease runs out unless heartbeated.
    #[diesel(column_name = leaseExpiresAt)]
    pub lease_expires_at: Option<NaiveDateTime>,
    /// Increases at every claim, rescue and cancellation: what completions are guarded by.
    #[diesel(column_name = leaseEpoch)]
    pub lease_epoch: i64,
    /// One entry per failed attempt or rescue: `{"attempt", "error" | "rescued", "at"}`.
    pub errors: Value,
    /// While a job with this key is queued or running in the organization for the same
    /// agent, enqueuing another returns it instead.
    #[diesel(column_name = uniqueKey)]
    pub unique_key: Option<String>,
    /// How often its lease expired and it was put back (its worker died or hung).
    pub rescues: i32,
    /// Rescues allowed before the job is dead (a job that kills its workers).
    #[diesel(column_name = maxRescues)]
    pub max_rescues: i32,
    /// When it completed, died or was cancelled.
    #[diesel(column_name = finishedAt)]
    pub finished_at: Option<NaiveDateTime>,
}

impl Keyed for Job {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A job to enqueue; [`NewJob::new`] gives the defaults (now, priority 0,
/// [`DEFAULT_MAX_ATTEMPTS`], no unique key).
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// The agent's slug (an agent of the organization).
    pub agent: &'a str,
    /// What the handler is given (at most 1 MiB of JSON).
    pub input: &'a Value,
    /// When it may run: `None` for now, a later time to schedule it (not before 1970).
    pub run_at: Option<NaiveDateTime>,
    /// Higher runs first.
    pub priority: i32,
    /// Attempts before it is dead: 1 to [`MAX_ATTEMPTS_LIMIT`].
    pub max_attempts: i32,
    /// Rescues (its lease expired: the worker died or hung) before it is dead: 0 to
    /// [`MAX_RESCUES_LIMIT`]. A dead worker's claimed jobs are all rescued, those it had
    /// not started too (see `WorkerConfig::prefetch`), so allow for worker crashes.
    pub max_rescues: i32,
    /// Deduplication key (1 to 200 bytes).
    pub unique_key: Option<&'a str>,
}

impl<'a> NewJob<'a> {
    /// A job for `agent` with `input`, to run now, with the defaults.
    pub fn new(agent: &'a str, input: &'a Value) -> Self {
        Self {
            agent,
            input,
            run_at: None,
            priority: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_rescues: DEFAULT_MAX_RESCUES,
            unique_key: None,
        }
    }

    /// Refuses an empty, oversized or out-of-range field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_slug("agent", self.agent)?;
        limits::json("input", Some(self.input))?;
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return Err(InvalidData::OutOfRange(format!(
                "max_attempts {} is outside 1 to {MAX_ATTEMPTS_LIMIT}",
                self.max_attempts
            )));
        }
        if !(0..=MAX_RESCUES_LIMIT).contains(&self.max_rescues) {
            return Err(InvalidData::OutOfRange(format!(
                "max_rescues {} is outside 0 to {MAX_RESCUES_LIMIT}",
                self.max_rescues
            )));
        }
        if let Some(run_at) = self.run_at {
            let epoch = NaiveDate::default().and_time(chrono::NaiveTime::MIN);
            if run_at < epoch {
                return Err(InvalidData::OutOfRange(format!(
                    "run_at {run_at} is before 1970"
                )));
            }
            InvalidData::check_timestamp("run_at", run_at)?;
        }
        if let Some(key) = self.unique_key {
            limits::name("unique_key", key)?;
        }
        Ok(())
    }
}

/// What [`Job::enqueue`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The job: the new one, or the queued or running one holding the same unique key.
    pub job: Job,
    /// Whether this call created it.
    pub created: bool,
}

impl Job {
    /// Enqueues a job inside the caller's transaction when there is one (a savepoint): it
    /// exists if and only if the caller commits, and workers are woken at that commit.
    /// With a unique key, the queued or running job of the same agent and key is returned
    /// instead (a partial unique index decides, so producers in different processes
    /// cannot both insert). The job runs as the scope's user, who must be a member.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_job", op = "enqueue"))]
    pub async fn enqueue(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewJob<'_>,
    ) -> Result<Enqueued, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        new.check()?;
        let creator = scope.actor().user_id().ok_or(AgentError::NoCreator)?;
        scope
            .transaction(conn, async |tx| {
                known_agents(tx, scope, &[new.agent]).await?;
                // The equal job may finish between a refused insert and the look-up: then
                // the insert is tried again (twice is enough: it needs a racing producer).
                for _ in 0..3 {
                    let now = time::now();
                    let inserted = diesel::insert_into(agent_jobs::table)
                        .values((
                            agent_jobs::id.eq(AgentJobId::generate()),
                            agent_jobs::organizationId.eq(scope.organization_id()),
                            agent_jobs::agent.eq(new.agent),
                            agent_jobs::input.eq(new.input),
                            agent_jobs::status.eq(JobStatus::Queued),
                            agent_jobs::createdById.eq(creator),
                            agent_jobs::createdAt.eq(now),
                            agent_jobs::updatedAt.eq(now),
                            agent_jobs::runAt.eq(new.run_at.unwrap_or(now)),
                            agent_jobs::priority.eq(new.priority),
                            agent_jobs::maxAttempts.eq(new.max_attempts),
                            agent_jobs::maxRescues.eq(new.max_rescues),
                            agent_jobs::uniqueKey.eq(new.unique_key),
                        ))
                        .on_conflict_do_nothing()
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                        .optional()?;
                    if let Some(job) = inserted {
                        return Ok(Enqueued { job, created: true });
                    }
                    let existing = agent_jobs::table
                        .filter(agent_jobs::organizationId.eq(scope.organization_id()))
                        .filter(agent_jobs::agent.eq(new.agent))
                        .filter(agent_jobs::uniqueKey.eq(new.unique_key))
                        .filter(agent_jobs::status.eq_any([JobStatus::Queued, JobStatus::Running]))
                        .select(Self::as_select())
                        .first(tx)
                        .await
                        .optional()?;
                    if let Some(job) = existing {
                        return Ok(Enqueued {
                            job,
                            created: false,
                        });
                    }
                }
                Err(AgentError::Database(diesel::result::Error::NotFound))
            })
            .await
    }

    /// Enqueues `jobs` in one `INSERT ... SELECT FROM unnest(...)` (eight array parameters
    /// whatever the count, so thousands go in one statement), in the caller's transaction
    /// when there is one. Every row is checked first (a refusal names its position, and
    /// nothing is written). A job whose unique key is held by a queued or running job (or
    /// by an earlier row of the batch) is skipped; returns the ids of the jobs created, in
    /// batch order.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_job", op = "enqueue_many", n = jobs.len()))]
    pub async fn enqueue_many(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        jobs: &[NewJob<'_>],
    ) -> Result<Vec<AgentJobId>, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        for (position, job) in jobs.iter().enumerate() {
            job.check().map_err(|e| AgentError::BatchRow {
                position,
                source: Box::new(e.into()),
            })?;
        }
        let creator = scope.actor().user_id().ok_or(AgentError::NoCreator)?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(jobs.len());
        let (mut agents_, mut inputs, mut run_ats, mut priorities, mut keys_) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut max_attempts, mut max_rescues) = (Vec::new(), Vec::new());
        for job in jobs {
            ids.push(AgentJobId::generate().to_string());
            agents_.push(job.agent);
            inputs.push(job.input);
            run_ats.push(job.run_at);
            priorities.push(job.priority);
            max_attempts.push(job.max_attempts);
            max_rescues.push(job.max_rescues);
            keys_.push(job.unique_key);
        }
        scope
            .transaction(conn, async |tx| {
                let mut distinct = agents_.clone();
                distinct.sort_unstable();
                distinct.dedup();
                known_agents(tx, scope, &distinct)
                    .await
                    .map_err(|e| match &e {
                        AgentError::UnknownAgent(slug) => AgentError::BatchRow {
                            position: agents_.iter().position(|a| a == slug).unwrap_or(0),
                            source: Box::new(e),
                        },
                        _ => e,
                    })?;
                #[derive(diesel::QueryableByName)]
                struct Inserted {
                    #[diesel(sql_type = Text)]
                    id: AgentJobId,
                }
                let inserted: Vec<Inserted> = diesel::sql_query(
                    r#"INSERT INTO agent_jobs (id, "organizationId", agent, input, status,
                           "createdById", "createdAt", "updatedAt", "runAt", priority,
                           "maxAttempts", "maxRescues", "uniqueKey")
                       SELECT u.id, $1, u.agent, u.input, 'queued', $2, $3, $3,
                              coalesce(u.run_at, $3), u.priority, u.max_attempts,
                              u.max_rescues, u.unique_key
                       FROM unnest($4::text[], $5::text[], $6::jsonb[], $7::timestamp[],
                                   $8::int[], $9::int[], $10::int[], $11::text[])
                            WITH ORDINALITY AS u(id, agent, input, run_at, priority,
                                                 max_attempts, max_rescues, unique_key, n)
                       ORDER BY u.n
                       ON CONFLICT DO NOTHING
                       RETURNING id"#,
                )
                .bind::<Text, _>(scope.organization_id())
                .bind::<Text, _>(creator)
                .bind::<Timestamp, _>(time::now())
                .bind::<Array<Text>, _>(&ids)
                .bind::<Array<Text>, _>(&agents_)
                .bind::<Array<Jsonb>, _>(&inputs)
                .bind::<Array<Nullable<Timestamp>>, _>(&run_ats)
                .bind::<Array<Integer>, _>(&priorities)
                .bind::<Array<Integer>, _>(&max_attempts)
                .bind::<Array<Integer>, _>(&max_rescues)
                .bind::<Array<Nullable<Text>>, _>(&keys_)
                .load(tx)
                .await?;
                let created: std::collections::HashSet<String> =
                    inserted.into_iter().map(|row| row.id.to_string()).collect();
                Ok(ids
                    .iter()
                    .filter(|id| created.contains(*id))
                    .map(AgentJobId::from_string)
                    .collect())
            })
            .await
    }

    /// The job with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_job", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentJobId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                agent_jobs::table
                    .filter(in_org(scope, id))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| AgentError::not_found("agent job", id))
            })
            .await
    }

    /// The organization's jobs, newest first, optionally only those with `status`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_job", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<JobStatus>,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = agent_jobs::table
                    .filter(agent_jobs::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(agent_jobs::status.eq(status));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Cancels a queued or running job. A running job's lease epoch moves on, so its
    /// worker's completion gets [`AgentError::LeaseLost`] and writes nothing.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "agent_job", op = "cancel"))]
    pub async fn cancel(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AgentJobId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_RUN)?;
        scope
            .transaction(conn, async |tx| {
                let cancelled = diesel::update(agent_jobs::table)
                    .filter(in_org(scope, id))
                    .filter(agent_jobs::status.eq_any([JobStatus::Queued, JobStatus::Running]))
                    .set(cancel_changes())
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                match cancelled {
                    Some(job) => Ok(job),
                    None => {
                        let job: Self = agent_jobs::table
                            .filter(in_org(scope, id))
                            .select(Self::as_select())
                            .first(tx)
                            .await
                            .optional()?
                            .ok_or_else(|| AgentError::not_found("agent job", id))?;
                        Err(AgentError::JobStatus {
                            id: id.to_string(),
                            status: job.status,
                            action: "cancel",
                        })
                    }
                }
            })
            .await
    }
}

/// The columns a cancellation sets: status, a new epoch (fencing off the worker), no lease.
#[allow(clippy::type_complexity)]
pub(crate) fn cancel_changes() -> (
    diesel::dsl::Eq<agent_jobs::status, JobStatus>,
    diesel::dsl::Eq<agent_jobs::leaseEpoch, diesel::dsl::Add<agent_jobs::leaseEpoch, i64>>,
    diesel::dsl::Eq<agent_jobs::leaseOwner, Option<String>>,
    diesel::dsl::Eq<agent_jobs::leaseExpiresAt, Option<NaiveDateTime>>,
    diesel::dsl::Eq<agent_jobs::finishedAt, NaiveDateTime>,
    diesel::dsl::Eq<agent_jobs::updatedAt, NaiveDateTime>,
) {
    let now = time::now();
    (
        agent_jobs::status.eq(JobStatus::Cancelled),
        agent_jobs::leaseEpoch.eq(agent_jobs::leaseEpoch + 1),
        agent_jobs::leaseOwner.eq(None),
        agent_jobs::leaseExpiresAt.eq(None),
        agent_jobs::finishedAt.eq(now),
        agent_jobs::updatedAt.eq(now),
    )
}

/// Refuses the first of `slugs` that is not an agent of the organization.
async fn known_agents(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    slugs: &[&str],
) -> Result<(), AgentError> {
    let found: Vec<String> = agents::table
        .filter(agents::organizationId.eq(scope.organization_id()))
        .filter(agents::slug.eq_any(slugs))
        .select(agents::slug)
        .load(tx)
        .await?;
    match slugs.iter().find(|slug| !found.iter().any(|f| f == *slug)) {
        Some(missing) => Err(AgentError::UnknownAgent((*missing).to_owned())),
        None => Ok(()),
    }
}

/// `id = $1 AND "organizationId" = <the scope's>`.
fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a AgentJobId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<agent_jobs::id, &'a AgentJobId>,
    diesel::dsl::Eq<agent_jobs::organizationId, &'a OrganizationId>,
> {
    agent_jobs::id
        .eq(id)
        .and(agent_jobs::organizationId.eq(scope.organization_id()))
}
