//! Job-queue benches: `scripts/bench.sh job_queue` (or `cargo bench --bench job_queue` with
//! `NEONHUB_BENCH_DATABASE_URL` set to an admin URL; it creates and drops `nh_bench_jobs`).
//!
//! One run measures, beside a raw baseline with the same clients (a bare `BEGIN; UPDATE
//! agent_jobs SET status = 'completed' WHERE id = $1; COMMIT` loop through tokio-postgres):
//! enqueue one by one and `enqueue_many`; the burn-down of 100,000 no-op jobs by in-process
//! workers with per-job completion and with batched completion; the pickup latency of a
//! job enqueued into an idle queue; the time from a worker's death to its job's rescue; and
//! the dequeue rate while another session holds a transaction open for a minute. It prints
//! a table, writes `target/neonhub-bench/job_queue.json`, then criterion compares one
//! enqueue with one raw insert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use neonhub::agents::queue::{self, ClaimOptions};
use neonhub::agents::*;
use neonhub::identity::{NewOrganization, NewUser, Organization, User, authorize, keys};
use neonhub::schema::{DatabaseUrl, TenantScope, migrate};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const JOBS: usize = 100_000;
/// Connections of the raw baseline, and per-job workers' concurrency.
const CLIENTS: usize = 4;
const ONE_BY_ONE: usize = 2_000;
const PICKUPS: usize = 100;
const RESCUES: usize = 5;
const LEASE: Duration = Duration::from_secs(2);
const HELD_FOR: Duration = Duration::from_secs(60);
const AGENT: &str = "noop";
/// The burn-down workers' prefetch (the library's default is 32).
const PREFETCH: usize = 256;

struct Bench {
    url: DatabaseUrl,
    scope: TenantScope,
    report: Vec<(String, String, Value)>,
}

impl Bench {
    fn note(&mut self, key: &str, shown: String, value: Value) {
        println!("{key}: {shown}");
        self.report.push((key.to_owned(), shown, value));
    }
}

/// A no-op handler; with a channel, it says when each job started.
struct Noop(Option<mpsc::UnboundedSender<Instant>>);

impl Handler for Noop {
    fn run<'a>(
        &'a self,
        _job: &'a Job,
        _scope: &'a TenantScope,
        _tx: &'a mut AsyncPgConnection,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            if let Some(seen) = &self.0 {
                let _ = seen.send(Instant::now());
            }
            Ok(None)
        })
    }
}

impl WriteFreeHandler for Noop {
    fn run<'a>(&'a self, _job: &'a Job, _scope: &'a TenantScope) -> HandlerFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

