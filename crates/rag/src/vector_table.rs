//! The four vector tables and the distance functions, shared by indexes and search.

use crate::RagError;

/// A table with a `vector` column and an `"embeddingSpaceId"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VectorTable {
    /// `chunks` (this crate).
    #[default]
    Chunks,
    /// `messages` (this crate).
    Messages,
    /// `brand_voices` (campaigns).
    BrandVoices,
    /// `mem_embeddings` (CRM).
    MemEmbeddings,
}

impl VectorTable {
    /// Every vector table.
    pub const ALL: [Self; 4] = [
        Self::Chunks,
        Self::Messages,
        Self::BrandVoices,
        Self::MemEmbeddings,
    ];

    /// The table's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Chunks => "chunks",
            Self::Messages => "messages",
            Self::BrandVoices => "brand_voices",
            Self::MemEmbeddings => "mem_embeddings",
        }
    }

    /// A short tag for index names (which must fit 63 bytes).
    pub(crate) const fn tag(self) -> &'static str {
        match self {
            Self::Chunks => "chunks",
            Self::Messages => "msgs",
            Self::BrandVoices => "voices",
            Self::MemEmbeddings => "mems",
        }
    }

    /// The table's columns in catalog order, `embedding` among them: what a search selects
    /// (`crates/rag/tests/vector_search.rs` checks the lists against the live catalog).
    pub const fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Chunks => &[
                "id",
                "datasetId",
                "documentId",
                "embeddingSpaceId",
                "idx",
                "text",
                "embedding",
                "metadata",
                "createdAt",
            ],
            Self::Messages => &[
                "id",
                "conversationId",
                "authorId",
                "role",
                "contentJson",
                "embedding",
                "metadata",
                "createdAt",
                "embeddingSpaceId",
            ],
            Self::BrandVoices => &[
                "id",
                "brandId",
                "embeddingSpaceId",
                "promptTemplate",
                "styleRulesJson",
                "embedding",
                "metrics",
                "createdAt",
                "updatedAt",
            ],
            Self::MemEmbeddings => &[
                "id",
                "organizationId",
                "personId",
                "sourceEventId",
                "label",
                "embedding",
                "metadata",
                "createdAt",
                "expiresAt",
                "embeddingSpaceId",
            ],
        }
    }

    /// Whether the table has a `metadata` jsonb column (filterable by containment).
    pub const fn has_metadata(self) -> bool {
        !matches!(self, Self::BrandVoices)
    }
}

impl std::str::FromStr for VectorTable {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown vector table {s:?}"))
    }
}

/// How vectors are compared.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Distance {
    /// Cosine distance (`<=>`).
    #[default]
    Cosine,
    /// Euclidean distance (`<->`).
    L2,
    /// Negative inner product (`<#>`).
    InnerProduct,
}

impl Distance {
    /// The pgvector operator.
    pub const fn operator(self) -> &'static str {
        match self {
            Self::Cosine => "<=>",
            Self::L2 => "<->",
            Self::InnerProduct => "<#>",
        }
    }

    pub(crate) const fn tag(self) -> &'static str {
        match self {
            Self::Cosine => "cos",
            Self::L2 => "l2",
            Self::InnerProduct => "ip",
        }
    }

    /// The operator class for `vector` or `halfvec`.
    pub(crate) fn opclass(self, cast: VectorCast) -> String {
        let family = match self {
            Self::Cosine => "cosine",
            Self::L2 => "l2",
            Self::InnerProduct => "ip",
        };
        format!("{}_{family}_ops", cast.type_name())
    }
}

impl std::str::FromStr for Distance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cosine" | "cos" => Ok(Self::Cosine),
            "l2" => Ok(Self::L2),
            "ip" | "inner_product" => Ok(Self::InnerProduct),
            other => Err(format!("unknown distance {other:?} (cosine, l2, ip)")),
        }
    }
}

/// How an index stores a space's vectors, and so which index a search asks for
/// ([`IndexSpec::storage`](crate::IndexSpec::storage),
/// [`SearchOptions::storage`](crate::SearchOptions::storage)).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum IndexStorage {
    /// Full precision: `vector(D)` up to 2,000 dimensions; from 2,001 to 4,000 `halfvec(D)`,
    /// the only way pgvector indexes them. Wider spaces are refused
    /// ([`RagError::StorageTooNarrow`]): use [`IndexStorage::Binary`].
    #[default]
    Full,
    /// `halfvec(D)` (2 bytes per element instead of 4) up to 4,000 dimensions: on the bench
    /// about 60 % of the full index's size at 384 dimensions for the same recall (the
    /// page layout, not the elements, dominates at that width). Searches rank by the
    /// half-precision distance.
    Half,
    /// `binary_quantize(embedding)::bit(D)`, one bit per dimension (Hamming distance), at
    /// any dimension: a search fetches [`SearchOptions::rerank`](crate::SearchOptions::rerank)
    /// × k candidates from it and ranks them by their exact distance on the full vectors.
    Binary,
}

