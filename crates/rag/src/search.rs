//! k-nearest-neighbour search over a space's vectors, through its managed index.
//!
//! The statement repeats the index's expression (`embedding::vector(D)`) and predicate
//! (`"embeddingSpaceId" = '<space>'`, a literal, so generic plans keep the partial index).
//! The query vector, k and the filters are parameters. Per-query settings travel inside the
//! statement (`set_config(..., true)` in its organization guard, see
//! [`SearchStatement::inline`]) and are skipped when they equal pgvector's defaults; under
//! [`SearchPlan::Auto`] the statement also chooses, when it runs, between the ANN index and
//! an exact scan.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Double, Jsonb, Text, Timestamp};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::Vector;
use neonhub_schema::keys;
use neonhub_schema::tenant::{CURRENT_ORG_SETTING, CURRENT_USER_SETTING};
use neonhub_schema::{InvalidData, TenantScope};
use serde_json::Value;

use neonhub_schema::ids::{
    BrandId, ConversationId, DatasetId, DocumentId, EventId, PersonId, UserId,
};

use crate::plan_memory::{self, PlanKey};
use crate::vector_table::{
    Distance, IndexStorage, VectorCast, VectorTable, literal, space_predicate,
};
use crate::{EmbeddingSpace, RagError, validate_vector};
use neonhub_schema::ids::EmbeddingSpaceId;

/// pgvector's iterative index scans (0.8): keep scanning until enough rows pass the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IterativeScan {
    /// No iterative scan (pgvector's default): a filter may leave fewer than k rows.
    Off,
    /// Exact distance order (HNSW); IVFFlat falls back to relaxed order.
    StrictOrder,
    /// Approximate order, faster.
    RelaxedOrder,
}

impl IterativeScan {
    fn setting(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::StrictOrder => "strict_order",
            Self::RelaxedOrder => "relaxed_order",
        }
    }
}

/// pgvector's default `hnsw.ef_search` (no `SET LOCAL` is sent for it).
pub const DEFAULT_EF_SEARCH: u32 = 40;
/// HNSW candidates per requested row when [`SearchOptions::ef_search`] is `None`.
pub const EF_SEARCH_PER_ROW: u32 = 20;
/// HNSW candidates per requested row for a filtered search when [`SearchOptions::ef_search`]
/// is `None` (400 for k = 10): each batch of an iterative scan is this wide, and with a 1 %
/// metadata filter recall@10 was 0.985 to 0.995 over three index builds at 200, 0.993 to
/// 0.995 at 400 (bench, 100k vectors).
pub const EF_SEARCH_PER_ROW_FILTERED: u32 = 40;
/// pgvector's default `ivfflat.probes`.
pub const DEFAULT_PROBES: u32 = 1;

/// How to search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOptions {
    /// Rows to return.
    pub k: i64,
    /// Distance (an index serves one; use the one it was built for).
    pub distance: Distance,
    /// `hnsw.ef_search`; `None`: [`EF_SEARCH_PER_ROW`] × k, within pgvector's 40 to 1000
    /// (200 for k = 10). On the bench, over three index builds, recall@10 was 0.94 to 0.98
    /// at pgvector's fixed 40, 0.977 to 0.984 at 100, and 0.984 to 0.999 at 200.
    pub ef_search: Option<u32>,
    /// `ivfflat.probes`; `None` keeps the server's value.
    pub probes: Option<u32>,
    /// Iterative scans; `None`: strict order when a filter is given, off otherwise.
    pub iterative_scan: Option<IterativeScan>,
    /// Whether hits carry their row's embedding (`false`, the default: the `embedding`
    /// field is `None`, and the vectors, 1.5 KB each at 384 dimensions, never leave the
    /// server).
    pub with_embedding: bool,
    /// The columns hits carry (`None`, the default: every column of the table, what
    /// `Chunk` and `Message` are built from). For a row type of your own with fewer fields,
    /// searched through [`vector_search`]: only these columns leave the server. Each must be
    /// one of [`VectorTable::columns`] (else [`RagError::InvalidOption`]); `embedding`
    /// among them is selected whatever [`SearchOptions::with_embedding`] says. k-NN search
    /// only: hybrid hits are whole chunks.
    pub columns: Option<Vec<String>>,
    /// How the rows are found: [`SearchPlan::Auto`] (the default) lets the statement choose
    /// between the ANN index and an exact scan when it runs.
    pub plan: SearchPlan,
    /// Which of the space's indexes to search: the one built with this
    /// [`IndexSpec::storage`](crate::IndexSpec::storage) (the default, full precision, is
    /// what every index was before storages existed). Without such an index the search
    /// still answers, by scanning. A `halfvec` search ranks by half-precision distances;
    /// a binary one re-ranks its candidates by the exact distance, which hits carry.
    pub storage: IndexStorage,
    /// [`IndexStorage::Binary`] only: candidates fetched from the binary index per
    /// requested row, re-ranked by exact distance (`None`: [`BINARY_RERANK_PER_ROW`]);
    /// `ef_search` is raised to the candidate count when below it.
    pub rerank: Option<u32>,
}

/// Candidates per requested row a binary-quantized search re-ranks when
/// [`SearchOptions::rerank`] is `None` (400 for k = 10, the most one HNSW scan returns at
/// `ef_search` 400). See the README's vector table for the recall it reached.
pub const BINARY_RERANK_PER_ROW: u32 = 40;

