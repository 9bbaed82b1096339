//! The global editorial tables (personas, keywords, the editorial calendar: shared by every
//! organization, readable with any scope, written only by system code on the owner's
//! connection, as row-level security lets the application role only read them), and the
//! organization's internal link graph between pieces of content.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
};
use diesel::sql_types::{BigInt, Double, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{
    ContentId, EditorialCalendarEntryId, KeywordId, LinkGraphEdgeId, OrganizationId, PersonaId,
};
use neonhub_schema::schema::{content, editorial_calendar, keywords, link_graph, personas};
use neonhub_schema::{Citext, InvalidData, TenantScope, keys, time};

use crate::{CampaignError, limits};

/// An audience persona (global).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = personas, check_for_backend(diesel::pg::Pg))]
pub struct Persona {
    /// Primary key (a sequence in the reference).
    pub id: PersonaId,
    /// Name, unique.
    pub name: String,
    /// Who they are.
    pub summary: Option<String>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Persona {
    /// Every persona, by name (any scope may read them).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "persona", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(personas::table
                    .order(personas::name)
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// System work (the owner's connection): the persona named `name`, inserted if new
    /// (two racing writers agree on one row); whether it was inserted. An existing
    /// persona's summary is left as it is.
    pub async fn ensure(
        conn: &mut AsyncPgConnection,
        name: &str,
        summary: Option<&str>,
    ) -> Result<(Self, bool), CampaignError> {
        limits::name("name", name)?;
        limits::text_opt("summary", summary)?;
        conn.transaction(async |tx| {
            let now = time::now();
            let inserted = diesel::insert_into(personas::table)
                .values((
                    personas::name.eq(name),
                    personas::summary.eq(summary),
                    personas::createdAt.eq(now),
                    personas::updatedAt.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            let row = personas::table
                .filter(personas::name.eq(name))
                .select(Self::as_select())
                .get_result(tx)
                .await?;
            Ok((row, inserted == 1))
        })
        .await
    }
}

/// A search term (global, unique case-insensitively).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = keywords, check_for_backend(diesel::pg::Pg))]
pub struct Keyword {
    /// Primary key.
    pub id: KeywordId,
    /// The term (`citext`: unique whatever its case).
    pub term: Citext,
    /// The searcher's intent (`informational`, `commercial`, ...).
    pub intent: String,
    /// Priority.
    pub priority: Option<i32>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// The persona it targets.
    #[diesel(column_name = personaId)]
    pub persona_id: Option<PersonaId>,
}

impl Keyword {
    /// The keywords (of one persona, or all), by term (any scope may read them).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "keyword", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        persona: Option<PersonaId>,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = keywords::table
                    .order(keywords::term)
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(p) = persona {
                    query = query.filter(keywords::personaId.eq(p));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// System work: the keyword `term` (compared case-insensitively), inserted if new;
    /// whether it was inserted. An existing term keeps its intent, priority and persona.
    pub async fn ensure(
        conn: &mut AsyncPgConnection,
        term: &str,
        intent: &str,
        priority: Option<i32>,
        persona: Option<PersonaId>,
    ) -> Result<(Self, bool), CampaignError> {
        limits::name("term", term.trim())?;
        limits::name("intent", intent)?;
        let term = Citext::new(term.trim());
        conn.transaction(async |tx| {
            let now = time::now();
            let inserted = diesel::insert_into(keywords::table)
                .values((
                    keywords::term.eq(&term),
                    keywords::intent.eq(intent),
                    keywords::priority.eq(priority),
                    keywords::personaId.eq(persona),
                    keywords::createdAt.eq(now),
                    keywords::updatedAt.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(tx)
                .await?;
            let row = keywords::table
                .filter(keywords::term.eq(&term))
                .select(Self::as_select())
                .get_result(tx)
                .await?;
            Ok((row, inserted == 1))
        })
        .await
    }
}

/// A planned publication (global).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = editorial_calendar, check_for_backend(diesel::pg::Pg))]
pub struct CalendarEntry {
    /// Primary key.
    pub id: EditorialCalendarEntryId,
    /// Title.
    pub title: String,
    /// When it is to be published.
    #[diesel(column_name = publishAt)]
    pub publish_at: NaiveDateTime,
    /// Priority.
    pub priority: Option<i32>,
    /// Status (`planned`, `drafting`, `published`, ...).
    pub status: Option<String>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// The persona it is for.
    #[diesel(column_name = personaId)]
    pub persona_id: Option<PersonaId>,
}

/// A calendar entry to plan.
#[derive(Debug, Clone)]
pub struct NewCalendarEntry<'a> {
    /// Title (1 to 200 bytes).
    pub title: &'a str,
    /// When to publish.
    pub publish_at: NaiveDateTime,
    /// Priority.
    pub priority: Option<i32>,
    /// Status (`None`: `planned`).
    pub status: Option<&'a str>,
    /// The persona.
    pub persona: Option<PersonaId>,
}

impl CalendarEntry {
    /// What is due from `from` to `until` (inclusive), for one persona or all, earliest
    /// first (any scope may read it).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "editorial_calendar", op = "due"))]
    pub async fn due(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        from: NaiveDateTime,
        until: NaiveDateTime,
        persona: Option<PersonaId>,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = editorial_calendar::table
                    .filter(editorial_calendar::publishAt.ge(from))
                    .filter(editorial_calendar::publishAt.le(until))
                    .order((editorial_calendar::publishAt, editorial_calendar::id))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(p) = persona {
                    query = query.filter(editorial_calendar::personaId.eq(p));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// System work: the entry titled `new.title`, planned if no entry has that title (the
    /// table has no unique key, so writers of one title are serialized by a transaction
    /// lock); whether it was planned now.
    pub async fn ensure(
        conn: &mut AsyncPgConnection,
        new: &NewCalendarEntry<'_>,
    ) -> Result<(Self, bool), CampaignError> {
        limits::name("title", new.title)?;
        limits::short("status", new.status)?;
        InvalidData::check_timestamp("publishAt", new.publish_at)?;
        conn.transaction(async |tx| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(1856, hashtext($1))")
                .bind::<Text, _>(new.title)
                .execute(tx)
                .await?;
            let found = editorial_calendar::table
                .filter(editorial_calendar::title.eq(new.title))
                .order(editorial_calendar::id)
                .select(Self::as_select())
                .first(tx)
                .await
                .optional()?;
            if let Some(found) = found {
                return Ok((found, false));
            }
            let now = time::now();
            let row = diesel::insert_into(editorial_calendar::table)
                .values((
                    editorial_calendar::title.eq(new.title),
                    editorial_calendar::publishAt.eq(new.publish_at),
                    editorial_calendar::priority.eq(new.priority),
                    editorial_calendar::status.eq(new.status.unwrap_or("planned")),
                    editorial_calendar::personaId.eq(new.persona),
                    editorial_calendar::createdAt.eq(now),
                    editorial_calendar::updatedAt.eq(now),
                ))
                .returning(Self::as_returning())
                .get_result(tx)
                .await?;
            Ok((row, true))
        })
        .await
    }
}

/// An internal link from one piece of content to another.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = link_graph, check_for_backend(diesel::pg::Pg))]
pub struct Link {
    /// Primary key.
    pub id: LinkGraphEdgeId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The content linking.
    #[diesel(column_name = sourceContentId)]
    pub source: ContentId,
    /// The content linked to.
    #[diesel(column_name = targetContentId)]
    pub target: ContentId,
    /// The anchor text (with source and target, unique).
    #[diesel(column_name = anchorText)]
    pub anchor: String,
    /// How related the two are (0 to 1), if measured.
    pub similarity: Option<f64>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// A suggested link: a target for a source and why.
#[derive(Debug, Clone, PartialEq, QueryableByName, serde::Serialize)]
pub struct LinkSuggestion {
    /// The content to link to.
    #[diesel(sql_type = Text)]
    pub target: ContentId,
    /// An anchor text (the target's title).
    #[diesel(sql_type = Text)]
    pub anchor: String,
    /// The full-text rank of the target against the source's title (higher is better).
    #[diesel(sql_type = Double)]
    pub rank: f64,
}

impl Link {
    /// Records a link between two pieces of this organization's content (the same source,
    /// target and anchor again updates its similarity: one row).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "link", op = "link"))]
    pub async fn link(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        source: &ContentId,
        target: &ContentId,
        anchor: &str,
        similarity: Option<f64>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        limits::name("anchorText", anchor)?;
        if let Some(s) = similarity
            && !(0.0..=1.0).contains(&s)
        {
            return Err(InvalidData::OutOfRange(format!("similarity {s}: from 0 to 1")).into());
        }
        if source == target {
            return Err(
                InvalidData::OutOfRange(format!("content {source} cannot link to itself")).into(),
            );
        }
        scope
            .transaction(conn, async |tx| {
                let ids = [source, target];
                let n: i64 = content::table
                    .filter(content::organizationId.eq(scope.organization_id()))
                    .filter(content::id.eq_any(ids))
                    .count()
                    .get_result(tx)
                    .await?;
                if n < 2 {
                    let missing = if content_of(tx, scope, source).await? {
                        target
                    } else {
                        source
                    };
                    return Err(CampaignError::foreign_parent("content", missing));
                }
                let now = time::now();
                Ok(diesel::insert_into(link_graph::table)
                    .values((
                        link_graph::id.eq(LinkGraphEdgeId::generate()),
                        link_graph::organizationId.eq(scope.organization_id()),
                        link_graph::sourceContentId.eq(source),
                        link_graph::targetContentId.eq(target),
                        link_graph::anchorText.eq(anchor),
                        link_graph::similarity.eq(similarity),
                        link_graph::createdAt.eq(now),
                        link_graph::updatedAt.eq(now),
                    ))
                    .on_conflict((
                        link_graph::sourceContentId,
                        link_graph::targetContentId,
                        link_graph::anchorText,
                    ))
                    .do_update()
                    .set((
                        link_graph::similarity.eq(similarity),
                        link_graph::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The links from `source`, by target and anchor.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "link", op = "links_from"))]
    pub async fn links_from(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        source: &ContentId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                if !content_of(tx, scope, source).await? {
                    return Err(CampaignError::foreign_parent("content", source));
                }
                Ok(link_graph::table
                    .filter(link_graph::sourceContentId.eq(source))
                    .order((link_graph::targetContentId, link_graph::anchorText))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Up to `k` (1 to 100) pieces of this organization's content `source` could link to,
    /// best first: those whose title and body match the words of `source`'s title
    /// (PostgreSQL full-text search, `simple` configuration), not `source` itself and not
    /// already linked from it; the anchor proposed is the target's title.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "link", op = "suggest"))]
    pub async fn suggest(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        source: &ContentId,
        k: i64,
    ) -> Result<Vec<LinkSuggestion>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        if !(1..=100).contains(&k) {
            return Err(InvalidData::OutOfRange(format!("k {k}: from 1 to 100")).into());
        }
        scope
            .transaction(conn, async |tx| {
                if !content_of(tx, scope, source).await? {
                    return Err(CampaignError::foreign_parent("content", source));
                }
                Ok(diesel::sql_query(
                    r#"WITH q AS (
                           SELECT to_tsquery('simple', string_agg(w, ' | ')) AS query
                           FROM (SELECT DISTINCT lower(m[1]) AS w
                                 FROM public.content s,
                                      regexp_matches(coalesce(s.title, ''), '([[:alnum:]]{3,})', 'g') m
                                 WHERE s.id = $1) words
                       )
                       SELECT t.id AS target, coalesce(t.title, '') AS anchor,
                              ts_rank(to_tsvector('simple', coalesce(t.title, '') || ' ' || coalesce(t.body, '')),
                                      q.query)::float8 AS rank
                       FROM public.content t, q
                       WHERE t."organizationId" = $2 AND t.id <> $1 AND q.query IS NOT NULL
                         AND to_tsvector('simple', coalesce(t.title, '') || ' ' || coalesce(t.body, '')) @@ q.query
                         AND NOT EXISTS (SELECT 1 FROM public.link_graph l
                                         WHERE l."sourceContentId" = $1 AND l."targetContentId" = t.id)
                       ORDER BY rank DESC, t.id
                       LIMIT $3"#,
                )
                .bind::<Text, _>(source)
                .bind::<Text, _>(scope.organization_id())
                .bind::<BigInt, _>(k)
                .load(tx)
                .await?)
            })
            .await
    }
}

/// Whether `id` is content of this organization (inside a scope transaction).
async fn content_of(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    id: &ContentId,
) -> Result<bool, CampaignError> {
    let n: i64 = content::table
        .find(id)
        .filter(content::organizationId.eq(scope.organization_id()))
        .count()
        .get_result(tx)
        .await?;
    Ok(n > 0)
}