impl IndexStorage {
    /// The storage's name in errors and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Half => "half",
            Self::Binary => "binary",
        }
    }

    /// The index name's suffix (none for full precision, so the names of indexes built
    /// before storages existed are unchanged).
    pub(crate) const fn suffix(self) -> &'static str {
        match self {
            Self::Full => "",
            Self::Half => "_half",
            Self::Binary => "_bin",
        }
    }
}

/// The typed cast a space's vectors are indexed and searched through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VectorCast {
    Vector(i32),
    HalfVec(i32),
    /// `binary_quantize(...)::bit(D)`, compared by Hamming distance.
    Bit(i32),
}

/// pgvector's index limits: `vector` up to 2000 dimensions, `halfvec` up to 4000.
pub(crate) const MAX_VECTOR_INDEX_DIM: i32 = 2000;
pub(crate) const MAX_HALFVEC_INDEX_DIM: i32 = 4000;

impl VectorCast {
    /// The cast an index of `storage` is built on, and a search through it repeats.
    pub(crate) fn for_index(dimension: i32, storage: IndexStorage) -> Result<Self, RagError> {
        if !(1..=crate::MAX_DIMENSION).contains(&dimension) {
            return Err(RagError::DimensionOutOfRange(dimension));
        }
        let too_narrow = |allowed| {
            Err(RagError::StorageTooNarrow {
                storage: storage.name(),
                dimension,
                allowed,
            })
        };
        match (storage, dimension) {
            (IndexStorage::Full, 1..=MAX_VECTOR_INDEX_DIM) => Ok(Self::Vector(dimension)),
            (IndexStorage::Full | IndexStorage::Half, ..=MAX_HALFVEC_INDEX_DIM) => {
                Ok(Self::HalfVec(dimension))
            }
            (IndexStorage::Full, _) => too_narrow(
                "pgvector indexes vector up to 2000 dimensions and halfvec up to 4000; \
                 use binary storage (with re-ranking) for a wider space",
            ),
            (IndexStorage::Half, _) => too_narrow(
                "pgvector indexes halfvec up to 4000 dimensions; \
                 use binary storage (with re-ranking) for a wider space",
            ),
            (IndexStorage::Binary, _) => Ok(Self::Bit(dimension)),
        }
    }

    /// The cast a search of `storage` orders by: the index's, except that a full-precision
    /// search of a space wider than any index ranks the `vector` exactly.
    pub(crate) fn for_search(dimension: i32, storage: IndexStorage) -> Result<Self, RagError> {
        match Self::for_index(dimension, storage) {
            Err(RagError::StorageTooNarrow { .. }) if storage == IndexStorage::Full => {
                Ok(Self::Vector(dimension))
            }
            other => other,
        }
    }

    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Self::Vector(_) => "vector",
            Self::HalfVec(_) => "halfvec",
            Self::Bit(_) => "bit",
        }
    }

    /// `embedding::vector(384)`: the expression both the index and the query must repeat.
    pub(crate) fn expression(self, column: &str) -> String {
        match self {
            Self::Vector(d) => format!("({column}::vector({d}))"),
            Self::HalfVec(d) => format!("({column}::halfvec({d}))"),
            Self::Bit(d) => format!("(binary_quantize({column})::bit({d}))"),
        }
    }

    /// The operator comparing [`VectorCast::expression`] with the query: the distance's,
    /// or Hamming distance between bit strings.
    pub(crate) fn operator(self, distance: Distance) -> &'static str {
        match self {
            Self::Bit(_) => "<~>",
            _ => distance.operator(),
        }
    }

    /// The operator class an index of this cast is built with for `distance`.
    pub(crate) fn opclass(self, distance: Distance) -> String {
        match self {
            Self::Bit(_) => "bit_hamming_ops".to_owned(),
            _ => distance.opclass(self),
        }
    }

    /// The bound query vector as the operator's right operand. A `vector` parameter needs no
    /// cast (the dimension is checked before the query is sent), and a cast to `halfvec`
    /// or `bit` is made once in a scalar subquery: a cast on the parameter itself is costed
    /// per row in a generic plan but folded away in a custom one, which made PostgreSQL's
    /// plan cache judge the generic plan dearer and plan every search again (0.2 to 0.3 ms
    /// each on the bench). With equal costs it keeps the generic plan after five runs.
    pub(crate) fn parameter(self, n: usize) -> String {
        match self {
            Self::Vector(_) => format!("${n}"),
            Self::HalfVec(d) => format!("(SELECT ${n}::vector({d})::halfvec({d}))"),
            Self::Bit(d) => format!("(SELECT binary_quantize(${n}::vector({d}))::bit({d}))"),
        }
    }
}

/// A string as an SQL literal. Space ids go into index predicates and queries as literals,
/// never as parameters: a parameter in the predicate defeats the partial index under a
/// generic plan.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The partial-index predicate of a space; queries repeat it verbatim.
pub(crate) fn space_predicate(space_id: &str) -> String {
    format!("\"embeddingSpaceId\" = {}", literal(space_id))
}
