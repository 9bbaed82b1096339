//! The job queue's system side: claim, heartbeat, complete, fail, rescue, and the
//! operator's retry, discard, cancel and stats. These functions cross organizations, so
//! they take no scope: run them on the system connection (the owner, on the direct URL),
//! as [`crate::Worker`] and `neonhub jobs` do.
//!
//! Execution is at least once (a worker may die after its handler ran); the database
//! effects of a job happen exactly once, because a handler writes them in the transaction
//! that completes the job, and that completion is `UPDATE ... WHERE id = $1 AND
//! "leaseEpoch" = $2 AND status = 'running'`: a worker whose lease was rescued, or whose
//! job was cancelled, gets [`AgentError::LeaseLost`] and its transaction rolls back.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel::sql_types::{Array, BigInt, Double, Integer, Jsonb, Nullable, Text};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::JobStatus;
use neonhub_schema::ids::{AgentJobId, OrganizationId, UserId};
use neonhub_schema::permissions::member_permissions;
use neonhub_schema::schema::agent_jobs;
use neonhub_schema::{Denied, InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{AgentError, Job, limits};

/// The longest lease a claim may take (a job that needs longer heartbeats).
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);
/// The most jobs one claim may take.
pub const MAX_CLAIM: i64 = 10_000;

/// What a worker asks of [`claim`].
#[derive(Debug, Clone)]
pub struct ClaimOptions<'a> {
    /// The worker's name, stored as the lease owner (1 to 200 bytes).
    pub worker: &'a str,
    /// The agents the worker has handlers for.
    pub agents: &'a [String],
    /// How many jobs to take at most (1 to [`MAX_CLAIM`]).
    pub limit: i64,
    /// How many jobs one organization may get in one claim (at least 1): with it, a
    /// backlog of one organization does not delay another's job beyond the next claim.
    pub per_organization: i64,
    /// How long the lease lasts without a heartbeat (more than 0, at most [`MAX_LEASE`]).
    pub lease: Duration,
}

impl ClaimOptions<'_> {
    fn check(&self) -> Result<(), InvalidData> {
        limits::name("worker", self.worker)?;
        if !(1..=MAX_CLAIM).contains(&self.limit) {
            return Err(InvalidData::OutOfRange(format!(
                "claim limit {} is outside 1 to {MAX_CLAIM}",
                self.limit
            )));
        }
        if self.per_organization < 1 {
            return Err(InvalidData::OutOfRange(format!(
                "per_organization {} is below 1",
                self.per_organization
            )));
        }
        check_lease(self.lease)
    }
}

/// `Err(OutOfRange)` unless `lease` is more than 0 and at most [`MAX_LEASE`].
pub(crate) fn check_lease(lease: Duration) -> Result<(), InvalidData> {
    if lease.is_zero() || lease > MAX_LEASE {
        return Err(InvalidData::OutOfRange(format!(
            "lease {lease:?} is outside (0, 24 h]"
        )));
    }
    Ok(())
}

/// A worker's hold on a claimed job: the epoch every later write of it is guarded by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job.
    pub job: AgentJobId,
    /// The epoch of this claim.
    pub epoch: i64,
}

/// A claimed job, with the scope its handler runs in: its creator's, in its organization,
/// with the permissions the creator's role holds now.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The job as claimed (status running, attempt counted).
    pub job: Job,
    /// The lease to complete, fail or heartbeat it with.
    pub lease: Lease,
    /// The creator's scope.
    pub scope: TenantScope,
}

/// A job the claim took but did not hand out: its creator may no longer run it. It is
/// dead with this reason, until retried.
#[derive(Debug)]
pub struct Refused {
    /// The job.
    pub job: AgentJobId,
    /// Why, typed.
    pub reason: Refusal,
}

/// Why a claimed job's creator may not run it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The creator's user was deleted (`createdById` set NULL by the foreign key).
    #[error("its creator was deleted")]
    CreatorDeleted,
    /// The creator is no longer an active member, or lost `agents:run`.
    #[error(transparent)]
    Denied(Denied),
}

