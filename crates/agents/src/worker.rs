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
use tokio::sync::{Mutex, Notify, Semaphore, mpsc};

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

    /// A write-free handler (one whose `run` writes nothing through `tx`) may say so: its
    /// completions are then committed in batches, many jobs per statement, and `run` gets a
    /// connection that is not in a transaction.
    fn write_free(&self) -> bool {
        false
    }
}

/// How a [`Worker`] runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's name, stored as the lease owner (unique per process is best).
    pub name: String,
    /// How many jobs run at once (1 to 1,000); also the connections it opens for them.
    pub concurrency: usize,
    /// The lease a claim takes and a heartbeat renews (heartbeats every third of it,
    /// rescues every half: a dead worker's job is back within twice the lease).
    pub lease: Duration,
    /// How often an idle worker looks for jobs when no notification wakes it.
    pub poll_interval: Duration,
    /// At most this many jobs of one organization per claim.
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
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            per_organization: 4,
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
        queue::check_lease(self.lease)?;
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

/// A job runtime on tokio for the handlers registered with [`Worker::handle`].
pub struct Worker {
    url: DatabaseUrl,
    config: WorkerConfig,
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("url", &self.url.target())
            .field("config", &self.config)
            .field("agents", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The shared state of a running worker.
struct Shared {
    config: WorkerConfig,
    handlers: HashMap<String, Arc<dyn Handler>>,
    in_flight: Mutex<HashMap<AgentJobId, Lease>>,
    batched: Mutex<Vec<Lease>>,
    slots: Arc<Semaphore>,
    wake: Notify,
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
        }
    }

    /// Registers the handler for jobs of `agent` (an agent slug).
    pub fn handle(mut self, agent: &str, handler: impl Handler) -> Self {
        self.handlers.insert(agent.to_owned(), Arc::new(handler));
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
        let mut control = connect().await?;
        let beat = connect().await?;
        let (pool_tx, pool_rx) = mpsc::unbounded_channel();
        for _ in 0..self.config.concurrency {
            pool_tx.send(connect().await?).ok();
        }
        let flush = connect().await?;
        let pool_rx = Arc::new(Mutex::new(pool_rx));
        let agents: Vec<String> = self.handlers.keys().cloned().collect();
        let shared = Arc::new(Shared {
            slots: Arc::new(Semaphore::new(self.config.concurrency)),
            config: self.config,
            handlers: self.handlers,
            in_flight: Mutex::new(HashMap::new()),
            batched: Mutex::new(Vec::new()),
            wake: Notify::new(),
            counters: Counters::default(),
        });

        // Wake-ups: a notification at every enqueue's commit; polling covers a lost one.
        let listener = {
            let shared = shared.clone();
            let url = self.url.clone();
            let options = options.clone();
            tokio::spawn(async move {
                if let Ok(mut listener) = url.listen("nh_agent_jobs", &options).await {
                    while listener.recv().await.is_some() {
                        shared.wake.notify_one();
                    }
                }
            })
        };
        let keeper = tokio::spawn(keep_leases(shared.clone(), beat));
        let flusher = tokio::spawn(flush_batches(shared.clone(), flush));
        let mut tasks = tokio::task::JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // Claim while there are free slots and jobs to take.
            loop {
                let free = shared.slots.available_permits();
                if free == 0 {
                    break;
                }
                let claim_options = ClaimOptions {
                    worker: &shared.config.name,
                    agents: &agents,
                    limit: free as i64,
                    per_organization: shared.config.per_organization,
                    lease: shared.config.lease,
                };
                let claim = match queue::claim(&mut control, &claim_options).await {
                    Ok(claim) => claim,
                    Err(e) => {
                        tracing::warn!(error = %e, "claim failed; retrying after the poll interval");
                        if control_is_broken(&mut control).await
                            && let Ok(fresh) = connect().await
                        {
                            control = fresh;
                        }
                        break;
                    }
                };
                shared
                    .counters
                    .refused
                    .fetch_add(claim.refused.len() as u64, Ordering::Relaxed);
                let taken = claim.jobs.len();
                for claimed in claim.jobs {
                    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
                        // Cannot happen (we claimed at most the free slots); give it back.
                        let _ = queue::release(&mut control, std::slice::from_ref(&claimed.lease))
                            .await;
                        continue;
                    };
                    shared
                        .in_flight
                        .lock()
                        .await
                        .insert(claimed.lease.job.clone(), claimed.lease.clone());
                    let shared = shared.clone();
                    let pool_rx = pool_rx.clone();
                    let pool_tx = pool_tx.clone();
                    let url = self.url.clone();
                    let options = options.clone();
                    tasks.spawn(async move {
                        let conn = pool_rx.lock().await.recv().await;
                        let Some(conn) = conn else { return };
                        let conn = execute(&shared, claimed, conn, &url, &options).await;
                        pool_tx.send(conn).ok();
                        drop(permit);
                        shared.wake.notify_one();
                    });
                }
                while tasks.try_join_next().is_some() {}
                if (taken as i64) < claim_options.limit {
                    break;
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(shared.config.poll_interval) => {}
            }
        }

