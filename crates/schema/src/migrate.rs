//! The embedded migrations and a runner that applies them one at a time under a
//! session-level advisory lock, on the direct (non-pooled) URL.
//!
//! diesel itself takes no lock (diesel-rs/diesel#4862): two instances starting at once
//! would both compute the same pending list and race. The lock is taken before the pending
//! list is computed, so the second runner sees what the first applied.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::migration::{Migration, MigrationSource};
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel::{QueryableByName, sql_query};
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::{ConnectError, ConnectOptions, DatabaseUrl};

/// Every migration of the workspace, embedded at compile time.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The version of the baseline migration (NeonHub's whole reference schema).
pub const BASELINE_VERSION: &str = "00000000000000";

/// Fingerprint of the migration files (names and contents) this build embeds.
pub const MIGRATIONS_HASH: &str = env!("NEONHUB_MIGRATIONS_HASH");

/// Key of the session-level advisory lock that serialises migration runners.
pub const MIGRATION_LOCK_KEY: i64 = 0x4e48_5f4d_4947_5241; // "NH_MIGRA"

/// The lowest pgvector version we accept: 0.8.0 brought iterative index scans.
pub const MIN_PGVECTOR: (u32, u32, u32) = (0, 8, 0);

/// The first `n` embedded migrations, in order: `FirstMigrations(1)` is the baseline alone.
#[derive(Debug, Clone, Copy)]
pub struct FirstMigrations(pub usize);

impl MigrationSource<Pg> for FirstMigrations {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        let mut all = MigrationSource::<Pg>::migrations(&MIGRATIONS)?;
        all.truncate(self.0);
        Ok(all)
    }
}

/// Why migrating failed. Every message is one line that names the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The database could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The server has no pgvector to install.
    #[error(
        "pgvector is not available on {target}: install it on the server (0.8.0 or newer), then retry"
    )]
    PgvectorMissing {
        /// The server.
        target: String,
    },
    /// The server's pgvector is older than 0.8.0.
    #[error("pgvector {found} on {target} is too old: 0.8.0 or newer is required{hint}")]
    PgvectorTooOld {
        /// The server.
        target: String,
        /// The version found.
        found: String,
        /// How to fix it, when the server already has a newer version available.
        hint: String,
    },
    /// A migration failed; it was rolled back, the ones applied before it were kept.
    #[error("migration {migration} failed and was rolled back: {reason}")]
    Failed {
        /// The failing migration.
        migration: String,
        /// Migrations this run applied (and kept) before it.
        applied: Vec<String>,
        /// The database's error.
        reason: String,
    },
    /// Reverting would drop the baseline (every table and its data) and it was not allowed.
    #[error(
        "reverting {count} migration(s) would revert the baseline and drop every table with its data; pass --allow-drop-all-data to do so"
    )]
    BaselineRevertRefused {
        /// How many migrations were asked for.
        count: usize,
    },
    /// The database to adopt does not have the baseline's catalog.
    #[error("refusing to adopt: the catalog differs from the baseline in {} item(s): {}", .differences.len(), .differences.join("; "))]
    AdoptRefused {
        /// Every difference, named.
        differences: Vec<String>,
    },
    /// Reading the catalog failed.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    /// Anything else the runner's bookkeeping reported.
    #[error("migration bookkeeping failed: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for MigrateError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

/// One applied migration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    /// Its version (the directory's timestamp prefix).
    pub version: String,
    /// Its full name, when this build knows it.
    pub name: Option<String>,
    /// When it was applied (UTC).
    pub run_on: NaiveDateTime,
}

/// What is applied and what is pending.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationStatus {
    /// Applied migrations, oldest first.
    pub applied: Vec<AppliedMigration>,
    /// Migrations of this build not applied yet, in order.
    pub pending: Vec<String>,
}

/// Connection settings for migrations: long-running DDL must not hit a statement timeout.
fn migration_options() -> ConnectOptions {
    ConnectOptions {
        application_name: "neonhub-migrate".to_owned(),
        statement_timeout: Duration::ZERO,
        ..ConnectOptions::default()
    }
}

