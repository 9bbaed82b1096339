//! The worker runtime: a notification wakes an idle worker at once, write-free handlers
//! complete in batches, a failing handler's job is retried, and a shutdown gives running
//! jobs back to the queue without counting an attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use neonhub_agents::*;
use neonhub_schema::TenantScope;
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::agents::organization_with_agents;
use neonhub_testing::fixtures::identity::Org;
use serde_json::json;
use tokio::sync::{Notify, oneshot};

async fn tenant(app: &mut AsyncPgConnection, slugs: &[&str]) -> Org {
    organization_with_agents(app, slugs).await
}

/// Signals every job it runs; optionally fails, or blocks until released.
struct Probe {
    ran: Arc<AtomicUsize>,
    seen: Arc<Notify>,
    fail: bool,
    panic: bool,
    hold: Option<Arc<Notify>>,
}

impl Probe {
    fn new() -> Self {
        Self {
            ran: Arc::new(AtomicUsize::new(0)),
            seen: Arc::new(Notify::new()),
            fail: false,
            panic: false,
            hold: None,
        }
    }
}

impl Probe {
    async fn probe(&self, scope: &TenantScope) -> HandlerResult {
        assert!(
            scope.actor().user_id().is_some(),
            "a handler runs as the job's creator"
        );
        self.ran.fetch_add(1, Ordering::SeqCst);
        self.seen.notify_one();
        if let Some(hold) = &self.hold {
            hold.notified().await;
        }
        if self.fail {
            return Err("boom".to_owned());
        }
        if self.panic {
            panic!("the handler's bug");
        }
        Ok(Some(json!({"ok": true})))
    }
}

impl Handler for Probe {
    fn run<'a>(
        &'a self,
        _job: &'a Job,
        scope: &'a TenantScope,
        _tx: &'a mut AsyncPgConnection,
    ) -> HandlerFuture<'a> {
        Box::pin(self.probe(scope))
    }
}

impl WriteFreeHandler for Probe {
    fn run<'a>(&'a self, _job: &'a Job, scope: &'a TenantScope) -> HandlerFuture<'a> {
        Box::pin(self.probe(scope))
    }
}

fn config(name: &str) -> WorkerConfig {
    WorkerConfig {
        name: name.to_owned(),
        concurrency: 4,
        lease: Duration::from_secs(5),
        // Long enough that only a notification can explain a prompt pickup.
        poll_interval: Duration::from_secs(30),
        shutdown_deadline: Duration::from_millis(300),
        ..WorkerConfig::default()
    }
}

#[tokio::test]
async fn a_notification_wakes_an_idle_worker_and_its_job_completes() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app, &["fast"]).await;
    let probe = Probe::new();
    let seen = probe.seen.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(db.url().clone(), config("notified")).handle("fast", probe);
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    // Let the worker reach its idle wait (its first claim finds nothing).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let input = json!({});
    let enqueued_at = Instant::now();
    let job = Job::enqueue(&mut app, &org.scope, &NewJob::new("fast", &input))
        .await
        .unwrap()
        .job;
    tokio::time::timeout(Duration::from_secs(5), seen.notified())
        .await
        .expect("picked up long before the 30 s poll");
    let pickup = enqueued_at.elapsed();
    assert!(pickup < Duration::from_secs(5), "{pickup:?}");
    let mut done = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    for _ in 0..50 {
        if done.status == JobStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        done = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    }
    assert_eq!(
        (done.status, done.output),
        (JobStatus::Completed, Some(json!({"ok": true})))
    );
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.completed, 1);
}

#[tokio::test]
async fn write_free_jobs_complete_in_batches_and_a_failing_handler_is_retried() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app, &["light", "broken"]).await;
    let input = json!({});
    let light: Vec<NewJob<'_>> = (0..300).map(|_| NewJob::new("light", &input)).collect();
    Job::enqueue_many(&mut app, &org.scope, &light)
        .await
        .unwrap();
    let broken = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            max_attempts: 1,
            ..NewJob::new("broken", &input)
        },
    )
    .await
    .unwrap()
    .job;
    let light_probe = Probe::new();
    let broken_probe = Probe {
        fail: true,
        ..Probe::new()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(
        db.url().clone(),
        WorkerConfig {
            poll_interval: Duration::from_millis(50),
            ..config("batched")
        },
    )
    .handle("light", light_probe)
    .handle("broken", broken_probe);
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = Job::list(
            &mut app,
            &org.scope,
            Some(JobStatus::Completed),
            &PageRequest::first(500),
        )
        .await
        .unwrap()
        .items
        .len();
        let dead = Job::get(&mut app, &org.scope, &broken.id)
            .await
            .unwrap()
            .status
            == JobStatus::Dead;
        if done == 300 && dead {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of 300 completed, broken dead: {dead}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.completed, report.failed), (300, 1));
    let dead = Job::get(&mut app, &org.scope, &broken.id).await.unwrap();
    assert_eq!(dead.error.as_deref(), Some("boom"));
    let one = Job::list(
        &mut app,
        &org.scope,
        Some(JobStatus::Completed),
        &PageRequest::first(1),
    )
    .await
    .unwrap();
    assert_eq!(
        one.items[0].output,
        Some(json!({"ok": true})),
        "a batched completion keeps its output"
    );
}

