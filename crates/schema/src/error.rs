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

/// The longest slug [`InvalidData::check_slug`] accepts, in bytes.
pub const MAX_SLUG_LEN: usize = 128;

/// Input or stored data that the database layer cannot take or read, recognized in a diesel
/// error by [`InvalidData::recognize`] so every domain crate reports it the same typed way:
/// a caller's mistake or a row the library does not understand, never an outage (a service
/// maps it to 400 or 422, not 5xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidData {
    /// A stored label the Rust enum does not know (a status another tool wrote, a value
    /// added to a PostgreSQL enum type after this build).
    #[error("column {column} holds a label this version does not know: {label}")]
    UnknownLabel {
        /// The column as the query named it (`status`, `kind`, ...).
        column: String,
        /// The enum (for text-coded statuses `table.column`) and the label.
        label: UnknownEnumLabel,
    },
    /// A NUL byte, which PostgreSQL text, jsonb and identifiers cannot hold.
    #[error("{field} contains a NUL byte (PostgreSQL text cannot hold one)")]
    NulByte {
        /// What held it: an id's table, a field's name, or "a text value" when the server
        /// found it in a statement's parameter.
        field: String,
    },
    /// A value outside what PostgreSQL stores (a timestamp before 4713 BC, ...).
    #[error("value out of range: {0}")]
    OutOfRange(String),
    /// A text value shorter or longer than its field allows (an empty slug, a 10 kB one).
    #[error("{field} is {len} bytes long: it must be {min} to {max}")]
    Length {
        /// The field.
        field: String,
        /// Its length in bytes.
        len: usize,
        /// The shortest allowed.
        min: usize,
        /// The longest allowed.
        max: usize,
    },
    /// A slug with a character outside `a-z`, `0-9`, `-`, `_` and `.`.
    #[error("{field} {value:?} may hold only a-z, 0-9, '-', '_' and '.'")]
    Slug {
        /// The field.
        field: String,
        /// The value (at most the allowed length, so never a huge one).
        value: String,
    },
    /// A JSON value larger than its field allows once serialized (a 10 MB config value).
    #[error("{field} is {bytes} bytes of JSON: at most {max} are allowed")]
    TooLarge {
        /// The field.
        field: String,
        /// Its serialized size (counting stops just past `max`).
        bytes: usize,
        /// The largest allowed.
        max: usize,
    },
    /// A scope of one organization used inside another organization's scope transaction:
    /// the inner scope would leave `app.current_org` pointing at the wrong tenant.
    #[error(
        "a scope of organization {inner} cannot run inside the transaction of organization {outer}'s scope"
    )]
    NestedScope {
        /// The organization of the enclosing scope transaction.
        outer: String,
        /// The organization of the scope that was refused.
        inner: String,
    },
}

