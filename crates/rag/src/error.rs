//! The RAG crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;

/// Everything a RAG repository function can fail with. Nothing is written when it fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RagError {
    /// The row does not exist in this organization (it may exist in another: not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// A referenced parent is not in this organization (or does not exist).
    #[error("{entity} {id} does not belong to this organization")]
    ForeignParent {
        /// The parent's kind.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The embedding space name is taken in this organization.
    #[error("an embedding space named {0:?} already exists in this organization")]
    DuplicateSpaceName(String),
    /// The dataset slug is taken in this organization.
    #[error("a dataset with slug {0:?} already exists in this organization")]
    DuplicateDatasetSlug(String),
    /// The chunk index is taken in this dataset.
    #[error("dataset {dataset} already has a chunk at index {idx}")]
    DuplicateChunkIndex {
        /// The dataset.
        dataset: String,
        /// The index.
        idx: i32,
    },
    /// A space's provider or model is not acceptable.
    #[error("invalid embedding space {field}: {reason}")]
    InvalidSpace {
        /// `name`, `provider` or `model`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A dimension outside 1 to 16,000 (pgvector's `vector` type).
    #[error(
        "dimension {0} is out of range: 1 to 16000 (pgvector's vector type; indexes reach 2000 as vector, 4000 as halfvec, 64000 as binary)"
    )]
    DimensionOutOfRange(i32),
    /// An index storage that cannot hold the space's vectors (pgvector indexes `vector` up
    /// to 2,000 dimensions and `halfvec` up to 4,000); nothing was built or searched.
    #[error("a {storage} index cannot hold {dimension}-dimensional vectors: {allowed}")]
    StorageTooNarrow {
        /// The storage asked for (`full`, `half`).
        storage: &'static str,
        /// The space's dimension.
        dimension: i32,
        /// What would work.
        allowed: &'static str,
    },
    /// A vector's length differs from its space's dimension.
    #[error("vector has {got} dimensions, the embedding space has {expected}")]
    DimensionMismatch {
        /// The space's dimension.
        expected: i32,
        /// The vector's length.
        got: usize,
    },
    /// A vector with no components.
    #[error("vector is empty")]
    EmptyVector,
    /// A vector component that is NaN or infinite.
    #[error("vector component {position} is {value} (NaN and infinities are refused)")]
    NonFiniteVector {
        /// Zero-based position.
        position: usize,
        /// The value, as text.
        value: String,
    },
    /// A vector on a row that names no embedding space.
    #[error("a vector needs an embedding space: the row names none")]
    VectorWithoutSpace,
    /// A chunk's document belongs to another dataset.
    #[error("document {document} belongs to dataset {document_dataset}, not {dataset}")]
    DocumentNotInDataset {
        /// The document.
        document: String,
        /// The dataset it belongs to.
        document_dataset: String,
        /// The dataset the chunk names.
        dataset: String,
    },
    /// `get_or_create` found the row by its key, but it differs from what was asked for in
    /// a field that matters (a space's dimension, a dataset's kind): using it would be wrong.
    #[error("{entity} {key:?} exists with a different {field}")]
    ExistsDifferently {
        /// What kind of row (`embedding space`, `dataset`).
        entity: &'static str,
        /// Its name or slug.
        key: String,
        /// The first field that differs.
        field: &'static str,
    },
    /// A chunk's space differs from its dataset's space.
    #[error("embedding space {space} differs from dataset {dataset}'s space {dataset_space}")]
    SpaceMismatch {
        /// The space the chunk names.
        space: String,
        /// The dataset.
        dataset: String,
        /// The dataset's space.
        dataset_space: String,
    },
    /// A row of a bulk ingest is refused; nothing of the batch was written.
    #[error("row {position} of the batch: {source}")]
    BatchRow {
        /// Zero-based position in the batch.
        position: usize,
        /// Why.
        source: Box<RagError>,
    },
    /// The server refused the COPY's data, with its own message (wrapped in
    /// [`RagError::BatchRow`] when the server named the row).
    #[error("bulk copy refused: {message}")]
    CopyRefused {
        /// The server's message and detail.
        message: String,
    },
    /// The COPY connection failed.
    #[error("bulk copy failed: {0}")]
    Copy(tokio_postgres::Error),
    /// A search option outside what it may be (nothing is clamped silently).
    #[error("invalid search option {option} = {value}: must be {allowed}")]
    InvalidOption {
        /// The option's name (`k`, `ef_search`, `rrf_k`, ...).
        option: &'static str,
        /// The value given.
        value: String,
        /// What it may be.
        allowed: &'static str,
    },
    /// A text-search language (configuration) the server does not know, such as a typo
    /// of `german`; nothing was changed.
    #[error("unknown text-search language {0:?} (see pg_ts_config: english, german, simple, ...)")]
    UnknownTextSearchLanguage(String),
    /// An index parameter outside what pgvector (or the server) accepts; nothing was built.
    #[error("invalid index option {option} = {value}: must be {allowed}")]
    InvalidIndexOption {
        /// The option (`m`, `ef_construction`, `lists`, `maintenance_work_mem`).
        option: &'static str,
        /// The value given.
        value: String,
        /// What it may be.
        allowed: String,
    },
    /// The server refused the index build; its INVALID leftover was dropped.
    #[error(
        "building index {index} failed (maintenance_work_mem = {maintenance_work_mem}): {reason}"
    )]
    IndexBuildFailed {
        /// The index.
        index: String,
        /// The memory the build was given.
        maintenance_work_mem: String,
        /// The server's refusal.
        reason: String,
    },
    /// A search filter names a column the table does not offer.
    #[error("invalid search filter: {0}")]
    InvalidFilter(String),
    /// The scope lacks the operation's permission key (nothing was read or written).
    #[error(transparent)]
    Denied(#[from] neonhub_schema::Denied),
    /// A connection (for index builds) could not be opened.
    #[error(transparent)]
    Connect(#[from] neonhub_schema::ConnectError),
    /// Input or stored data the database layer cannot take or read: a NUL byte, a value
    /// out of range, a stored label this version does not know, a scope nested in another
    /// organization's transaction. A caller's or the data's problem, not an outage.
    #[error(transparent)]
    Invalid(#[from] neonhub_schema::InvalidData),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl RagError {
    /// [`RagError::InvalidOption`].
    pub(crate) fn invalid_option(
        option: &'static str,
        value: impl std::fmt::Display,
        allowed: &'static str,
    ) -> Self {
        Self::InvalidOption {
            option,
            value: value.to_string(),
            allowed,
        }
    }

    /// [`RagError::NotFound`] for a row of `entity` with `id`.
    pub(crate) fn not_found(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// [`RagError::ForeignParent`]: `id` of `entity` is not this organization's.
    pub(crate) fn foreign_parent(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::ForeignParent {
            entity,
            id: id.to_string(),
        }
    }
}

pub(crate) use neonhub_schema::unique_violation;

impl From<DieselError> for RagError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`RagError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl RagError {
    /// The HTTP status a web service would normally answer: not found 404 (also a parent outside the organization), duplicates 409, bad vectors and options 400, a batch row as its own error, outages 503.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } | Self::ForeignParent { .. } => S::NotFound,
            Self::DuplicateSpaceName(_)
            | Self::DuplicateDatasetSlug(_)
            | Self::DuplicateChunkIndex { .. }
            | Self::ExistsDifferently { .. } => S::Conflict,
            Self::InvalidSpace { .. }
            | Self::DimensionOutOfRange(_)
            | Self::StorageTooNarrow { .. }
            | Self::DimensionMismatch { .. }
            | Self::EmptyVector
            | Self::NonFiniteVector { .. }
            | Self::VectorWithoutSpace
            | Self::DocumentNotInDataset { .. }
            | Self::SpaceMismatch { .. }
            | Self::CopyRefused { .. }
            | Self::InvalidOption { .. }
            | Self::UnknownTextSearchLanguage(_)
            | Self::InvalidIndexOption { .. }
            | Self::InvalidFilter(_) => S::BadRequest,
            Self::BatchRow { source, .. } => source.status_hint(),
            Self::Copy(_) => S::Unavailable,
            Self::IndexBuildFailed { .. } => S::Internal,
            Self::Connect(c) => c.status_hint(),
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(RagError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_row_answers_with_its_inner_errors_status() {
        let inner = RagError::DuplicateChunkIndex {
            dataset: "d".into(),
            idx: 3,
        };
        let row = RagError::BatchRow {
            position: 7,
            source: Box::new(inner),
        };
        assert_eq!(row.status_hint().code(), 409);
        let row = RagError::BatchRow {
            position: 0,
            source: Box::new(RagError::EmptyVector),
        };
        assert_eq!(row.status_hint(), neonhub_schema::StatusHint::BadRequest);
        assert_eq!(RagError::VectorWithoutSpace.status_hint().code(), 400);
    }
}