/// What one [`claim`] returned.
#[derive(Debug, Default)]
pub struct Claim {
    /// The jobs to run.
    pub jobs: Vec<ClaimedJob>,
    /// The jobs failed at claim because their creator may not run them.
    pub refused: Vec<Refused>,
}

/// The claim: highest priority first; within a priority, round-robin across organizations
/// (each one's best `per_organization` jobs, ranked 1, 2, ... and merged by rank), found by
/// a loose index scan over the organizations that have queued jobs, so one organization's
/// backlog costs the others nothing. `FOR UPDATE SKIP LOCKED` lets concurrent claims pass
/// each other. A job without an organization (it was deleted) is never claimed.
const CLAIM: &str = r#"
WITH RECURSIVE orgs AS (
    (SELECT "organizationId" AS org FROM agent_jobs
      WHERE status = 'queued' AND "organizationId" IS NOT NULL
      ORDER BY "organizationId" LIMIT 1)
  UNION ALL
    SELECT (SELECT j."organizationId" FROM agent_jobs j
             WHERE j.status = 'queued' AND j."organizationId" > orgs.org
             ORDER BY j."organizationId" LIMIT 1)
    FROM orgs WHERE orgs.org IS NOT NULL
), candidates AS (
    SELECT c.id FROM orgs CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j."runAt",
               row_number() OVER (ORDER BY j.priority DESC, j."runAt", j.id) AS rank
        FROM agent_jobs j
        WHERE j."organizationId" = orgs.org AND j.status = 'queued'
          AND j."runAt" <= (now() AT TIME ZONE 'UTC') AND j.agent = ANY($1)
        ORDER BY j.priority DESC, j."runAt", j.id
        LIMIT $2
    ) c
    WHERE orgs.org IS NOT NULL
    ORDER BY c.priority DESC, c.rank, c."runAt", c.id
    LIMIT $3
), locked AS (
    SELECT j.id FROM agent_jobs j JOIN candidates c ON c.id = j.id
    WHERE j.status = 'queued'
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE agent_jobs j
SET status = 'running', "leaseOwner" = $4,
    "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') + make_interval(secs => $5),
    "leaseEpoch" = j."leaseEpoch" + 1, attempt = j.attempt + 1,
    "updatedAt" = (now() AT TIME ZONE 'UTC')
FROM locked WHERE j.id = locked.id
RETURNING j.*"#;

/// Claims up to `options.limit` jobs of `options.agents` (see the crate README for the
/// order), leases them to `options.worker`, and re-authorizes each job's creator: a job
/// whose creator is gone, not an active member, or lacks `agents:run` is failed for good
/// with the typed reason in [`Claim::refused`].
#[tracing::instrument(skip_all, fields(worker = options.worker, op = "claim"))]
pub async fn claim(
    conn: &mut AsyncPgConnection,
    options: &ClaimOptions<'_>,
) -> Result<Claim, AgentError> {
    options.check()?;
    let jobs: Vec<Job> = diesel::sql_query(CLAIM)
        .bind::<Array<Text>, _>(options.agents)
        .bind::<BigInt, _>(options.per_organization)
        .bind::<BigInt, _>(options.limit)
        .bind::<Text, _>(options.worker)
        .bind::<Double, _>(options.lease.as_secs_f64())
        .load(conn)
        .await?;
    // One permission look-up per creator and organization in the batch.
    let mut authorized: BTreeMap<(OrganizationId, UserId), TenantScope> = BTreeMap::new();
    let mut claim = Claim::default();
    for job in jobs {
        let lease = Lease {
            job: job.id.clone(),
            epoch: job.lease_epoch,
        };
        let (Some(org), Some(creator)) = (job.organization_id.clone(), job.created_by_id.clone())
        else {
            refuse(conn, &lease, &Refusal::CreatorDeleted).await?;
            claim.refused.push(Refused {
                job: job.id,
                reason: Refusal::CreatorDeleted,
            });
            continue;
        };
        let key = (org, creator);
        let scope = match authorized.get(&key) {
            Some(scope) => Ok(scope.clone()),
            None => match member_permissions(conn, &key.0, &key.1).await {
                Ok(permissions) => {
                    let scope = TenantScope::for_member(key.0.clone(), key.1.clone(), permissions);
                    scope.require(keys::AGENTS_RUN).map(|()| scope)
                }
                Err(Denied::Unavailable(e)) => return Err(e.into()),
                Err(denied) => Err(denied),
            },
        };
        match scope {
            Ok(scope) => {
                authorized.insert(key, scope.clone());
                claim.jobs.push(ClaimedJob { scope, lease, job });
            }
            Err(denied) => {
                let reason = Refusal::Denied(denied);
                refuse(conn, &lease, &reason).await?;
                claim.refused.push(Refused {
                    job: job.id,
                    reason,
                });
            }
        }
    }
    Ok(claim)
}

/// Fails a claimed job for good because its creator may not run it.
async fn refuse(
    conn: &mut AsyncPgConnection,
    lease: &Lease,
    reason: &Refusal,
) -> Result<(), AgentError> {
    let message = format!("refused at claim: {reason}");
    diesel::sql_query(
        r#"UPDATE agent_jobs SET status = 'dead', error = $3, "leaseOwner" = NULL,
               "leaseExpiresAt" = NULL, "finishedAt" = (now() AT TIME ZONE 'UTC'),
               "updatedAt" = (now() AT TIME ZONE 'UTC'),
               errors = errors || jsonb_build_array(jsonb_build_object(
                   'attempt', attempt, 'error', $3::text,
                   'at', (now() AT TIME ZONE 'UTC')))
           WHERE id = $1 AND "leaseEpoch" = $2 AND status = 'running'"#,
    )
    .bind::<Text, _>(&lease.job)
    .bind::<BigInt, _>(lease.epoch)
    .bind::<Text, _>(message)
    .execute(conn)
    .await?;
    Ok(())
}

/// Completes the job inside the caller's transaction, the one the handler wrote its
/// effects in: guarded by the lease epoch, so when the lease was lost this returns
/// [`AgentError::LeaseLost`] and the caller must roll back (its effects with it).
#[tracing::instrument(skip_all, fields(job = %lease.job, op = "complete"))]
pub async fn complete(
    tx: &mut AsyncPgConnection,
    lease: &Lease,
    output: Option<&Value>,
) -> Result<(), AgentError> {
    limits::json("output", output)?;
    // The query builder's statement, prepared once per connection and cached: this runs
    // once per job.
    let now = time::now();
    let updated = diesel::update(agent_jobs::table)
        .filter(agent_jobs::id.eq(&lease.job))
        .filter(agent_jobs::leaseEpoch.eq(lease.epoch))
        .filter(agent_jobs::status.eq(JobStatus::Running))
        .set((
            agent_jobs::status.eq(JobStatus::Completed),
            agent_jobs::output.eq(output),
            agent_jobs::leaseOwner.eq(None::<String>),
            agent_jobs::leaseExpiresAt.eq(None::<NaiveDateTime>),
            agent_jobs::finishedAt.eq(now),
            agent_jobs::updatedAt.eq(now),
        ))
        .execute(tx)
        .await?;
    if updated == 0 {
        return Err(lease_lost(lease));
    }
    Ok(())
}

/// A write-free job's completion, for [`complete_many`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The lease it was claimed with.
    pub lease: Lease,
    /// What its handler returned.
    pub output: Option<Value>,
}