impl InvalidData {
    /// The invalid-data failure `e` carries, if it is one: an unknown label met while
    /// reading a row, a NUL byte refused while binding or by the server, a value out of
    /// range, or a nested scope of another organization.
    pub fn recognize(e: &diesel::result::Error) -> Option<Self> {
        use diesel::result::{DeserializeFieldError, Error};
        match e {
            Error::DeserializationError(inner) => {
                let (column, cause) = match inner.downcast_ref::<DeserializeFieldError>() {
                    Some(field) => (
                        field.field_name.clone().unwrap_or_else(|| "?".to_owned()),
                        &*field.error as &(dyn std::error::Error + 'static),
                    ),
                    None => (
                        "?".to_owned(),
                        &**inner as &(dyn std::error::Error + 'static),
                    ),
                };
                cause
                    .downcast_ref::<UnknownEnumLabel>()
                    .map(|label| Self::UnknownLabel {
                        column,
                        label: label.clone(),
                    })
            }
            Error::SerializationError(inner) | Error::QueryBuilderError(inner) => {
                inner.downcast_ref::<InvalidData>().cloned()
            }
            Error::DatabaseError(_, info) => {
                let message = info.message();
                if message.contains("0x00") || message.contains("\\u0000") {
                    Some(Self::NulByte {
                        field: "a text value".to_owned(),
                    })
                } else if message.contains("out of range") && !message.contains("integer") {
                    Some(Self::OutOfRange(message.to_owned()))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// `Err(NulByte)` naming `field` when `value` holds a NUL byte: checked before the
    /// database sees the value.
    pub fn check_text(field: &str, value: &str) -> Result<(), Self> {
        if value.contains('\0') {
            return Err(Self::NulByte {
                field: field.to_owned(),
            });
        }
        Ok(())
    }

    /// [`InvalidData::check_text`] for each `(name, value)` given (`None` values skipped):
    /// what create and update functions call on their text fields before any query.
    pub fn check_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<(), Self> {
        fields
            .into_iter()
            .try_for_each(|(field, value)| value.map_or(Ok(()), |v| Self::check_text(field, v)))
    }

    /// `Err(OutOfRange)` naming `field` when `value` lies outside what a PostgreSQL
    /// `timestamp` holds (4713 BC to 294276 AD), checked before the server refuses it.
    pub fn check_timestamp(field: &str, value: chrono::NaiveDateTime) -> Result<(), Self> {
        use chrono::Datelike;
        let (year, before_first_day) = (value.year(), (value.month(), value.day()) < (11, 24));
        // 4713 BC is year -4712 in chrono's proleptic Gregorian numbering.
        let too_early = year < -4712 || (year == -4712 && before_first_day);
        if too_early || year > 294_276 {
            return Err(Self::OutOfRange(format!(
                "{field} {value} is outside PostgreSQL's timestamp range (4713 BC to 294276 AD)"
            )));
        }
        Ok(())
    }

    /// `Err(Length)` unless `value` is `min..=max` bytes long, then
    /// [`InvalidData::check_text`].
    pub fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), Self> {
        if !(min..=max).contains(&value.len()) {
            return Err(Self::Length {
                field: field.to_owned(),
                len: value.len(),
                min,
                max,
            });
        }
        Self::check_text(field, value)
    }

    /// A slug: 1 to [`MAX_SLUG_LEN`] bytes of `a-z`, `0-9`, `-`, `_` and `.`, so it can
    /// stand in a URL unescaped and two slugs that look alike are equal.
    pub fn check_slug(field: &str, value: &str) -> Result<(), Self> {
        Self::check_length(field, value, 1, MAX_SLUG_LEN)?;
        let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(&c);
        if !value.bytes().all(allowed) {
            return Err(Self::Slug {
                field: field.to_owned(),
                value: value.to_owned(),
            });
        }
        Ok(())
    }

    /// `Err(TooLarge)` when `value` serializes to more than `max` bytes (counted without
    /// building the text, stopping just past `max`), then [`InvalidData::check_json`].
    pub fn check_json_size(field: &str, value: &serde_json::Value, max: usize) -> Result<(), Self> {
        struct Counter {
            bytes: usize,
            max: usize,
        }
        impl std::io::Write for Counter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.bytes += buf.len();
                if self.bytes > self.max {
                    return Err(std::io::Error::other("limit"));
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter { bytes: 0, max };
        if serde_json::to_writer(&mut counter, value).is_err() {
            return Err(Self::TooLarge {
                field: field.to_owned(),
                bytes: counter.bytes,
                max,
            });
        }
        Self::check_json(field, value)
    }

    /// [`InvalidData::check_text`] for every string (keys included) inside a JSON value.
    pub fn check_json(field: &str, value: &serde_json::Value) -> Result<(), Self> {
        match value {
            serde_json::Value::String(s) => Self::check_text(field, s),
            serde_json::Value::Array(items) => {
                items.iter().try_for_each(|v| Self::check_json(field, v))
            }
            serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                Self::check_text(field, k)?;
                Self::check_json(field, v)
            }),
            _ => Ok(()),
        }
    }
}
