//! Read replicas with read-your-writes by WAL position.
//!
//! A [`Database`](crate::Database) with replicas (`DATABASE_REPLICA_URLS`, or
//! [`Database::with_replica`](crate::Database::with_replica)) routes each read by what it
//! needs ([`ReadAfter`]): a read that tolerates staleness goes to a replica whose lag is
//! within [`ReplicaConfig::max_lag`]; a read that must see a write goes to a replica only
//! once that replica has replayed the write's commit position ([`Lsn`]), otherwise to the
//! primary, or, if the caller allows, after waiting a bounded time for a replica to catch
//! up. Replicas that lag too far, are unreachable, or are not standbys are skipped; an
//! unreachable one is left alone for [`ReplicaConfig::retry_after`] so reads do not pay its
//! timeout again and again.
//!
//! ```no_run
//! # async fn run(db: neonhub_schema::Database) -> Result<(), Box<dyn std::error::Error>> {
//! use neonhub_schema::replica::{ReadAfter, WriteMark, mark_write};
//!
//! let mark = WriteMark::new(); // one per request, session or scope: the caller chooses
//! let mut conn = db.get().await?; // writes go to the primary
//! // ... a repository call that writes ...
//! mark_write(&mut conn, &mark).await?; // remember where that commit ended
//! let mut read = db.read(ReadAfter::mark(&mark)).await?; // a replica that has it, or the primary
//! // ... repository reads on `&mut read` see the write ...
//! println!("served by {:?}", read.served_by());
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Double, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::connection::DatabaseUrl;
use crate::pool::{PgPool, PoolConfig, PoolError, PooledConnection, build_pool};

/// Comma-separated replica URLs, read by [`Database::from_env`](crate::Database::from_env).
pub const REPLICA_URLS_ENV: &str = "DATABASE_REPLICA_URLS";
/// Milliseconds a replica may lag before reads skip it ([`ReplicaConfig::max_lag`]).
pub const REPLICA_MAX_LAG_MS_ENV: &str = "NEONHUB_REPLICA_MAX_LAG_MS";

/// A position in the primary's write-ahead log (PostgreSQL's `pg_lsn`, printed `16/B374D848`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's text form (`hi/lo`, both hexadecimal); `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (hi, lo) = text.trim().split_once('/')?;
        let (hi, lo) = (
            u32::from_str_radix(hi, 16).ok()?,
            u32::from_str_radix(lo, 16).ok()?,
        );
        Some(Self((u64::from(hi) << 32) | u64::from(lo)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

/// The newest commit position a caller has written: keep one per request, per user
/// session or per scope, and read through [`ReadAfter::mark`] to see those writes. Clones
/// share the position; it only moves forward.
#[derive(Clone, Debug, Default)]
pub struct WriteMark(Arc<AtomicU64>);

impl WriteMark {
    /// A mark with no write yet (reads through it may go to any replica within the lag bound).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a write that ended at `lsn` (an older position than the one held is ignored).
    pub fn observe(&self, lsn: Lsn) {
        self.0.fetch_max(lsn.0, Ordering::AcqRel);
    }

    /// The newest position recorded, if any.
    pub fn get(&self) -> Option<Lsn> {
        Some(AtomicU64::load(&self.0, Ordering::Acquire))
            .filter(|&n| n > 0)
            .map(Lsn)
    }
}

/// The primary's WAL insert position, read after a write committed: at or past that
/// commit's end even under `synchronous_commit = off` (the write position could still be
/// behind it), so a replica that has replayed it has the write. Run it on the primary (a
/// standby refuses it) on any connection, pooled or not; any role may.
pub async fn commit_position(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Lsn> {
    #[derive(QueryableByName)]
    struct Position {
        #[diesel(sql_type = Text)]
        lsn: String,
    }
    let row: Position = diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS lsn")
        .get_result(conn)
        .await?;
    Lsn::parse(&row.lsn).ok_or_else(|| {
        diesel::result::Error::DeserializationError(
            format!("pg_current_wal_insert_lsn() returned {:?}", row.lsn).into(),
        )
    })
}

/// [`commit_position`], recorded in `mark`; returns the position.
pub async fn mark_write(
    conn: &mut AsyncPgConnection,
    mark: &WriteMark,
) -> diesel::QueryResult<Lsn> {
    let lsn = commit_position(conn).await?;
    mark.observe(lsn);
    Ok(lsn)
}

/// What a read needs to see, for [`Database::read`](crate::Database::read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAfter {
    /// A replica serves only once it has replayed this position (`None`: any replica
    /// within the lag bound).
    pub lsn: Option<Lsn>,
    /// How long to wait for a replica to reach `lsn` before the primary serves instead.
    pub wait: Duration,
}

impl ReadAfter {
    /// A read that tolerates staleness up to [`ReplicaConfig::max_lag`].
    pub fn stale() -> Self {
        Self::default()
    }

    /// A read that must see everything committed up to `lsn`.
    pub fn lsn(lsn: Lsn) -> Self {
        Self {
            lsn: Some(lsn),
            wait: Duration::ZERO,
        }
    }

    /// A read that must see the writes recorded in `mark` (stale-tolerant if it has none).
    pub fn mark(mark: &WriteMark) -> Self {
        Self {
            lsn: mark.get(),
            wait: Duration::ZERO,
        }
    }

    /// The same read, willing to wait up to `wait` for a replica before using the primary.
    pub fn waiting(self, wait: Duration) -> Self {
        Self { wait, ..self }
    }
}

/// How replicas are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// A replica whose last replayed transaction is older than this, while it has more WAL
    /// to apply, is skipped (default 5 s).
    pub max_lag: Duration,
    /// How long a checkout and the replica's status query may take before the replica
    /// counts as unreachable (default 500 ms).
    pub check_timeout: Duration,
    /// How long an unreachable replica is left alone before it is tried again (default 5 s).
    pub retry_after: Duration,
    /// How often a read that waits for a replica looks again (default 20 ms).
    pub poll: Duration,
    /// How long a replica's answered status is reused instead of asking again (default
    /// 100 ms; zero asks on every read). It saves the status round trip on busy services;
    /// a cached answer is used for a position only if it already covers it, so it can
    /// never make a read miss a write, only judge lag up to this much later.
    pub status_ttl: Duration,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(5),
            check_timeout: Duration::from_millis(500),
            retry_after: Duration::from_secs(5),
            poll: Duration::from_millis(20),
            status_ttl: Duration::from_millis(100),
        }
    }
}