/// How a search finds its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchPlan {
    /// Chosen by the statement itself when it runs (no extra round trip): an exact scan when
    /// the space holds fewer than [`AUTO_EXACT_SPACE_ROWS`] vectors, or when a parent filter
    /// (a dataset, a document, a conversation ...) matches at most
    /// [`AUTO_EXACT_PARENT_ROWS`] rows, found through that parent's btree index; the ANN
    /// index otherwise. The space's size comes from the catalog's estimate for its ANN
    /// index (`pg_class.reltuples`, kept by the build and by (auto)ANALYZE), or, where there
    /// is none or it says empty, from a count that stops at the bound; a parent's size from
    /// a count that stops at its bound. Metadata conditions do not take part: their
    /// selectivity is not known cheaply, and the index's iterative scan serves them.
    ///
    /// [`vector_search`] remembers the choice for [`AUTO_PLAN_MEMORY`](crate::AUTO_PLAN_MEMORY)
    /// per organization, space, distance and parent filter, and meanwhile sends the chosen
    /// branch alone (as [`SearchPlan::Index`] or [`SearchPlan::Exact`]): reading the sizes
    /// cost 0.1 to 0.4 ms of a 2.4 ms search of a 100k space.
    /// [`forget_plan_choices`](crate::forget_plan_choices) makes every space decide again.
    #[default]
    Auto,
    /// Always the ANN index (pgvector's settings as given).
    Index,
    /// Every row that passes the filters, ranked by its exact distance (recall 1.0): fast
    /// when a selective, indexed filter finds the candidates (a dataset or document of a
    /// large space: its btree index), slow over a whole large space. No ANN setting is sent.
    Exact,
}

/// [`SearchPlan::Auto`] ranks a space of fewer vectors than this exactly. On the bench
/// (384 dimensions, this 2-core machine) the HNSW index at the default `ef_search` already
/// beat an exact scan at 1,000 vectors (0.71 against 0.99 ms), by 10x at 10,000
/// (`README.md`, vector table); below a few hundred a scan reads a handful of pages.
pub const AUTO_EXACT_SPACE_ROWS: i64 = 500;

/// [`SearchPlan::Auto`] ranks the rows of a parent filter exactly when the parent has at
/// most this many rows (each parent of the filter is counted, up to one more than this,
/// through its btree index).
pub const AUTO_EXACT_PARENT_ROWS: i64 = 2_000;

/// The largest `k` a search returns (beyond it, page through a filter instead).
pub const MAX_K: i64 = 10_000;

impl SearchOptions {
    /// Checks every option against what it may be (pgvector's documented ranges for its
    /// settings), naming the first one out of range: nothing is clamped silently.
    pub fn validate(&self) -> Result<(), RagError> {
        if !(1..=MAX_K).contains(&self.k) {
            return Err(RagError::invalid_option("k", self.k, "1 to 10000"));
        }
        if let Some(ef) = self.ef_search.filter(|ef| !(1..=1000).contains(ef)) {
            return Err(RagError::invalid_option(
                "ef_search",
                ef,
                "1 to 1000 (hnsw.ef_search)",
            ));
        }
        if let Some(rerank) = self.rerank.filter(|r| !(1..=100).contains(r)) {
            return Err(RagError::invalid_option("rerank", rerank, "1 to 100"));
        }
        if let Some(probes) = self.probes.filter(|p| !(1..=32768).contains(p)) {
            return Err(RagError::invalid_option(
                "probes",
                probes,
                "1 to 32768 (ivfflat.probes)",
            ));
        }
        Ok(())
    }

    /// The `hnsw.ef_search` an unfiltered search runs with.
    pub fn effective_ef_search(&self) -> u32 {
        self.effective_ef_search_for(false)
    }

    /// How many candidates a binary-quantized search re-ranks: k × [`SearchOptions::rerank`]
    /// (or [`BINARY_RERANK_PER_ROW`]).
    pub fn rerank_candidates(&self) -> i64 {
        self.k
            .clamp(1, MAX_K)
            .saturating_mul(i64::from(self.rerank.unwrap_or(BINARY_RERANK_PER_ROW)))
    }

    /// The `hnsw.ef_search` a search runs with, filtered or not: `ef_search` when given,
    /// else [`EF_SEARCH_PER_ROW`] (unfiltered) or [`EF_SEARCH_PER_ROW_FILTERED`] (filtered)
    /// times k, within pgvector's 40 to 1000; for a binary search, at least its candidate
    /// count (up to 1000), as one HNSW scan returns at most `ef_search` rows.
    pub fn effective_ef_search_for(&self, filtered: bool) -> u32 {
        let ef = self.ef_search_before_rerank(filtered);
        if self.storage == IndexStorage::Binary {
            let candidates = u32::try_from(self.rerank_candidates().min(1000)).unwrap_or(1000);
            return ef.max(candidates);
        }
        ef
    }

    fn ef_search_before_rerank(&self, filtered: bool) -> u32 {
        self.ef_search.unwrap_or_else(|| {
            let wanted = u32::try_from(self.k.clamp(1, MAX_K)).unwrap_or(1);
            let per_row = if filtered {
                EF_SEARCH_PER_ROW_FILTERED
            } else {
                EF_SEARCH_PER_ROW
            };
            wanted
                .saturating_mul(per_row)
                .clamp(DEFAULT_EF_SEARCH, 1000)
        })
    }
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            k: 10,
            distance: Distance::Cosine,
            ef_search: None,
            probes: None,
            iterative_scan: None,
            with_embedding: false,
            columns: None,
            plan: SearchPlan::Auto,
            storage: IndexStorage::Full,
            rerank: None,
        }
    }
}