/// Applies every pending embedded migration; returns the names applied (empty when none).
pub async fn run_pending(url: &DatabaseUrl) -> Result<Vec<String>, MigrateError> {
    run_pending_from(url, MIGRATIONS).await
}

/// Applies the pending migrations of `source`, one transaction each, under the lock.
pub async fn run_pending_from<S>(url: &DatabaseUrl, source: S) -> Result<Vec<String>, MigrateError>
where
    S: MigrationSource<Pg> + Send + 'static,
{
    let mut conn = url.connect_with(&migration_options()).await?;
    check_pgvector(&mut conn, url.target()).await?;
    let applied = with_lock(conn, move |harness| apply_pending(harness, source)).await?;
    if applied.iter().any(|m| {
        m.starts_with(SEARCH_VECTOR_MIGRATION) || m.starts_with(SEARCH_VECTOR_COPY_MIGRATION)
    }) {
        let mut conn = url.connect_with(&migration_options()).await?;
        backfill_search_vectors(&mut conn, SEARCH_VECTOR_BATCH)
            .await
            .map_err(|e| MigrateError::Failed {
                migration: format!(
                    "{SEARCH_VECTOR_MIGRATION} (backfill of chunks.\"searchVector\" and chunk_search_vectors)"
                ),
                applied: applied.clone(),
                reason: one_line(&e.to_string()),
            })?;
    }
    Ok(applied)
}

/// The migration that added `chunks."searchVector"` (nullable, kept by a trigger from then
/// on); the rows it found are filled by [`backfill_search_vectors`] right after it.
const SEARCH_VECTOR_MIGRATION: &str = "20261203000000";
/// The migration that added `chunk_search_vectors`, the narrow copy of each chunk's
/// tsvector the text side reads; [`backfill_search_vectors`] copies the rows it found.
const SEARCH_VECTOR_COPY_MIGRATION: &str = "20261205000000";
/// Rows per backfill transaction: short transactions, each locking only its own rows.
const SEARCH_VECTOR_BATCH: i64 = 5_000;

#[derive(QueryableByName)]
struct Filled {
    #[diesel(sql_type = BigInt)]
    filled: i64,
    #[diesel(sql_type = Nullable<Text>)]
    last: Option<String>,
}

/// Fills `chunks."searchVector"` where it is NULL (rows written before the column existed),
/// each in its space's text-search language, and copies every filled one missing from
/// `chunk_search_vectors` (rows written before that table existed), `batch` rows per
/// transaction in primary-key order; returns the rows filled or copied. The triggers keep
/// new and changed rows current, so this is needed once, after either migration
/// (`run_pending` calls it then) or after restoring old data. Safe to run again or beside
/// writers: each batch is its own statement and takes only its rows' locks (a key-share
/// lock on the rows it copies, so a chunk deleted meanwhile is not copied after its
/// delete trigger ran).
pub async fn backfill_search_vectors(
    conn: &mut AsyncPgConnection,
    batch: i64,
) -> Result<u64, diesel::result::Error> {
    let mut after = String::new();
    let mut total = 0u64;
    loop {
        let done: Filled = sql_query(
            // Rows filled here reach the copy through the update trigger; the copy's rows
            // are inserted by this statement only for rows that had a tsvector already.
            r#"WITH batch AS (
                   SELECT c.id FROM public.chunks c WHERE c.id > $1 ORDER BY c.id LIMIT $2
                   FOR KEY SHARE),
               filled AS (
                   UPDATE public.chunks c SET "searchVector" = to_tsvector(
                       COALESCE((SELECT s."textSearchConfig"::regconfig FROM public.embedding_spaces s
                                 WHERE s.id = c."embeddingSpaceId"), 'english'::regconfig), c.text)
                   FROM batch WHERE c.id = batch.id AND c."searchVector" IS NULL
                   RETURNING 1),
               copied AS (
                   INSERT INTO public.chunk_search_vectors ("chunkId", "embeddingSpaceId", "searchVector")
                   SELECT c.id, c."embeddingSpaceId", c."searchVector" FROM public.chunks c JOIN batch ON batch.id = c.id
                   WHERE c."searchVector" IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM public.chunk_search_vectors v WHERE v."chunkId" = c.id)
                   ON CONFLICT ("chunkId") DO NOTHING
                   RETURNING 1)
               SELECT (SELECT count(*) FROM filled) + (SELECT count(*) FROM copied) AS filled,
                      (SELECT max(id) FROM batch) AS last"#,
        )
        .bind::<Text, _>(&after)
        .bind::<BigInt, _>(batch)
        .get_result(conn)
        .await?;
        total += u64::try_from(done.filled).unwrap_or(0);
        match done.last {
            Some(last) => after = last,
            None => return Ok(total),
        }
    }
}

