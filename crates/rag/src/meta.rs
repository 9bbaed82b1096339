//! Typed conditions on a row's `metadata` (jsonb) for searches: equality, `IN`, numeric and
//! time ranges, existence, each negatable. No JSON is built by hand: a condition names a
//! path of keys and a typed value, and the library writes the SQL.
//!
//! Which index can serve which condition (none is created by the migrations; add the one
//! your filters need):
//! - [`MetaTest::Eq`] is written as containment (`metadata @> {"a":{"b":v}}`), so a GIN
//!   index on `metadata` (`jsonb_path_ops`, or the default `jsonb_ops`) serves it, as it
//!   serves [`SearchFilter::metadata`](crate::SearchFilter::metadata).
//! - [`MetaTest::In`], [`MetaTest::Number`] and [`MetaTest::Exists`] are written on the
//!   path expression `metadata #> '{a,b}'` with the path as a constant, so a btree
//!   expression index on exactly that expression (`CREATE INDEX ... ((metadata #> '{a,b}'))`)
//!   can serve `In`; ranges and time ranges guard their casts (below) and are evaluated on
//!   the candidate rows.
//!
//! Under a vector index the conditions filter the index's candidates (with the iterative
//! scan a filtered search turns on). [`SearchPlan::Auto`](crate::SearchPlan::Auto) does not
//! estimate their selectivity; for a condition known to be selective and served by an index
//! above, [`SearchPlan::Exact`](crate::SearchPlan::Exact) finds the rows first and ranks
//! them exactly.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::RagError;
use crate::search::Bind;
use crate::vector_table::literal;

/// The most keys in a path.
pub const MAX_PATH_DEPTH: usize = 32;
/// The most bytes of all a path's keys together.
pub const MAX_PATH_BYTES: usize = 1024;
/// The most values an [`MetaTest::In`] takes (one array parameter, whatever the count).
pub const MAX_IN_VALUES: usize = 100_000;

/// A scalar a metadata value is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// A JSON string.
    Text(String),
    /// A JSON number (compared by value: `1` equals `1.0`).
    Number(f64),
    /// A JSON boolean.
    Bool(bool),
}

impl From<&str> for MetaValue {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for MetaValue {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<f64> for MetaValue {
    fn from(x: f64) -> Self {
        Self::Number(x)
    }
}

impl From<i64> for MetaValue {
    fn from(x: i64) -> Self {
        Self::Number(x as f64)
    }
}

impl From<bool> for MetaValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl MetaValue {
    fn to_json(&self, field: &str) -> Result<Value, RagError> {
        Ok(match self {
            Self::Text(s) => {
                neonhub_schema::InvalidData::check_text(field, s)?;
                Value::String(s.clone())
            }
            Self::Number(x) => {
                Value::Number(serde_json::Number::from_f64(*x).ok_or_else(|| {
                    RagError::InvalidFilter(format!("{field}: {x} is not a finite number"))
                })?)
            }
            Self::Bool(b) => Value::Bool(*b),
        })
    }
}

/// What a condition tests at its path.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaTest {
    /// The value equals this scalar.
    Eq(MetaValue),
    /// The value equals one of these (an empty list matches nothing); at most
    /// [`MAX_IN_VALUES`].
    In(Vec<MetaValue>),
    /// The value is a number in `from <= x < before` (either bound may be open); a value
    /// that is not a number never matches.
    Number {
        /// Inclusive lower bound.
        from: Option<f64>,
        /// Exclusive upper bound.
        before: Option<f64>,
    },
    /// The value is a timestamp string (RFC 3339: `2026-11-27T10:00:00Z`, an offset or
    /// fractional seconds allowed) in `from <= t < before`; any other value, including a
    /// string that is not a real instant (`2026-02-30T00:00:00Z`), never matches.
    Time {
        /// Inclusive lower bound.
        from: Option<DateTime<Utc>>,
        /// Exclusive upper bound.
        before: Option<DateTime<Utc>>,
    },
    /// The path exists (any value, `null` included).
    Exists,
}

/// A condition on `metadata` at a path of keys, e.g. `MetaCondition::eq(["author",
/// "team"], "growth")`. `!condition` negates it; a negated condition also matches rows that
/// lack the path.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaCondition {
    /// Keys from the top level down.
    pub path: Vec<String>,
    /// The test.
    pub test: MetaTest,
    /// Whether the test is negated.
    pub negated: bool,
}

fn path<I, S>(keys: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    keys.into_iter().map(Into::into).collect()
}

impl MetaCondition {
    /// `metadata` at `keys` equals `value`.
    pub fn eq<I, S>(keys: I, value: impl Into<MetaValue>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(path(keys), MetaTest::Eq(value.into()))
    }

    /// `metadata` at `keys` equals one of `values`.
    pub fn is_in<I, S, V>(keys: I, values: impl IntoIterator<Item = V>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        V: Into<MetaValue>,
    {
        Self::new(
            path(keys),
            MetaTest::In(values.into_iter().map(Into::into).collect()),
        )
    }

    /// `metadata` at `keys` is a number in `from <= x < before`.
    pub fn number<I, S>(keys: I, from: Option<f64>, before: Option<f64>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(path(keys), MetaTest::Number { from, before })
    }

    /// `metadata` at `keys` is a timestamp in `from <= t < before`.
    pub fn time<I, S>(keys: I, from: Option<DateTime<Utc>>, before: Option<DateTime<Utc>>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(path(keys), MetaTest::Time { from, before })
    }

    /// `metadata` has `keys`.
    pub fn exists<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(path(keys), MetaTest::Exists)
    }

