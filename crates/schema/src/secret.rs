//! `Secret`: text that must never reach a log (tokens, API keys, webhook secrets).

use std::fmt;

/// A secret string. `Debug`, `Display` and `Serialize` print `[redacted]`; the value is
/// reached only through [`Secret::expose`], which is easy to find in review. Maps to SQL
/// `text`, so models can hold secret columns directly.
#[derive(
    Clone, PartialEq, Eq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: for handing to the one party that must see it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for Secret {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
            &self.0, out,
        )
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for Secret {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(
            bytes,
        )
        .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn every_printing_path_redacts() {
        let s = Secret::new("hunter2-token");
        for printed in [
            format!("{s}"),
            format!("{s:?}"),
            format!("{s:#?}"),
            serde_json::to_string(&s).unwrap(),
            format!("{:?}", Some(s.clone())),
        ] {
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains("redacted"), "{printed}");
        }
        assert_eq!(s.expose(), "hunter2-token");
    }
}
