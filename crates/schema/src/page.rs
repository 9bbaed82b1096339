//! Keyset pagination, newest first, shared by every domain crate's `list` functions.

use chrono::NaiveDateTime;

/// Where a page starts: the `(createdAt, id)` of the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// `createdAt` of the last row seen.
    pub created_at: NaiveDateTime,
    /// `id` of the last row seen (breaks ties within a millisecond).
    pub id: String,
}

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page (1 to 500).
    pub limit: i64,
    /// Start after this row; `None` for the first page.
    pub after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: 50,
            after: None,
        }
    }
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: i64) -> Self {
        Self { limit, after: None }
    }

    /// The page after `cursor`.
    pub fn after(limit: i64, cursor: Cursor) -> Self {
        Self {
            limit,
            after: Some(cursor),
        }
    }

    /// The page size, clamped to 1..=500.
    pub fn clamped_limit(&self) -> i64 {
        self.limit.clamp(1, 500)
    }

    /// One row more than the page holds: its presence says whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.clamped_limit() + 1
    }
}

/// One page of rows and the cursor of the next, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows, newest first.
    pub items: Vec<T>,
    /// Pass to [`PageRequest::after`] for the next page; `None` on the last.
    pub next: Option<Cursor>,
}

/// Rows that can be paginated by `(createdAt, id)`.
pub trait Keyed {
    /// The cursor that resumes after this row.
    fn cursor(&self) -> Cursor;
}

/// Turns `limit + 1` fetched rows into a page and the cursor of the next.
pub fn page_of<T: Keyed>(mut rows: Vec<T>, request: &PageRequest) -> Page<T> {
    let limit = request.clamped_limit() as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(Keyed::cursor)
    } else {
        None
    };
    Page { items: rows, next }
}

/// Applies the keyset filter and order of `$page` on `$table` to a boxed `$query`.
#[macro_export]
#[doc(hidden)]
macro_rules! keyset {
    ($query:expr, $table:ident, $page:expr) => {{
        use diesel::{BoolExpressionMethods as _, ExpressionMethods as _, QueryDsl as _};
        let mut query = $query;
        if let Some(c) = &$page.after {
            query = query.filter(
                $table::createdAt.lt(c.created_at).or($table::createdAt
                    .eq(c.created_at)
                    .and($table::id.lt(c.id.clone()))),
            );
        }
        query
            .order(($table::createdAt.desc(), $table::id.desc()))
            .limit($page.fetch_limit())
    }};
}

/// Loads one page of `$model` rows from a boxed `$query` on `$table` (keyset filter, order,
/// `limit + 1`), then turns them into a [`Page`]; `?` converts the error to the caller's.
#[macro_export]
#[doc(hidden)]
macro_rules! load_page {
    ($conn:expr, $query:expr, $table:ident, $model:ty, $page:expr) => {{
        use diesel::{QueryDsl as _, SelectableHelper as _};
        let rows = $crate::keyset!($query, $table, $page)
            .select(<$model>::as_select())
            .load::<$model>($conn)
            .await?;
        $crate::page::page_of(rows, $page)
    }};
}

/// Implements [`Keyed`] for a model with `created_at` and a typed `id`.
#[macro_export]
#[doc(hidden)]
macro_rules! keyed {
    ($($model:ty),*) => {$(
        impl $crate::page::Keyed for $model {
            fn cursor(&self) -> $crate::page::Cursor {
                $crate::page::Cursor { created_at: self.created_at, id: self.id.as_str().to_owned() }
            }
        }
    )*};
}
