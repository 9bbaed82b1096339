//! The worker runtime: claims jobs for its handlers, runs each in its creator's scope and
//! completes it in the transaction the handler wrote its effects in, keeps the leases
//! alive, rescues the jobs of dead workers, wakes on `NOTIFY` (polling as the fallback),
//! and shuts down gracefully.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection};
use neonhub_schema::ids::AgentJobId;
use neonhub_schema::{ConnectOptions, DatabaseUrl, InvalidData, TenantScope};
use serde_json::Value;
use tokio::sync::{Mutex, Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::queue::{self, ClaimOptions, ClaimedJob, Lease};
use crate::{AgentError, Job};

/// What a handler's future resolves to: its output, or the error that fails the attempt.
pub type HandlerResult = Result<Option<Value>, String>;

/// The future a handler returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'a>>;

/// Runs the jobs of one agent.
pub trait Handler: Send + Sync + 'static {
    /// Does `job`'s work as `scope` (its creator's, with the permissions the creator holds
    /// now), writing its database effects through `tx`: the transaction that then completes
    /// the job, guarded by the lease epoch. If the lease was lost meanwhile, everything
    /// rolls back, so the effects happen exactly once although a job may run twice. An
    /// `Err` fails the attempt (retried with backoff until the job's maximum).
    fn run<'a>(
        &'a self,
        job: &'a Job,
        scope: &'a TenantScope,
        tx: &'a mut AsyncPgConnection,
    ) -> HandlerFuture<'a>;
}

/// Runs the jobs of one agent without writing to the database (it calls a model, sends a
/// message, ...): it needs no connection, so many run at once
/// ([`WorkerConfig::write_free_concurrency`]), and their completions are committed in
/// batches, many jobs per statement. A job completed this way may have done its outside
/// work twice (a worker may die before the batch commits); make that work idempotent.
pub trait WriteFreeHandler: Send + Sync + 'static {
    /// Does `job`'s work as `scope`; `Ok(output)` completes it, `Err` fails the attempt.
    fn run<'a>(&'a self, job: &'a Job, scope: &'a TenantScope) -> HandlerFuture<'a>;
}

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's name, stored as the lease owner (unique per process is best).
    pub name: String,
    /// How many jobs of [`Handler`]s run at once (1 to 1,000); also the connections it
    /// opens for them.
    pub concurrency: usize,
    /// How many jobs of [`WriteFreeHandler`]s run at once (1 to 100,000; they hold no
    /// connection).
    pub write_free_concurrency: usize,
    /// The lease a claim takes and a heartbeat renews (heartbeats every third of it,
    /// rescues every half: a dead worker's job is back within twice the lease).
    pub lease: Duration,
    /// How often an idle worker looks for jobs when no notification wakes it.
    pub poll_interval: Duration,
    /// How many claimed jobs a worker keeps waiting beside the running ones (0 to 10,000),
    /// so one claim serves many jobs; it claims again once half of these are started.
    pub prefetch: usize,
    /// At most this many jobs of one organization per claim. Claims are round-robin across
    /// organizations whatever this is; a lower cap also keeps one organization from
    /// filling a whole claim when others are waiting behind it.
    pub per_organization: i64,
    /// How long a shutdown waits for running jobs before giving them back to the queue.
    pub shutdown_deadline: Duration,
    /// How often batched completions of write-free handlers are committed.
    pub flush_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", std::process::id()),
            concurrency: 8,
            write_free_concurrency: 256,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            prefetch: 32,
            per_organization: CLAIM_BATCH as i64,
            shutdown_deadline: Duration::from_secs(10),
            flush_interval: Duration::from_millis(5),
        }
    }
}