/// Completes many write-free jobs in one statement (three array parameters whatever the
/// count); returns the leases that were lost (their jobs were rescued or cancelled and are
/// left as they are).
#[tracing::instrument(skip_all, fields(n = completions.len(), op = "complete_many"))]
pub async fn complete_many(
    conn: &mut AsyncPgConnection,
    completions: &[Completion],
) -> Result<Vec<Lease>, AgentError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: AgentJobId,
    }
    let ids: Vec<&str> = completions.iter().map(|c| c.lease.job.as_ref()).collect();
    let epochs: Vec<i64> = completions.iter().map(|c| c.lease.epoch).collect();
    let outputs: Vec<Option<&Value>> = completions.iter().map(|c| c.output.as_ref()).collect();
    let done: Vec<Row> = diesel::sql_query(
        r#"UPDATE agent_jobs j SET status = 'completed', output = l.output, "leaseOwner" = NULL,
               "leaseExpiresAt" = NULL, "finishedAt" = (now() AT TIME ZONE 'UTC'),
               "updatedAt" = (now() AT TIME ZONE 'UTC')
           FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS l(id, epoch, output)
           WHERE j.id = l.id AND j."leaseEpoch" = l.epoch AND j.status = 'running'
           RETURNING j.id"#,
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Array<BigInt>, _>(&epochs)
    .bind::<Array<Nullable<Jsonb>>, _>(&outputs)
    .load(conn)
    .await?;
    let done: std::collections::HashSet<AgentJobId> = done.into_iter().map(|r| r.id).collect();
    Ok(completions
        .iter()
        .filter(|c| !done.contains(&c.lease.job))
        .map(|c| c.lease.clone())
        .collect())
}