/// Who served a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServedBy {
    /// The primary: no replicas, none reachable, none caught up, or none within the lag bound.
    Primary,
    /// The replica at this position of the configured list (0-based).
    Replica(usize),
}

/// A connection chosen for a read ([`Database::read`](crate::Database::read)); derefs to
/// the `AsyncPgConnection` repository functions take.
pub struct ReadConnection<'a> {
    conn: PooledConnection<'a>,
    served_by: ServedBy,
}

impl ReadConnection<'_> {
    /// Who serves this read.
    pub fn served_by(&self) -> &ServedBy {
        &self.served_by
    }
}

impl std::ops::Deref for ReadConnection<'_> {
    type Target = AsyncPgConnection;
    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for ReadConnection<'_> {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// A replica's state as it reports it ([`replica_status`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaStatus {
    /// Whether the server is a standby (`pg_is_in_recovery()`); one that is not is skipped.
    pub standby: bool,
    /// The last WAL position it replayed (`pg_last_wal_replay_lsn()`).
    pub replayed: Option<Lsn>,
    /// Time since its last replayed transaction while it has received WAL still to apply;
    /// zero when it has applied all it received; `None` when it has WAL to apply but has
    /// replayed no transaction since it started (unknown: reads skip it).
    pub lag: Option<Duration>,
}

/// Reads a replica's [`ReplicaStatus`] in one round trip (any role may run it).
///
/// The lag is measured on the replica: a standby whose WAL stream stopped (its primary
/// unreachable) has applied all it received and reports no lag. Reads that must see a
/// write are safe regardless (they compare positions); `neonhub verify` shows each
/// replica's position beside the primary's.
pub async fn replica_status(conn: &mut AsyncPgConnection) -> diesel::QueryResult<ReplicaStatus> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        standby: bool,
        #[diesel(sql_type = Nullable<Text>)]
        replayed: Option<String>,
        #[diesel(sql_type = Nullable<Double>)]
        lag_s: Option<f64>,
    }
    let row: Row = diesel::sql_query(
        "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed,
                CASE WHEN pg_last_wal_receive_lsn() IS NULL
                          OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
                     ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
                END::float8 AS lag_s",
    )
    .get_result(conn)
    .await?;
    Ok(ReplicaStatus {
        standby: row.standby,
        replayed: row.replayed.as_deref().and_then(Lsn::parse),
        lag: row.lag_s.map(|s| Duration::from_secs_f64(s.max(0.0))),
    })
}

/// One configured replica: its pool, and until when it is left alone after a failure.
pub(crate) struct Replica {
    pool: PgPool,
    down_until: Mutex<Option<Instant>>,
    /// The last status read and when: reused for [`ReplicaConfig::status_ttl`].
    last: Mutex<Option<(Instant, ReplicaStatus)>>,
}

impl Replica {
    pub(crate) fn new(url: &DatabaseUrl, config: &PoolConfig) -> Self {
        Self {
            pool: build_pool(url, config),
            down_until: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    /// The last status if it is younger than `ttl` and, when a position is needed, already
    /// covers it (a replica's replay position only moves forward, so an old answer that
    /// covers it stays true; one that does not must be asked again).
    fn cached(&self, ttl: Duration, needed: Option<Lsn>) -> Option<ReplicaStatus> {
        let last = self.last.lock().ok()?;
        let (at, status) = last.as_ref()?;
        let covers = match needed {
            None => true,
            Some(n) => status.replayed.is_some_and(|r| r >= n),
        };
        (at.elapsed() < ttl && covers).then(|| status.clone())
    }

    fn remember(&self, status: &ReplicaStatus) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), status.clone()));
        }
    }

    fn is_resting(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .map(|d| d.is_some_and(|until| until > now))
            .unwrap_or(false)
    }

    fn rest(&self, config: &ReplicaConfig) {
        if let Ok(mut d) = self.down_until.lock() {
            *d = Some(Instant::now() + config.retry_after);
        }
    }
}

