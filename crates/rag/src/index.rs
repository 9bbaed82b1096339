//! Per-space ANN indexes on the vector tables.
//!
//! The vector columns have no dimension, so pgvector can index them only per space: an
//! expression index on the cast to the space's dimension (`vector` up to 2000, `halfvec`
//! up to 4000), partial on the space. Builds run `CONCURRENTLY` on the direct URL outside
//! any transaction (writes continue meanwhile); a failed build leaves an INVALID index,
//! which the next `create` or `rebuild` detects through `pg_index.indisvalid` and rebuilds.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_schema::catalog::MANAGED_INDEX_PREFIX;
use neonhub_schema::ids::EmbeddingSpaceId;
use neonhub_schema::keys;
use neonhub_schema::{ConnectOptions, DatabaseUrl, TenantScope};

use crate::vector_table::{Distance, IndexStorage, VectorCast, VectorTable, space_predicate};
use crate::{EmbeddingSpace, RagError};

/// The ANN method and its build parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum IndexMethod {
    /// HNSW (the default): no training, good recall at any size.
    Hnsw {
        /// Connections per layer (pgvector's default 16).
        m: u32,
        /// Candidate list size while building (ours 128, pgvector's 64: on the bench, 64
        /// capped recall@10 near 0.95 to 0.97 whatever the ef_search; 128 reached 0.98 at
        /// ef_search 100 for a third more build time).
        ef_construction: u32,
    },
    /// IVFFlat: faster to build, needs data; `lists` defaults from the row count.
    IvfFlat {
        /// Number of lists; `None`: rows / 1000 up to 1M rows, sqrt(rows) above.
        lists: Option<u32>,
    },
}

impl Default for IndexMethod {
    fn default() -> Self {
        Self::Hnsw {
            m: 16,
            ef_construction: 128,
        }
    }
}

impl IndexMethod {
    /// Checks the parameters against pgvector's limits before anything is created (a
    /// refused build would leave an INVALID index behind): HNSW `m` 2 to 100,
    /// `ef_construction` 4 to 1000 and at least 2 x `m`; IVFFlat `lists` 1 to 32768.
    pub fn validate(self) -> Result<(), RagError> {
        let invalid = |option: &'static str, value: u32, allowed: &'static str| {
            Err(RagError::InvalidIndexOption {
                option,
                value: value.to_string(),
                allowed: allowed.to_owned(),
            })
        };
        match self {
            Self::Hnsw { m, .. } if !(2..=100).contains(&m) => invalid("m", m, "2 to 100"),
            Self::Hnsw {
                ef_construction, ..
            } if !(4..=1000).contains(&ef_construction) => {
                invalid("ef_construction", ef_construction, "4 to 1000")
            }
            Self::Hnsw { m, ef_construction } if ef_construction < 2 * m => invalid(
                "ef_construction",
                ef_construction,
                "at least 2 x m (pgvector's rule)",
            ),
            Self::IvfFlat { lists: Some(lists) } if !(1..=32768).contains(&lists) => {
                invalid("lists", lists, "1 to 32768")
            }
            _ => Ok(()),
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Hnsw { .. } => "hnsw",
            Self::IvfFlat { .. } => "ivf",
        }
    }
}

/// IVFFlat lists for `rows` vectors (pgvector's guidance).
pub fn ivfflat_lists(rows: i64) -> u32 {
    let lists = if rows <= 1_000_000 {
        rows / 1000
    } else {
        (rows as f64).sqrt() as i64
    };
    lists.clamp(1, 32_768) as u32
}

/// Which index: a table, a distance and a method, for one space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct IndexSpec {
    /// The vector table.
    pub table: VectorTable,
    /// The distance the index serves (a query must use the same operator).
    pub distance: Distance,
    /// HNSW or IVFFlat.
    pub method: IndexMethod,
    /// How the vectors are stored in the index (full precision, `halfvec`, or binary with
    /// re-ranking); a search names the same storage in
    /// [`SearchOptions::storage`](crate::SearchOptions::storage) to use it.
    pub storage: IndexStorage,
}

/// A managed index as found in the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VectorIndex {
    /// Index name (reserved prefix).
    pub name: String,
    /// The space it serves.
    pub space_id: EmbeddingSpaceId,
    /// Its table.
    pub table: VectorTable,
    /// `false` for the leftover of a failed build (not used by queries).
    pub valid: bool,
    /// Size on disk.
    pub size_bytes: i64,
    /// `pg_get_indexdef`.
    pub definition: String,
}

/// What `create` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildOutcome {
    /// A valid index existed: nothing was done.
    AlreadyValid,
    /// The index was built.
    Created,
    /// An INVALID leftover was dropped and the index built again.
    RebuiltInvalid,
}

