//! The one timestamp helper: UTC, truncated to milliseconds.
//!
//! Every timestamp column is `timestamp(3) without time zone` holding UTC. PostgreSQL
//! rounds microseconds to milliseconds on write, so a value written with more precision
//! would not read back equal; truncating first makes what you write what you read.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// The current UTC time, truncated to milliseconds, as the schema stores it.
pub fn now() -> NaiveDateTime {
    to_db(Utc::now())
}

/// Converts a UTC instant to the schema's representation (naive UTC, milliseconds).
pub fn to_db(at: DateTime<Utc>) -> NaiveDateTime {
    at.naive_utc().trunc_subsecs(3)
}

/// Reads a stored timestamp back as a UTC instant.
pub fn from_db(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// A naive UTC time truncated to milliseconds, as the schema stores it.
pub fn truncate(at: NaiveDateTime) -> NaiveDateTime {
    at.trunc_subsecs(3)
}