/// Applies the pending migrations of `source` one by one, each in its own transaction.
fn apply_pending<S: MigrationSource<Pg>>(
    harness: &mut AsyncConnectionWrapper<AsyncPgConnection>,
    source: S,
) -> Result<Vec<String>, MigrateError> {
    let pending = harness
        .pending_migrations(source)
        .map_err(|e| MigrateError::Internal(e.to_string()))?;
    let mut applied = Vec::new();
    for migration in pending {
        let name = migration.name().to_string();
        if let Err(e) = harness.run_migration(&*migration) {
            return Err(MigrateError::Failed {
                migration: name,
                applied,
                reason: one_line(&e.to_string()),
            });
        }
        applied.push(name);
    }
    Ok(applied)
}

/// Reverts the last `count` applied migrations, newest first; returns their names.
/// Reverting the baseline is refused unless `allow_baseline`.
pub async fn revert(
    url: &DatabaseUrl,
    count: usize,
    allow_baseline: bool,
) -> Result<Vec<String>, MigrateError> {
    revert_from(url, MIGRATIONS, count, allow_baseline).await
}

/// [`revert`] for any migration source.
pub async fn revert_from<S>(
    url: &DatabaseUrl,
    source: S,
    count: usize,
    allow_baseline: bool,
) -> Result<Vec<String>, MigrateError>
where
    S: MigrationSource<Pg> + Send + 'static,
{
    let conn = url.connect_with(&migration_options()).await?;
    with_lock(conn, move |harness| {
        let mut applied = harness
            .applied_migrations()
            .map_err(|e| MigrateError::Internal(e.to_string()))?;
        applied.sort();
        let to_revert: Vec<String> = applied
            .iter()
            .rev()
            .take(count)
            .map(|v| v.to_string())
            .collect();
        if !allow_baseline && to_revert.iter().any(|v| v == BASELINE_VERSION) {
            return Err(MigrateError::BaselineRevertRefused { count });
        }
        let migrations = source
            .migrations()
            .map_err(|e| MigrateError::Internal(e.to_string()))?;
        let mut reverted = Vec::new();
        for version in to_revert {
            let migration = migrations
                .iter()
                .find(|m| m.name().version().to_string() == version)
                .ok_or_else(|| {
                    MigrateError::Internal(format!(
                        "applied migration {version} is unknown to this build"
                    ))
                })?;
            let name = migration.name().to_string();
            if let Err(e) = harness.revert_migration(&**migration) {
                return Err(MigrateError::Failed {
                    migration: name,
                    applied: reverted,
                    reason: one_line(&e.to_string()),
                });
            }
            reverted.push(name);
        }
        Ok(reverted)
    })
    .await
}

/// What `adopt` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AdoptOutcome {
    /// The database already records its migrations: nothing was done.
    AlreadyManaged,
    /// The baseline was recorded as applied, then these later migrations were applied.
    Adopted {
        /// Migrations applied after recording the baseline.
        applied: Vec<String>,
    },
}

