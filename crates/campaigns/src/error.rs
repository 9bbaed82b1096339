//! The campaigns crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;

/// Everything a campaigns repository function can fail with. Nothing is written when it
/// fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CampaignError {
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
    /// A unique name is taken in this organization (a brand's slug; a snippet's name and
    /// channel).
    #[error("{entity} {key:?} already exists in this organization")]
    Duplicate {
        /// What kind of row.
        entity: &'static str,
        /// The natural key taken.
        key: String,
    },
    /// A status change the life cycle does not allow.
    #[error("{entity} cannot go from {from} to {to}")]
    IllegalTransition {
        /// What kind of row (`campaign`, `content`, `content draft`).
        entity: &'static str,
        /// Its status now.
        from: String,
        /// The status asked for.
        to: String,
    },
    /// A post is already published under another external id (a second publisher got a
    /// different id from the platform: the post went out twice there).
    #[error("post {post} is already published as {existing:?}, not {attempted:?}")]
    PublishedElsewhere {
        /// The post.
        post: String,
        /// The external id recorded first.
        existing: String,
        /// The external id of this attempt.
        attempted: String,
    },
    /// The external id is already recorded for another post of the platform (which post is
    /// not said: it may be another organization's).
    #[error("external id {external_id:?} on {platform} already belongs to another post")]
    ExternalIdTaken {
        /// The platform.
        platform: String,
        /// The external id.
        external_id: String,
    },
    /// A row of a batch is refused; nothing of the batch was written.
    #[error("row {position} of the batch: {source}")]
    BatchRow {
        /// Zero-based position in the batch.
        position: usize,
        /// Why.
        source: Box<CampaignError>,
    },
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

impl CampaignError {
    /// [`CampaignError::NotFound`] for a row of `entity` with `id`.
    pub(crate) fn not_found(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// [`CampaignError::ForeignParent`]: `id` of `entity` is not this organization's.
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

impl From<DieselError> for CampaignError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`CampaignError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl CampaignError {
    /// The HTTP status a web service would normally answer: not found 404, duplicates, refused transitions and taken external ids 409, a batch row as its own error.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } | Self::ForeignParent { .. } => S::NotFound,
            Self::Duplicate { .. }
            | Self::IllegalTransition { .. }
            | Self::PublishedElsewhere { .. }
            | Self::ExternalIdTaken { .. } => S::Conflict,
            Self::BatchRow { source, .. } => source.status_hint(),
            Self::Rag(e) => e.status_hint(),
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(CampaignError);