/// A parent row a search is restricted to: each variant names its vector table's column,
/// so a filter cannot name a column that is not a parent (a parent of another table is
/// refused with [`RagError::InvalidFilter`] naming both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParentFilter {
    /// `chunks."datasetId"`.
    Dataset(DatasetId),
    /// `chunks."documentId"`.
    Document(DocumentId),
    /// `messages."conversationId"`.
    Conversation(ConversationId),
    /// `messages."authorId"`.
    Author(UserId),
    /// `brand_voices."brandId"`.
    Brand(BrandId),
    /// `mem_embeddings."personId"`.
    Person(PersonId),
    /// `mem_embeddings."sourceEventId"`.
    SourceEvent(EventId),
}

impl ParentFilter {
    /// The vector table whose column this filters.
    pub const fn table(&self) -> VectorTable {
        match self {
            Self::Dataset(_) | Self::Document(_) => VectorTable::Chunks,
            Self::Conversation(_) | Self::Author(_) => VectorTable::Messages,
            Self::Brand(_) => VectorTable::BrandVoices,
            Self::Person(_) | Self::SourceEvent(_) => VectorTable::MemEmbeddings,
        }
    }

    /// The column compared (a quoted identifier in the statement).
    pub const fn column(&self) -> &'static str {
        match self {
            Self::Dataset(_) => "datasetId",
            Self::Document(_) => "documentId",
            Self::Conversation(_) => "conversationId",
            Self::Author(_) => "authorId",
            Self::Brand(_) => "brandId",
            Self::Person(_) => "personId",
            Self::SourceEvent(_) => "sourceEventId",
        }
    }

    fn value(&self) -> &str {
        match self {
            Self::Dataset(id) => id.as_str(),
            Self::Document(id) => id.as_str(),
            Self::Conversation(id) => id.as_str(),
            Self::Author(id) => id.as_str(),
            Self::Brand(id) => id.as_str(),
            Self::Person(id) => id.as_str(),
            Self::SourceEvent(id) => id.as_str(),
        }
    }
}

/// Restrictions on the rows searched (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchFilter {
    /// Rows of these parents only (each must belong to the searched table).
    pub parents: Vec<ParentFilter>,
    /// `metadata @> this` (tables with a metadata column).
    pub metadata: Option<Value>,
    /// `createdAt >= this`.
    pub created_from: Option<NaiveDateTime>,
    /// `createdAt < this`.
    pub created_before: Option<NaiveDateTime>,
    /// Typed conditions on `metadata` (equality, `IN`, ranges, existence, negation), all of
    /// which must hold; see [`MetaCondition`](crate::MetaCondition).
    pub conditions: Vec<crate::MetaCondition>,
}

impl SearchFilter {
    /// Adds a parent restriction.
    pub fn with(mut self, parent: ParentFilter) -> Self {
        self.parents.push(parent);
        self
    }

    /// Adds a metadata condition.
    pub fn with_condition(mut self, condition: crate::MetaCondition) -> Self {
        self.conditions.push(condition);
        self
    }

    /// Whether any restriction is set.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
            && self.conditions.is_empty()
            && self.metadata.is_none()
            && self.created_from.is_none()
            && self.created_before.is_none()
    }
}

/// A row and its distance to the query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit<T> {
    /// The row.
    pub row: T,
    /// Its distance to the query (smaller is nearer; the negative inner product for `ip`).
    pub distance: f64,
}

// By hand: diesel's derive does not take a generic embedded row.
impl<T: QueryableByName<Pg>> QueryableByName<Pg> for Hit<T> {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, Pg>) -> diesel::deserialize::Result<Self> {
        Ok(Self {
            row: T::build(row)?,
            distance: diesel::row::NamedRow::get::<Double, f64>(row, "distance")?,
        })
    }
}

/// A bound parameter of a search statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// A vector.
    Vector(Vector),
    /// A text parameter.
    Text(String),
    /// jsonb.
    Json(Value),
    /// A timestamp.
    Timestamp(NaiveDateTime),
    /// A bigint.
    BigInt(i64),
    /// A double.
    Double(f64),
    /// An array of jsonb values (`IN` conditions: one parameter, whatever the count).
    JsonArray(Vec<Value>),
}

impl Bind {
    /// The SQL type name, for `PREPARE`.
    fn type_name(&self) -> &'static str {
        match self {
            Self::Vector(_) => "vector",
            Self::Text(_) => "text",
            Self::Json(_) => "jsonb",
            Self::Timestamp(_) => "timestamp",
            Self::BigInt(_) => "bigint",
            Self::Double(_) => "float8",
            Self::JsonArray(_) => "jsonb[]",
        }
    }

    /// The value as an SQL literal, for `EXECUTE`.
    fn literal(&self) -> String {
        match self {
            Self::Vector(v) => literal(&format!("{:?}", v.as_slice())),
            Self::Text(s) => literal(s),
            Self::Json(j) => literal(&j.to_string()),
            Self::Timestamp(t) => literal(&t.to_string()),
            Self::BigInt(n) => n.to_string(),
            Self::Double(x) => format!("{x:?}::float8"),
            Self::JsonArray(values) => {
                let items: Vec<String> = values.iter().map(|v| literal(&v.to_string())).collect();
                format!("ARRAY[{}]::jsonb[]", items.join(", "))
            }
        }
    }
}

