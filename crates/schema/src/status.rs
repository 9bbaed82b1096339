//! The HTTP status a web service would normally answer for an error, so a service maps
//! every crate's errors with one `match` on [`StatusHint`] instead of one per variant.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What kind of failure an error is, as the HTTP status a web service would answer.
///
/// A hint, not a rule: a service may answer 404 for [`StatusHint::Forbidden`] to hide that
/// a row exists. [`StatusHint::code`] gives the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusHint {
    /// 400: the input is malformed or breaks a rule of the data (fix the request).
    BadRequest,
    /// 401: a credential (API key, token) was not accepted.
    Unauthorized,
    /// 403: the scope may not do this (a missing permission, not a member).
    Forbidden,
    /// 404: the row does not exist in this organization (or is not visible to it).
    NotFound,
    /// 409: the request conflicts with the current state (a duplicate, a transition the
    /// state machine refuses, a budget it would overspend, a lost serialization race).
    Conflict,
    /// 429: a quota or rate limit is used up.
    TooManyRequests,
    /// 500: a bug, or stored data this version cannot read.
    Internal,
    /// 503: the database cannot be reached or is not ready (retry later).
    Unavailable,
}

impl StatusHint {
    /// The HTTP status code.
    pub const fn code(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The hint for a Diesel error that no repository check recognized: a lost
    /// serialization race or deadlock is a conflict (retry), a closed connection or a
    /// server shutting down is unavailable, the rest internal.
    pub fn of_database(e: &DieselError) -> Self {
        match e {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation => Self::Conflict,
                DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                    Self::BadRequest
                }
                DatabaseErrorKind::ClosedConnection => Self::Unavailable,
                // 40P01 deadlock, 55P03 lock timeout, 57014 statement timeout, 57P01 admin
                // shutdown, 53300 too many connections: transient.
                _ => match info.message() {
                    m if m.contains("deadlock detected") => Self::Conflict,
                    m if m.contains("canceling statement due to")
                        || m.contains("terminating connection")
                        || m.contains("too many connections") =>
                    {
                        Self::Unavailable
                    }
                    _ => Self::Internal,
                },
            },
            DieselError::BrokenTransactionManager => Self::Unavailable,
            DieselError::QueryBuilderError(inner) => {
                if inner.downcast_ref::<crate::InvalidData>().is_some() {
                    Self::BadRequest
                } else {
                    Self::Internal
                }
            }
            _ => Self::Internal,
        }
    }
}

impl std::fmt::Display for StatusHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Errors that know their [`StatusHint`]: every public error of the NeonHub crates, so a
/// service can map any of them in one generic function.
pub trait HasStatusHint {
    /// The status a web service would normally answer for this error.
    fn status_hint(&self) -> StatusHint;
}

/// Implements [`HasStatusHint`] by the type's inherent `status_hint`.
#[macro_export]
#[doc(hidden)]
macro_rules! impl_has_status_hint {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::status::HasStatusHint for $t {
            fn status_hint(&self) -> $crate::status::StatusHint {
                <$t>::status_hint(self)
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_database_errors() {
        assert_eq!(StatusHint::Conflict.code(), 409);
        assert_eq!(
            StatusHint::of_database(&DieselError::NotFound),
            StatusHint::NotFound
        );
        assert_eq!(
            StatusHint::of_database(&DieselError::RollbackTransaction),
            StatusHint::Internal
        );
        let bad_page = DieselError::QueryBuilderError(Box::new(crate::InvalidData::OutOfRange(
            "page limit".into(),
        )));
        assert_eq!(StatusHint::of_database(&bad_page), StatusHint::BadRequest);
    }
}

impl crate::InvalidData {
    /// [`StatusHint::BadRequest`] for input; [`StatusHint::Internal`] for a stored label
    /// this version does not know and for a nested scope of another organization (a bug).
    pub fn status_hint(&self) -> StatusHint {
        match self {
            Self::UnknownLabel { .. } | Self::NestedScope { .. } => StatusHint::Internal,
            _ => StatusHint::BadRequest,
        }
    }
}

impl crate::Denied {
    /// [`StatusHint::Forbidden`]; a malformed id is [`StatusHint::BadRequest`], a failed
    /// membership query [`StatusHint::of_database`].
    pub fn status_hint(&self) -> StatusHint {
        match self {
            Self::Invalid(invalid) => invalid.status_hint(),
            Self::Unavailable(e) => match StatusHint::of_database(e) {
                StatusHint::Internal => StatusHint::Unavailable,
                other => other,
            },
            _ => StatusHint::Forbidden,
        }
    }
}

impl crate::ConnectError {
    /// [`StatusHint::Unavailable`], but a malformed URL is [`StatusHint::Internal`] (the
    /// service's configuration, not the database, is wrong).
    pub fn status_hint(&self) -> StatusHint {
        match self {
            Self::InvalidUrl(_) => StatusHint::Internal,
            _ => StatusHint::Unavailable,
        }
    }
}

impl crate::MigrateError {
    /// [`StatusHint::Unavailable`]: the schema cannot be made current right now.
    pub fn status_hint(&self) -> StatusHint {
        StatusHint::Unavailable
    }
}

impl crate::seal::SealError {
    /// [`StatusHint::BadRequest`] for a secret too large to seal, else
    /// [`StatusHint::Internal`] (a key missing, unknown or not matching is the operator's).
    pub fn status_hint(&self) -> StatusHint {
        match self {
            Self::TooLarge { .. } => StatusHint::BadRequest,
            _ => StatusHint::Internal,
        }
    }
}

impl crate::seal::KeyError {
    /// [`StatusHint::Internal`]: the key configuration is the operator's to fix.
    pub fn status_hint(&self) -> StatusHint {
        StatusHint::Internal
    }
}

impl crate::roles::AppRoleError {
    /// [`StatusHint::BadRequest`] for a name that cannot be a role, else
    /// [`StatusHint::Internal`].
    pub fn status_hint(&self) -> StatusHint {
        match self {
            Self::InvalidName(_) => StatusHint::BadRequest,
            _ => StatusHint::Internal,
        }
    }
}

impl crate::catalog::CatalogError {
    /// [`StatusHint::Internal`].
    pub fn status_hint(&self) -> StatusHint {
        StatusHint::Internal
    }
}

crate::impl_has_status_hint!(
    crate::InvalidData,
    crate::Denied,
    crate::ConnectError,
    crate::MigrateError,
    crate::seal::SealError,
    crate::seal::KeyError,
    crate::roles::AppRoleError,
    crate::catalog::CatalogError,
);