/// One reading of `pg_stat_progress_create_index` during a build.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct BuildProgress {
    /// Build phase as PostgreSQL names it.
    #[diesel(sql_type = Text)]
    pub phase: String,
    /// Blocks processed.
    #[diesel(sql_type = BigInt)]
    pub blocks_done: i64,
    /// Blocks to process.
    #[diesel(sql_type = BigInt)]
    pub blocks_total: i64,
    /// Tuples processed.
    #[diesel(sql_type = BigInt)]
    pub tuples_done: i64,
    /// Tuples to process.
    #[diesel(sql_type = BigInt)]
    pub tuples_total: i64,
}

/// Builds, lists, drops and rebuilds the managed vector indexes of a scope's spaces.
#[derive(Debug, Clone)]
pub struct IndexManager {
    direct: DatabaseUrl,
    maintenance_work_mem: String,
    progress_interval: Duration,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Bool)]
    valid: bool,
    #[diesel(sql_type = BigInt)]
    size_bytes: i64,
    #[diesel(sql_type = Text)]
    definition: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

#[derive(QueryableByName)]
struct Validity {
    #[diesel(sql_type = Nullable<Bool>)]
    valid: Option<bool>,
}

/// Session settings for index builds: no statement timeout, generous memory.
fn build_options() -> ConnectOptions {
    ConnectOptions {
        application_name: "neonhub-index".to_owned(),
        statement_timeout: Duration::ZERO,
        ..ConnectOptions::default()
    }
}

/// A short, stable tag of a space id (index names must fit 63 bytes; ids may be long).
/// The names the managed ANN indexes of `space` on `table` for `distance` would have (one
/// per method), whether or not they exist: what a search reads the space's size estimate
/// from.
pub(crate) fn ann_index_names(
    table: VectorTable,
    space: &EmbeddingSpaceId,
    distance: Distance,
    storage: IndexStorage,
) -> [String; 2] {
    [IndexMethod::default(), IndexMethod::IvfFlat { lists: None }].map(|method| {
        IndexManager::index_name(
            space,
            &IndexSpec {
                table,
                distance,
                method,
                storage,
            },
        )
    })
}