/// Extends the leases by `lease` from now; returns the ones that were lost. A job whose
/// completion is committing right now is skipped (`SKIP LOCKED`), not waited for.
#[tracing::instrument(skip_all, fields(n = leases.len(), op = "heartbeat"))]
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    leases: &[Lease],
    lease: Duration,
) -> Result<Vec<Lease>, AgentError> {
    check_lease(lease)?;
    let ids: Vec<&str> = leases.iter().map(|l| l.job.as_ref()).collect();
    let epochs: Vec<i64> = leases.iter().map(|l| l.epoch).collect();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: AgentJobId,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        kept: bool,
    }
    let rows: Vec<Row> = diesel::sql_query(
        r#"WITH l AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS l(id, epoch)),
                mine AS (
                    SELECT j.id FROM agent_jobs j JOIN l ON l.id = j.id
                    WHERE j."leaseEpoch" = l.epoch AND j.status = 'running'
                    FOR UPDATE OF j SKIP LOCKED),
                busy AS (
                    SELECT j.id FROM agent_jobs j JOIN l ON l.id = j.id
                    WHERE j."leaseEpoch" = l.epoch AND j.status = 'running'
                      AND j.id NOT IN (SELECT id FROM mine)),
                extended AS (
                    UPDATE agent_jobs j
                    SET "leaseExpiresAt" = (now() AT TIME ZONE 'UTC') + make_interval(secs => $3)
                    FROM mine WHERE j.id = mine.id RETURNING j.id)
           SELECT id, true AS kept FROM extended
           UNION ALL SELECT id, true FROM busy"#,
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Array<BigInt>, _>(&epochs)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn)
    .await?;
    let kept: Vec<AgentJobId> = rows.into_iter().filter(|r| r.kept).map(|r| r.id).collect();
    Ok(leases
        .iter()
        .filter(|l| !kept.contains(&l.job))
        .cloned()
        .collect())
}

/// What became of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Queued again, to run at this time (exponential backoff with jitter).
    Retry(NaiveDateTime),
    /// That was its last attempt: the job is dead, kept with its errors.
    Dead,
}

/// The delay before attempt `attempt + 1` after attempt `attempt` failed: 2^(attempt-1)
/// seconds (1 s, 2 s, 4 s, ...) capped at one hour, then ±25 % jitter so jobs that failed
/// together do not retry together.
pub fn backoff(attempt: i32) -> Duration {
    let base = 2f64.powi(attempt.clamp(1, 13) - 1).min(3600.0);
    let mut bytes = [0u8; 2];
    // Jitter needs no cryptographic quality: without OS randomness it is the midpoint.
    let noise = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    Duration::from_secs_f64(base * (0.75 + noise * 0.5))
}

