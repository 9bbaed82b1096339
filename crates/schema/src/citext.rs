//! A value type for the `citext` columns (`keywords.term`, `person_identities.value`).

use std::hash::{Hash, Hasher};

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};

use diesel::sql_types::Citext as CitextSql;

/// Case-insensitive text, as PostgreSQL's `citext` compares it.
///
/// Equality and hashing ignore case (Unicode lower-casing, which matches `citext` for the
/// text it is used for here), so a `HashSet<Citext>` agrees with a unique index on a
/// `citext` column. The original spelling is kept and written back unchanged. It binds as
/// `citext`, not `text`, because `'a'::citext = 'A'::text` is false in PostgreSQL.
#[derive(
    Debug,
    Clone,
    Eq,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(sql_type = CitextSql)]
#[serde(transparent)]
pub struct Citext(String);

impl Citext {
    /// Wraps a string, keeping its spelling.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as written, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl PartialEq for Citext {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_lowercase() == other.0.to_lowercase()
    }
}

impl Hash for Citext {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_lowercase().hash(state);
    }
}

impl std::fmt::Display for Citext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Citext {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Citext {
    fn from(value: String) -> Self {
        Self(value)
    }
}

// citext's binary send/receive format is the text's bytes, as for `text`.
impl ToSql<CitextSql, Pg> for Citext {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<diesel::sql_types::Text, Pg>>::to_sql(self.0.as_str(), out)
    }
}

impl FromSql<CitextSql, Pg> for Citext {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <String as FromSql<diesel::sql_types::Text, Pg>>::from_sql(bytes).map(Self)
    }
}
