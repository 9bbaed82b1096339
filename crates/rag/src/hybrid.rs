//! Hybrid search: full-text and vector rankings fused by reciprocal rank fusion, in one
//! SQL statement.
//!
//! Each side ranks its `candidates` best chunks (the vector side through the space's
//! index, the text side through the GIN index of `chunk_search_vectors`, the narrow copy of
//! each chunk's stored `"searchVector"`, kept by triggers in the space's text-search
//! language); a chunk
//! scores `vector_weight / (rrf_k + vector_rank) + text_weight / (rrf_k + text_rank)`, a
//! missing side contributing nothing.

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Double, Nullable};
use neonhub_schema::TenantScope;
use neonhub_schema::Vector;

use crate::search::{Bind, SearchFilter, SearchOptions, SearchStatement, StatementSetup};
use crate::vector_table::VectorTable;
use crate::{Chunk, EmbeddingSpace, RagError};

/// How to fuse.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridOptions {
    /// Vector-side options (k is the number of fused results returned).
    pub search: SearchOptions,
    /// Candidates each side ranks before fusion.
    pub candidates: i64,
    /// Weight of the vector ranking.
    pub vector_weight: f64,
    /// Weight of the text ranking.
    pub text_weight: f64,
    /// RRF's k (60 in the original paper): damps the head of each ranking.
    pub rrf_k: f64,
}

impl HybridOptions {
    /// Checks every option, naming the first one out of range: candidates 1 to 10000,
    /// weights finite and not negative, `rrf_k` finite and not negative (ranks start at 1,
    /// so no denominator is zero), and the vector-side options.
    pub fn validate(&self) -> Result<(), RagError> {
        self.search.validate()?;
        if !(1..=crate::search::MAX_K).contains(&self.candidates) {
            return Err(RagError::invalid_option(
                "candidates",
                self.candidates,
                "1 to 10000",
            ));
        }
        for (option, value) in [
            ("vector_weight", self.vector_weight),
            ("text_weight", self.text_weight),
            ("rrf_k", self.rrf_k),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(RagError::invalid_option(
                    option,
                    value,
                    "a finite number >= 0",
                ));
            }
        }
        Ok(())
    }
}

impl Default for HybridOptions {
    fn default() -> Self {
        Self {
            search: SearchOptions::default(),
            candidates: 50,
            vector_weight: 1.0,
            text_weight: 1.0,
            rrf_k: 60.0,
        }
    }
}

/// A fused result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HybridHit {
    /// The chunk.
    pub chunk: Chunk,
    /// Its fused score (higher is better).
    pub score: f64,
    /// Its rank among the vector candidates, if it was one.
    pub vector_rank: Option<i64>,
    /// Its rank among the text matches, if it was one.
    pub text_rank: Option<i64>,
}

impl QueryableByName<Pg> for HybridHit {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, Pg>) -> diesel::deserialize::Result<Self> {
        use diesel::row::NamedRow;
        Ok(Self {
            chunk: Chunk::build(row)?,
            score: NamedRow::get::<Double, f64>(row, "score")?,
            vector_rank: NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, "vector_rank")?,
            text_rank: NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, "text_rank")?,
        })
    }
}