fn space_tag(space: &EmbeddingSpaceId) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in space.as_str().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl IndexManager {
    /// A manager building on `direct` (the non-pooled URL), with `maintenance_work_mem = 1GB`.
    pub fn new(direct: DatabaseUrl) -> Self {
        Self {
            direct,
            maintenance_work_mem: "1GB".to_owned(),
            progress_interval: Duration::from_millis(500),
        }
    }

    /// Sets `maintenance_work_mem` for builds (e.g. `"256MB"`).
    pub fn with_maintenance_work_mem(mut self, value: &str) -> Self {
        self.maintenance_work_mem = value.to_owned();
        self
    }

    /// Sets how often build progress is read.
    pub fn with_progress_interval(mut self, every: Duration) -> Self {
        self.progress_interval = every;
        self
    }

    /// The name of the index `spec` of `space`:
    /// `nh_vec_<table>_<space hash>_<distance>_<method>`, then `_half` or `_bin` for those
    /// storages.
    pub fn index_name(space: &EmbeddingSpaceId, spec: &IndexSpec) -> String {
        format!(
            "{MANAGED_INDEX_PREFIX}{}_{}_{}_{}{}",
            spec.table.tag(),
            space_tag(space),
            spec.distance.tag(),
            spec.method.tag(),
            spec.storage.suffix()
        )
    }

    /// `maintenance_work_mem` must read as PostgreSQL memory: a number and kB, MB, GB or
    /// TB (checked before the build, so the error names the option, not an SQL fragment).
    fn check_maintenance_work_mem(&self) -> Result<(), RagError> {
        let value = self.maintenance_work_mem.trim();
        let digits = value.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = value.split_at(digits);
        let ok = number.parse::<u64>().is_ok_and(|n| n > 0)
            && ["kB", "MB", "GB", "TB"].contains(&unit.trim());
        if ok {
            return Ok(());
        }
        Err(RagError::InvalidIndexOption {
            option: "maintenance_work_mem",
            value: self.maintenance_work_mem.clone(),
            allowed: "a positive number of kB, MB, GB or TB".to_owned(),
        })
    }

    async fn connect(&self) -> Result<AsyncPgConnection, RagError> {
        Ok(self.direct.connect_with(&build_options()).await?)
    }

    /// Builds the index unless a valid one exists; an INVALID leftover is rebuilt.
    /// `on_progress` receives build progress while it runs.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "vector index", op = "create"))]
    pub async fn create(
        &self,
        scope: &TenantScope,
        space: &EmbeddingSpaceId,
        spec: &IndexSpec,
        on_progress: impl FnMut(BuildProgress),
    ) -> Result<BuildOutcome, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        spec.method.validate()?;
        self.check_maintenance_work_mem()?;
        let mut conn = self.connect().await?;
        let space = EmbeddingSpace::get(&mut conn, scope, space).await?;
        // Refused before anything is touched: pgvector would refuse the build anyway.
        VectorCast::for_index(space.dimension, spec.storage)?;
        let name = Self::index_name(&space.id, spec);
        let outcome = match validity(&mut conn, &name).await? {
            Some(true) => return Ok(BuildOutcome::AlreadyValid),
            Some(false) => {
                conn.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS public.{name}"))
                    .await?;
                BuildOutcome::RebuiltInvalid
            }
            None => BuildOutcome::Created,
        };
        let ddl = self.create_sql(&mut conn, &space, spec, &name).await?;
        if let Err(e) = self.run_build(conn, &ddl, on_progress).await {
            // A refused CREATE INDEX CONCURRENTLY leaves an INVALID index: drop it, and say
            // under which settings the build failed.
            let mut cleanup = self.connect().await?;
            cleanup
                .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS public.{name}"))
                .await?;
            return Err(RagError::IndexBuildFailed {
                index: name,
                maintenance_work_mem: self.maintenance_work_mem.clone(),
                reason: e.to_string(),
            });
        }
        Ok(outcome)
    }

    /// Rebuilds the index (`REINDEX CONCURRENTLY`), or builds it when missing or INVALID.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "vector index", op = "rebuild"))]
    pub async fn rebuild(
        &self,
        scope: &TenantScope,
        space: &EmbeddingSpaceId,
        spec: &IndexSpec,
        on_progress: impl FnMut(BuildProgress),
    ) -> Result<BuildOutcome, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        spec.method.validate()?;
        self.check_maintenance_work_mem()?;
        let mut conn = self.connect().await?;
        let space_row = EmbeddingSpace::get(&mut conn, scope, space).await?;
        let name = Self::index_name(&space_row.id, spec);
        match validity(&mut conn, &name).await? {
            Some(true) => {
                self.run_build(
                    conn,
                    &format!("REINDEX INDEX CONCURRENTLY public.{name}"),
                    on_progress,
                )
                .await?;
                Ok(BuildOutcome::Created)
            }
            _ => self.create(scope, space, spec, on_progress).await,
        }
    }

    /// Drops the index; `false` when there was none.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "vector index", op = "drop"))]
    pub async fn drop(
        &self,
        scope: &TenantScope,
        space: &EmbeddingSpaceId,
        spec: &IndexSpec,
    ) -> Result<bool, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        let mut conn = self.connect().await?;
        let space = EmbeddingSpace::get(&mut conn, scope, space).await?;
        let name = Self::index_name(&space.id, spec);
        let existed = validity(&mut conn, &name).await?.is_some();
        conn.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS public.{name}"))
            .await?;
        Ok(existed)
    }

    /// The managed indexes of the scope's spaces (of `space` alone when given), INVALID ones included.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "vector index", op = "list"))]
    pub async fn list(
        &self,
        scope: &TenantScope,
        space: Option<&EmbeddingSpaceId>,
    ) -> Result<Vec<VectorIndex>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        let mut conn = self.connect().await?;
        let spaces: Vec<EmbeddingSpaceId> = match space {
            Some(id) => vec![EmbeddingSpace::get(&mut conn, scope, id).await?.id],
            None => {
                let mut all = Vec::new();
                let mut page = crate::PageRequest::first(500);
                loop {
                    let batch = EmbeddingSpace::list(&mut conn, scope, &page).await?;
                    all.extend(batch.items.into_iter().map(|s| s.id));
                    match batch.next {
                        Some(next) => page = crate::PageRequest::after(500, next),
                        None => break,
                    }
                }
                all
            }
        };
        let found: Vec<Found> = sql_query(
            "SELECT c.relname::text AS name, t.relname::text AS table_name, i.indisvalid AS valid, \
                    pg_relation_size(c.oid) AS size_bytes, pg_get_indexdef(c.oid) AS definition \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND starts_with(c.relname::text, $1) ORDER BY c.relname",
        )
        .bind::<Text, _>(MANAGED_INDEX_PREFIX)
        .load(&mut conn)
        .await?;
        let mut out = Vec::new();
        for f in found {
            // The name's fourth part is the space tag; only the scope's spaces are shown.
            let tag = f
                .name
                .trim_start_matches(MANAGED_INDEX_PREFIX)
                .split('_')
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let (Some(space_id), Ok(table)) = (
                spaces.iter().find(|s| space_tag(s) == tag),
                f.table_name.parse::<VectorTable>(),
            ) else {
                continue;
            };
            out.push(VectorIndex {
                name: f.name,
                space_id: space_id.clone(),
                table,
                valid: f.valid,
                size_bytes: f.size_bytes,
                definition: f.definition,
            });
        }
        Ok(out)
    }

    async fn create_sql(
        &self,
        conn: &mut AsyncPgConnection,
        space: &EmbeddingSpace,
        spec: &IndexSpec,
        name: &str,
    ) -> Result<String, RagError> {
        let cast = VectorCast::for_index(space.dimension, spec.storage)?;
        let predicate = space_predicate(space.id.as_str());
        let table = spec.table.name();
        let (method, with) = match spec.method {
            IndexMethod::Hnsw { m, ef_construction } => (
                "hnsw",
                format!("m = {m}, ef_construction = {ef_construction}"),
            ),
            IndexMethod::IvfFlat { lists } => {
                let lists = match lists {
                    Some(l) => l,
                    None => {
                        let rows: Count = sql_query(format!(
                            "SELECT count(*) AS n FROM public.{table} WHERE {predicate} AND embedding IS NOT NULL"
                        ))
                        .get_result(conn)
                        .await?;
                        ivfflat_lists(rows.n)
                    }
                };
                ("ivfflat", format!("lists = {lists}"))
            }
        };
        Ok(format!(
            "CREATE INDEX CONCURRENTLY {name} ON public.{table} USING {method} ({} {}) WITH ({with}) WHERE {predicate}",
            cast.expression("embedding"),
            cast.opclass(spec.distance),
        ))
    }

    /// Runs `ddl` on `conn` with generous memory, reporting progress from a second session.
    async fn run_build(
        &self,
        mut conn: AsyncPgConnection,
        ddl: &str,
        mut on_progress: impl FnMut(BuildProgress),
    ) -> Result<(), RagError> {
        conn.batch_execute(&format!(
            "SET maintenance_work_mem = '{}'",
            self.maintenance_work_mem.trim()
        ))
        .await
        .map_err(|e| RagError::InvalidIndexOption {
            option: "maintenance_work_mem",
            value: self.maintenance_work_mem.clone(),
            allowed: format!("what the server accepts ({e})"),
        })?;
        let pid = sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Pid>(&mut conn)
            .await?
            .pid;
        let mut watcher = self.connect().await?;
        let build = conn.batch_execute(ddl);
        tokio::pin!(build);
        let mut tick = tokio::time::interval(self.progress_interval);
        loop {
            tokio::select! {
                done = &mut build => return Ok(done?),
                _ = tick.tick() => {
                    let reading: Option<BuildProgress> = sql_query(
                        "SELECT phase, coalesce(blocks_done, 0) AS blocks_done, coalesce(blocks_total, 0) AS blocks_total, \
                                coalesce(tuples_done, 0) AS tuples_done, coalesce(tuples_total, 0) AS tuples_total \
                         FROM pg_stat_progress_create_index WHERE pid = $1",
                    )
                    .bind::<Integer, _>(pid)
                    .get_result(&mut watcher)
                    .await
                    .ok();
                    if let Some(reading) = reading {
                        on_progress(reading);
                    }
                }
            }
        }
    }
}

