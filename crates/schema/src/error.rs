//! Errors shared by every crate of the workspace.

/// A label read from (or given for) a PostgreSQL enum type that the Rust enum does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label {label:?} for enum type {type_name}")]
pub struct UnknownEnumLabel {
    /// The PostgreSQL enum type.
    pub type_name: &'static str,
    /// The label that was not recognised.
    pub label: String,
}

impl UnknownEnumLabel {
    /// A new error for `label` of `type_name`.
    pub fn new(type_name: &'static str, label: &str) -> Self {
        Self {
            type_name,
            label: label.to_owned(),
        }
    }
}

/// The name of the unique constraint or index a violation reports, if `e` is one; domain
/// crates match on it to turn the violation into a named error.
pub fn unique_violation(e: &diesel::result::Error) -> Option<&str> {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => info.constraint_name(),
        _ => None,
    }
}

/// The name of the foreign key a violation reports, if `e` is one.
pub fn foreign_key_violation(e: &diesel::result::Error) -> Option<&str> {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
            info.constraint_name()
        }
        _ => None,
    }
}
