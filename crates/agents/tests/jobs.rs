//! The job queue against a real server, each test in its own database (claims, leases and
//! rescues need real time and several connections): enqueue and its unique key, fairness,
//! fencing by the lease epoch, retries, rescue, re-authorization at claim, bad input.

use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_agents::queue::{self, ClaimOptions, Failure, Refusal};
use neonhub_agents::*;
use neonhub_identity::{DefaultRole, Membership, Organization, keys};
use neonhub_schema::{Denied, InvalidData};
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::agents::organization_with_agents;
use neonhub_testing::fixtures::identity::{Org, member, scope_of};
use serde_json::{Value, json};

const AGENT: &str = "mailer";

/// An organization (its owner's scope) with an active agent `mailer`.
async fn tenant(app: &mut AsyncPgConnection) -> Org {
    organization_with_agents(app, &[AGENT]).await
}

fn agents() -> Vec<String> {
    vec![AGENT.to_owned()]
}

fn claim_options(agents: &[String], limit: i64, lease: Duration) -> ClaimOptions<'_> {
    ClaimOptions {
        worker: "test-worker",
        agents,
        limit,
        per_organization: 4,
        lease,
    }
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(sys: &mut AsyncPgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<N>(sys).await.unwrap().n
}

#[tokio::test]
async fn a_unique_key_returns_the_queued_job_until_it_finishes() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let org = tenant(&mut app).await;
    let input = json!({"to": "a@b.c"});
    let new = NewJob {
        unique_key: Some("welcome:ada"),
        ..NewJob::new(AGENT, &input)
    };
    let first = Job::enqueue(&mut app, &org.scope, &new).await.unwrap();
    let second = Job::enqueue(&mut app, &org.scope, &new).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.job.id, second.job.id);
    // While it runs, still the same job; once completed, a new one.
    let agents = agents();
    let claim = queue::claim(
        &mut sys,
        &claim_options(&agents, 10, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(claim.jobs.len(), 1);
    let third = Job::enqueue(&mut app, &org.scope, &new).await.unwrap();
    assert_eq!((third.created, &third.job.id), (false, &first.job.id));
    let lease = &claim.jobs[0].lease;
    sys.transaction::<_, AgentError, _>(async |tx| queue::complete(tx, lease, None).await)
        .await
        .unwrap();
    let fourth = Job::enqueue(&mut app, &org.scope, &new).await.unwrap();
    assert!(fourth.created);
    assert_ne!(fourth.job.id, first.job.id);
}

#[tokio::test]
async fn eight_concurrent_producers_of_one_unique_key_make_one_job() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut conn = db.connect_as_app().await;
        let scope = org.scope.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let input = json!({"producer": i});
            let new = NewJob {
                unique_key: Some("digest:2026-11-26"),
                ..NewJob::new(AGENT, &input)
            };
            // Each producer holds its transaction open a moment after inserting, so the
            // others' inserts meet an uncommitted row.
            conn.transaction::<_, AgentError, _>(async |tx| {
                barrier.wait().await;
                let enqueued = Job::enqueue(tx, &scope, &new).await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(enqueued)
            })
            .await
        }));
    }
    let mut ids = Vec::new();
    let mut created = 0;
    for task in tasks {
        let enqueued = task.await.unwrap().unwrap();
        created += usize::from(enqueued.created);
        ids.push(enqueued.job.id);
    }
    ids.dedup();
    assert_eq!(created, 1, "exactly one producer created the job");
    assert_eq!(ids.len(), 1, "every producer got the same job");
    let mut sys = db.connect().await;
    assert_eq!(
        count(&mut sys, "SELECT count(*) AS n FROM agent_jobs").await,
        1
    );
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_does_not_exist() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app).await;
    let input = json!({});
    let result = app
        .transaction::<(), AgentError, _>(async |tx| {
            Job::enqueue(tx, &org.scope, &NewJob::new(AGENT, &input)).await?;
            Err(AgentError::NoCreator) // any failure of the caller's work
        })
        .await;
    assert!(result.is_err());
    let mut sys = db.connect().await;
    assert_eq!(
        count(&mut sys, "SELECT count(*) AS n FROM agent_jobs").await,
        0
    );
}