/// `Some(valid)` when an index named `name` exists, `None` otherwise.
async fn validity(conn: &mut AsyncPgConnection, name: &str) -> Result<Option<bool>, RagError> {
    let row: Validity = sql_query(
        "SELECT (SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = $1) AS valid",
    )
    .bind::<Text, _>(name)
    .get_result(conn)
    .await?;
    Ok(row.valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_lists_follow_pgvector_guidance() {
        let long = EmbeddingSpaceId::from_string("x".repeat(300));
        let spec = IndexSpec {
            table: VectorTable::MemEmbeddings,
            distance: Distance::InnerProduct,
            method: IndexMethod::IvfFlat { lists: None },
            storage: IndexStorage::Full,
        };
        let name = IndexManager::index_name(&long, &spec);
        assert!(
            name.len() <= 63 && name.starts_with("nh_vec_mems_") && name.ends_with("_ip_ivf"),
            "{name}"
        );
        let binary = IndexManager::index_name(
            &long,
            &IndexSpec {
                storage: IndexStorage::Binary,
                ..spec
            },
        );
        assert!(
            binary.len() <= 63 && binary == format!("{name}_bin"),
            "{binary}"
        );
        assert_eq!(
            (
                ivfflat_lists(10),
                ivfflat_lists(100_000),
                ivfflat_lists(4_000_000)
            ),
            (1, 100, 2000)
        );
    }
}
