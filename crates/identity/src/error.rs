//! The identity crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;

use neonhub_schema::Denied;
use neonhub_schema::enums::MemberStatus;

/// Everything an identity repository function can fail with. Nothing is written when it
/// fails: each function runs in one transaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The row does not exist in this organization (it may exist in another: not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id (or slug).
        id: String,
    },
    /// The acting user lacks a permission the operation needs.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// An account token could not be sealed or opened: no key configured, a value sealed
    /// under a key that is not configured, a tampered or misplaced value, or plain text
    /// from before sealing (see `neonhub secrets rotate`).
    #[error(transparent)]
    Seal(#[from] neonhub_schema::seal::SealError),
    /// The change would leave the organization without an active owner.
    #[error("organization {organization} would be left without an active owner")]
    LastOwner {
        /// The organization.
        organization: String,
    },
    /// A slug (organization or role) that is not lower-case letters, digits and hyphens.
    #[error("invalid slug {slug:?}: {reason}")]
    InvalidSlug {
        /// The slug given.
        slug: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A permission key that is not `area:action` in lower case.
    #[error(
        "invalid permission key {0:?}: expected `area:action` (lower-case letters, digits, `_`)"
    )]
    InvalidPermissionKey(String),
    /// The organization slug is taken.
    #[error("an organization with slug {0:?} already exists")]
    DuplicateOrganizationSlug(String),
    /// The role slug is taken in this organization.
    #[error("a role with slug {0:?} already exists in this organization")]
    DuplicateRoleSlug(String),
    /// The permission key exists in this organization already.
    #[error("permission {0:?} already exists in this organization")]
    DuplicatePermission(String),
    /// The user already has a membership (of any status) in this organization.
    #[error("user {0} is already a member of (or invited to) this organization")]
    AlreadyMember(String),
    /// The user does not exist.
    #[error("user {0} does not exist")]
    UserNotFound(String),
    /// A role that is not one of this organization's roles.
    #[error("role {0} does not belong to this organization")]
    RoleNotInOrganization(String),
    /// A permission key this organization does not define.
    #[error("permission {0:?} is not defined in this organization")]
    UnknownPermission(String),
    /// The membership is not in a status the action applies to.
    #[error("cannot {action} a membership that is {status}")]
    InvalidTransition {
        /// The action attempted (`accept`, `suspend`, ...).
        action: &'static str,
        /// The membership's current status.
        status: MemberStatus,
    },
    /// A default role cannot be deleted, and the owner role's permissions are fixed.
    #[error("role {slug:?} is protected: {reason}")]
    ProtectedRole {
        /// The role's slug.
        slug: String,
        /// Why.
        reason: &'static str,
    },
    /// Not an email address (`local@domain`, no spaces).
    #[error("invalid email address {0:?}")]
    InvalidEmail(String),
    /// The (normalized) email belongs to another user.
    #[error("a user with email {0:?} already exists")]
    DuplicateEmail(String),
    /// The provider account is linked already.
    #[error("{provider} account {provider_account_id} is already linked")]
    DuplicateAccount {
        /// The provider.
        provider: String,
        /// The account at the provider.
        provider_account_id: String,
    },
    /// The operation records a user (creator, author) and the scope acts for the system.
    #[error("{0} needs a user acting, not the system")]
    UserActorRequired(&'static str),
    /// The user has no membership in this organization.
    #[error("user {0} is not a member of this organization")]
    NotAMember(String),
    /// A rating outside 1 to 5.
    #[error("rating {0} is out of range: 1 to 5")]
    InvalidRating(i32),
    /// A setting value the schema would accept but the product does not.
    #[error("invalid setting: {0}")]
    InvalidSetting(&'static str),
    /// The operating system's random source failed.
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
    /// A label read from a text status column that this crate does not know.
    #[error(transparent)]
    UnknownLabel(#[from] neonhub_schema::UnknownEnumLabel),
    /// A row of a batch is refused; nothing of the batch was written.
    #[error("row {position} of the batch: {source}")]
    BatchRow {
        /// Zero-based position in the batch.
        position: usize,
        /// Why.
        source: Box<IdentityError>,
    },
    /// Input or stored data the database layer cannot take or read: a NUL byte, a value
    /// out of range, a stored label this version does not know, a scope nested in another
    /// organization's transaction. A caller's or the data's problem, not an outage.
    #[error(transparent)]
    Invalid(#[from] neonhub_schema::InvalidData),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl IdentityError {
    pub(crate) fn not_found(entity: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

/// Validates a slug: 1 to 64 lower-case ASCII letters, digits and inner hyphens.
pub(crate) fn check_slug(slug: &str) -> Result<(), IdentityError> {
    let reason = if slug.is_empty() || slug.len() > 64 {
        Some("1 to 64 characters")
    } else if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("only lower-case letters, digits and hyphens")
    } else if slug.starts_with('-') || slug.ends_with('-') {
        Some("no leading or trailing hyphen")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(IdentityError::InvalidSlug {
            slug: slug.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

impl From<DieselError> for IdentityError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`IdentityError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl IdentityError {
    /// The HTTP status a web service would normally answer: not found 404, duplicates and refused transitions 409, malformed input 400, a batch row as its own error.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } | Self::UserNotFound(_) | Self::NotAMember(_) => S::NotFound,
            Self::LastOwner { .. }
            | Self::DuplicateOrganizationSlug(_)
            | Self::DuplicateRoleSlug(_)
            | Self::DuplicatePermission(_)
            | Self::AlreadyMember(_)
            | Self::InvalidTransition { .. }
            | Self::ProtectedRole { .. }
            | Self::DuplicateEmail(_)
            | Self::DuplicateAccount { .. } => S::Conflict,
            Self::InvalidSlug { .. }
            | Self::InvalidPermissionKey(_)
            | Self::RoleNotInOrganization(_)
            | Self::UnknownPermission(_)
            | Self::InvalidEmail(_)
            | Self::UserActorRequired(_)
            | Self::InvalidRating(_) => S::BadRequest,
            Self::Seal(e) => e.status_hint(),
            Self::InvalidSetting(_) | Self::Randomness(_) | Self::UnknownLabel(_) => S::Internal,
            Self::BatchRow { source, .. } => source.status_hint(),
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(IdentityError);