/// Records a failed attempt with `error`: queued again after [`backoff`] while attempts
/// remain, else dead. Guarded by the lease epoch ([`AgentError::LeaseLost`], nothing
/// written, when the job was rescued or cancelled meanwhile).
#[tracing::instrument(skip_all, fields(job = %lease.job, op = "fail"))]
pub async fn fail(
    conn: &mut AsyncPgConnection,
    lease: &Lease,
    error: &str,
) -> Result<Failure, AgentError> {
    let error: String = error
        .replace('\0', "\u{FFFD}")
        .chars()
        .take(10_000)
        .collect();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        status: JobStatus,
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        run_at: NaiveDateTime,
    }
    // The backoff is drawn for the attempt the job is on (it is only used if it retries).
    let attempt: Option<i32> = diesel::sql_query(
        r#"SELECT attempt AS n FROM agent_jobs WHERE id = $1 AND "leaseEpoch" = $2"#,
    )
    .bind::<Text, _>(&lease.job)
    .bind::<BigInt, _>(lease.epoch)
    .get_result::<Count32>(conn)
    .await
    .optional()?
    .map(|c| c.n);
    let delay = backoff(attempt.unwrap_or(1));
    let row: Option<Row> = diesel::sql_query(
        r#"UPDATE agent_jobs SET
               status = CASE WHEN attempt >= "maxAttempts" THEN 'dead' ELSE 'queued' END,
               "runAt" = CASE WHEN attempt >= "maxAttempts" THEN "runAt"
                         ELSE (now() AT TIME ZONE 'UTC') + make_interval(secs => $4) END,
               "finishedAt" = CASE WHEN attempt >= "maxAttempts"
                              THEN (now() AT TIME ZONE 'UTC') END,
               error = $3, "leaseOwner" = NULL, "leaseExpiresAt" = NULL,
               "updatedAt" = (now() AT TIME ZONE 'UTC'),
               errors = errors || jsonb_build_array(jsonb_build_object(
                   'attempt', attempt, 'error', $3::text, 'at', (now() AT TIME ZONE 'UTC')))
           WHERE id = $1 AND "leaseEpoch" = $2 AND status = 'running'
           RETURNING status, "runAt" AS run_at"#,
    )
    .bind::<Text, _>(&lease.job)
    .bind::<BigInt, _>(lease.epoch)
    .bind::<Text, _>(&error)
    .bind::<Double, _>(delay.as_secs_f64())
    .get_result(conn)
    .await
    .optional()?;
    match row {
        None => Err(lease_lost(lease)),
        Some(row) if row.status == JobStatus::Dead => Ok(Failure::Dead),
        Some(row) => Ok(Failure::Retry(row.run_at)),
    }
}

#[derive(QueryableByName)]
struct Count32 {
    #[diesel(sql_type = Integer)]
    n: i32,
}

/// Gives the jobs back to the queue without counting an attempt (a worker shutting down
/// before it ran them); returns the leases that were already lost.
#[tracing::instrument(skip_all, fields(n = leases.len(), op = "release"))]
pub async fn release(
    conn: &mut AsyncPgConnection,
    leases: &[Lease],
) -> Result<Vec<Lease>, AgentError> {
    let done = by_lease(
        conn,
        leases,
        r#"UPDATE agent_jobs j SET status = 'queued', attempt = greatest(j.attempt - 1, 0),
               "leaseOwner" = NULL, "leaseExpiresAt" = NULL, "leaseEpoch" = j."leaseEpoch" + 1,
               "updatedAt" = (now() AT TIME ZONE 'UTC')
           FROM unnest($1::text[], $2::bigint[]) AS l(id, epoch)
           WHERE j.id = l.id AND j."leaseEpoch" = l.epoch AND j.status = 'running'
           RETURNING j.id"#,
    )
    .await?;
    Ok(leases
        .iter()
        .filter(|l| !done.contains(&l.job))
        .cloned()
        .collect())
}

async fn by_lease(
    conn: &mut AsyncPgConnection,
    leases: &[Lease],
    sql: &str,
) -> Result<Vec<AgentJobId>, AgentError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        id: AgentJobId,
    }
    let ids: Vec<&str> = leases.iter().map(|l| l.job.as_ref()).collect();
    let epochs: Vec<i64> = leases.iter().map(|l| l.epoch).collect();
    let rows: Vec<Row> = diesel::sql_query(sql)
        .bind::<Array<Text>, _>(&ids)
        .bind::<Array<BigInt>, _>(&epochs)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// A job whose lease expired, put back by [`rescue`].
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Rescued {
    /// The job.
    #[diesel(sql_type = Text)]
    pub id: AgentJobId,
    /// `queued` again, or `dead` when it exceeded its rescues.
    #[diesel(sql_type = Text)]
    pub status: JobStatus,
    /// The worker that held it.
    #[diesel(sql_type = Nullable<Text>)]
    pub owner: Option<String>,
}

