//! Keyset pagination, newest first, shared by every domain crate's `list` functions.

use chrono::NaiveDateTime;
use diesel::QueryResult;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::methods::{FilterDsl, LimitDsl, OrderDsl};
use diesel::sql_types::{Bool, Text, Timestamp, Untyped};
use diesel_async::methods::LoadQuery;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::marker::PhantomData;

/// Where a page starts: the `(createdAt, id)` of the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// `createdAt` of the last row seen.
    pub created_at: NaiveDateTime,
    /// `id` of the last row seen (breaks ties within a millisecond).
    pub id: String,
}

impl Cursor {
    /// The cursor of a row with `created_at` and `id`.
    pub fn new(created_at: NaiveDateTime, id: &impl AsRef<str>) -> Self {
        Self {
            created_at,
            id: id.as_ref().to_owned(),
        }
    }
}

/// The most rows a page holds.
pub const MAX_PAGE_LIMIT: i64 = 500;

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows per page, 1 to [`MAX_PAGE_LIMIT`]; anything else is refused
    /// ([`crate::InvalidData::OutOfRange`]).
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

/// Loads one page of `M` rows, newest first, from `query` (a boxed single-table select
/// that already has its filters and `.select(M::as_select())`): adds [`AfterCursor`], the
/// order [`NewestFirst`] on `"createdAt"` and `limit + 1`, then turns the rows into a
/// [`Page`].
pub fn load_page<'q, 'c, Q, M>(
    conn: &'c mut AsyncPgConnection,
    query: Q,
    page: &PageRequest,
) -> impl Future<Output = QueryResult<Page<M>>> + Send + use<'q, 'c, Q, M>
where
    M: Keyed + Send + 'static,
    Q: FilterDsl<AfterCursor, Output = Q>
        + OrderDsl<NewestFirst, Output = Q>
        + LimitDsl<Output = Q>,
    Q: LoadQuery<'q, AsyncPgConnection, M> + Send + 'q,
{
    load_page_on::<CreatedAt, _, _>(conn, query, page)
}

/// [`load_page`] ordered on the timestamp column `C` ([`StartedAt`] for runs and jobs,
/// which have no `createdAt`); the row's [`Keyed::cursor`] must carry that column.
///
/// The future is declared `Send` here, where the query's lifetime is an ordinary
/// parameter: proven inside a scope transaction's higher-ranked bound instead, rustc
/// cannot show it for a boxed query ("implementation of `Query` is not general enough").
pub fn load_page_on<'q, 'c, C, Q, M>(
    conn: &'c mut AsyncPgConnection,
    query: Q,
    page: &PageRequest,
) -> impl Future<Output = QueryResult<Page<M>>> + Send + use<'q, 'c, C, Q, M>
where
    C: PageColumn,
    M: Keyed + Send + 'static,
    Q: FilterDsl<AfterCursor<C>, Output = Q>
        + OrderDsl<NewestFirst<C>, Output = Q>
        + LimitDsl<Output = Q>,
    Q: LoadQuery<'q, AsyncPgConnection, M> + Send + 'q,
{
    let query = paged::<C, _>(query, page);
    let page = page.clone();
    async move {
        let rows = query?.load::<M>(conn).await?;
        Ok(page_of(rows, &page))
    }
}

/// `query` with what [`load_page_on`] adds (the cursor's condition, the newest-first order
/// on `C`, `limit + 1`): the statement a page runs, for `EXPLAIN` ([`crate::explain`]).
pub fn paged<C, Q>(query: Q, page: &PageRequest) -> QueryResult<Q>
where
    C: PageColumn,
    Q: FilterDsl<AfterCursor<C>, Output = Q>
        + OrderDsl<NewestFirst<C>, Output = Q>
        + LimitDsl<Output = Q>,
{
    if !(1..=MAX_PAGE_LIMIT).contains(&page.limit) {
        // Refused, never clamped: a caller asking for 0 or -5 rows has a bug to see.
        return Err(diesel::result::Error::QueryBuilderError(Box::new(
            crate::InvalidData::OutOfRange(format!(
                "page limit {} is outside 1 to {MAX_PAGE_LIMIT}",
                page.limit
            )),
        )));
    }
    let mut query = query;
    if let Some(cursor) = &page.after {
        query = query.filter(AfterCursor {
            cursor: cursor.clone(),
            column: PhantomData,
        });
    }
    Ok(query
        .order(NewestFirst(PhantomData))
        .limit(page.fetch_limit()))
}

/// The keyset condition `(column, id) < ($created_at, $id)`: the rows after a cursor.
///
/// A row comparison in SQL rather than a typed `OR`, because every NeonHub table names the
/// two columns the same way (so one type serves them all) and PostgreSQL reads it as one
/// condition on the `(createdAt, id)` order. Valid on single-table selects only (the
/// names are not qualified).
#[derive(Debug, Clone)]
pub struct AfterCursor<C = CreatedAt> {
    /// The last row seen.
    pub cursor: Cursor,
    /// The timestamp column the pages are ordered on.
    pub column: PhantomData<C>,
}

/// The timestamp column pages are ordered on, as a type, so each column's statements are
/// prepared and cached apart.
pub trait PageColumn: Send + Sync + 'static {
    /// The column's name.
    const NAME: &'static str;
}

/// Pages ordered on `"createdAt"` (most tables).
#[derive(Debug, Clone, Copy)]
pub struct CreatedAt;

impl PageColumn for CreatedAt {
    const NAME: &'static str = "createdAt";
}

/// Pages ordered on `"occurredAt"` (the ledger and the event stream have no `createdAt`).
#[derive(Debug, Clone, Copy)]
pub struct OccurredAt;

impl PageColumn for OccurredAt {
    const NAME: &'static str = "occurredAt";
}

/// Pages ordered on `"startedAt"` (runs, executions and training jobs have no `createdAt`).
#[derive(Debug, Clone, Copy)]
pub struct StartedAt;

impl PageColumn for StartedAt {
    const NAME: &'static str = "startedAt";
}

impl<C: PageColumn> QueryId for AfterCursor<C> {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C: PageColumn> QueryId for NewestFirst<C> {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<C, GB> ValidGrouping<GB> for AfterCursor<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<C, GB> ValidGrouping<GB> for NewestFirst<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<C> Expression for AfterCursor<C> {
    type SqlType = Bool;
}

impl<C, QS> AppearsOnTable<QS> for AfterCursor<C> {}
impl<C, QS> SelectableExpression<QS> for AfterCursor<C> {}

impl<C: PageColumn> QueryFragment<Pg> for AfterCursor<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(");
        out.push_identifier(C::NAME)?;
        out.push_sql(", id) < (");
        out.push_bind_param::<Timestamp, _>(&self.cursor.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.cursor.id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The order of every page: `column DESC, id DESC` (ties broken by id).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewestFirst<C = CreatedAt>(pub PhantomData<C>);

impl<C> Expression for NewestFirst<C> {
    type SqlType = Untyped;
}

impl<C, QS> AppearsOnTable<QS> for NewestFirst<C> {}
impl<C, QS> SelectableExpression<QS> for NewestFirst<C> {}

impl<C: PageColumn> QueryFragment<Pg> for NewestFirst<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_identifier(C::NAME)?;
        out.push_sql(" DESC, id DESC");
        Ok(())
    }
}