/// Takes over a database that NeonHub's own tooling built: its catalog must equal the
/// baseline (extension versions aside; a missing `uuid-ossp` is created), then the
/// baseline is recorded as applied and the later migrations run, all under the migration
/// lock. A database that already records migrations is left alone.
pub async fn adopt(url: &DatabaseUrl) -> Result<AdoptOutcome, MigrateError> {
    use crate::catalog::{Catalog, DiffKind, DiffOptions, diff};
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};

    let mut conn = url.connect_with(&migration_options()).await?;
    check_pgvector(&mut conn, url.target()).await?;
    acquire_migration_lock(&mut conn).await?;
    let outcome = async {
        if !status_on(&mut conn).await?.applied.is_empty() {
            return Ok(None);
        }
        let live = Catalog::read(&mut conn).await?;
        let options = DiffOptions {
            ignore_extension_versions: true,
            ..DiffOptions::default()
        };
        let differences: Vec<String> = diff(&Catalog::baseline(), &live, &options)
            .into_iter()
            // The reference deployment enables uuid-ossp by hand; one built without it is still ours.
            .filter(|d| !(d.kind == DiffKind::Missing && d.object == "extension uuid-ossp"))
            .map(|d| d.to_string())
            .collect();
        if !differences.is_empty() {
            return Err(MigrateError::AdoptRefused { differences });
        }
        conn.transaction(async |tx| {
            tx.batch_execute(&format!(
                "CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" WITH SCHEMA public; {}; \
                 INSERT INTO __diesel_schema_migrations (version) VALUES ('{BASELINE_VERSION}')",
                diesel::migration::CREATE_MIGRATIONS_TABLE
                    .trim()
                    .trim_end_matches(';')
            ))
            .await
        })
        .await?;
        Ok(Some(()))
    }
    .await;
    let outcome = match outcome {
        Ok(Some(())) => {
            // The advisory lock is re-entrant within a session: the runner takes it again.
            let applied =
                with_lock(conn, move |harness| apply_pending(harness, MIGRATIONS)).await?;
            return Ok(AdoptOutcome::Adopted { applied });
        }
        Ok(None) => Ok(AdoptOutcome::AlreadyManaged),
        Err(e) => Err(e),
    };
    sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    outcome
}

#[derive(QueryableByName)]
struct AppliedRow {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Timestamp)]
    run_on: NaiveDateTime,
}