/// Puts every running job whose lease expired back on the queue with a new epoch (so its
/// old worker can no longer complete it), without counting the attempt: a crash is not the
/// job's fault. A job rescued more than `maxRescues` times is dead instead (it kills its
/// workers). Jobs mid-completion are skipped (`SKIP LOCKED`); a worker runs this every half
/// lease, so a dead worker's job is back within twice the lease.
#[tracing::instrument(skip_all, fields(op = "rescue"))]
pub async fn rescue(conn: &mut AsyncPgConnection) -> Result<Vec<Rescued>, AgentError> {
    Ok(diesel::sql_query(
        r#"WITH expired AS (
               SELECT id, "leaseOwner" AS owner FROM agent_jobs
               WHERE status = 'running' AND "leaseExpiresAt" < (now() AT TIME ZONE 'UTC')
               FOR UPDATE SKIP LOCKED)
           UPDATE agent_jobs j SET
               status = CASE WHEN j.rescues >= j."maxRescues" THEN 'dead' ELSE 'queued' END,
               attempt = CASE WHEN j.rescues >= j."maxRescues" THEN j.attempt
                         ELSE greatest(j.attempt - 1, 0) END,
               error = CASE WHEN j.rescues >= j."maxRescues"
                       THEN 'rescued ' || (j.rescues + 1) || ' times: its workers die or hang'
                       ELSE j.error END,
               "finishedAt" = CASE WHEN j.rescues >= j."maxRescues"
                              THEN (now() AT TIME ZONE 'UTC') END,
               rescues = j.rescues + 1, "leaseEpoch" = j."leaseEpoch" + 1,
               "leaseOwner" = NULL, "leaseExpiresAt" = NULL,
               "updatedAt" = (now() AT TIME ZONE 'UTC'),
               errors = j.errors || jsonb_build_array(jsonb_build_object(
                   'attempt', j.attempt, 'rescued', true, 'owner', expired.owner,
                   'at', (now() AT TIME ZONE 'UTC')))
           FROM expired WHERE j.id = expired.id
           RETURNING j.id, j.status, expired.owner"#,
    )
    .load(conn)
    .await?)
}

/// Queues a dead or cancelled job again with fresh attempts and rescues (an operator's
/// decision, `neonhub jobs retry`).
#[tracing::instrument(skip_all, fields(job = %id, op = "retry"))]
pub async fn retry(conn: &mut AsyncPgConnection, id: &AgentJobId) -> Result<Job, AgentError> {
    operate(
        conn,
        id,
        "retry",
        r#"UPDATE agent_jobs SET status = 'queued', attempt = 0, rescues = 0,
               "runAt" = (now() AT TIME ZONE 'UTC'), "finishedAt" = NULL,
               "updatedAt" = (now() AT TIME ZONE 'UTC')
           WHERE id = $1 AND status IN ('dead', 'cancelled') AND "organizationId" IS NOT NULL
           RETURNING *"#,
    )
    .await
}

/// Deletes a dead or cancelled job, or one whose organization was deleted.
#[tracing::instrument(skip_all, fields(job = %id, op = "discard"))]
pub async fn discard(conn: &mut AsyncPgConnection, id: &AgentJobId) -> Result<Job, AgentError> {
    operate(
        conn,
        id,
        "discard",
        r#"DELETE FROM agent_jobs
           WHERE id = $1 AND (status IN ('dead', 'cancelled') OR "organizationId" IS NULL)
           RETURNING *"#,
    )
    .await
}

