//! pgvector's `vector` type for Diesel and tokio-postgres, written here over diesel's
//! `postgres_backend` so that nothing in the build links libpq (the `pgvector` crate's
//! Diesel support enables `diesel/postgres`, which pulls `pq-sys`).
//!
//! The wire format is pgvector's binary one: the dimension and a reserved word as
//! big-endian `u16`s, then each element as a big-endian `f32`.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};

/// The SQL types of pgvector, as `table!` declarations name them.
pub mod sql_types {
    /// pgvector's `vector` column type, of any dimension (`vector(384)` and `vector` alike).
    #[derive(diesel::query_builder::QueryId, Clone, Copy, Debug, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "vector"))]
    pub struct Vector;
}

/// The most elements pgvector accepts in a `vector` (its `VECTOR_MAX_DIM`).
pub const MAX_DIMENSION: usize = 16_000;

/// An embedding: a `vector` value. Serializes as a plain JSON array of numbers.
///
/// ```
/// use neonhub_schema::Vector;
/// let v = Vector::from(vec![0.25, -1.0, 3.5]);
/// assert_eq!(v.as_slice(), &[0.25, -1.0, 3.5]);
/// assert_eq!(serde_json::to_string(&v).unwrap(), "[0.25,-1.0,3.5]");
/// ```
#[derive(
    Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = sql_types::Vector)]
#[serde(transparent)]
pub struct Vector(Vec<f32>);

impl Vector {
    /// The elements.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// A copy of the elements.
    pub fn to_vec(&self) -> Vec<f32> {
        self.0.clone()
    }

    /// The elements, without copying.
    pub fn into_vec(self) -> Vec<f32> {
        self.0
    }

    /// The dimension (number of elements).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the vector has no elements (PostgreSQL refuses such a `vector`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses pgvector's binary format (what the server sends for a `vector`).
    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let header = bytes
            .get(..4)
            .ok_or("vector: shorter than its 4-byte header")?;
        let dim = usize::from(u16::from_be_bytes([header[0], header[1]]));
        let body = &bytes[4..];
        if body.len() != dim * 4 {
            return Err(format!(
                "vector: header says {dim} elements but {} bytes follow",
                body.len()
            )
            .into());
        }
        Ok(Self(
            body.chunks_exact(4)
                .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ))
    }

    /// The binary format's header, refusing what pgvector cannot hold.
    fn header(&self) -> Result<[u8; 4], Box<dyn std::error::Error + Send + Sync>> {
        if self.0.len() > MAX_DIMENSION {
            return Err(format!(
                "vector: {} elements, pgvector holds at most {MAX_DIMENSION}",
                self.0.len()
            )
            .into());
        }
        let [a, b] = (self.0.len() as u16).to_be_bytes();
        Ok([a, b, 0, 0])
    }
}

impl std::fmt::Debug for Vector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Vector").field(&self.0).finish()
    }
}

impl From<Vec<f32>> for Vector {
    fn from(v: Vec<f32>) -> Self {
        Self(v)
    }
}

impl From<&[f32]> for Vector {
    fn from(v: &[f32]) -> Self {
        Self(v.to_vec())
    }
}

impl From<Vector> for Vec<f32> {
    fn from(v: Vector) -> Self {
        v.0
    }
}

impl ToSql<sql_types::Vector, Pg> for Vector {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&self.header()?)?;
        for x in &self.0 {
            out.write_all(&x.to_be_bytes())?;
        }
        Ok(IsNull::No)
    }
}

impl FromSql<sql_types::Vector, Pg> for Vector {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Self::decode(value.as_bytes())
    }
}

impl tokio_postgres::types::ToSql for Vector {
    fn to_sql(
        &self,
        _: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.header()?);
        for x in &self.0 {
            out.extend_from_slice(&x.to_be_bytes());
        }
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        ty.name() == "vector"
    }

    tokio_postgres::types::to_sql_checked!();
}

impl<'a> tokio_postgres::types::FromSql<'a> for Vector {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Self::decode(raw)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        ty.name() == "vector"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_format_round_trips_and_refuses_truncated_input() {
        let v = Vector::from(vec![1.5, -2.0, 0.0]);
        let mut wire = bytes::BytesMut::new();
        tokio_postgres::types::ToSql::to_sql(&v, &tokio_postgres::types::Type::BYTEA, &mut wire)
            .unwrap();
        assert_eq!(&wire[..4], &[0, 3, 0, 0]);
        assert_eq!(Vector::decode(&wire).unwrap(), v);
        assert!(Vector::decode(&wire[..wire.len() - 1]).is_err());
        assert!(Vector::decode(&[0, 1]).is_err());
        let too_long = Vector::from(vec![0.0; MAX_DIMENSION + 1]);
        assert!(too_long.header().is_err());
    }
}