async fn setup() -> Bench {
    let admin = std::env::var("NEONHUB_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("NEONHUB_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = DatabaseUrl::parse(&admin).expect("bench database URL");
    let mut conn = admin.connect().await.expect("bench server");
    conn.batch_execute("DROP DATABASE IF EXISTS nh_bench_jobs WITH (FORCE)")
        .await
        .unwrap();
    conn.batch_execute("CREATE DATABASE nh_bench_jobs TEMPLATE template0")
        .await
        .unwrap();
    let url = admin.with_dbname("nh_bench_jobs");
    migrate::run_pending(&url).await.unwrap();
    let mut conn = url.connect().await.unwrap();
    let user = User::create(
        &mut conn,
        &NewUser {
            email: "bench@example.com",
            name: None,
            image: None,
            is_beta_user: false,
        },
    )
    .await
    .unwrap();
    let org = Organization::create(
        &mut conn,
        &user.id,
        &NewOrganization {
            slug: "bench",
            name: "Bench",
            plan: None,
            settings: None,
        },
    )
    .await
    .unwrap();
    let scope = authorize(&mut conn, &org.id, &user.id, keys::AGENTS_MANAGE)
        .await
        .unwrap();
    let agent = Agent::create(
        &mut conn,
        &scope,
        &NewAgent {
            name: "No-op",
            slug: AGENT,
            kind: AgentKind::Workflow,
            description: None,
            version: None,
            config: None,
        },
    )
    .await
    .unwrap();
    Agent::set_status(&mut conn, &scope, &agent.id, AgentStatus::Active)
        .await
        .unwrap();
    Bench {
        url,
        scope,
        report: Vec::new(),
    }
}

/// Empties the queue and lets the server forget the dead rows, so each run starts alike.
async fn reset(b: &Bench) {
    let mut conn = b.url.connect().await.unwrap();
    conn.batch_execute("TRUNCATE agent_jobs").await.unwrap();
    conn.batch_execute("VACUUM ANALYZE agent_jobs")
        .await
        .unwrap();
}

async fn fill(b: &Bench, n: usize) -> Duration {
    let mut conn = b.url.connect().await.unwrap();
    let input = json!({});
    let jobs: Vec<NewJob<'_>> = (0..n).map(|_| NewJob::new(AGENT, &input)).collect();
    let started = Instant::now();
    for chunk in jobs.chunks(10_000) {
        Job::enqueue_many(&mut conn, &b.scope, chunk).await.unwrap();
    }
    let took = started.elapsed();
    conn.batch_execute("ANALYZE agent_jobs").await.unwrap();
    took
}

async fn count_left(client: &tokio_postgres::Client) -> i64 {
    let row = client
        .query_one(
            "SELECT count(*) FROM agent_jobs WHERE status <> 'completed'",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Whether any job is left: one index probe, so watching for the end costs the measured
/// workers next to nothing.
async fn any_left(client: &tokio_postgres::Client) -> bool {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM agent_jobs WHERE status IN ('queued', 'running'))",
            &[],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Runs a worker until the queue is empty (or `limit` passes); returns jobs done and time.
async fn burn_down(b: &Bench, write_free: bool, limit: Option<Duration>) -> (usize, Duration) {
    let config = WorkerConfig {
        name: "bench".to_owned(),
        concurrency: CLIENTS,
        write_free_concurrency: 1_000,
        // A burn-down keeps one claim for many jobs: claims cost the server the most CPU.
        prefetch: PREFETCH,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let worker = Worker::new(b.url.clone(), config);
    let worker = if write_free {
        worker.handle_write_free(AGENT, Noop(None))
    } else {
        worker.handle(AGENT, Noop(None))
    };
    let watch = b.url.connect_raw(&Default::default()).await.unwrap();
    let before = count_left(&watch).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !any_left(&watch).await || limit.is_some_and(|l| started.elapsed() >= l) {
            break;
        }
    }
    let took = started.elapsed();
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let after = count_left(&watch).await;
    ((before - after) as usize, took)
}

/// The raw baseline: `CLIENTS` tokio-postgres clients completing the jobs one by one.
async fn raw_burn_down(b: &Bench) -> (usize, Duration) {
    let client = b.url.connect_raw(&Default::default()).await.unwrap();
    let ids: Vec<String> = client
        .query("SELECT id FROM agent_jobs WHERE status = 'queued'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ids = Arc::new(ids);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (url, ids) = (b.url.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let client = url.connect_raw(&Default::default()).await.unwrap();
            let update = client
                .prepare("UPDATE agent_jobs SET status = 'completed' WHERE id = $1")
                .await
                .unwrap();
            for id in ids.iter().skip(c).step_by(CLIENTS) {
                client.batch_execute("BEGIN").await.unwrap();
                client.execute(&update, &[id]).await.unwrap();
                client.batch_execute("COMMIT").await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (ids.len(), started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn pickup_latency(b: &mut Bench) {
    reset(b).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let config = WorkerConfig {
        name: "pickup".to_owned(),
        concurrency: 2,
        // Idle for long stretches: only the notification can make the pickup quick.
        poll_interval: Duration::from_secs(5),
        ..WorkerConfig::default()
    };
    let worker = Worker::new(b.url.clone(), config).handle(AGENT, Noop(Some(seen_tx)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut conn = b.url.connect().await.unwrap();
    let input = json!({});
    let mut samples = Vec::new();
    for _ in 0..PICKUPS {
        // Each job lands in an idle queue: the worker finished the last one and waits.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let enqueued = Instant::now();
        Job::enqueue(&mut conn, &b.scope, &NewJob::new(AGENT, &input))
            .await
            .unwrap();
        let ran = seen.recv().await.unwrap();
        samples.push(ran.duration_since(enqueued));
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    samples.sort();
    let (p50, p95) = (percentile(&samples, 0.5), percentile(&samples, 0.95));
    let met = if p50 <= Duration::from_millis(10) {
        "met"
    } else {
        "not met"
    };
    b.note(
        "pickup latency into an idle queue, p50 / p95",
        format!(
            "{:.2} / {:.2} ms (goal p50 <= 10 ms: {met})",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        ),
        json!({"p50_ms": p50.as_secs_f64() * 1e3, "p95_ms": p95.as_secs_f64() * 1e3, "samples": PICKUPS}),
    );
}

async fn rescue_time(b: &mut Bench) {
    reset(b).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let config = WorkerConfig {
        name: "survivor".to_owned(),
        concurrency: 2,
        lease: LEASE,
        poll_interval: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let worker = Worker::new(b.url.clone(), config).handle("doomed", Noop(Some(seen_tx)));
    let mut conn = b.url.connect().await.unwrap();
    let agent = Agent::create(
        &mut conn,
        &b.scope,
        &NewAgent {
            name: "Doomed",
            slug: "doomed",
            kind: AgentKind::Workflow,
            description: None,
            version: None,
            config: None,
        },
    )
    .await
    .unwrap();
    Agent::set_status(&mut conn, &b.scope, &agent.id, AgentStatus::Active)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let input = json!({});
    let agents = vec!["doomed".to_owned()];
    let mut worst = Duration::ZERO;
    let mut samples = Vec::new();
    for _ in 0..RESCUES {
        // A worker claims the job and dies at once: no heartbeat, no completion. (It
        // claims within the survivor's own claims' race, so it enqueues and claims in one
        // transaction the survivor cannot see into.)
        let died = {
            let mut dying = b.url.connect().await.unwrap();
            use diesel_async::AsyncConnection;
            dying
                .transaction::<_, AgentError, _>(async |tx| {
                    // Due already at the transaction's start, the time the claim goes by.
                    let due = neonhub::schema::time::now() - chrono::TimeDelta::seconds(5);
                    let new = NewJob {
                        run_at: Some(due),
                        ..NewJob::new("doomed", &input)
                    };
                    Job::enqueue(tx, &b.scope, &new).await?;
                    let claim = queue::claim(
                        tx,
                        &ClaimOptions {
                            worker: "doomed-worker",
                            agents: &agents,
                            limit: 1,
                            per_organization: 1,
                            lease: LEASE,
                        },
                    )
                    .await?;
                    assert_eq!(claim.jobs.len(), 1);
                    Ok(())
                })
                .await
                .unwrap();
            Instant::now()
        };
        let ran = seen.recv().await.unwrap();
        let took = ran.duration_since(died);
        worst = worst.max(took);
        samples.push(took.as_secs_f64());
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let met = if worst <= 2 * LEASE { "met" } else { "not met" };
    b.note(
        "worker death to its job's rescue and new run, worst of 5 (lease 2 s)",
        format!("{:.2} s (goal <= 2x lease = 4 s: {met})", worst.as_secs_f64()),
        json!({"worst_s": worst.as_secs_f64(), "samples_s": samples, "lease_s": LEASE.as_secs_f64()}),
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut b = rt.block_on(setup());

    rt.block_on(async {
        // Enqueue one by one, beside a raw INSERT per job.
        let mut conn = b.url.connect().await.unwrap();
        let input = json!({});
        let started = Instant::now();
        for _ in 0..ONE_BY_ONE {
            Job::enqueue(&mut conn, &b.scope, &NewJob::new(AGENT, &input))
                .await
                .unwrap();
        }
        let ours = rate(ONE_BY_ONE, started.elapsed());
        let client = b.url.connect_raw(&Default::default()).await.unwrap();
        let insert = client
            .prepare(
                r#"INSERT INTO agent_jobs (id, "organizationId", agent, input, status, "updatedAt")
                   VALUES (gen_random_uuid()::text, $1, 'noop', '{}', 'queued', now())"#,
            )
            .await
            .unwrap();
        let org = b.scope.organization_id().to_string();
        let started = Instant::now();
        for _ in 0..ONE_BY_ONE {
            client.execute(&insert, &[&org]).await.unwrap();
        }
        let raw = rate(ONE_BY_ONE, started.elapsed());
        b.note(
            "enqueue one by one, Job::enqueue / raw INSERT",
            format!("{ours:.0} / {raw:.0} jobs/s"),
            json!({"enqueue_per_s": ours, "raw_insert_per_s": raw}),
        );

        // The raw baseline burns down 100,000 jobs first, then the workers do.
        reset(&b).await;
        fill(&b, JOBS).await;
        let (n, took) = raw_burn_down(&b).await;
        let raw = rate(n, took);
        reset(&b).await;
        let took = fill(&b, JOBS).await;
        let many = rate(JOBS, took);
        b.note(
            "enqueue_many, 100,000 jobs in statements of 10,000",
            format!("{many:.0} jobs/s"),
            json!({"jobs_per_s": many}),
        );
        let (n, took) = burn_down(&b, false, None).await;
        let per_job = rate(n, took);
        let ratio = per_job / raw;
        let met = if ratio >= 0.5 { "met" } else { "not met" };
        b.note(
            "burn-down of 100,000 no-op jobs, per-job completion / raw UPDATE loop (4 clients each)",
            format!("{per_job:.0} / {raw:.0} jobs/s = {ratio:.2}x (goal >= 0.5x: {met})"),
            json!({"worker_per_s": per_job, "raw_per_s": raw, "ratio": ratio, "jobs": n}),
        );
        reset(&b).await;
        fill(&b, JOBS).await;
        let (n, took) = burn_down(&b, true, None).await;
        let batched = rate(n, took);
        let met = if batched >= 10_000.0 { "met" } else { "not met" };
        b.note(
            "burn-down of 100,000 no-op jobs, batched completion (write-free handler)",
            format!("{batched:.0} jobs/s (goal >= 10,000: {met})"),
            json!({"jobs_per_s": batched, "jobs": n}),
        );
    });

    rt.block_on(pickup_latency(&mut b));
    rt.block_on(rescue_time(&mut b));

    rt.block_on(async {
        // The dequeue rate while another session holds a transaction (and its snapshot)
        // open for a minute, against the same minute without it.
        reset(&b).await;
        fill(&b, 150_000).await;
        let (free_n, free_took) = burn_down(&b, false, Some(HELD_FOR)).await;
        reset(&b).await;
        fill(&b, 150_000).await;
        let holder = b.url.connect_raw(&Default::default()).await.unwrap();
        holder
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM agent_jobs")
            .await
            .unwrap();
        let (held_n, held_took) = burn_down(&b, false, Some(HELD_FOR)).await;
        holder.batch_execute("COMMIT").await.unwrap();
        let (free, held) = (rate(free_n, free_took), rate(held_n, held_took));
        b.note(
            "per-job dequeue rate over a minute, with / without a transaction held open",
            format!(
                "{held:.0} / {free:.0} jobs/s ({:+.0} %)",
                (held / free - 1.0) * 100.0
            ),
            json!({"held_per_s": held, "free_per_s": free, "seconds": HELD_FOR.as_secs()}),
        );
    });

    let table: String = std::iter::once("| measure | result |\n| --- | --- |\n".to_owned())
        .chain(b.report.iter().map(|(k, v, _)| format!("| {k} | {v} |\n")))
        .collect();
    println!("\n{table}");
    let json: serde_json::Map<String, Value> = b
        .report
        .iter()
        .map(|(k, _, v)| (k.clone(), v.clone()))
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/job_queue.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    );

    // Criterion: one enqueue beside one raw insert.
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    let conn = tokio::sync::Mutex::new(rt.block_on(b.url.connect()).unwrap());
    let raw = rt.block_on(b.url.connect_raw(&Default::default())).unwrap();
    let input = json!({});
    let org = b.scope.organization_id().to_string();
    c.bench_function("enqueue/Job::enqueue", |bencher| {
        bencher.to_async(&rt).iter(|| async {
            Job::enqueue(
                &mut *conn.lock().await,
                &b.scope,
                &NewJob::new(AGENT, &input),
            )
            .await
            .unwrap()
        })
    });
    c.bench_function("enqueue/raw_insert", |bencher| {
        bencher.to_async(&rt).iter(|| async {
            raw.execute(
                r#"INSERT INTO agent_jobs (id, "organizationId", agent, input, status, "updatedAt")
                   VALUES (gen_random_uuid()::text, $1, 'noop', '{}', 'queued', now())"#,
                &[&org],
            )
            .await
            .unwrap()
        })
    });
    c.final_summary();
}