#[derive(QueryableByName)]
struct RegclassRow {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

/// Applied migrations (with times) and pending ones, without taking the lock.
pub async fn status(url: &DatabaseUrl) -> Result<MigrationStatus, MigrateError> {
    let mut conn = url.connect_with(&migration_options()).await?;
    status_on(&mut conn).await
}

/// [`status`] on an open connection.
pub async fn status_on(conn: &mut AsyncPgConnection) -> Result<MigrationStatus, MigrateError> {
    let table: RegclassRow =
        sql_query("SELECT to_regclass('public.__diesel_schema_migrations')::text AS name")
            .get_result(conn)
            .await?;
    let rows: Vec<AppliedRow> = if table.name.is_some() {
        sql_query("SELECT version::text AS version, run_on FROM __diesel_schema_migrations ORDER BY version")
            .load(conn)
            .await?
    } else {
        Vec::new()
    };
    let known: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .map_err(|e| MigrateError::Internal(e.to_string()))?
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let version_of = |name: &str| name.split('_').next().unwrap_or(name).to_owned();
    let applied = rows
        .into_iter()
        .map(|r| AppliedMigration {
            name: known.iter().find(|n| version_of(n) == r.version).cloned(),
            version: r.version,
            run_on: r.run_on,
        })
        .collect::<Vec<_>>();
    let pending = known
        .into_iter()
        .filter(|n| !applied.iter().any(|a| a.version == version_of(n)))
        .collect();
    Ok(MigrationStatus { applied, pending })
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Takes the session-level migration lock, waiting by polling `pg_try_advisory_lock`.
///
/// A session blocked inside `pg_advisory_lock` holds a snapshot for as long as it waits,
/// and `CREATE INDEX CONCURRENTLY` in the runner holding the lock waits for every older
/// snapshot of the database: the two would deadlock. Between polls this session holds none.
async fn acquire_migration_lock(conn: &mut AsyncPgConnection) -> Result<(), MigrateError> {
    let mut delay = Duration::from_millis(50);
    loop {
        let row: Locked = sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .get_result(conn)
            .await?;
        if row.locked {
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// Runs `work` on a blocking thread with the migration lock held by this session.
async fn with_lock<T, F>(mut conn: AsyncPgConnection, work: F) -> Result<T, MigrateError>
where
    T: Send + 'static,
    F: FnOnce(&mut AsyncConnectionWrapper<AsyncPgConnection>) -> Result<T, MigrateError>
        + Send
        + 'static,
{
    acquire_migration_lock(&mut conn).await?;
    // diesel_migrations is synchronous: run it on a blocking thread through the wrapper,
    // which drives the async connection with the current runtime's handle.
    let (result, wrapper) = tokio::task::spawn_blocking(move || {
        let mut harness = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        let result = work(&mut harness);
        (result, harness)
    })
    .await
    .map_err(|e| MigrateError::Internal(format!("migration task failed: {e}")))?;
    let mut conn = wrapper.into_inner();
    // Closing the session would release the lock too; unlocking keeps a reused connection clean.
    sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await?;
    result
}

#[derive(QueryableByName)]
struct VectorAvailability {
    #[diesel(sql_type = Nullable<Text>)]
    default_version: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    installed_version: Option<String>,
}

/// Fails unless the server has pgvector 0.8.0 or newer (installed, or available to install).
pub async fn check_pgvector(
    conn: &mut AsyncPgConnection,
    target: &str,
) -> Result<(), MigrateError> {
    let row: Option<VectorAvailability> = sql_query(
        "SELECT default_version::text AS default_version, installed_version::text AS installed_version \
         FROM pg_available_extensions WHERE name = 'vector'",
    )
    .get_result(conn)
    .await
    .map(Some)
    .or_else(|e| if e == diesel::result::Error::NotFound { Ok(None) } else { Err(e) })?;
    evaluate_pgvector(
        target,
        row.as_ref()
            .map(|r| (r.default_version.as_deref(), r.installed_version.as_deref())),
    )
}

/// The decision behind [`check_pgvector`], given `(default_version, installed_version)`.
pub fn evaluate_pgvector(
    target: &str,
    versions: Option<(Option<&str>, Option<&str>)>,
) -> Result<(), MigrateError> {
    let Some((default, installed)) = versions else {
        return Err(MigrateError::PgvectorMissing {
            target: target.to_owned(),
        });
    };
    let ok = |v: &str| parse_version(v).is_some_and(|v| v >= MIN_PGVECTOR);
    match (installed, default) {
        (Some(i), _) if ok(i) => Ok(()),
        (Some(i), Some(d)) if ok(d) => Err(MigrateError::PgvectorTooOld {
            target: target.to_owned(),
            found: i.to_owned(),
            hint: format!(" (the server has {d}: run ALTER EXTENSION vector UPDATE)"),
        }),
        (Some(i), _) => Err(MigrateError::PgvectorTooOld {
            target: target.to_owned(),
            found: i.to_owned(),
            hint: String::new(),
        }),
        (None, Some(d)) if ok(d) => Ok(()),
        (None, Some(d)) => Err(MigrateError::PgvectorTooOld {
            target: target.to_owned(),
            found: d.to_owned(),
            hint: String::new(),
        }),
        (None, None) => Err(MigrateError::PgvectorMissing {
            target: target.to_owned(),
        }),
    }
}

fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().and_then(Result::ok).unwrap_or(0);
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor, patch))
}

/// Database errors can span lines (DETAIL, HINT); a CLI reason is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgvector_versions_are_judged_by_number() {
        assert!(evaluate_pgvector("t", Some((Some("0.8.0"), None))).is_ok());
        assert!(evaluate_pgvector("t", Some((Some("0.10.1"), Some("0.10.1")))).is_ok());
        assert!(matches!(
            evaluate_pgvector("t", None),
            Err(MigrateError::PgvectorMissing { .. })
        ));
        assert!(matches!(
            evaluate_pgvector("t", Some((Some("0.7.4"), None))),
            Err(MigrateError::PgvectorTooOld { found, .. }) if found == "0.7.4"
        ));
        let err = evaluate_pgvector("t", Some((Some("0.8.0"), Some("0.5.1")))).unwrap_err();
        assert!(
            err.to_string().contains("ALTER EXTENSION vector UPDATE"),
            "{err}"
        );
    }

    #[test]
    fn the_baseline_is_the_first_embedded_migration() {
        let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).unwrap();
        assert_eq!(migrations[0].name().version().to_string(), BASELINE_VERSION);
    }
}