#[tokio::test]
async fn enqueue_many_writes_thousands_in_one_statement_and_skips_held_keys() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app).await;
    let inputs: Vec<Value> = (0..5000).map(|i| json!({"i": i})).collect();
    let keys: Vec<String> = (0..5000).map(|i| format!("k{}", i % 4000)).collect();
    let jobs: Vec<NewJob<'_>> = inputs
        .iter()
        .zip(&keys)
        .map(|(input, key)| NewJob {
            unique_key: Some(key),
            ..NewJob::new(AGENT, input)
        })
        .collect();
    let ids = Job::enqueue_many(&mut app, &org.scope, &jobs)
        .await
        .unwrap();
    assert_eq!(ids.len(), 4000, "1,000 rows repeat an earlier row's key");
    let again = Job::enqueue_many(&mut app, &org.scope, &jobs[..10])
        .await
        .unwrap();
    assert!(again.is_empty(), "their keys are held by queued jobs");
    let mut sys = db.connect().await;
    assert_eq!(
        count(&mut sys, "SELECT count(*) AS n FROM agent_jobs").await,
        4000
    );
}

#[tokio::test]
async fn another_organizations_backlog_does_not_delay_a_job_beyond_the_first_claim() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let a = tenant(&mut app).await;
    let b = tenant(&mut app).await;
    let input = json!({});
    let backlog: Vec<NewJob<'_>> = (0..100_000).map(|_| NewJob::new(AGENT, &input)).collect();
    for chunk in backlog.chunks(20_000) {
        Job::enqueue_many(&mut app, &a.scope, chunk).await.unwrap();
    }
    let late = Job::enqueue(&mut app, &b.scope, &NewJob::new(AGENT, &input))
        .await
        .unwrap()
        .job;
    let agents = agents();
    let claim = queue::claim(
        &mut sys,
        &claim_options(&agents, 8, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert!(
        claim.jobs.iter().any(|c| c.job.id == late.id),
        "organization B's job was not in the first claim round"
    );
    assert_eq!(
        claim.jobs.len(),
        5,
        "A's best 4 (the per-organization cap) and B's one"
    );
}

#[tokio::test]
async fn higher_priority_runs_first_and_a_scheduled_job_waits() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let org = tenant(&mut app).await;
    let input = json!({});
    let low = Job::enqueue(&mut app, &org.scope, &NewJob::new(AGENT, &input))
        .await
        .unwrap()
        .job;
    let high = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            priority: 10,
            ..NewJob::new(AGENT, &input)
        },
    )
    .await
    .unwrap()
    .job;
    let later = neonhub_schema::time::now() + chrono::TimeDelta::hours(1);
    let scheduled = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            run_at: Some(later),
            priority: 99,
            ..NewJob::new(AGENT, &input)
        },
    )
    .await
    .unwrap()
    .job;
    let agents = agents();
    let first = queue::claim(
        &mut sys,
        &claim_options(&agents, 1, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(first.jobs[0].job.id, high.id);
    let second = queue::claim(
        &mut sys,
        &claim_options(&agents, 5, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    let ids: Vec<_> = second.jobs.iter().map(|c| c.job.id.clone()).collect();
    assert_eq!(ids, [low.id], "the scheduled job is not due");
    let cancelled = Job::cancel(&mut app, &org.scope, &scheduled.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let err = Job::cancel(&mut app, &org.scope, &scheduled.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::JobStatus {
                status: JobStatus::Cancelled,
                ..
            }
        ),
        "{err:?}"
    );
}

#[derive(QueryableByName)]
struct Effects {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_worker_whose_job_was_rescued_changes_nothing() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    sys.batch_execute("CREATE TABLE effects (job text NOT NULL)")
        .await
        .unwrap();
    let org = tenant(&mut app).await;
    let input = json!({});
    let job = Job::enqueue(&mut app, &org.scope, &NewJob::new(AGENT, &input))
        .await
        .unwrap()
        .job;
    let agents = agents();
    let stale = queue::claim(
        &mut sys,
        &claim_options(&agents, 1, Duration::from_millis(50)),
    )
    .await
    .unwrap()
    .jobs
    .remove(0);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let rescued = queue::rescue(&mut sys).await.unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(
        (rescued[0].status, rescued[0].owner.as_deref()),
        (JobStatus::Queued, Some("test-worker"))
    );
    let after = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!(
        (after.attempt, after.rescues),
        (0, 1),
        "a rescue is not a failed attempt"
    );

    // The stale worker completes, writing its effect in the same transaction: refused.
    let outcome = sys
        .transaction::<_, AgentError, _>(async |tx| {
            sql_query("INSERT INTO effects VALUES ($1)")
                .bind::<Text, _>(&stale.job.id)
                .execute(tx)
                .await?;
            queue::complete(tx, &stale.lease, Some(&json!({"stale": true}))).await
        })
        .await;
    assert!(
        matches!(outcome, Err(AgentError::LeaseLost { .. })),
        "{outcome:?}"
    );
    let fail = queue::fail(&mut sys, &stale.lease, "late failure").await;
    assert!(
        matches!(fail, Err(AgentError::LeaseLost { .. })),
        "{fail:?}"
    );
    let lost = queue::heartbeat(
        &mut sys,
        std::slice::from_ref(&stale.lease),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(lost, std::slice::from_ref(&stale.lease));
    let effects = sql_query("SELECT count(*) AS n FROM effects")
        .get_result::<Effects>(&mut sys)
        .await
        .unwrap();
    assert_eq!(effects.n, 0, "the stale completion's effect was committed");
    let now = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!(
        (now.status, now.output, now.error),
        (JobStatus::Queued, None, None)
    );

    // The new claim holds a new epoch and completes once.
    let fresh = queue::claim(
        &mut sys,
        &claim_options(&agents, 1, Duration::from_secs(30)),
    )
    .await
    .unwrap()
    .jobs
    .remove(0);
    assert!(fresh.lease.epoch > stale.lease.epoch);
    sys.transaction::<_, AgentError, _>(async |tx| queue::complete(tx, &fresh.lease, None).await)
        .await
        .unwrap();
    assert_eq!(
        Job::get(&mut app, &org.scope, &job.id)
            .await
            .unwrap()
            .status,
        JobStatus::Completed
    );
}

#[tokio::test]
async fn a_failing_job_retries_with_backoff_then_dies_and_can_be_retried() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let org = tenant(&mut app).await;
    let input = json!({});
    let job = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            max_attempts: 2,
            ..NewJob::new(AGENT, &input)
        },
    )
    .await
    .unwrap()
    .job;
    let agents = agents();
    let first = queue::claim(
        &mut sys,
        &claim_options(&agents, 1, Duration::from_secs(30)),
    )
    .await
    .unwrap()
    .jobs
    .remove(0);
    let retry = queue::fail(&mut sys, &first.lease, "SMTP 421")
        .await
        .unwrap();
    let Failure::Retry(at) = retry else {
        panic!("expected a retry, got {retry:?}")
    };
    assert!(
        at > neonhub_schema::time::now(),
        "the retry waits its backoff"
    );
    // Make it due now rather than wait the backoff.
    sys.batch_execute(&format!(
        r#"UPDATE agent_jobs SET "runAt" = "runAt" - interval '1 hour' WHERE id = '{}'"#,
        job.id
    ))
    .await
    .unwrap();
    let second = queue::claim(
        &mut sys,
        &claim_options(&agents, 1, Duration::from_secs(30)),
    )
    .await
    .unwrap()
    .jobs
    .remove(0);
    assert_eq!(second.job.attempt, 2);
    assert_eq!(
        queue::fail(&mut sys, &second.lease, "SMTP 550")
            .await
            .unwrap(),
        Failure::Dead
    );
    let dead = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!(
        (dead.status, dead.error.as_deref()),
        (JobStatus::Dead, Some("SMTP 550"))
    );
    let errors = dead.errors.as_array().unwrap();
    assert_eq!(errors.len(), 2, "one entry per attempt: {errors:?}");
    assert_eq!(errors[0]["error"], "SMTP 421");
    let stats = queue::stats(&mut sys).await.unwrap();
    assert_eq!(stats.dead, 1);
    let again = queue::retry(&mut sys, &job.id).await.unwrap();
    assert_eq!((again.status, again.attempt), (JobStatus::Queued, 0));
    let err = queue::retry(&mut sys, &job.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::JobStatus {
                action: "retry",
                ..
            }
        ),
        "{err:?}"
    );
    for delay in (1..=20).map(queue::backoff) {
        assert!(delay <= Duration::from_secs(4500), "{delay:?}");
    }
    assert!(
        queue::backoff(1) < Duration::from_secs(2) && queue::backoff(5) >= Duration::from_secs(12)
    );
}