    fn new(path: Vec<String>, test: MetaTest) -> Self {
        Self {
            path,
            test,
            negated: false,
        }
    }

    fn check_path(&self) -> Result<(), RagError> {
        if self.path.is_empty() {
            return Err(RagError::InvalidFilter(
                "a metadata condition needs a path of at least one key".to_owned(),
            ));
        }
        if self.path.len() > MAX_PATH_DEPTH {
            return Err(RagError::InvalidFilter(format!(
                "metadata path has {} keys; at most {MAX_PATH_DEPTH}",
                self.path.len()
            )));
        }
        let bytes: usize = self.path.iter().map(String::len).sum();
        if bytes > MAX_PATH_BYTES {
            return Err(RagError::InvalidFilter(format!(
                "metadata path is {bytes} bytes long; at most {MAX_PATH_BYTES}"
            )));
        }
        for key in &self.path {
            neonhub_schema::InvalidData::check_text("metadata path", key)?;
        }
        Ok(())
    }

    /// The SQL of this condition on alias `t`, binding its values through `param`.
    pub(crate) fn sql(&self, param: &mut dyn FnMut(Bind) -> String) -> Result<String, RagError> {
        self.check_path()?;
        let keys: Vec<String> = self.path.iter().map(|k| literal(k)).collect();
        // The path as a constant, so an expression index on it can match.
        let at = format!("(t.metadata #> ARRAY[{}]::text[])", keys.join(", "));
        let positive = match &self.test {
            MetaTest::Eq(value) => {
                let mut doc = value.to_json("metadata value")?;
                for key in self.path.iter().rev() {
                    doc = Value::Object([(key.clone(), doc)].into_iter().collect());
                }
                format!("t.metadata @> {}", param(Bind::Json(doc)))
            }
            MetaTest::In(values) => {
                if values.len() > MAX_IN_VALUES {
                    return Err(RagError::InvalidFilter(format!(
                        "an IN condition has {} values; at most {MAX_IN_VALUES}",
                        values.len()
                    )));
                }
                let json = values
                    .iter()
                    .map(|v| v.to_json("metadata value"))
                    .collect::<Result<Vec<_>, _>>()?;
                format!("{at} = ANY({})", param(Bind::JsonArray(json)))
            }
            MetaTest::Number { from, before } => {
                for (name, bound) in [("from", from), ("before", before)] {
                    if bound.is_some_and(|x| !x.is_finite()) {
                        return Err(RagError::InvalidFilter(format!(
                            "number range: {name} is not a finite number"
                        )));
                    }
                }
                if let (Some(a), Some(b)) = (from, before)
                    && a >= b
                {
                    return Err(RagError::InvalidFilter(format!(
                        "number range is empty: from {a} is not below before {b}"
                    )));
                }
                let value =
                    format!("(CASE WHEN jsonb_typeof({at}) = 'number' THEN ({at})::float8 END)");
                let mut parts = Vec::new();
                if let Some(a) = from {
                    parts.push(format!("{value} >= {}", param(Bind::Double(*a))));
                }
                if let Some(b) = before {
                    parts.push(format!("{value} < {}", param(Bind::Double(*b))));
                }
                if parts.is_empty() {
                    format!("jsonb_typeof({at}) = 'number'")
                } else {
                    parts.join(" AND ")
                }
            }
            MetaTest::Time { from, before } => {
                if let (Some(a), Some(b)) = (from, before)
                    && a >= b
                {
                    return Err(RagError::InvalidFilter(format!(
                        "time range is empty: from {a} is not before {b}"
                    )));
                }
                let value = timestamp_of(&at);
                let utc = |t: &DateTime<Utc>| -> NaiveDateTime { t.naive_utc() };
                let mut parts = Vec::new();
                if let Some(a) = from {
                    parts.push(format!(
                        "({value} AT TIME ZONE 'UTC') >= {}",
                        param(Bind::Timestamp(utc(a)))
                    ));
                }
                if let Some(b) = before {
                    parts.push(format!(
                        "({value} AT TIME ZONE 'UTC') < {}",
                        param(Bind::Timestamp(utc(b)))
                    ));
                }
                if parts.is_empty() {
                    format!("{value} IS NOT NULL")
                } else {
                    parts.join(" AND ")
                }
            }
            MetaTest::Exists => format!("{at} IS NOT NULL"),
        };
        Ok(if self.negated {
            // A missing path makes the test NULL; negated, that row matches.
            format!("NOT coalesce(({positive}), false)")
        } else {
            format!("coalesce(({positive}), false)")
        })
    }
}

impl std::ops::Not for MetaCondition {
    type Output = Self;

    /// The negation (a negated condition also matches rows that lack the path).
    fn not(mut self) -> Self {
        self.negated = !self.negated;
        self
    }
}

/// The timestamp a jsonb value at `at` holds, or NULL: only strings shaped like RFC 3339
/// whose fields name a real instant are cast (nested CASEs, which PostgreSQL evaluates in
/// order), so no stored value can make the cast, and with it the search, fail.
fn timestamp_of(at: &str) -> String {
    let text = format!("({at} #>> '{{}}')");
    let shape = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-5]):?[0-5][0-9])$";
    format!(
        "(CASE WHEN jsonb_typeof({at}) = 'string' AND {text} ~ '{shape}' THEN \
           CASE WHEN substr({text}, 1, 4)::int > 0 THEN \
             CASE WHEN substr({text}, 9, 2)::int <= extract(day FROM make_date(substr({text}, 1, 4)::int, substr({text}, 6, 2)::int, 1) + interval '1 month - 1 day') \
             THEN {text}::timestamptz END END END)"
    )
}