/// Builds the hybrid statement (exposed so its plan can be inspected).
pub fn hybrid_statement(
    scope: &TenantScope,
    space: &EmbeddingSpace,
    query: &Vector,
    text: &str,
    filter: &SearchFilter,
    options: &HybridOptions,
) -> Result<SearchStatement, RagError> {
    options.validate()?;
    if options.search.columns.is_some() {
        return Err(RagError::invalid_option(
            "columns",
            "Some(..)",
            "None for hybrid search (its hits are whole chunks)",
        ));
    }
    if options.search.storage == crate::IndexStorage::Binary {
        // Its vector ranking would be by Hamming distance, a coarse order that ties often;
        // the exact re-ranking that makes binary search worth it is k-NN search's.
        return Err(RagError::invalid_option(
            "storage",
            "binary",
            "full or half for hybrid search",
        ));
    }
    neonhub_schema::InvalidData::check_text("text", text)?;
    let mut setup = StatementSetup::new(
        scope,
        VectorTable::Chunks,
        space,
        query,
        filter,
        &options.search,
    )?;
    let text_param = setup.param(Bind::Text(text.to_owned()));
    // The counts are literals (checked integers): as parameters of a LIMIT they made the
    // plan cache judge a generic plan dearer than a custom one and plan every search again.
    let candidates = options.candidates;
    let wv = setup.param(Bind::Double(options.vector_weight));
    let wt = setup.param(Bind::Double(options.text_weight));
    let rrf_k = setup.param(Bind::Double(options.rrf_k));
    let k = options.search.k;
    let (distance, clauses, vector_clauses) =
        (&setup.distance, &setup.clauses, &setup.vector_clauses);
    // The stored tsvector (kept by a trigger in the space's language), matched through its
    // GIN index and ranked without recomputing to_tsvector per row; the query is parsed in
    // the same language, a constant for the whole statement.
    let tsv = "t.\"searchVector\"";
    let language = format!(
        "(SELECT s.\"textSearchConfig\"::regconfig FROM public.embedding_spaces s WHERE s.id = {})",
        crate::vector_table::literal(space.id.as_str())
    );
    let query = format!("websearch_to_tsquery({language}, {text_param})");
    // `@@` is not leakproof: under row-level security PostgreSQL will not match it through
    // the GIN index, so an unfiltered text side goes through `nh_chunk_text_matches` (owner's
    // rights, the space checked against `app.current_org`; it ranks from the narrow copy, so
    // a query of common words reads 30 rows a page, not 3 to 5; ids and scores only, the rows are
    // read below under row-level security). A filtered one matches in place, the filters
    // beside it, so no match the filters keep is cut by a limit taken before them.
    let text_side = if filter.is_empty() {
        format!(
            "SELECT m.id, m.score FROM public.nh_chunk_text_matches({space}, {query}, {candidates}) m \
             WHERE EXISTS (SELECT 1 FROM public.embedding_spaces s WHERE s.id = {space} AND s.\"organizationId\" = {org})",
            space = crate::vector_table::literal(space.id.as_str()),
            org = setup.org_placeholder(),
        )
    } else {
        format!(
            "SELECT t.id, ts_rank_cd({tsv}, q) AS score FROM public.chunks t, {query} q \
             WHERE {clauses} AND {tsv} @@ q ORDER BY score DESC LIMIT {candidates}"
        )
    };
    // Every column of a chunk, the embedding only when asked for. Only the k best fused
    // ids' rows are read (not all 2 x candidates), by primary key from an array of them (a
    // join on the ids let the planner walk the whole table under row-level security).
    let columns = crate::search::select_list(VectorTable::Chunks, &options.search)?;
    let sql = format!(
        "WITH vec AS (\
             SELECT v.id, row_number() OVER (ORDER BY v.distance) AS rank FROM (\
                 SELECT t.id, {distance} AS distance FROM public.chunks t WHERE {vector_clauses} \
                 ORDER BY {distance} LIMIT {candidates}) v), \
         lex AS (\
             SELECT l.id, row_number() OVER (ORDER BY l.score DESC, l.id) AS rank FROM ({text_side}) l), \
         fused AS (\
             SELECT coalesce(vec.id, lex.id) AS id, vec.rank AS vector_rank, lex.rank AS text_rank, \
                    coalesce({wv} / ({rrf_k} + vec.rank), 0) + coalesce({wt} / ({rrf_k} + lex.rank), 0) AS score \
             FROM vec FULL OUTER JOIN lex ON vec.id = lex.id), \
         top AS (SELECT * FROM fused ORDER BY score DESC, id LIMIT {k}) \
         SELECT {columns}, f.score::float8 AS score, f.vector_rank, f.text_rank \
         FROM top f JOIN (SELECT * FROM public.chunks c WHERE c.id = ANY (ARRAY(SELECT id FROM top))) t \
         ON t.id = f.id \
         ORDER BY f.score DESC, t.id LIMIT {k}"
    );
    Ok(setup.finish(sql))
}