        // Shutdown: no more claims; running jobs get the deadline, then go back.
        let deadline = tokio::time::sleep(shared.config.shutdown_deadline);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                () = &mut deadline => break,
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        flusher.abort();
        let _ = flusher.await;
        let leftover: Vec<Lease> = shared
            .in_flight
            .lock()
            .await
            .drain()
            .map(|(_, l)| l)
            .collect();
        let batched: Vec<Lease> = std::mem::take(&mut *shared.batched.lock().await);
        if !batched.is_empty() {
            let _ = queue::complete_many(&mut control, &batched).await;
        }
        let unfinished: Vec<Lease> = leftover
            .into_iter()
            .filter(|l| !batched.iter().any(|b| b.job == l.job))
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

async fn control_is_broken(conn: &mut AsyncPgConnection) -> bool {
    use diesel_async::SimpleAsyncConnection;
    conn.batch_execute("SELECT 1").await.is_err()
}

/// Runs one claimed job on `conn` and records its outcome; returns the connection (a
/// fresh one if it broke).
async fn execute(
    shared: &Shared,
    claimed: ClaimedJob,
    mut conn: AsyncPgConnection,
    url: &DatabaseUrl,
    options: &ConnectOptions,
) -> AsyncPgConnection {
    let ClaimedJob { job, lease, scope } = claimed;
    let Some(handler) = shared.handlers.get(&job.agent).cloned() else {
        return conn;
    };
    enum Outcome {
        Done,
        Batched,
        Failed(String),
        Lost,
        Broken(AgentError),
    }
    let outcome = if handler.write_free() {
        match handler.run(&job, &scope, &mut conn).await {
            Ok(_) => Outcome::Batched,
            Err(message) => Outcome::Failed(message),
        }
    } else {
        let result = conn
            .transaction::<_, TxError, _>(async |tx| {
                let output = handler
                    .run(&job, &scope, tx)
                    .await
                    .map_err(TxError::Handler)?;
                queue::complete(tx, &lease, output.as_ref())
                    .await
                    .map_err(TxError::Queue)
            })
            .await;
        match result {
            Ok(()) => Outcome::Done,
            Err(TxError::Handler(message)) => Outcome::Failed(message),
            Err(TxError::Queue(AgentError::LeaseLost { .. })) => Outcome::Lost,
            Err(TxError::Queue(e)) => Outcome::Broken(e),
            Err(TxError::Database(e)) => Outcome::Broken(e.into()),
        }
    };
    match outcome {
        Outcome::Done => {
            shared.counters.completed.fetch_add(1, Ordering::Relaxed);
            shared.in_flight.lock().await.remove(&lease.job);
        }
        Outcome::Batched => shared.batched.lock().await.push(lease),
        Outcome::Lost => {
            shared.counters.lost.fetch_add(1, Ordering::Relaxed);
            shared.in_flight.lock().await.remove(&lease.job);
        }
        Outcome::Failed(message) => {
            match queue::fail(&mut conn, &lease, &message).await {
                Ok(_) => shared.counters.failed.fetch_add(1, Ordering::Relaxed),
                Err(_) => shared.counters.lost.fetch_add(1, Ordering::Relaxed),
            };
            shared.in_flight.lock().await.remove(&lease.job);
        }
        Outcome::Broken(e) => {
            tracing::warn!(job = %lease.job, error = %e, "completing the job failed; the lease will expire and the job be rescued");
            shared.in_flight.lock().await.remove(&lease.job);
            if control_is_broken(&mut conn).await
                && let Ok(fresh) = url.connect_with(options).await
            {
                return fresh;
            }
        }
    }
    conn
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
                        shared.wake.notify_one();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "rescue failed"),
            },
        }
    }
}

/// Commits the batched completions of write-free handlers, many per statement.
async fn flush_batches(shared: Arc<Shared>, mut conn: AsyncPgConnection) {
    let mut tick = tokio::time::interval(shared.config.flush_interval);
    loop {
        tick.tick().await;
        let batch: Vec<Lease> = std::mem::take(&mut *shared.batched.lock().await);
        if batch.is_empty() {
            continue;
        }
        match queue::complete_many(&mut conn, &batch).await {
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
                for lease in &batch {
                    in_flight.remove(&lease.job);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "batched completion failed; retrying");
                shared.batched.lock().await.extend(batch);
            }
        }
    }
}
