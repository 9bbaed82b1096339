//! Chaos: worker **processes** work through 10,000 jobs whose handler writes one effect row
//! in the completion transaction, while about once a second a random worker is SIGKILLed
//! and a new one started. At the end every job is completed, each has exactly one effect
//! row (the effect table has no unique constraint that could hide a duplicate), none is
//! lost, and rescues were recorded.
//!
//! Run as `cargo test -p neonhub-agents --test chaos`; the binary re-executes itself with
//! `--worker <url> <name>` for each worker process.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::sql_query;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_agents::*;
use neonhub_schema::{DatabaseUrl, TenantScope};
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::agents::organization_with_agents;
use serde_json::json;

const JOBS: usize = 10_000;
const WORKERS: usize = 4;
const AGENT: &str = "chaos";
/// The whole run must finish within this, or the test fails.
const DEADLINE: Duration = Duration::from_secs(150);

/// Writes the job's effect in the completion transaction after a short piece of "work",
/// so kills land while jobs are in flight.
struct Effect;

impl Handler for Effect {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        _scope: &'a TenantScope,
        tx: &'a mut AsyncPgConnection,
    ) -> HandlerFuture<'a> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(15)).await;
            sql_query("INSERT INTO chaos_effects (job) VALUES ($1)")
                .bind::<Text, _>(&job.id)
                .execute(tx)
                .await
                .map_err(|e| e.to_string())?;
            Ok(None)
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if let Some(at) = args.iter().position(|a| a == "--worker") {
        let (url, name) = (&args[at + 1], &args[at + 2]);
        runtime.block_on(worker(url, name));
        return;
    }
    // The harness's flags and filters arrive here too: `--list`, and a name filter that
    // this test must match to run (as `cargo test <filter>` expects).
    if args.iter().any(|a| a == "--list") {
        println!("chaos: test");
        return;
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with("--")).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "chaos".contains(f.as_str())) {
        println!("running 0 tests (filtered out: chaos)");
        return;
    }
    runtime.block_on(chaos());
    println!("test chaos ... ok");
}

async fn worker(url: &str, name: &str) {
    let config = WorkerConfig {
        name: name.to_owned(),
        concurrency: 4,
        lease: Duration::from_secs(1),
        poll_interval: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let url = DatabaseUrl::parse(url).expect("the test database's URL");
    // Until killed; or, should the test itself die without killing it, once it is
    // orphaned (its parent is gone), so no worker outlives its test.
    let parent = std::os::unix::process::parent_id();
    let orphaned = async move {
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    Worker::new(url, config)
        .handle(AGENT, Effect)
        .run(orphaned)
        .await
        .expect("the worker runs until killed");
}

#[derive(diesel::QueryableByName, Debug)]
struct Tally {
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    other: i64,
    /// What the unfinished jobs are, by status.
    #[diesel(sql_type = Text)]
    others: String,
    #[diesel(sql_type = BigInt)]
    effects: i64,
    #[diesel(sql_type = BigInt)]
    jobs_with_effects: i64,
    #[diesel(sql_type = BigInt)]
    duplicated: i64,
    #[diesel(sql_type = BigInt)]
    rescues: i64,
}

async fn tally(sys: &mut AsyncPgConnection) -> Tally {
    sql_query(
        r#"SELECT
             (SELECT count(*) FROM agent_jobs WHERE status = 'completed') AS completed,
             (SELECT count(*) FROM agent_jobs WHERE status <> 'completed') AS other,
             (SELECT coalesce(string_agg(status || ' ' || n, ', '), '') FROM
                (SELECT status, count(*) AS n FROM agent_jobs WHERE status <> 'completed' GROUP BY status) s) AS others,
             (SELECT count(*) FROM chaos_effects) AS effects,
             (SELECT count(DISTINCT job) FROM chaos_effects) AS jobs_with_effects,
             (SELECT count(*) FROM (SELECT job FROM chaos_effects GROUP BY job HAVING count(*) > 1) d) AS duplicated,
             (SELECT coalesce(sum(rescues), 0)::int8 FROM agent_jobs) AS rescues"#,
    )
    .get_result(sys)
    .await
    .expect("the tally")
}

/// The worker processes, killed when dropped: also when an assertion fails.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.0 {
            let _ = worker.kill();
            let _ = worker.wait();
        }
    }
}

fn spawn(url: &str, n: usize) -> Child {
    Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--worker", url, &format!("chaos-{n}")])
        .stdout(Stdio::null())
        .spawn()
        .expect("a worker process")
}

/// A pseudo-random index below `n` (the victim need not be unpredictable, only varied).
fn pick(n: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    (h.finish() % n as u64) as usize
}

async fn chaos() {
    let db = TestDatabase::migrated().await;
    let mut sys = db.connect().await;
    sys.batch_execute("CREATE TABLE chaos_effects (job text NOT NULL)")
        .await
        .unwrap();
    let mut app = db.connect_as_app().await;
    let org = organization_with_agents(&mut app, &[AGENT]).await;
    let inputs: Vec<_> = (0..JOBS).map(|i| json!({ "i": i })).collect();
    // The kills are not the jobs' fault: a killed worker's jobs are all rescued, the ones
    // it had claimed but not started too, so the rescue limit must not end them here.
    let jobs: Vec<NewJob<'_>> = inputs
        .iter()
        .map(|i| NewJob {
            max_rescues: MAX_RESCUES_LIMIT,
            ..NewJob::new(AGENT, i)
        })
        .collect();
    let ids = Job::enqueue_many(&mut app, &org.scope, &jobs)
        .await
        .unwrap();
    assert_eq!(ids.len(), JOBS);

    let url = db.url_string();
    let mut workers = Workers((0..WORKERS).map(|n| spawn(&url, n)).collect());
    let mut started = WORKERS;
    let mut kills = 0;
    let start = Instant::now();
    let mut last_kill = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = tally(&mut sys).await;
        if now.completed == JOBS as i64 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "not done within {DEADLINE:?}: unfinished {} ({now:?}) after {kills} kills",
            now.others
        );
        if last_kill.elapsed() >= Duration::from_secs(1) {
            let victim = pick(workers.0.len());
            workers.0[victim].kill().expect("SIGKILL a worker");
            workers.0[victim].wait().expect("reap it");
            workers.0[victim] = spawn(&url, started);
            started += 1;
            kills += 1;
            last_kill = Instant::now();
        }
    }
    drop(workers);
    let end = tally(&mut sys).await;
    println!(
        "chaos: {JOBS} jobs by {started} worker processes in {:.1} s, {kills} SIGKILLs, {} rescues",
        start.elapsed().as_secs_f64(),
        end.rescues
    );
    assert_eq!(end.completed, JOBS as i64, "{end:?}");
    assert_eq!(end.other, 0, "jobs left behind: {} ({end:?})", end.others);
    assert_eq!(end.effects, JOBS as i64, "effect rows: {end:?}");
    assert_eq!(
        end.jobs_with_effects, JOBS as i64,
        "a job without its effect: {end:?}"
    );
    assert_eq!(
        end.duplicated, 0,
        "a job's effect was written twice: {end:?}"
    );
    assert!(
        kills >= 3,
        "only {kills} kills: the run was too short to test anything"
    );
    assert!(
        end.rescues >= 1,
        "no rescue recorded after {kills} kills: {end:?}"
    );
}
