//! One-call setup for a service: the pool from the environment, a check that the schema is
//! current, and a readiness probe.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use neonhub_schema::Database;
//!
//! let db = Database::from_env()?;      // DATABASE_URL, DIRECT_DATABASE_URL, NEONHUB_POOL_*
//! db.require_current_schema().await?;  // refuses to serve with migrations pending, naming them
//! let health = db.health(std::time::Duration::from_secs(2)).await?;
//! println!("ready in {:?}", health.round_trip);
//! let mut conn = db.get().await?;      // a pooled AsyncPgConnection for repository calls
//! # let _ = &mut *conn;
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use crate::connection::{ConnectError, DatabaseUrl};
use crate::migrate::{self, MigrateError};
use crate::pool::{PgPool, PoolConfig, PoolError, PooledConnection, build_pool};
use crate::replica::{
    REPLICA_MAX_LAG_MS_ENV, REPLICA_URLS_ENV, ReadAfter, ReadConnection, Replica, ReplicaConfig,
    Replicas,
};
use crate::status::StatusHint;

/// The service's URL (the application role, usually through the pooler).
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";
/// The schema owner's direct URL (migrations, index builds, system work); optional.
pub const DIRECT_DATABASE_URL_ENV: &str = "DIRECT_DATABASE_URL";
/// Most pooled connections ([`PoolConfig::max_size`], default 10).
pub const POOL_MAX_SIZE_ENV: &str = "NEONHUB_POOL_MAX_SIZE";
/// Milliseconds a checkout waits for a connection ([`PoolConfig::connection_timeout`]).
pub const POOL_TIMEOUT_MS_ENV: &str = "NEONHUB_POOL_TIMEOUT_MS";
/// Seconds an idle connection is kept; 0 keeps it forever ([`PoolConfig::idle_timeout`]).
pub const POOL_IDLE_TIMEOUT_S_ENV: &str = "NEONHUB_POOL_IDLE_TIMEOUT_S";
/// Seconds a connection lives at most; 0 forever ([`PoolConfig::max_lifetime`]).
pub const POOL_MAX_LIFETIME_S_ENV: &str = "NEONHUB_POOL_MAX_LIFETIME_S";
/// Milliseconds of each session's `statement_timeout`; 0 disables it.
pub const STATEMENT_TIMEOUT_MS_ENV: &str = "NEONHUB_STATEMENT_TIMEOUT_MS";
/// The `application_name` sessions report (`pg_stat_activity`).
pub const APPLICATION_NAME_ENV: &str = "NEONHUB_APPLICATION_NAME";

/// Why [`Database::from_env`] could not set up. Never prints a URL (they carry passwords).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A required variable is not set (or is empty).
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A URL variable does not parse.
    #[error("{var}: {source}")]
    InvalidUrl {
        /// The variable.
        var: &'static str,
        /// Why (names the problem, not the password).
        source: ConnectError,
    },
    /// An entry of `DATABASE_REPLICA_URLS` does not parse.
    #[error("{REPLICA_URLS_ENV}: entry {position} (of the comma-separated list, from 1): {source}")]
    InvalidReplicaUrl {
        /// Which entry, counting from 1.
        position: usize,
        /// Why (names the problem, not the password).
        source: ConnectError,
    },
    /// A numeric setting does not parse or is out of range.
    #[error("{var}={value:?} is not {expected}")]
    InvalidSetting {
        /// The variable.
        var: &'static str,
        /// What it held.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
}

impl SetupError {
    /// [`StatusHint::Internal`]: the service's configuration is wrong.
    pub fn status_hint(&self) -> StatusHint {
        StatusHint::Internal
    }
}

/// Why the database is not ready ([`Database::health`], [`Database::require_current_schema`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    /// No answer within the probe's timeout.
    #[error("no answer from the database within {0:?}")]
    Timeout(Duration),
    /// No connection could be checked out of the pool.
    #[error("no database connection: {0}")]
    Pool(#[from] PoolError),
    /// The round trip or the migration query failed.
    #[error("the database check failed: {0}")]
    Check(#[from] MigrateError),
    /// Migrations this build knows are not applied (named, oldest first).
    #[error("the schema is not current: pending migrations {}", .0.join(", "))]
    PendingMigrations(Vec<String>),
}

impl HealthError {
    /// [`StatusHint::Unavailable`]: a readiness probe answers 503 for every one of these.
    pub fn status_hint(&self) -> StatusHint {
        StatusHint::Unavailable
    }
}

crate::impl_has_status_hint!(SetupError, HealthError);

/// A passing readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Checkout, the round trip and the migration query, together.
    pub round_trip: Duration,
    /// Applied migrations this build knows.
    pub applied: usize,
    /// Applied migrations this build does not know (a newer release migrated the
    /// database; additive, so this one still works): named, for the probe's output.
    pub newer: Vec<String>,
}