impl WorkerConfig {
    fn check(&self) -> Result<(), InvalidData> {
        crate::limits::name("worker name", &self.name)?;
        if !(1..=1000).contains(&self.concurrency) {
            return Err(InvalidData::OutOfRange(format!(
                "concurrency {} is outside 1 to 1000",
                self.concurrency
            )));
        }
        if !(1..=100_000).contains(&self.write_free_concurrency) {
            return Err(InvalidData::OutOfRange(format!(
                "write_free_concurrency {} is outside 1 to 100000",
                self.write_free_concurrency
            )));
        }
        queue::check_lease(self.lease)?;
        if self.prefetch > 10_000 {
            return Err(InvalidData::OutOfRange(format!(
                "prefetch {} is above 10000",
                self.prefetch
            )));
        }
        if self.poll_interval.is_zero() || self.flush_interval.is_zero() {
            return Err(InvalidData::OutOfRange(
                "poll and flush intervals must be more than 0".to_owned(),
            ));
        }
        if self.per_organization < 1 {
            return Err(InvalidData::OutOfRange(
                "per_organization must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

/// What a worker did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs completed.
    pub completed: u64,
    /// Attempts failed (retried or dead).
    pub failed: u64,
    /// Jobs whose lease was lost before completion (rescued or cancelled): nothing written.
    pub lost: u64,
    /// Jobs refused at claim (their creator may no longer run them).
    pub refused: u64,
    /// Jobs of other workers this one rescued.
    pub rescued: u64,
    /// Jobs given back to the queue at shutdown.
    pub released: u64,
}

#[derive(Default)]
struct Counters {
    completed: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
    rescued: AtomicU64,
    released: AtomicU64,
}

impl Counters {
    fn report(&self) -> WorkerReport {
        WorkerReport {
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            rescued: self.rescued.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
        }
    }
}

/// A job runtime on tokio for the handlers registered with [`Worker::handle`] and
/// [`Worker::handle_write_free`].
pub struct Worker {
    url: DatabaseUrl,
    config: WorkerConfig,
    handlers: HashMap<String, Arc<dyn Handler>>,
    write_free: HashMap<String, Arc<dyn WriteFreeHandler>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("url", &self.url.target())
            .field("config", &self.config)
            .field("agents", &self.handlers.keys().collect::<Vec<_>>())
            .field(
                "write_free_agents",
                &self.write_free.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The most jobs one claim of a worker takes (a claim takes at most its free slots).
const CLAIM_BATCH: usize = 1000;

/// The shared state of a running worker.
struct Shared {
    config: WorkerConfig,
    in_flight: Mutex<HashMap<AgentJobId, Lease>>,
    completions: Mutex<Vec<queue::Completion>>,
    failures: Mutex<Vec<(Lease, String)>>,
    /// Per kind of handler: a job arrived or finished, claim again.
    wakes: [Notify; 2],
    /// Set at shutdown; a watch, so a claimer busy claiming when it is set still sees it.
    stop: watch::Sender<bool>,
    jobs: Mutex<JoinSet<()>>,
    counters: Counters,
}

impl Worker {
    /// A worker on `url`: the system connection (the owner, on the direct URL, so
    /// notifications arrive), since claims and rescues cross organizations.
    pub fn new(url: DatabaseUrl, config: WorkerConfig) -> Self {
        Self {
            url,
            config,
            handlers: HashMap::new(),
            write_free: HashMap::new(),
        }
    }

    /// Registers the handler for jobs of `agent` (an agent slug).
    pub fn handle(mut self, agent: &str, handler: impl Handler) -> Self {
        self.write_free.remove(agent);
        self.handlers.insert(agent.to_owned(), Arc::new(handler));
        self
    }

    /// Registers a write-free handler for jobs of `agent`: batched completions, no
    /// connection per job.
    pub fn handle_write_free(mut self, agent: &str, handler: impl WriteFreeHandler) -> Self {
        self.handlers.remove(agent);
        self.write_free.insert(agent.to_owned(), Arc::new(handler));
        self
    }

    /// Runs until `shutdown` resolves; then stops claiming, lets running jobs finish
    /// within the shutdown deadline and gives the rest back to the queue (without
    /// counting an attempt). Errors only when it cannot start (bad config, no database).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<WorkerReport, AgentError> {
        self.config.check()?;
        let options = ConnectOptions {
            application_name: format!("neonhub-worker {}", self.config.name),
            statement_timeout: Duration::ZERO,
            ..ConnectOptions::default()
        };
        let connect = async || -> Result<AsyncPgConnection, AgentError> {
            Ok(self.url.connect_with(&options).await?)
        };
        let beat = connect().await?;
        let flush = connect().await?;
        let mut control = connect().await?;
        let (pool_tx, pool_rx) = mpsc::unbounded_channel();
        if !self.handlers.is_empty() {
            for _ in 0..self.config.concurrency {
                pool_tx.send(connect().await?).ok();
            }
        }
        let shared = Arc::new(Shared {
            config: self.config.clone(),
            in_flight: Mutex::new(HashMap::new()),
            completions: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            wakes: [Notify::new(), Notify::new()],
            stop: watch::Sender::new(false),
            jobs: Mutex::new(JoinSet::new()),
            counters: Counters::default(),
        });
        let run = Arc::new(Running {
            handlers: self.handlers,
            write_free: self.write_free,
            pool_tx,
            pool_rx: Mutex::new(pool_rx),
            url: self.url.clone(),
            options: options.clone(),
        });

        // Wake-ups: a notification at every enqueue's commit; polling covers a lost one.
        let listener = {
            let shared = shared.clone();
            let url = self.url.clone();
            let options = options.clone();
            tokio::spawn(async move {
                if let Ok(mut listener) = url.listen("nh_agent_jobs", &options).await {
                    while listener.recv().await.is_some() {
                        shared.wakes.iter().for_each(Notify::notify_one);
                    }
                }
            })
        };
        let mut beat = beat;
        async_commit(&mut beat).await?;
        let keeper = tokio::spawn(keep_leases(shared.clone(), beat));
        let flusher = tokio::spawn(flush_batches(shared.clone(), flush));
        // Per kind of handler: a claimer keeps claimed jobs coming (in batches, on its own
        // connection, so a claim never holds up starting a job) and a dispatcher starts
        // them as slots free up.
        let mut claimers = JoinSet::new();
        let mut dispatchers = JoinSet::new();
        for kind in [Kind::Transactional, Kind::WriteFree] {
            let (agents, size) = match kind {
                Kind::Transactional => (
                    run.handlers.keys().cloned().collect::<Vec<_>>(),
                    shared.config.concurrency,
                ),
                Kind::WriteFree => (
                    run.write_free.keys().cloned().collect(),
                    shared.config.write_free_concurrency,
                ),
            };
            if agents.is_empty() {
                continue;
            }
            let mut conn = match kind {
                Kind::Transactional | Kind::WriteFree => connect().await?,
            };
            async_commit(&mut conn).await?;
            // Claimed and not finished: the running jobs and up to `prefetch` waiting.
            let capacity = Arc::new(Semaphore::new(size + shared.config.prefetch));
            let (sender, receiver) = mpsc::unbounded_channel();
            claimers.spawn(claim_loop(
                shared.clone(),
                run.clone(),
                ClaimLane {
                    kind,
                    agents,
                    total: size + shared.config.prefetch,
                    capacity: capacity.clone(),
                    sender,
                },
                conn,
            ));
            dispatchers.spawn(dispatch_loop(
                shared.clone(),
                run.clone(),
                kind,
                Arc::new(Semaphore::new(size)),
                capacity,
                receiver,
            ));
        }

        shutdown.await;

        // Shutdown: no more claims; running jobs get the deadline, then go back.
        shared.stop.send_replace(true);
        while claimers.join_next().await.is_some() {}
        dispatchers.abort_all();
        while dispatchers.join_next().await.is_some() {}
        let mut jobs = std::mem::take(&mut *shared.jobs.lock().await);
        let deadline = tokio::time::sleep(shared.config.shutdown_deadline);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = jobs.join_next() => if next.is_none() { break },
                () = &mut deadline => break,
            }
        }
        jobs.abort_all();
        while jobs.join_next().await.is_some() {}
        flusher.abort();
        let _ = flusher.await;
        // What the flusher had not committed yet, then the rest goes back to the queue.
        flush_once(&shared, &mut control).await;
        let unfinished: Vec<Lease> = shared
            .in_flight
            .lock()
            .await
            .drain()
            .map(|(_, lease)| lease)
            .collect();
        if !unfinished.is_empty()
            && let Ok(lost) = queue::release(&mut control, &unfinished).await
        {
            shared
                .counters
                .released
                .fetch_add((unfinished.len() - lost.len()) as u64, Ordering::Relaxed);
        }
        keeper.abort();
        listener.abort();
        Ok(shared.counters.report())
    }
}

/// Which kind of handler a lane runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Transactional = 0,
    WriteFree = 1,
}

/// What the job tasks need of the worker.
struct Running {
    handlers: HashMap<String, Arc<dyn Handler>>,
    write_free: HashMap<String, Arc<dyn WriteFreeHandler>>,
    pool_tx: mpsc::UnboundedSender<AsyncPgConnection>,
    pool_rx: Mutex<mpsc::UnboundedReceiver<AsyncPgConnection>>,
    url: DatabaseUrl,
    options: ConnectOptions,
}

/// How many claimed-job places must be free before a claimer claims again: half the
/// prefetch (at least one), so one claim serves many jobs.
fn claim_threshold(config: &WorkerConfig) -> usize {
    config.prefetch.div_ceil(2).max(1)
}

/// What one claimer claims for.
struct ClaimLane {
    kind: Kind,
    agents: Vec<String>,
    /// Running plus waiting jobs at most.
    total: usize,
    capacity: Arc<Semaphore>,
    sender: mpsc::UnboundedSender<ClaimedJob>,
}

/// Claims jobs of `agents` whenever half of the prefetch is free (or nothing is claimed),
/// and hands them to the dispatcher; waits for a wake-up (a notification, a finished job)
/// or the poll interval when there is nothing to claim.
async fn claim_loop(
    shared: Arc<Shared>,
    run: Arc<Running>,
    lane: ClaimLane,
    mut conn: AsyncPgConnection,
) {
    let ClaimLane {
        kind,
        agents,
        total,
        capacity,
        sender,
    } = lane;
    let wake = &shared.wakes[kind as usize];
    let mut stop = shared.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let free = capacity.available_permits();
        let idle = free == total;
        let mut full_claim = false;
        if free > 0 && (free >= claim_threshold(&shared.config) || idle) {
            let limit = free.min(CLAIM_BATCH);
            let options = ClaimOptions {
                worker: &shared.config.name,
                agents: &agents,
                limit: limit as i64,
                per_organization: shared.config.per_organization,
                lease: shared.config.lease,
            };
            match queue::claim(&mut conn, &options).await {
                Ok(claim) => {
                    shared
                        .counters
                        .refused
                        .fetch_add(claim.refused.len() as u64, Ordering::Relaxed);
                    full_claim = claim.jobs.len() == limit;
                    let mut in_flight = shared.in_flight.lock().await;
                    for claimed in claim.jobs {
                        if let Ok(permit) = capacity.try_acquire() {
                            // Given back by the job's task when it finishes.
                            permit.forget();
                        }
                        in_flight.insert(claimed.lease.job.clone(), claimed.lease.clone());
                        let _ = sender.send(claimed);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying after the poll interval");
                    if is_broken(&mut conn).await
                        && let Ok(fresh) = run.url.connect_with(&run.options).await
                    {
                        conn = fresh;
                        let _ = async_commit(&mut conn).await;
                    }
                }
            }
        }
        if full_claim {
            continue;
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(shared.config.poll_interval) => {}
        }
    }
}

/// Starts claimed jobs as the lane's slots free up.
async fn dispatch_loop(
    shared: Arc<Shared>,
    run: Arc<Running>,
    kind: Kind,
    slots: Arc<Semaphore>,
    capacity: Arc<Semaphore>,
    mut receiver: mpsc::UnboundedReceiver<ClaimedJob>,
) {
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(claimed) = receiver.recv().await else {
            return;
        };
        if *shared.stop.borrow() {
            // Left in flight: released at shutdown.
            return;
        }
        let (shared_, run, capacity) = (shared.clone(), run.clone(), capacity.clone());
        let task = async move {
            let shared = shared_;
            match kind {
                Kind::Transactional => {
                    if let Some(handler) = run.handlers.get(&claimed.job.agent).cloned() {
                        let conn = run.pool_rx.lock().await.recv().await;
                        if let Some(conn) = conn {
                            let conn =
                                execute(&shared, &*handler, claimed, conn, &run.url, &run.options)
                                    .await;
                            run.pool_tx.send(conn).ok();
                        }
                    }
                }
                Kind::WriteFree => {
                    if let Some(handler) = run.write_free.get(&claimed.job.agent).cloned() {
                        let ClaimedJob { job, lease, scope } = claimed;
                        match guarded(handler.run(&job, &scope)).await {
                            Ok(output) => shared
                                .completions
                                .lock()
                                .await
                                .push(queue::Completion { lease, output }),
                            Err(message) => shared.failures.lock().await.push((lease, message)),
                        }
                    }
                }
            }
            drop(permit);
            capacity.add_permits(1);
            // Wake the claimer only once it has something to do (half the prefetch free):
            // a wake-up per job costs the worker more CPU than the job's own statements.
            if capacity.available_permits() >= claim_threshold(&shared.config) {
                shared.wakes[kind as usize].notify_one();
            }
        };
        let mut jobs = shared.jobs.lock().await;
        while jobs.try_join_next().is_some() {}
        jobs.spawn(task);
    }
}

/// Runs a handler's future, turning a panic into the attempt's error (so a panicking
/// handler fails its job, retried like any failure, and the worker keeps its slot and
/// connection).
async fn guarded(run: HandlerFuture<'_>) -> HandlerResult {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the handler panicked: {message}"))
        }
    }
}

