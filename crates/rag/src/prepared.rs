//! Search statements as cacheable prepared statements.
//!
//! `diesel::sql_query` marks itself unsafe to cache, so diesel-async prepares it again on
//! every run: one extra round trip per search. A search's SQL is fixed per space and
//! filter shape, so this fragment lets diesel-async's statement cache keep it prepared.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Double, Jsonb, Text, Timestamp, Untyped};

use crate::search::Bind;

/// The SQL with `$n` renumbered in order of first appearance (binds reordered to match),
/// so that walking it can bind each parameter where it first appears.
pub(crate) fn renumber(sql: &str, binds: Vec<Bind>) -> (String, Vec<Bind>) {
    let mut order: Vec<usize> = Vec::new();
    let mut out = String::with_capacity(sql.len());
    for piece in pieces(sql) {
        match piece {
            Piece::Sql(s) => out.push_str(s),
            Piece::Param(n) => {
                let new = match order.iter().position(|&o| o == n) {
                    Some(i) => i + 1,
                    None => {
                        order.push(n);
                        order.len()
                    }
                };
                out.push_str(&format!("${new}"));
            }
        }
    }
    let binds = order.iter().map(|&n| binds[n - 1].clone()).collect();
    (out, binds)
}

enum Piece<'a> {
    Sql(&'a str),
    Param(usize),
}

/// Splits SQL into text and `$n` parameters, leaving quoted literals alone.
fn pieces(sql: &str) -> Vec<Piece<'_>> {
    let bytes = sql.as_bytes();
    let (mut out, mut start, mut i, mut quoted) = (Vec::new(), 0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'$' if !quoted && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = (i + 1..bytes.len())
                    .find(|&j| !bytes[j].is_ascii_digit())
                    .unwrap_or(bytes.len());
                out.push(Piece::Sql(&sql[start..i]));
                out.push(Piece::Param(sql[i + 1..end].parse().expect("digits")));
                start = end;
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(Piece::Sql(&sql[start..]));
    out
}

/// Renumbered SQL and its binds, as a query diesel-async may cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PreparedSql<'a> {
    pub(crate) sql: &'a str,
    pub(crate) binds: &'a [Bind],
}

impl QueryId for PreparedSql<'_> {
    type QueryId = ();
    // Not static: diesel caches it by SQL text and bind types, which is what we want.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PreparedSql<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for PreparedSql<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        let mut bound = 0;
        for piece in pieces(self.sql) {
            match piece {
                Piece::Sql(s) => out.push_sql(s),
                // First appearance: bind it (diesel writes `$n` with the same number).
                Piece::Param(n) if n == bound + 1 => {
                    bound = n;
                    match &self.binds[n - 1] {
                        Bind::Vector(v) => {
                            out.push_bind_param::<neonhub_schema::vector::sql_types::Vector, _>(v)?
                        }
                        Bind::Text(s) => out.push_bind_param::<Text, _>(s)?,
                        Bind::Json(j) => out.push_bind_param::<Jsonb, _>(j)?,
                        Bind::Timestamp(t) => out.push_bind_param::<Timestamp, _>(t)?,
                        Bind::BigInt(x) => out.push_bind_param::<BigInt, _>(x)?,
                        Bind::Double(x) => out.push_bind_param::<Double, _>(x)?,
                        Bind::JsonArray(v) => out.push_bind_param::<Array<Jsonb>, _>(v)?,
                    }
                }
                Piece::Param(n) => out.push_sql(&format!("${n}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_by_first_appearance_outside_literals() {
        let binds = vec![Bind::BigInt(1), Bind::BigInt(2), Bind::BigInt(3)];
        let (sql, binds) = renumber("SELECT $3, '$1 stays', $1, $3, $2", binds);
        assert_eq!(sql, "SELECT $1, '$1 stays', $2, $1, $3");
        assert_eq!(
            binds,
            vec![Bind::BigInt(3), Bind::BigInt(1), Bind::BigInt(2)]
        );
    }
}
