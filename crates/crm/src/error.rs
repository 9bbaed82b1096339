//! The CRM crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;

/// Everything a CRM repository function can fail with. Nothing is written when it fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    /// The row does not exist in this organization (it may exist in another: not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id (or natural key).
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
    /// The identity (type and value, case-insensitively) already belongs to a person of this
    /// organization.
    #[error("the {kind} identity is already held by person {person}")]
    IdentityTaken {
        /// The identity's type (`email`, `phone`, ...).
        kind: String,
        /// The person holding it.
        person: String,
    },
    /// Another person of this organization has this external id.
    #[error("external id {0:?} is already used by another person")]
    DuplicateExternalId(String),
    /// A merge of a person into itself.
    #[error("cannot merge person {0} into itself")]
    MergeIntoItself(String),
    /// A consent record is never changed (the history is append-only): record a new one.
    #[error("consent {0} cannot change: record a new consent instead")]
    ConsentIsHistory(String),
    /// A row of a batch is refused; nothing of the batch was written.
    #[error("row {position} of the batch: {source}")]
    BatchRow {
        /// Zero-based position in the batch.
        position: usize,
        /// Why.
        source: Box<CrmError>,
    },
    /// The write holds identities on the suppression list (see [`crate::Screened::clear`]).
    #[error("suppressed identities ({}): this person must not be contacted", kinds.join(", "))]
    Suppressed {
        /// The kinds of the suppressed identities (`email`, `phone`, ...), never the values.
        kinds: Vec<String>,
    },
    /// The suppression key (`NEONHUB_SUPPRESSION_KEY`) is missing or malformed: nothing that
    /// needs a keyed hash runs without it (never an unkeyed hash).
    #[error("suppression key: {0}")]
    SuppressionKey(#[from] neonhub_schema::seal::KeyError),
    /// A foreign key without an `ON DELETE` action (`NO ACTION`, `RESTRICT`) has rows
    /// pointing at the person's data: the erasure would fail there, so it is refused
    /// before anything is written.
    #[error(
        "erasure blocked: {rows} row(s) of {table}.{column} reference the person's data without an ON DELETE action"
    )]
    ErasureBlocked {
        /// The referencing table.
        table: String,
        /// Its referencing column.
        column: String,
        /// How many rows block.
        rows: usize,
    },
    /// The catalog's foreign keys cannot be walked (a multi-column key, a loop): export and
    /// erasure refuse rather than miss rows.
    #[error("the person's data cannot be traced: {0}")]
    ErasurePlan(String),
    /// A COPY import's dedicated connection could not be opened.
    #[error(transparent)]
    Connect(#[from] neonhub_schema::ConnectError),
    /// A COPY import failed on the server (nothing of it was written).
    #[error("COPY of events failed: {0}")]
    Copy(String),
    /// A vector search or an embedding space check failed.
    #[error(transparent)]
    Rag(#[from] neonhub_rag::RagError),
    /// The scope lacks the operation's permission key (nothing was read or written).
    #[error(transparent)]
    Denied(#[from] neonhub_schema::Denied),
    /// Input or stored data the database layer cannot take or read: a NUL byte, an empty
    /// or oversized value, a value out of range, a stored label this version does not know.
    #[error(transparent)]
    Invalid(#[from] neonhub_schema::InvalidData),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl CrmError {
    /// [`CrmError::NotFound`] for a row of `entity` with `id`.
    pub(crate) fn not_found(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// [`CrmError::ForeignParent`]: `id` of `entity` is not this organization's.
    pub(crate) fn foreign_parent(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::ForeignParent {
            entity,
            id: id.to_string(),
        }
    }

    /// `self` as the error of row `position` of a batch.
    pub(crate) fn at(self, position: usize) -> Self {
        Self::BatchRow {
            position,
            source: Box::new(self),
        }
    }
}

impl From<DieselError> for CrmError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`CrmError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl CrmError {
    /// The HTTP status a web service would normally answer: not found 404, taken identities, suppressed people and refused merges 409, a batch row as its own error.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } | Self::ForeignParent { .. } => S::NotFound,
            Self::IdentityTaken { .. }
            | Self::DuplicateExternalId(_)
            | Self::ConsentIsHistory(_)
            | Self::Suppressed { .. }
            | Self::ErasureBlocked { .. } => S::Conflict,
            Self::MergeIntoItself(_) => S::BadRequest,
            Self::BatchRow { source, .. } => source.status_hint(),
            Self::SuppressionKey(e) => e.status_hint(),
            Self::ErasurePlan(_) => S::Internal,
            Self::Connect(c) => c.status_hint(),
            Self::Copy(_) => S::Unavailable,
            Self::Rag(e) => e.status_hint(),
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(CrmError);