/// The statements of one search: settings, then the query and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchStatement {
    /// `SELECT set_config(..., true), ...`, or `None` when every setting is the default.
    pub settings: Option<String>,
    /// The query (`$1`, `$2`, ... as in `binds`).
    pub sql: String,
    /// Its parameters.
    pub binds: Vec<Bind>,
    /// The settings as (name, value), for [`SearchStatement::inline`].
    knobs: Vec<(&'static str, String)>,
}

/// Where the one-statement form puts its settings: first in the organization guard's
/// subquery, whose InitPlan the statement's gating filter evaluates before any table is
/// scanned (see [`SearchStatement::inline`]).
const GUARD: &str = "FROM public.embedding_spaces s WHERE ";

impl SearchStatement {
    /// `PREPARE name(types) AS sql`: the statement as a named prepared statement, to
    /// reproduce a search in psql and see the plan PostgreSQL caches for it (a generic plan
    /// after five runs). Run [`SearchStatement::settings`] in the same transaction first.
    pub fn prepare_sql(&self, name: &str) -> String {
        let types: Vec<&str> = self.binds.iter().map(Bind::type_name).collect();
        format!("PREPARE {name}({}) AS {}", types.join(", "), self.sql)
    }

    /// `EXECUTE name(literals)`: runs the statement [`SearchStatement::prepare_sql`]
    /// prepared, with this statement's parameters written as SQL literals.
    pub fn execute_sql(&self, name: &str) -> String {
        let args: Vec<String> = self.binds.iter().map(Bind::literal).collect();
        format!("EXECUTE {name}({})", args.join(", "))
    }

    pub(crate) fn query(&self) -> BoxedSqlQuery<'_, Pg, SqlQuery> {
        let mut query = sql_query(self.sql.as_str()).into_boxed::<Pg>();
        for bind in &self.binds {
            query = match bind {
                Bind::Vector(v) => query.bind::<neonhub_schema::vector::sql_types::Vector, _>(v),
                Bind::Text(s) => query.bind::<Text, _>(s),
                Bind::Json(j) => query.bind::<Jsonb, _>(j),
                Bind::Timestamp(t) => query.bind::<Timestamp, _>(t),
                Bind::BigInt(n) => query.bind::<BigInt, _>(n),
                Bind::Double(x) => query.bind::<Double, _>(x),
                Bind::JsonArray(v) => query.bind::<Array<Jsonb>, _>(v),
            };
        }
        query
    }

    /// A statement from SQL and binds, renumbered so it can be cached as prepared.
    pub(crate) fn new(settings: Option<String>, sql: String, binds: Vec<Bind>) -> Self {
        let (sql, binds) = crate::prepared::renumber(&sql, binds);
        Self {
            settings,
            sql,
            binds,
            knobs: Vec::new(),
        }
    }

    /// The same search as one statement that carries its own settings: the tenant
    /// (`app.current_org`, `app.current_user`, what row-level security reads) and the
    /// pgvector settings are `set_config(..., true)` calls in the organization guard's
    /// subquery (under [`SearchPlan::Auto`], the plan row's, which every branch's gate
    /// reads). That guard has no column of the searched table, so PostgreSQL evaluates
    /// it once as a gating filter (`One-Time Filter`) before the first row is fetched, and
    /// pgvector reads `hnsw.ef_search` and `hnsw.iterative_scan` when its scan fetches the
    /// first row. Run outside a transaction, the statement is its own transaction, so the
    /// settings end with it: one round trip in all, pooler-safe and cancel-safe (there is
    /// no BEGIN whose COMMIT could be lost). `crates/rag/tests/vector_search.rs` checks the
    /// plan's shape and that row-level security sees the organization.
    pub fn inline(&self, scope: &TenantScope) -> SearchStatement {
        self.gated(Some(scope))
    }

    /// The statement with its settings (and, given a scope, the tenant's) as `set_config`
    /// calls in its gate; unchanged when there is nothing to set.
    fn gated(&self, scope: Option<&TenantScope>) -> SearchStatement {
        let mut binds = self.binds.clone();
        let mut calls = Vec::new();
        if let Some(scope) = scope {
            binds.push(Bind::Text(scope.organization_id().as_str().to_owned()));
            calls.push(format!(
                "set_config('{CURRENT_ORG_SETTING}', ${}, true)",
                binds.len()
            ));
            let user = scope
                .actor()
                .user_id()
                .map_or_else(String::new, |u| u.as_str().to_owned());
            binds.push(Bind::Text(user));
            calls.push(format!(
                "set_config('{CURRENT_USER_SETTING}', ${}, true)",
                binds.len()
            ));
        }
        calls.extend(
            self.knobs
                .iter()
                .map(|(k, v)| format!("set_config('{k}', '{v}', true)")),
        );
        if calls.is_empty() {
            return SearchStatement::new(None, self.sql.clone(), binds);
        }
        let gate = format!("(SELECT concat({})) IS NOT NULL AND ", calls.join(", "));
        // Into every guard: a k-NN statement has one, but each side of a hybrid statement
        // has its own, and PostgreSQL may run either side first (a full join builds its
        // inner side's hash table before reading the outer side), so each sets what it
        // reads (the tenant for the text side's function, ef_search for the index scan).
        let sql = self.sql.replace(GUARD, &format!("{GUARD}{gate}"));
        SearchStatement::new(None, sql, binds)
    }

    /// Runs the [`SearchStatement::inline`] form: one statement, one round trip (outside any
    /// transaction, its own implicit one; inside one, its settings last until that ends,
    /// like `SET LOCAL`).
    pub(crate) async fn run_inline<T>(
        &self,
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<T>, RagError>
    where
        T: QueryableByName<Pg> + Send + 'static,
    {
        let inline = self.inline(scope);
        let query = crate::prepared::PreparedSql {
            sql: &inline.sql,
            binds: &inline.binds,
        };
        Ok(query.load::<T>(conn).await?)
    }

    /// Runs the statement in the caller's transaction (the scope's, which set the tenant),
    /// its pgvector settings inside it as in [`SearchStatement::inline`] (so the planner
    /// costs the index at the session's `ef_search`, never at the search's), one cached
    /// prepared statement. For a domain crate's own search over its vector table (brand
    /// voices, memories): it checks its own permission, builds the statement with
    /// [`search_statement`] and runs it here, inside its scope's transaction.
    pub async fn run<T>(&self, tx: &mut AsyncPgConnection) -> Result<Vec<T>, RagError>
    where
        T: QueryableByName<Pg> + Send + 'static,
    {
        let gated = self.gated(None);
        let query = crate::prepared::PreparedSql {
            sql: &gated.sql,
            binds: &gated.binds,
        };
        Ok(query.load::<T>(tx).await?)
    }
}

