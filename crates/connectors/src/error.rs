//! The connectors crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;
use neonhub_schema::seal::SealError;

/// Everything a connectors repository function can fail with. Nothing is written when it
/// fails, except where a variant says so ([`ConnectorError::Provider`] records the error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The row does not exist or is not visible to this scope (it may exist for another
    /// organization or user: not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id (or name).
        id: String,
    },
    /// The user already has a connection to this connector for this provider account.
    #[error("connector {connector} is already connected for account {account_id:?}")]
    AlreadyConnected {
        /// The connector's id.
        connector: String,
        /// The provider account (`None`: the connection without an account id).
        account_id: Option<String>,
    },
    /// The connector is switched off in the catalog: nobody may connect it.
    #[error("connector {0} is disabled")]
    Disabled(String),
    /// The user already has a credential for this provider account.
    #[error("a credential for {provider} account {account_id:?} already exists")]
    DuplicateCredential {
        /// The provider.
        provider: String,
        /// The provider account.
        account_id: Option<String>,
    },
    /// Connections and credentials belong to a user: a system scope (no user acting)
    /// cannot make or read them.
    #[error("{0} belong to a user: act in a member's scope, not a system scope")]
    NoUser(&'static str),
    /// A status label this version does not know (read from the database).
    #[error("unknown connection status {0:?}")]
    UnknownStatus(String),
    /// A secret could not be sealed or opened: no key configured, a value sealed under a
    /// key that is not configured, a tampered or misplaced value, plain text from before
    /// sealing, or a secret over the size limit.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The provider refused a token refresh. The error is recorded on the connection
    /// (`lastError`, status `error`) and the old tokens are kept.
    #[error("the provider refused the token refresh: {message}")]
    Provider {
        /// What the provider said (as the caller's error displayed it).
        message: String,
    },
    /// The scope lacks the operation's permission key (nothing was read or written).
    #[error(transparent)]
    Denied(#[from] neonhub_schema::Denied),
    /// Input or stored data the database layer cannot take or read: a NUL byte, an empty
    /// or oversized value, a value out of range.
    #[error(transparent)]
    Invalid(#[from] neonhub_schema::InvalidData),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl ConnectorError {
    /// [`ConnectorError::NotFound`] for a row of `entity` with `id`.
    pub(crate) fn not_found(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

/// The user acting through `scope` ([`ConnectorError::NoUser`] for a system scope):
/// connections and credentials belong to a user.
pub(crate) fn acting_user<'a>(
    scope: &'a neonhub_schema::TenantScope,
    what: &'static str,
) -> Result<&'a neonhub_schema::ids::UserId, ConnectorError> {
    scope.actor().user_id().ok_or(ConnectorError::NoUser(what))
}

impl From<DieselError> for ConnectorError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`ConnectorError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl ConnectorError {
    /// The HTTP status a web service would normally answer: not found 404, duplicates and a disabled connector 409, a failed provider 503, key trouble 500.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } => S::NotFound,
            Self::AlreadyConnected { .. }
            | Self::Disabled(_)
            | Self::DuplicateCredential { .. } => S::Conflict,
            Self::NoUser(_) => S::BadRequest,
            Self::UnknownStatus(_) => S::Internal,
            Self::Seal(e) => e.status_hint(),
            Self::Provider { .. } => S::Unavailable,
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(ConnectorError);