/// Claims, refusals, heartbeats and rescues need not wait for their WAL to reach disk: if
/// the server crashes before they are durable, the job is simply queued (or leased) as
/// before and claimed again; and a completion, which is synchronous, flushes the WAL of
/// the claim before it. This spares a disk flush per claim (the workers' connections are
/// their own, on the direct URL, so the session setting stays with them).
async fn async_commit(conn: &mut AsyncPgConnection) -> Result<(), AgentError> {
    use diesel_async::SimpleAsyncConnection;
    conn.batch_execute("SET synchronous_commit = off")
        .await
        .map_err(AgentError::from)
}

async fn is_broken(conn: &mut AsyncPgConnection) -> bool {
    use diesel_async::SimpleAsyncConnection;
    conn.batch_execute("SELECT 1").await.is_err()
}

/// Runs one claimed job on `conn`, completing it in the handler's transaction, and records
/// the outcome; returns the connection (a fresh one if it broke).
async fn execute(
    shared: &Shared,
    handler: &dyn Handler,
    claimed: ClaimedJob,
    mut conn: AsyncPgConnection,
    url: &DatabaseUrl,
    options: &ConnectOptions,
) -> AsyncPgConnection {
    let ClaimedJob { job, lease, scope } = claimed;
    let result = conn
        .transaction::<_, TxError, _>(async |tx| {
            let output = guarded(handler.run(&job, &scope, tx))
                .await
                .map_err(TxError::Handler)?;
            queue::complete(tx, &lease, output.as_ref())
                .await
                .map_err(TxError::Queue)
        })
        .await;
    let mut suspect = false;
    match result {
        Ok(()) => {
            shared.counters.completed.fetch_add(1, Ordering::Relaxed);
        }
        Err(TxError::Queue(AgentError::LeaseLost { .. })) => {
            shared.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
        Err(TxError::Handler(message)) => {
            let counter = match queue::fail(&mut conn, &lease, &message).await {
                Ok(_) => &shared.counters.failed,
                Err(_) => &shared.counters.lost,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Err(TxError::Queue(e)) => {
            broken(&lease, &e.to_string());
            suspect = true;
        }
        Err(TxError::Database(e)) => {
            broken(&lease, &e.to_string());
            suspect = true;
        }
    }
    shared.in_flight.lock().await.remove(&lease.job);
    // Only after a database error is the connection checked (and replaced if broken).
    if suspect
        && is_broken(&mut conn).await
        && let Ok(fresh) = url.connect_with(options).await
    {
        return fresh;
    }
    conn
}

fn broken(lease: &Lease, error: &str) {
    tracing::warn!(job = %lease.job, error, "completing the job failed; its lease will expire and it will be rescued");
}

/// The completion transaction's failures, kept apart so a handler's error is not taken
/// for a database one.
enum TxError {
    Handler(String),
    Queue(AgentError),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e)
    }
}

/// Heartbeats the in-flight leases every third of the lease and rescues expired ones
/// every half.
async fn keep_leases(shared: Arc<Shared>, mut conn: AsyncPgConnection) {
    let lease = shared.config.lease;
    let mut beat = tokio::time::interval(lease / 3);
    let mut rescue = tokio::time::interval(lease / 2);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let leases: Vec<Lease> = shared.in_flight.lock().await.values().cloned().collect();
                if leases.is_empty() {
                    continue;
                }
                if let Err(e) = queue::heartbeat(&mut conn, &leases, lease).await {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
            }
            _ = rescue.tick() => match queue::rescue(&mut conn).await {
                Ok(rescued) => {
                    shared.counters.rescued.fetch_add(rescued.len() as u64, Ordering::Relaxed);
                    if !rescued.is_empty() {
                        shared.wakes.iter().for_each(Notify::notify_one);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rescue failed"),
            },
        }
    }
}

/// Commits the write-free handlers' completions (many per statement) and failures.
async fn flush_batches(shared: Arc<Shared>, mut conn: AsyncPgConnection) {
    let mut tick = tokio::time::interval(shared.config.flush_interval);
    loop {
        tick.tick().await;
        flush_once(&shared, &mut conn).await;
    }
}

async fn flush_once(shared: &Shared, conn: &mut AsyncPgConnection) {
    let batch: Vec<queue::Completion> = std::mem::take(&mut *shared.completions.lock().await);
    if !batch.is_empty() {
        match queue::complete_many(conn, &batch).await {
            Ok(lost) => {
                shared
                    .counters
                    .completed
                    .fetch_add((batch.len() - lost.len()) as u64, Ordering::Relaxed);
                shared
                    .counters
                    .lost
                    .fetch_add(lost.len() as u64, Ordering::Relaxed);
                let mut in_flight = shared.in_flight.lock().await;
                for completion in &batch {
                    in_flight.remove(&completion.lease.job);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "batched completion failed; retrying");
                shared.completions.lock().await.extend(batch);
            }
        }
    }
    let failures: Vec<(Lease, String)> = std::mem::take(&mut *shared.failures.lock().await);
    for (lease, message) in failures {
        let counter = match queue::fail(conn, &lease, &message).await {
            Ok(_) => &shared.counters.failed,
            Err(_) => &shared.counters.lost,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        shared.in_flight.lock().await.remove(&lease.job);
    }
}