#[tokio::test]
async fn a_shutdown_gives_a_job_still_running_at_the_deadline_back_uncounted() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app, &["slow"]).await;
    let hold = Arc::new(Notify::new());
    let probe = Probe {
        hold: Some(hold.clone()),
        ..Probe::new()
    };
    let seen = probe.seen.clone();
    let input = json!({});
    let job = Job::enqueue(&mut app, &org.scope, &NewJob::new("slow", &input))
        .await
        .unwrap()
        .job;
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(db.url().clone(), config("stopping")).handle("slow", probe);
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(10), seen.notified())
        .await
        .expect("claimed");
    let claimed = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!((claimed.status, claimed.attempt), (JobStatus::Running, 1));
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.released, 1, "{report:?}");
    let back = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!(
        (back.status, back.attempt, back.output),
        (JobStatus::Queued, 0, None)
    );
    assert!(
        back.lease_epoch > claimed.lease_epoch,
        "the old lease is fenced off"
    );
}

#[tokio::test]
async fn a_panicking_handler_fails_its_job_and_the_worker_goes_on() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app, &["buggy", "fine"]).await;
    let input = json!({});
    let buggy = Job::enqueue(
        &mut app,
        &org.scope,
        &NewJob {
            max_attempts: 1,
            ..NewJob::new("buggy", &input)
        },
    )
    .await
    .unwrap()
    .job;
    let (stop, stopped) = oneshot::channel::<()>();
    // One slot and one connection: the next job runs only if both came back.
    let worker = Worker::new(
        db.url().clone(),
        WorkerConfig {
            concurrency: 1,
            poll_interval: Duration::from_millis(50),
            ..config("panicky")
        },
    )
    .handle(
        "buggy",
        Probe {
            panic: true,
            ..Probe::new()
        },
    )
    .handle("fine", Probe::new());
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Job::get(&mut app, &org.scope, &buggy.id)
        .await
        .unwrap()
        .status
        != JobStatus::Dead
    {
        assert!(Instant::now() < deadline, "the panicking job did not fail");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fine = Job::enqueue(&mut app, &org.scope, &NewJob::new("fine", &input))
        .await
        .unwrap()
        .job;
    while Job::get(&mut app, &org.scope, &fine.id)
        .await
        .unwrap()
        .status
        != JobStatus::Completed
    {
        assert!(
            Instant::now() < deadline,
            "the worker stopped after the panic"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.failed, report.completed), (1, 1));
    let dead = Job::get(&mut app, &org.scope, &buggy.id).await.unwrap();
    assert!(
        dead.error
            .unwrap()
            .contains("the handler panicked: the handler's bug"),
        "the panic is the job's error"
    );
}

#[tokio::test]
async fn heartbeats_keep_a_job_that_outlives_its_lease_from_being_rescued() {
    let db = TestDatabase::migrated().await;
    let mut app = db.connect_as_app().await;
    let org = tenant(&mut app, &["long"]).await;
    let hold = Arc::new(Notify::new());
    let probe = Probe {
        hold: Some(hold.clone()),
        ..Probe::new()
    };
    let seen = probe.seen.clone();
    let input = json!({});
    let job = Job::enqueue(&mut app, &org.scope, &NewJob::new("long", &input))
        .await
        .unwrap()
        .job;
    let lease = Duration::from_millis(600);
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(
        db.url().clone(),
        WorkerConfig {
            lease,
            ..config("beating")
        },
    )
    .handle("long", probe);
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(10), seen.notified())
        .await
        .expect("claimed");
    // Three leases long: without heartbeats the worker's own rescue would take it back.
    tokio::time::sleep(lease * 3).await;
    let during = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
    assert_eq!((during.status, during.rescues), (JobStatus::Running, 0));
    assert!(during.lease_expires_at.unwrap() > neonhub_schema::time::now());
    hold.notify_one();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = Job::get(&mut app, &org.scope, &job.id).await.unwrap();
        if now.status == JobStatus::Completed {
            assert_eq!((now.rescues, now.lease_epoch), (0, during.lease_epoch));
            break;
        }
        assert!(Instant::now() < deadline, "not completed: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.completed, report.lost, report.rescued), (1, 0, 0));
}
