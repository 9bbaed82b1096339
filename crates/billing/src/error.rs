//! The billing crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;
use neonhub_schema::enums::BudgetAllocationStatus;

use crate::money::{Money, MoneyError};
use crate::quota::Quota;

/// Everything a billing repository function can fail with. Nothing is written when it fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BillingError {
    /// The row does not exist for this scope (it may exist in another: not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id (or natural key).
        id: String,
    },
    /// A referenced parent (profile, campaign, allocation, person) is not in this
    /// organization (or does not exist).
    #[error("{entity} {id} does not belong to this organization")]
    ForeignParent {
        /// The parent's kind.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// A budget profile with this name exists in the organization.
    #[error("a budget profile named {0:?} already exists in this organization")]
    DuplicateName(String),
    /// An amount or currency was refused (unknown currency, beyond ±2^53 minor units, not
    /// positive, currencies mixed in one balance, a legacy value that is not whole minor
    /// units).
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The operation would take the profile past its total: `spent + reserved <= total`.
    #[error("budget {profile} has {available} available; {requested} was asked for")]
    OverBudget {
        /// The profile.
        profile: String,
        /// What was asked.
        requested: Money,
        /// What the total leaves (`total - spent - reserved`).
        available: Money,
    },
    /// A refund (or a downward adjustment) larger than what was spent: spent never goes
    /// below zero.
    #[error("budget {profile} has spent {spent}; {requested} cannot be given back")]
    BelowZero {
        /// The profile.
        profile: String,
        /// What was asked.
        requested: Money,
        /// What is spent.
        spent: Money,
    },
    /// A new total below what is already spent and reserved.
    #[error("budget {profile} has {committed} spent and reserved; a total of {total} is less")]
    TotalBelowCommitted {
        /// The profile.
        profile: String,
        /// The total asked for.
        total: Money,
        /// Spent plus reserved.
        committed: Money,
    },
    /// A commit or release of a reservation that is no longer open.
    #[error("reservation {id} is {status}: only an open reservation can be committed or released")]
    ReservationClosed {
        /// The reservation.
        id: String,
        /// `committed` or `released`.
        status: String,
    },
    /// A commit of more than the reservation holds.
    #[error("reservation {id} holds {reserved}; {requested} cannot be committed")]
    CommitExceedsReservation {
        /// The reservation.
        id: String,
        /// What it holds.
        reserved: Money,
        /// What was asked.
        requested: Money,
    },
    /// An idempotency key used again for a different request (another operation, amount,
    /// profile or link). The first request's result stands.
    #[error("idempotency key {key:?} was used for a different {operation} request")]
    KeyReused {
        /// The key.
        key: String,
        /// The operation the key was first used for.
        operation: String,
    },
    /// Requests with this idempotency key kept committing while this one ran (it lost the
    /// race for the key twice): nothing was written; retry, and the replay returns theirs.
    #[error("a concurrent request holds idempotency key {0:?}; retry to replay it")]
    KeyInFlight(String),
    /// An allocation status change the lifecycle does not allow (or that lost a race:
    /// `from` is the status the row had when the change was refused).
    #[error("allocation {id} cannot go from {from} to {to}")]
    AllocationTransition {
        /// The allocation.
        id: String,
        /// Its status.
        from: BudgetAllocationStatus,
        /// The status asked for.
        to: BudgetAllocationStatus,
    },
    /// A quota is used up for the period: nothing was counted.
    #[error("{quota} quota: {used} of {limit} used, {requested} more asked")]
    QuotaExceeded {
        /// Which quota.
        quota: Quota,
        /// Used this period.
        used: i32,
        /// The plan's limit.
        limit: i32,
        /// What was asked.
        requested: i32,
    },
    /// A value refused before any query (an empty idempotency key, an end before a start,
    /// an unknown Stripe status), naming the field.
    #[error("{field}: {reason}")]
    BadInput {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
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

impl BillingError {
    /// [`BillingError::NotFound`] for a row of `entity` with `id`.
    pub(crate) fn not_found(entity: &'static str, id: &(impl std::fmt::Display + ?Sized)) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// [`BillingError::ForeignParent`]: `id` of `entity` is not this organization's.
    pub(crate) fn foreign_parent(
        entity: &'static str,
        id: &(impl std::fmt::Display + ?Sized),
    ) -> Self {
        Self::ForeignParent {
            entity,
            id: id.to_string(),
        }
    }

    /// [`BillingError::BadInput`] naming `field`.
    pub(crate) fn bad_input(field: &'static str, reason: impl Into<String>) -> Self {
        Self::BadInput {
            field,
            reason: reason.into(),
        }
    }
}

impl From<DieselError> for BillingError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`BillingError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl BillingError {
    /// The HTTP status a web service would normally answer: not found 404, overspending, reused keys and refused transitions 409, a used-up quota 429, bad amounts 400.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } | Self::ForeignParent { .. } => S::NotFound,
            Self::DuplicateName(_)
            | Self::OverBudget { .. }
            | Self::BelowZero { .. }
            | Self::TotalBelowCommitted { .. }
            | Self::ReservationClosed { .. }
            | Self::CommitExceedsReservation { .. }
            | Self::KeyReused { .. }
            | Self::KeyInFlight(_)
            | Self::AllocationTransition { .. } => S::Conflict,
            Self::QuotaExceeded { .. } => S::TooManyRequests,
            Self::Money(e) => e.status_hint(),
            Self::BadInput { .. } => S::BadRequest,
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(BillingError);