/// The database a service talks to: the application pool, the owner's direct URL, and
/// read replicas if any ([`Database::read`]). Cheap to clone (pools are shared).
#[derive(Clone)]
pub struct Database {
    pool: PgPool,
    url: DatabaseUrl,
    direct: Option<DatabaseUrl>,
    config: PoolConfig,
    replica_urls: Vec<DatabaseUrl>,
    replicas: Replicas,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url)
            .field("direct", &self.direct)
            .field("replicas", &self.replica_urls)
            .field("pool", &self.pool.state())
            .finish()
    }
}

impl Database {
    /// Reads `DATABASE_URL` (required), `DIRECT_DATABASE_URL`, `DATABASE_REPLICA_URLS`
    /// (comma-separated; each gets a pool with the same settings) and
    /// `NEONHUB_REPLICA_MAX_LAG_MS`, and the pool settings (`NEONHUB_POOL_MAX_SIZE`,
    /// `NEONHUB_POOL_TIMEOUT_MS`, `NEONHUB_POOL_IDLE_TIMEOUT_S`,
    /// `NEONHUB_POOL_MAX_LIFETIME_S`, `NEONHUB_STATEMENT_TIMEOUT_MS`,
    /// `NEONHUB_APPLICATION_NAME`; unset ones keep [`PoolConfig::default`]) and builds the
    /// pools. Connections open lazily: this does not touch the network, so an unreachable
    /// replica is no error here (reads skip it). Call it inside a tokio runtime (the pools'
    /// reapers are tasks).
    pub fn from_env() -> Result<Self, SetupError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Database::from_env`] reading variables through `var` (a map in tests, a secrets
    /// store in a service).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let url = get(DATABASE_URL_ENV).ok_or(SetupError::Missing(DATABASE_URL_ENV))?;
        let url = DatabaseUrl::parse(&url).map_err(|source| SetupError::InvalidUrl {
            var: DATABASE_URL_ENV,
            source,
        })?;
        let direct = get(DIRECT_DATABASE_URL_ENV)
            .map(|u| DatabaseUrl::parse(&u))
            .transpose()
            .map_err(|source| SetupError::InvalidUrl {
                var: DIRECT_DATABASE_URL_ENV,
                source,
            })?;
        let mut config = PoolConfig::default();
        let number =
            |name: &'static str, expected: &'static str| -> Result<Option<u64>, SetupError> {
                get(name)
                    .map(|v| {
                        v.trim()
                            .parse::<u64>()
                            .map_err(|_| SetupError::InvalidSetting {
                                var: name,
                                value: v.clone(),
                                expected,
                            })
                    })
                    .transpose()
            };
        if let Some(n) = number(POOL_MAX_SIZE_ENV, "a whole number from 1 to 10000")? {
            config.max_size = u32::try_from(n)
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| SetupError::InvalidSetting {
                    var: POOL_MAX_SIZE_ENV,
                    value: n.to_string(),
                    expected: "a whole number from 1 to 10000",
                })?;
        }
        if let Some(ms) = number(POOL_TIMEOUT_MS_ENV, "a whole number of milliseconds")? {
            config.connection_timeout = Duration::from_millis(ms.max(1));
        }
        let optional = |s: u64| (s > 0).then(|| Duration::from_secs(s));
        if let Some(s) = number(POOL_IDLE_TIMEOUT_S_ENV, "a whole number of seconds")? {
            config.idle_timeout = optional(s);
        }
        if let Some(s) = number(POOL_MAX_LIFETIME_S_ENV, "a whole number of seconds")? {
            config.max_lifetime = optional(s);
        }
        if let Some(ms) = number(STATEMENT_TIMEOUT_MS_ENV, "a whole number of milliseconds")? {
            config.connect.statement_timeout = Duration::from_millis(ms);
        }
        if let Some(name) = get(APPLICATION_NAME_ENV) {
            config.connect.application_name = name;
        }
        let mut replica_config = ReplicaConfig::default();
        if let Some(ms) = number(REPLICA_MAX_LAG_MS_ENV, "a whole number of milliseconds")? {
            replica_config.max_lag = Duration::from_millis(ms);
        }
        let mut db = Self::new(url, direct, &config).with_replica_config(replica_config);
        for (i, entry) in get(REPLICA_URLS_ENV)
            .unwrap_or_default()
            .split(',')
            .enumerate()
        {
            if entry.trim().is_empty() {
                continue;
            }
            let replica = DatabaseUrl::parse(entry.trim()).map_err(|source| {
                SetupError::InvalidReplicaUrl {
                    position: i + 1,
                    source,
                }
            })?;
            db = db.with_replica(replica);
        }
        Ok(db)
    }

    /// A database from parsed URLs and explicit settings.
    pub fn new(url: DatabaseUrl, direct: Option<DatabaseUrl>, config: &PoolConfig) -> Self {
        Self {
            pool: build_pool(&url, config),
            url,
            direct,
            config: config.clone(),
            replica_urls: Vec::new(),
            replicas: Replicas::default(),
        }
    }

    /// This database with one more read replica (a pool with the primary's settings).
    pub fn with_replica(mut self, url: DatabaseUrl) -> Self {
        self.replica_urls.push(url);
        self.rebuild_replicas(self.replicas.config.clone());
        self
    }

    /// This database with replicas chosen by `config` (lag bound, timeouts).
    pub fn with_replica_config(mut self, config: ReplicaConfig) -> Self {
        self.rebuild_replicas(config);
        self
    }

    fn rebuild_replicas(&mut self, config: ReplicaConfig) {
        let list = self
            .replica_urls
            .iter()
            .map(|u| Replica::new(u, &self.config))
            .collect();
        self.replicas = Replicas::new(list, config);
    }

    /// The replicas' URLs, in the order [`ServedBy::Replica`](crate::replica::ServedBy)
    /// counts them.
    pub fn replica_urls(&self) -> &[DatabaseUrl] {
        &self.replica_urls
    }

    /// A connection for a read that needs `after` (see [`crate::replica`]): a replica that
    /// is reachable, a standby, within the lag bound and, if `after` names a position, has
    /// replayed it (waiting up to `after.wait`), else the primary's pool. Replicas are
    /// taken in turn. Fails only when the primary's pool does.
    pub async fn read(&self, after: ReadAfter) -> Result<ReadConnection<'_>, PoolError> {
        crate::replica::route(&self.replicas, &self.pool, after).await
    }

    /// The pool (bb8 over diesel-async): clone it into request handlers.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A pooled connection; derefs to the `AsyncPgConnection` repository functions take.
    pub async fn get(&self) -> Result<PooledConnection<'_>, PoolError> {
        self.pool.get().await
    }

    /// The service's URL (`DATABASE_URL`).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The owner's direct URL for migrations and system work: `DIRECT_DATABASE_URL`, or
    /// `DATABASE_URL` when that is unset.
    pub fn direct_url(&self) -> &DatabaseUrl {
        self.direct.as_ref().unwrap_or(&self.url)
    }

    /// Fails with [`HealthError::PendingMigrations`] (naming them) unless every migration
    /// this build carries is applied: for a service that must not serve an older schema.
    /// Migrations applied by a newer release are fine (they only add).
    pub async fn require_current_schema(&self) -> Result<(), HealthError> {
        let mut conn = self.pool.get().await?;
        let status = migrate::status_on(&mut conn).await?;
        if status.pending.is_empty() {
            Ok(())
        } else {
            Err(HealthError::PendingMigrations(status.pending))
        }
    }

    /// The readiness probe: [`health`] on this database's pool.
    pub async fn health(&self, timeout: Duration) -> Result<Health, HealthError> {
        health(&self.pool, timeout).await
    }
}

/// A readiness probe: checks a connection out of `pool`, makes a round trip that reads the
/// migration table, and fails when anything takes longer than `timeout`, when the pool
/// has no connection to give, or when migrations this build carries are pending.
pub async fn health(pool: &PgPool, timeout: Duration) -> Result<Health, HealthError> {
    let started = Instant::now();
    let check = async {
        let mut conn = pool.get().await?;
        Ok::<_, HealthError>(migrate::status_on(&mut conn).await?)
    };
    let status = tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| HealthError::Timeout(timeout))??;
    if !status.pending.is_empty() {
        return Err(HealthError::PendingMigrations(status.pending));
    }
    let (known, newer): (Vec<_>, Vec<_>) =
        status.applied.into_iter().partition(|a| a.name.is_some());
    Ok(Health {
        round_trip: started.elapsed(),
        applied: known.len(),
        newer: newer.into_iter().map(|a| a.version).collect(),
    })
}