/// The `set_config` statement for non-default settings, `None` when there is nothing to set.
fn settings_sql(settings: &[(&'static str, String)]) -> Option<String> {
    if settings.is_empty() {
        return None;
    }
    let calls: Vec<String> = settings
        .iter()
        .map(|(k, v)| format!("set_config('{k}', '{v}', true)"))
        .collect();
    Some(format!("SELECT {}", calls.join(", ")))
}

/// The pgvector settings a search changes from their defaults (names and values are ours,
/// never the caller's text: numbers and fixed words).
fn settings_for(options: &SearchOptions, filtered: bool) -> Vec<(&'static str, String)> {
    let mut settings = Vec::new();
    let ef = options.effective_ef_search_for(filtered);
    if ef != DEFAULT_EF_SEARCH {
        settings.push(("hnsw.ef_search", ef.to_string()));
    }
    if let Some(probes) = options.probes.filter(|&p| p != DEFAULT_PROBES) {
        settings.push(("ivfflat.probes", probes.to_string()));
    }
    let iterative = options.iterative_scan.unwrap_or(if filtered {
        IterativeScan::StrictOrder
    } else {
        IterativeScan::Off
    });
    if iterative != IterativeScan::Off {
        settings.push(("hnsw.iterative_scan", iterative.setting().to_owned()));
        // IVFFlat knows only relaxed order.
        settings.push(("ivfflat.iterative_scan", "relaxed_order".to_owned()));
    }
    settings
}

/// What every search statement starts from, written once for k-NN and hybrid search: the
/// scope check, the vector check, the index's cast, and the WHERE clauses (the literal
/// space predicate the partial index needs, the organization guard, the filters). The
/// query vector is always `$1`.
pub(crate) struct StatementSetup {
    /// The distance expression, exactly as the index has it (`t.embedding::vector(D) <=> $1`).
    pub(crate) distance: String,
    /// The distance hits are ranked and reported by: [`StatementSetup::distance`], except
    /// for a binary index, whose candidates are re-ranked on the full vectors.
    pub(crate) exact_distance: String,
    /// The cast the index was built on.
    pub(crate) cast: VectorCast,
    /// The WHERE clauses joined with AND (table alias `t`).
    pub(crate) clauses: String,
    /// [`StatementSetup::clauses`] for the vector side: rows without an embedding are never
    /// vector candidates (they may still match the text side of a hybrid search).
    pub(crate) vector_clauses: String,
    /// [`StatementSetup::vector_clauses`] without the organization guard (for statements
    /// whose guard is elsewhere: [`SearchPlan::Auto`]'s plan row).
    unguarded: String,
    /// The organization's placeholder.
    org: String,
    /// Each parent filter's column and placeholder.
    parents: Vec<(&'static str, String)>,
    table: VectorTable,
    space: EmbeddingSpaceId,
    distance_kind: Distance,
    storage: IndexStorage,
    rerank_candidates: i64,
    binds: Vec<Bind>,
    settings: Vec<(&'static str, String)>,
}

impl StatementSetup {
    pub(crate) fn new(
        scope: &TenantScope,
        table: VectorTable,
        space: &EmbeddingSpace,
        query: &Vector,
        filter: &SearchFilter,
        options: &SearchOptions,
    ) -> Result<Self, RagError> {
        if space.organization_id != *scope.organization_id() {
            return Err(RagError::foreign_parent("embedding space", &space.id));
        }
        options.validate()?;
        validate_vector(query, space.dimension)?;
        let cast = VectorCast::for_search(space.dimension, options.storage)?;
        let distance = format!(
            "{} {} {}",
            cast.expression("t.embedding"),
            cast.operator(options.distance),
            cast.parameter(1)
        );
        // A binary index orders candidates by Hamming distance; they are ranked, and
        // reported, by the exact distance on the full vectors.
        let exact_distance = match cast {
            VectorCast::Bit(d) => format!(
                "{} {} $1",
                VectorCast::Vector(d).expression("t.embedding"),
                options.distance.operator()
            ),
            _ => distance.clone(),
        };
        let mut setup = Self {
            distance,
            exact_distance,
            cast,
            clauses: String::new(),
            vector_clauses: String::new(),
            unguarded: String::new(),
            org: String::new(),
            parents: Vec::new(),
            table,
            space: space.id.clone(),
            distance_kind: options.distance,
            storage: options.storage,
            rerank_candidates: options.rerank_candidates(),
            binds: vec![Bind::Vector(query.clone())],
            settings: if options.plan == SearchPlan::Exact {
                Vec::new()
            } else {
                settings_for(options, !filter.is_empty())
            },
        };
        let mut clauses = vec![format!("t.{}", space_predicate(space.id.as_str()))];
        // A one-time filter (an InitPlan): evaluated once, it does not change the scan, and a
        // forged EmbeddingSpace value cannot reach another organization's vectors.
        let org = setup.param(Bind::Text(scope.organization_id().as_str().to_owned()));
        clauses.push(format!(
            "EXISTS (SELECT 1 {GUARD}{})",
            setup.space_is_the_organizations(&org)
        ));
        setup.org = org.clone();
        if table == VectorTable::MemEmbeddings {
            // Memories carry their own organization, and an expired memory is never found.
            clauses.push(format!("t.\"organizationId\" = {org}"));
            clauses.push(
                "(t.\"expiresAt\" IS NULL OR t.\"expiresAt\" > (now() AT TIME ZONE 'UTC'))"
                    .to_owned(),
            );
        }
        if let Some(metadata) = &filter.metadata {
            InvalidData::check_json("metadata filter", metadata)?;
        }
        for parent in &filter.parents {
            if parent.table() != table {
                return Err(RagError::InvalidFilter(format!(
                    "{} cannot be filtered by {:?} (a parent of {})",
                    table.name(),
                    parent.column(),
                    parent.table().name()
                )));
            }
            InvalidData::check_text(parent.column(), parent.value())?;
            let value = setup.param(Bind::Text(parent.value().to_owned()));
            clauses.push(format!("t.\"{}\" = {value}", parent.column()));
            setup.parents.push((parent.column(), value));
        }
        if let Some(metadata) = &filter.metadata {
            if !table.has_metadata() {
                return Err(RagError::InvalidFilter(format!(
                    "{} has no metadata column",
                    table.name()
                )));
            }
            let value = setup.param(Bind::Json(metadata.clone()));
            clauses.push(format!("t.metadata @> {value}"));
        }
        if !filter.conditions.is_empty() && !table.has_metadata() {
            return Err(RagError::InvalidFilter(format!(
                "{} has no metadata column",
                table.name()
            )));
        }
        for condition in &filter.conditions {
            let clause = condition.sql(&mut |bind| setup.param(bind))?;
            clauses.push(clause);
        }
        if let Some(from) = filter.created_from {
            InvalidData::check_timestamp("created_from", from)?;
            let value = setup.param(Bind::Timestamp(from));
            clauses.push(format!("t.\"createdAt\" >= {value}"));
        }
        if let Some(before) = filter.created_before {
            InvalidData::check_timestamp("created_before", before)?;
            let value = setup.param(Bind::Timestamp(before));
            clauses.push(format!("t.\"createdAt\" < {value}"));
        }
        setup.clauses = clauses.join(" AND ");
        setup.vector_clauses = format!("{} AND t.embedding IS NOT NULL", setup.clauses);
        clauses.remove(1);
        clauses.push("t.embedding IS NOT NULL".to_owned());
        setup.unguarded = clauses.join(" AND ");
        Ok(setup)
    }

    /// `s.id = '<space>' AND s."organizationId" = <org>`: the guard's condition on
    /// `embedding_spaces s`.
    fn space_is_the_organizations(&self, org: &str) -> String {
        format!(
            "s.id = {} AND s.\"organizationId\" = {org}",
            literal(self.space.as_str())
        )
    }

    /// `clauses` for an exact scan: with a parent filter, the space predicate is written
    /// `(...) IS TRUE`, which no index serves, so the rows come through the parent's btree
    /// alone (PostgreSQL otherwise ANDed it with a bitmap of the whole space's btree: 4 of
    /// 5.5 ms for a 1,000-row document of a 100k space); without one, the space's btree
    /// finds them.
    fn for_exact_scan(&self, clauses: &str) -> String {
        if self.parents.is_empty() {
            return clauses.to_owned();
        }
        let space = format!("t.{}", space_predicate(self.space.as_str()));
        clauses.replacen(&space, &format!("({space}) IS TRUE"), 1)
    }

    /// The condition under which [`SearchPlan::Auto`] scans exactly (SQL, evaluated once
    /// per search, after the statement's settings: see [`SearchPlan::Auto`]). Each count
    /// stops at its bound, so a large space or parent costs a bounded number of index
    /// entries, and a large space with a current estimate costs one catalog lookup.
    fn auto_exact_condition(&self) -> String {
        let table = self.table.name();
        let indexes: Vec<String> = crate::index::ann_index_names(
            self.table,
            &self.space,
            self.distance_kind,
            self.storage,
        )
        .iter()
        .map(|name| format!("to_regclass({})", literal(&format!("public.{name}"))))
        .collect();
        let small = AUTO_EXACT_SPACE_ROWS;
        // The estimate when ANALYZE (or the build) made one; a count that stops at the
        // bound when there is none (never analyzed: -1) or it says empty (an index built
        // before the rows came), where a stale zero would send a grown space to a scan.
        let mut condition = format!(
            "COALESCE((SELECT CASE WHEN max(c.reltuples) > 0 THEN max(c.reltuples) < {small} END \
                       FROM pg_catalog.pg_class c WHERE c.oid IN ({indexes})), \
                      (SELECT count(*) FROM (SELECT 1 FROM public.{table} z WHERE z.{space} LIMIT {small}) z) < {small})",
            indexes = indexes.join(", "),
            space = space_predicate(self.space.as_str()),
        );
        let bound = AUTO_EXACT_PARENT_ROWS;
        for (column, value) in &self.parents {
            condition.push_str(&format!(
                " OR (SELECT count(*) FROM (SELECT 1 FROM public.{table} z WHERE z.\"{column}\" = {value} LIMIT {limit}) z) <= {bound}",
                limit = bound + 1
            ));
        }
        condition
    }

    /// The organization's placeholder (`$n`).
    pub(crate) fn org_placeholder(&self) -> &str {
        &self.org
    }

    /// Binds a parameter and returns its placeholder (`$n`).
    pub(crate) fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    /// The finished statement around `sql` (built from this setup's pieces).
    pub(crate) fn finish(self, sql: String) -> SearchStatement {
        let mut statement = SearchStatement::new(settings_sql(&self.settings), sql, self.binds);
        statement.knobs = self.settings;
        statement
    }
}

/// Builds the statements of a k-NN search (exposed so plans can be inspected).
///
/// Under [`SearchPlan::Auto`] the statement holds both plans as two branches of a `UNION
/// ALL`, each gated by a one-time filter on the plan row (`nh_plan`: the organization
/// guard and the choice, computed once): PostgreSQL runs only the branch whose gate is true
/// (`EXPLAIN ANALYZE` marks the other `never executed`), and a cached generic plan keeps
/// both, so the choice is made at every run, never frozen into a plan. The rows come in the
/// open branch's order (an `Append` returns its children's rows in turn; an outer `ORDER
/// BY` made PostgreSQL merge the branches, which cost far more than it saved), and
/// [`vector_search`] sorts its hits by distance again, which also orders a relaxed
/// iterative scan's.
pub fn search_statement(
    scope: &TenantScope,
    table: VectorTable,
    space: &EmbeddingSpace,
    query: &Vector,
    filter: &SearchFilter,
    options: &SearchOptions,
) -> Result<SearchStatement, RagError> {
    let setup = StatementSetup::new(scope, table, space, query, filter, options)?;
    // k is a literal (a checked integer): as a parameter it made the generic plan's cost an
    // estimate for an unknown LIMIT, so the plan cache re-planned every search.
    let k = options.k;
    let columns = select_list(table, options)?;
    let table = table.name();
    let distance = &setup.distance;
    let exact = &setup.exact_distance;
    // `+ 0` keeps the value and hides the index's operator shape from the planner: the
    // rows are found through the filters' indexes and sorted exactly.
    let exact_order = format!("({exact}) + 0");
    // `tail` adds to the select list (the Auto branches' `nh_exact`).
    let index_query = |clauses: &str, tail: &str| match setup.cast {
        // Over-fetch through the binary index, then rank those candidates exactly.
        VectorCast::Bit(_) => format!(
            "SELECT {columns}, ({exact})::float8 AS distance{tail} FROM \
             (SELECT t.* FROM public.{table} t WHERE {clauses} ORDER BY {distance} LIMIT {candidates}) t \
             ORDER BY distance LIMIT {k}",
            candidates = setup.rerank_candidates,
        ),
        _ => format!(
            "SELECT {columns}, ({distance})::float8 AS distance{tail} FROM public.{table} t \
             WHERE {clauses} ORDER BY {distance} LIMIT {k}"
        ),
    };
    let exact_query = |clauses: &str, tail: &str| {
        format!(
            "SELECT {columns}, ({exact})::float8 AS distance{tail} FROM public.{table} t \
             WHERE {clauses} ORDER BY {exact_order} LIMIT {k}"
        )
    };
    let sql = match options.plan {
        SearchPlan::Index => index_query(&setup.vector_clauses, ""),
        SearchPlan::Exact => exact_query(&setup.for_exact_scan(&setup.vector_clauses), ""),
        // Each branch says which it is (`nh_exact`), so `vector_search` can remember the
        // choice and send that branch alone next time (see `AUTO_PLAN_MEMORY`).
        SearchPlan::Auto => format!(
            "WITH nh_plan AS MATERIALIZED (SELECT {choice} AS exact {GUARD}{guard}) \
             ({index}) UNION ALL ({scan})",
            choice = setup.auto_exact_condition(),
            guard = setup.space_is_the_organizations(&setup.org),
            index = index_query(
                &format!("{} AND (SELECT NOT exact FROM nh_plan)", setup.unguarded),
                ", false AS nh_exact"
            ),
            scan = exact_query(
                &format!(
                    "{} AND (SELECT exact FROM nh_plan)",
                    setup.for_exact_scan(&setup.unguarded)
                ),
                ", true AS nh_exact"
            ),
        ),
    };
    Ok(setup.finish(sql))
}

/// What a search selects: the requested columns, or every column of the table with the
/// embedding replaced by a typed NULL unless asked for.
pub(crate) fn select_list(table: VectorTable, options: &SearchOptions) -> Result<String, RagError> {
    if let Some(columns) = &options.columns {
        if columns.is_empty() {
            return Err(RagError::invalid_option(
                "columns",
                "[]",
                "at least one column of the searched table",
            ));
        }
        let mut list = Vec::with_capacity(columns.len());
        for column in columns {
            if !table.columns().contains(&column.as_str()) {
                return Err(RagError::invalid_option(
                    "columns",
                    format!("{column:?} for {}", table.name()),
                    "columns of the searched table (VectorTable::columns)",
                ));
            }
            list.push(format!("t.\"{column}\""));
        }
        return Ok(list.join(", "));
    }
    Ok(table
        .columns()
        .iter()
        .map(|c| match *c {
            "embedding" if !options.with_embedding => "NULL::vector AS embedding".to_owned(),
            c => format!("t.\"{c}\""),
        })
        .collect::<Vec<_>>()
        .join(", "))
}

/// The k rows of `table` in `space` nearest to `query`, nearest first. `T` is the row type
/// (`Chunk`, `Message`, or a campaigns/CRM crate's own for brand voices and memories);
/// [`crate::Chunk::search`] and [`crate::Message::search`] are this with their table.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = table.name(), op = "search"))]
pub async fn vector_search<T>(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    table: VectorTable,
    space: &EmbeddingSpace,
    query: &Vector,
    filter: &SearchFilter,
    options: &SearchOptions,
) -> Result<Vec<Hit<T>>, RagError>
where
    T: QueryableByName<Pg> + Send + 'static,
{
    scope.require(keys::KNOWLEDGE_READ)?;
    let auto_key = (options.plan == SearchPlan::Auto).then(|| PlanKey {
        organization: scope.organization_id().as_str().to_owned(),
        table,
        space: space.id.as_str().to_owned(),
        distance: options.distance,
        storage: options.storage,
        parents: filter
            .parents
            .iter()
            .map(|p| (p.column(), p.value().to_owned()))
            .collect(),
    });
    let remembered;
    let options = match auto_key.as_ref().and_then(plan_memory::recall) {
        Some(exact) => {
            remembered = SearchOptions {
                plan: if exact {
                    SearchPlan::Exact
                } else {
                    SearchPlan::Index
                },
                ..options.clone()
            };
            &remembered
        }
        None => options,
    };
    let statement = search_statement(scope, table, space, query, filter, options)?;
    let mut hits = if options.plan == SearchPlan::Auto {
        let flagged = run_search::<Flagged<Hit<T>>>(conn, scope, &statement).await?;
        // No row, no decision to learn: the next search decides again.
        if let (Some(first), Some(key)) = (<[_]>::first(&flagged), auto_key) {
            plan_memory::remember(key, first.exact);
        }
        flagged.into_iter().map(|f| f.row).collect()
    } else {
        run_search::<Hit<T>>(conn, scope, &statement).await?
    };
    sort_by_distance(&mut hits);
    Ok(hits)
}

/// Runs a search's one statement. Inside the caller's transaction the scope's savepoint
/// keeps (and restores) the enclosing tenant; outside any, the one-statement form is the
/// whole transaction. Both carry the pgvector settings inside the statement, so the planner
/// costs the index at the session's ef_search, never at a search's larger one (which made it
/// prefer a sequential scan of a mid-sized space).
pub(crate) async fn run_search<R>(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    statement: &SearchStatement,
) -> Result<Vec<R>, RagError>
where
    R: QueryableByName<Pg> + Send + 'static,
{
    if in_transaction(conn)? {
        return scope
            .transaction(conn, async |tx| statement.run_inline::<R>(tx, scope).await)
            .await;
    }
    statement.run_inline::<R>(conn, scope).await
}

/// A row of a [`SearchPlan::Auto`] statement and which of its branches produced it.
struct Flagged<R> {
    row: R,
    exact: bool,
}

impl<R: QueryableByName<Pg>> QueryableByName<Pg> for Flagged<R> {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, Pg>) -> diesel::deserialize::Result<Self> {
        Ok(Self {
            row: R::build(row)?,
            exact: diesel::row::NamedRow::get::<diesel::sql_types::Bool, bool>(row, "nh_exact")?,
        })
    }
}

/// Nearest first (stable: equal distances keep the statement's order).
fn sort_by_distance<T>(hits: &mut [Hit<T>]) {
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
}

/// Whether `conn` is inside a transaction diesel-async knows of.
pub(crate) fn in_transaction(conn: &mut AsyncPgConnection) -> Result<bool, RagError> {
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    Ok(AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_some())
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// `EXPLAIN` of a search statement as it runs: its settings inside it (where they take
/// effect at execution, so the plan is the one PostgreSQL makes at the session's
/// settings), in a transaction that is rolled back.
pub async fn explain(
    conn: &mut AsyncPgConnection,
    statement: &SearchStatement,
) -> Result<String, RagError> {
    use diesel_async::{AnsiTransactionManager, TransactionManager};
    AnsiTransactionManager::begin_transaction(conn).await?;
    let plan = async {
        let gated = statement.gated(None);
        let explained = SearchStatement {
            sql: format!("EXPLAIN {}", gated.sql),
            ..gated
        };
        let lines: Vec<PlanLine> = explained.query().load(conn).await?;
        Ok::<_, RagError>(
            lines
                .into_iter()
                .map(|l| l.line)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
    .await;
    AnsiTransactionManager::rollback_transaction(conn).await?;
    plan
}