/// Cancels a queued or running job of any organization (a new epoch fences its worker).
#[tracing::instrument(skip_all, fields(job = %id, op = "cancel"))]
pub async fn cancel(conn: &mut AsyncPgConnection, id: &AgentJobId) -> Result<Job, AgentError> {
    InvalidData::check_text("id", id.as_ref())?;
    // The same change as a tenant's `Job::cancel`, without the organization filter.
    let job = diesel::update(agent_jobs::table)
        .filter(agent_jobs::id.eq(id))
        .filter(agent_jobs::status.eq_any([JobStatus::Queued, JobStatus::Running]))
        .set(crate::job::cancel_changes())
        .returning(Job::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    match job {
        Some(job) => Ok(job),
        None => Err(refusal(conn, id, "cancel").await),
    }
}

async fn operate(
    conn: &mut AsyncPgConnection,
    id: &AgentJobId,
    action: &'static str,
    sql: &str,
) -> Result<Job, AgentError> {
    InvalidData::check_text("id", id.as_ref())?;
    let job: Option<Job> = diesel::sql_query(sql)
        .bind::<Text, _>(id)
        .get_result(conn)
        .await
        .optional()?;
    match job {
        Some(job) => Ok(job),
        None => Err(refusal(conn, id, action).await),
    }
}

/// Why `action` changed no row: the job does not exist, or its status forbids it.
async fn refusal(
    conn: &mut AsyncPgConnection,
    id: &AgentJobId,
    action: &'static str,
) -> AgentError {
    let current = agent_jobs::table
        .filter(agent_jobs::id.eq(id))
        .select(agent_jobs::status)
        .first::<JobStatus>(conn)
        .await
        .optional();
    match current {
        Ok(None) => AgentError::not_found("agent job", id),
        Ok(Some(status)) => AgentError::JobStatus {
            id: id.to_string(),
            status,
            action,
        },
        Err(e) => e.into(),
    }
}

/// Counts for `neonhub jobs stats`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct QueueStats {
    /// (status, agent) → jobs.
    pub by_status_and_agent: Vec<StatusCount>,
    /// Seconds the oldest runnable queued job has waited (`runAt` to now).
    pub oldest_queued_age_secs: Option<f64>,
    /// Dead jobs, kept until retried or discarded.
    pub dead: i64,
    /// Jobs whose organization was deleted: never claimed; discard them.
    pub orphaned: i64,
    /// Rescues recorded over all jobs.
    pub rescues: i64,
}

/// One line of [`QueueStats`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, QueryableByName)]
pub struct StatusCount {
    /// The status.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// The agent.
    #[diesel(sql_type = Text)]
    pub agent: String,
    /// How many.
    #[diesel(sql_type = BigInt)]
    pub jobs: i64,
}

/// The queue's counts (one pass over `agent_jobs`).
pub async fn stats(conn: &mut AsyncPgConnection) -> Result<QueueStats, AgentError> {
    let by_status_and_agent: Vec<StatusCount> = diesel::sql_query(
        "SELECT status, agent, count(*) AS jobs FROM agent_jobs GROUP BY status, agent ORDER BY status, agent",
    )
    .load(conn)
    .await?;
    #[derive(QueryableByName)]
    struct Totals {
        #[diesel(sql_type = Nullable<Double>)]
        oldest: Option<f64>,
        #[diesel(sql_type = BigInt)]
        dead: i64,
        #[diesel(sql_type = BigInt)]
        orphaned: i64,
        #[diesel(sql_type = BigInt)]
        rescues: i64,
    }
    let totals: Totals = diesel::sql_query(
        r#"SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') - min("runAt")
                  FILTER (WHERE status = 'queued' AND "runAt" <= (now() AT TIME ZONE 'UTC')))::float8 AS oldest,
                  count(*) FILTER (WHERE status = 'dead') AS dead,
                  count(*) FILTER (WHERE "organizationId" IS NULL) AS orphaned,
                  coalesce(sum(rescues), 0)::int8 AS rescues
           FROM agent_jobs"#,
    )
    .get_result(conn)
    .await?;
    Ok(QueueStats {
        by_status_and_agent,
        oldest_queued_age_secs: totals.oldest,
        dead: totals.dead,
        orphaned: totals.orphaned,
        rescues: totals.rescues,
    })
}

fn lease_lost(lease: &Lease) -> AgentError {
    AgentError::LeaseLost {
        job: lease.job.to_string(),
        epoch: lease.epoch,
    }
}

impl Refusal {
    /// The HTTP status a web service would normally answer: 403: the job's enqueuer may no longer run it.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::CreatorDeleted => S::Forbidden,
            Self::Denied(d) => d.status_hint(),
        }
    }
}

neonhub_schema::impl_has_status_hint!(Refusal);