/// Why a replica did not serve one attempt.
enum Skip {
    /// It may yet catch up: worth waiting for.
    Behind,
    /// Unreachable, lagging or not a standby: not worth waiting for in this read.
    Unfit,
}

/// The replicas of a [`Database`](crate::Database) and the rotation among them.
#[derive(Clone, Default)]
pub(crate) struct Replicas {
    pub(crate) list: Arc<Vec<Replica>>,
    pub(crate) config: ReplicaConfig,
    next: Arc<AtomicUsize>,
}

impl Replicas {
    pub(crate) fn new(list: Vec<Replica>, config: ReplicaConfig) -> Self {
        Self {
            list: Arc::new(list),
            config,
            next: Arc::default(),
        }
    }

    /// A replica connection fit for `after`, trying each replica once per round and
    /// waiting up to `after.wait` for one that is only behind; `None`: use the primary.
    pub(crate) async fn pick(&self, after: ReadAfter) -> Option<(PooledConnection<'_>, usize)> {
        if self.list.is_empty() {
            return None;
        }
        let deadline = Instant::now() + after.wait;
        loop {
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let mut behind = false;
            for k in 0..self.list.len() {
                let index = (start + k) % self.list.len();
                match self.try_one(index, after.lsn).await {
                    Ok(conn) => return Some((conn, index)),
                    Err(Skip::Behind) => behind = true,
                    Err(Skip::Unfit) => {}
                }
            }
            if !behind || Instant::now() + self.config.poll > deadline {
                return None;
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    async fn try_one(&self, index: usize, lsn: Option<Lsn>) -> Result<PooledConnection<'_>, Skip> {
        let replica = &self.list[index];
        if replica.is_resting(Instant::now()) {
            return Err(Skip::Unfit);
        }
        let cached = replica.cached(self.config.status_ttl, lsn);
        let checked = tokio::time::timeout(self.config.check_timeout, async {
            let mut conn = replica.pool.get().await.map_err(|_| ())?;
            let status = match cached {
                Some(status) => status,
                None => {
                    let status = replica_status(&mut conn).await.map_err(|_| ())?;
                    replica.remember(&status);
                    status
                }
            };
            Ok::<_, ()>((conn, status))
        })
        .await;
        let Ok(Ok((conn, status))) = checked else {
            tracing::warn!(
                replica = index,
                "replica unreachable: reads skip it for a while"
            );
            replica.rest(&self.config);
            return Err(Skip::Unfit);
        };
        if !status.standby || status.lag.is_none_or(|lag| lag > self.config.max_lag) {
            return Err(Skip::Unfit);
        }
        match (lsn, status.replayed) {
            (None, _) => Ok(conn),
            (Some(needed), Some(replayed)) if replayed >= needed => Ok(conn),
            _ => Err(Skip::Behind),
        }
    }
}

/// Routes a read: a fit replica, else the primary's `pool`.
pub(crate) async fn route<'a>(
    replicas: &'a Replicas,
    pool: &'a PgPool,
    after: ReadAfter,
) -> Result<ReadConnection<'a>, PoolError> {
    if let Some((conn, index)) = replicas.pick(after).await {
        return Ok(ReadConnection {
            conn,
            served_by: ServedBy::Replica(index),
        });
    }
    Ok(ReadConnection {
        conn: pool.get().await?,
        served_by: ServedBy::Primary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_text_round_trips_and_orders() {
        let a = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(a.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(a.to_string(), "16/B374D848");
        assert!(Lsn::parse("0/0").unwrap() < Lsn::parse("0/1").unwrap());
        assert!(Lsn::parse("0/FFFFFFFF").unwrap() < Lsn::parse("1/0").unwrap());
        for bad in ["", "16", "16/", "/1", "xyz/1", "1/2/3", "100000000/0"] {
            assert_eq!(Lsn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_write_mark_only_moves_forward_and_is_shared_by_clones() {
        let mark = WriteMark::new();
        assert_eq!(ReadAfter::mark(&mark), ReadAfter::stale());
        let clone = mark.clone();
        clone.observe(Lsn(10));
        mark.observe(Lsn(5));
        assert_eq!(mark.get(), Some(Lsn(10)));
        assert_eq!(ReadAfter::mark(&mark).lsn, Some(Lsn(10)));
        assert_eq!(
            ReadAfter::lsn(Lsn(3)).waiting(Duration::from_secs(1)).wait,
            Duration::from_secs(1)
        );
    }
}