#[tokio::test]
async fn a_job_that_keeps_killing_its_workers_dies_after_its_rescues() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let org = tenant(&mut app).await;
    let input = json!({});
    let job = Job::enqueue(&mut app, &org.scope, &NewJob::new(AGENT, &input))
        .await
        .unwrap()
        .job;
    let agents = agents();
    for round in 0..=3 {
        let claimed = queue::claim(
            &mut sys,
            &claim_options(&agents, 1, Duration::from_millis(20)),
        )
        .await
        .unwrap();
        assert_eq!(claimed.jobs.len(), 1, "round {round}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rescued = queue::rescue(&mut sys).await.unwrap();
        let expected = if round < 3 {
            JobStatus::Queued
        } else {
            JobStatus::Dead
        };
        assert_eq!(rescued[0].status, expected, "round {round}");
    }
    let dead = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!((dead.rescues, dead.attempt), (4, 1));
    assert!(dead.error.unwrap().contains("rescued 4 times"));
}

#[tokio::test]
async fn a_suspended_creators_job_fails_at_claim_and_a_deleted_organizations_is_never_claimed() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let org = tenant(&mut app).await;
    let user = member(&mut app, &org, DefaultRole::Member, true).await;
    let their = scope_of(&mut app, &org, &user, keys::AGENTS_RUN).await;
    let input = json!({});
    let job = Job::enqueue(&mut app, &their, &NewJob::new(AGENT, &input))
        .await
        .unwrap()
        .job;
    Membership::suspend(&mut app, &org.scope, &user)
        .await
        .unwrap();
    let agents = agents();
    let claim = queue::claim(
        &mut sys,
        &claim_options(&agents, 10, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert!(claim.jobs.is_empty());
    assert_eq!(claim.refused.len(), 1);
    assert!(
        matches!(
            &claim.refused[0].reason,
            Refusal::Denied(Denied::Inactive { .. })
        ),
        "{:?}",
        claim.refused[0].reason
    );
    let dead = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!(dead.status, JobStatus::Dead);
    assert!(
        dead.error.unwrap().contains("suspended"),
        "the reason is recorded"
    );

    // A deleted organization's jobs lose their organization and are never claimed.
    let gone = tenant(&mut app).await;
    let orphan = Job::enqueue(&mut app, &gone.scope, &NewJob::new(AGENT, &input))
        .await
        .unwrap()
        .job;
    let owner = scope_of(&mut app, &gone, &gone.owner, keys::ORGANIZATION_DELETE).await;
    Organization::delete(&mut app, &owner).await.unwrap();
    let claim = queue::claim(
        &mut sys,
        &claim_options(&agents, 10, Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert!(claim.jobs.is_empty() && claim.refused.is_empty());
    assert_eq!(queue::stats(&mut sys).await.unwrap().orphaned, 1);
    let discarded = queue::discard(&mut sys, &orphan.id).await.unwrap();
    assert_eq!(discarded.organization_id, None);
    assert_eq!(queue::stats(&mut sys).await.unwrap().orphaned, 0);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_typed_error_and_nothing_is_written() {
    let db = TestDatabase::migrated().await;
    let (mut sys, mut app) = (db.connect().await, db.connect_as_app().await);
    let org = tenant(&mut app).await;
    let input = json!({});
    let err = Job::enqueue(&mut app, &org.scope, &NewJob::new("no-such-agent", &input))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::UnknownAgent(slug) if slug == "no-such-agent"),
        "{err:?}"
    );
    for max_attempts in [0, -3] {
        let err = Job::enqueue(
            &mut app,
            &org.scope,
            &NewJob {
                max_attempts,
                ..NewJob::new(AGENT, &input)
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, AgentError::Invalid(InvalidData::OutOfRange(_))),
            "{err:?}"
        );
    }
    let err = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            max_rescues: -1,
            ..NewJob::new(AGENT, &input)
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::OutOfRange(_))),
        "{err:?}"
    );
    let huge = Value::String("x".repeat(10 * 1024 * 1024));
    let err = Job::enqueue(&mut app, &org.scope, &NewJob::new(AGENT, &huge))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::TooLarge { .. })),
        "{err:?}"
    );
    let before_1970 = chrono::NaiveDate::from_ymd_opt(1969, 12, 31)
        .unwrap()
        .and_hms_opt(23, 59, 59)
        .unwrap();
    let err = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            run_at: Some(before_1970),
            ..NewJob::new(AGENT, &input)
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::OutOfRange(_))),
        "{err:?}"
    );
    // In a batch, the refusal names the row; nothing of the batch is written.
    let batch = [NewJob::new(AGENT, &input), NewJob::new("ghost", &input)];
    let err = Job::enqueue_many(&mut app, &org.scope, &batch)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AgentError::BatchRow { position: 1, .. }),
        "{err:?}"
    );
    let system = neonhub_schema::TenantScope::trusted_system(org.org.id.clone());
    let err = Job::enqueue(&mut app, &system, &NewJob::new(AGENT, &input))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::NoCreator), "{err:?}");
    assert_eq!(
        count(&mut sys, "SELECT count(*) AS n FROM agent_jobs").await,
        0
    );
    let agents = agents();
    let err = queue::claim(&mut sys, &claim_options(&agents, 1, Duration::ZERO))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::OutOfRange(_))),
        "{err:?}"
    );
}
