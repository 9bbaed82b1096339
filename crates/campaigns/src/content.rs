//! Content and drafts through their review life cycles, and the snippet library with usage
//! and win rate counted atomically.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable,
    QueryableByName, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::ContentKind;
use neonhub_schema::ids::{BrandId, ContentDraftId, ContentId, OrganizationId, SnippetId, UserId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{content, content_drafts, organization_members, snippet_library};
use neonhub_schema::{InvalidData, TenantScope, keys, time, unique_violation};
use serde_json::Value;

use crate::{Brand, CampaignError, limits};

/// Whether content may go `from` → `to`: draft → review → approved → published →
/// archived; review → draft (changes asked for); approved → draft (reopened); a draft may
/// be archived. Nothing leaves archived.
pub fn content_transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("draft", "review")
            | ("review", "draft")
            | ("review", "approved")
            | ("approved", "draft")
            | ("approved", "published")
            | ("published", "archived")
            | ("draft", "archived")
    )
}

/// Whether a draft may go `from` → `to`: draft → review → approved or rejected; review →
/// draft; rejected → draft.
pub fn draft_transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("draft", "review")
            | ("review", "draft")
            | ("review", "approved")
            | ("review", "rejected")
            | ("rejected", "draft")
    )
}

/// Fails unless `user` is a member of the scope's organization (inside its transaction).
pub(crate) async fn member(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    user: &UserId,
) -> Result<(), CampaignError> {
    let n: i64 = organization_members::table
        .filter(organization_members::organizationId.eq(scope.organization_id()))
        .filter(organization_members::userId.eq(user))
        .count()
        .get_result(tx)
        .await?;
    if n == 0 {
        return Err(CampaignError::foreign_parent("user", user));
    }
    Ok(())
}

/// A piece of content.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = content, check_for_backend(diesel::pg::Pg))]
pub struct Content {
    /// Primary key.
    pub id: ContentId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Its author (a member; `None` once the user is deleted).
    #[diesel(column_name = authorId)]
    pub author_id: Option<UserId>,
    /// What kind of content.
    pub kind: ContentKind,
    /// Where it is in review ([`content_transition_allowed`]).
    pub status: String,
    /// Title.
    pub title: Option<String>,
    /// Body.
    pub body: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was published.
    #[diesel(column_name = publishedAt)]
    pub published_at: Option<NaiveDateTime>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Content {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// Content to create (a draft), or fields to change (`None` leaves a column alone; the kind
/// is set at creation).
#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = content)]
pub struct NewContent<'a> {
    /// Title (at most 200 bytes).
    pub title: Option<&'a str>,
    /// Body (at most 100 KB).
    pub body: Option<&'a str>,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

impl NewContent<'_> {
    fn check(&self) -> Result<(), InvalidData> {
        limits::short("title", self.title)?;
        limits::text_opt("body", self.body)?;
        limits::json("metadata", self.metadata)
    }
}

impl Content {
    /// Creates content as a draft, authored by `author` (a member; `None`: the acting user).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        kind: ContentKind,
        author: Option<&UserId>,
        new: &NewContent<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        new.check()?;
        let author = author.or(scope.actor().user_id());
        scope
            .transaction(conn, async |tx| {
                if let Some(author) = author {
                    member(tx, scope, author).await?;
                }
                let now = time::now();
                Ok(diesel::insert_into(content::table)
                    .values((
                        new,
                        content::id.eq(ContentId::generate()),
                        content::organizationId.eq(scope.organization_id()),
                        content::authorId.eq(author),
                        content::kind.eq(kind),
                        content::status.eq("draft"),
                        content::createdAt.eq(now),
                        content::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The content with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                content::table
                    .find(id)
                    .filter(content::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("content", id))
            })
            .await
    }

    /// The organization's content (in one status, or all), newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = content::table
                    .filter(content::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(content::status.eq(status.to_owned()));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Changes the content's title, body or metadata.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentId,
        changes: &NewContent<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(content::table.find(id))
                    .filter(content::organizationId.eq(scope.organization_id()))
                    .set((changes, content::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("content", id))
            })
            .await
    }

    /// Moves the content to `to` if its life cycle allows it ([`content_transition_allowed`];
    /// publishing sets `publishedAt`), otherwise [`CampaignError::IllegalTransition`]
    /// naming both states. The row is locked first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentId,
        to: &str,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        limits::name("status", to)?;
        scope
            .transaction(conn, async |tx| {
                let from: String = content::table
                    .find(id)
                    .filter(content::organizationId.eq(scope.organization_id()))
                    .select(content::status)
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("content", id))?;
                if !content_transition_allowed(&from, to) {
                    return Err(CampaignError::IllegalTransition {
                        entity: "content",
                        from,
                        to: to.to_owned(),
                    });
                }
                let now = time::now();
                let row = diesel::update(content::table.find(id));
                let changed = if to == "published" {
                    row.set((
                        content::status.eq(to),
                        content::updatedAt.eq(now),
                        content::publishedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?
                } else {
                    row.set((content::status.eq(to), content::updatedAt.eq(now)))
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await?
                };
                Ok(changed)
            })
            .await
    }

    /// Deletes the content.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(content::table.find(id))
                    .filter(content::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("content", id));
                }
                Ok(())
            })
            .await
    }
}

/// A generated or written draft awaiting review.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = content_drafts, check_for_backend(diesel::pg::Pg))]
pub struct ContentDraft {
    /// Primary key.
    pub id: ContentDraftId,
    /// The organization (`None` once it is deleted: drafts outlive it in the reference).
    #[diesel(column_name = organizationId)]
    pub organization_id: Option<OrganizationId>,
    /// Title.
    pub title: String,
    /// What it is about.
    pub topic: String,
    /// Body.
    pub body: String,
    /// Tone (`professional`, `playful`, ...).
    pub tone: String,
    /// Audience.
    pub audience: Option<String>,
    /// Where it is in review ([`draft_transition_allowed`]).
    pub status: String,
    /// Who created it.
    #[diesel(column_name = createdById)]
    pub created_by_id: UserId,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for ContentDraft {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A draft to create.
#[derive(Debug, Clone, Default)]
pub struct NewDraft<'a> {
    /// Title (1 to 200 bytes).
    pub title: &'a str,
    /// Topic (1 to 200 bytes).
    pub topic: &'a str,
    /// Body (1 byte to 100 KB).
    pub body: &'a str,
    /// Tone (`None`: `professional`).
    pub tone: Option<&'a str>,
    /// Audience.
    pub audience: Option<&'a str>,
}

impl ContentDraft {
    /// Creates a draft by the acting user (a member of the organization).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content_draft", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewDraft<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        limits::name("title", new.title)?;
        limits::name("topic", new.topic)?;
        limits::text("body", new.body)?;
        limits::short("tone", new.tone)?;
        limits::short("audience", new.audience)?;
        let author = scope
            .actor()
            .user_id()
            .ok_or_else(|| InvalidData::OutOfRange("a draft is created by a user".into()))?;
        scope
            .transaction(conn, async |tx| {
                member(tx, scope, author).await?;
                let now = time::now();
                Ok(diesel::insert_into(content_drafts::table)
                    .values((
                        content_drafts::id.eq(ContentDraftId::generate()),
                        content_drafts::organizationId.eq(scope.organization_id()),
                        content_drafts::title.eq(new.title),
                        content_drafts::topic.eq(new.topic),
                        content_drafts::body.eq(new.body),
                        content_drafts::tone.eq(new.tone.unwrap_or("professional")),
                        content_drafts::audience.eq(new.audience),
                        content_drafts::status.eq("draft"),
                        content_drafts::createdById.eq(author),
                        content_drafts::createdAt.eq(now),
                        content_drafts::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The draft with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content_draft", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentDraftId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                content_drafts::table
                    .find(id)
                    .filter(content_drafts::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("content draft", id))
            })
            .await
    }

    /// The organization's drafts (in one status, or all), newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content_draft", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = content_drafts::table
                    .filter(content_drafts::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(content_drafts::status.eq(status.to_owned()));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Deletes the draft.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content_draft", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentDraftId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(content_drafts::table.find(id))
                    .filter(content_drafts::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("content draft", id));
                }
                Ok(())
            })
            .await
    }

    /// Moves the draft to `to` if its life cycle allows it ([`draft_transition_allowed`]),
    /// otherwise [`CampaignError::IllegalTransition`] naming both states.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "content_draft", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ContentDraftId,
        to: &str,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        limits::name("status", to)?;
        scope
            .transaction(conn, async |tx| {
                let from: String = content_drafts::table
                    .find(id)
                    .filter(content_drafts::organizationId.eq(scope.organization_id()))
                    .select(content_drafts::status)
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("content draft", id))?;
                if !draft_transition_allowed(&from, to) {
                    return Err(CampaignError::IllegalTransition {
                        entity: "content draft",
                        from,
                        to: to.to_owned(),
                    });
                }
                Ok(diesel::update(content_drafts::table.find(id))
                    .set((
                        content_drafts::status.eq(to),
                        content_drafts::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }
}

/// A reusable snippet (a subject line, a hook, a call to action) with its record.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = snippet_library, check_for_backend(diesel::pg::Pg))]
pub struct Snippet {
    /// Primary key.
    pub id: SnippetId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The brand it belongs to, if one.
    #[diesel(column_name = brandId)]
    pub brand_id: Option<BrandId>,
    /// The channel it is for (`email`, `linkedin`, ...); with the name, unique.
    pub channel: String,
    /// Its name.
    pub name: String,
    /// Its text.
    pub content: String,
    /// Tone.
    pub tone: Option<String>,
    /// What it is used for.
    #[diesel(column_name = useCases)]
    pub use_cases: Option<Vec<Option<String>>>,
    /// Wins per use (`None` before the first win).
    #[diesel(column_name = winRate)]
    pub win_rate: Option<f64>,
    /// How many times it was used.
    #[diesel(column_name = usageCount)]
    pub usage_count: i32,
    /// When it last won.
    #[diesel(column_name = lastWonAt)]
    pub last_won_at: Option<NaiveDateTime>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Snippet {
    /// How many times it won (`winRate × usageCount`, rounded).
    pub fn wins(&self) -> i64 {
        (self.win_rate.unwrap_or(0.0) * f64::from(self.usage_count)).round() as i64
    }
}

/// A snippet to add.
#[derive(Debug, Clone, Default)]
pub struct NewSnippet<'a> {
    /// The channel (1 to 200 bytes).
    pub channel: &'a str,
    /// The name (1 to 200 bytes; unique per organization and channel).
    pub name: &'a str,
    /// The text (1 byte to 100 KB).
    pub content: &'a str,
    /// A brand of this organization.
    pub brand: Option<&'a BrandId>,
    /// Tone.
    pub tone: Option<&'a str>,
    /// What it is used for.
    pub use_cases: &'a [&'a str],
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

impl Snippet {
    /// Adds a snippet; a name the organization already uses on the channel is
    /// [`CampaignError::Duplicate`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "snippet", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewSnippet<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        limits::name("channel", new.channel)?;
        limits::name("name", new.name)?;
        limits::text("content", new.content)?;
        limits::short("tone", new.tone)?;
        for u in new.use_cases {
            limits::name("use case", u)?;
        }
        limits::json("metadata", new.metadata)?;
        let use_cases: Vec<Option<&str>> = new.use_cases.iter().map(|u| Some(*u)).collect();
        scope
            .transaction(conn, async |tx| {
                if let Some(brand) = new.brand {
                    Brand::parent(tx, scope, brand).await?;
                }
                let now = time::now();
                tx.transaction(async |tx| {
                    diesel::insert_into(snippet_library::table)
                        .values((
                            snippet_library::id.eq(SnippetId::generate()),
                            snippet_library::organizationId.eq(scope.organization_id()),
                            snippet_library::brandId.eq(new.brand),
                            snippet_library::channel.eq(new.channel),
                            snippet_library::name.eq(new.name),
                            snippet_library::content.eq(new.content),
                            snippet_library::tone.eq(new.tone),
                            snippet_library::useCases.eq(&use_cases),
                            snippet_library::usageCount.eq(0),
                            snippet_library::metadata.eq(new.metadata),
                            snippet_library::createdAt.eq(now),
                            snippet_library::updatedAt.eq(now),
                        ))
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                })
                .await
                .map_err(|e| match unique_violation(&e) {
                    Some("snippet_library_organizationId_name_channel_key") => {
                        CampaignError::Duplicate {
                            entity: "snippet",
                            key: format!("{} on {}", new.name, new.channel),
                        }
                    }
                    _ => e.into(),
                })
            })
            .await
    }

    /// The snippet with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "snippet", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &SnippetId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                snippet_library::table
                    .find(id)
                    .filter(snippet_library::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("snippet", id))
            })
            .await
    }

    /// The organization's snippets (of one channel, or all), by channel and name.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "snippet", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        channel: Option<&str>,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = snippet_library::table
                    .filter(snippet_library::organizationId.eq(scope.organization_id()))
                    .order((snippet_library::channel, snippet_library::name))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(channel) = channel {
                    query = query.filter(snippet_library::channel.eq(channel.to_owned()));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// Counts one use, in one statement (concurrent uses are all counted).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "snippet", op = "record_use"))]
    pub async fn record_use(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &SnippetId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                // The rate is wins per use: one more use keeps the wins, so it scales down.
                diesel::sql_query(
                    r#"UPDATE public.snippet_library SET
                           "winRate" = "winRate" * "usageCount" / ("usageCount" + 1),
                           "usageCount" = "usageCount" + 1, "updatedAt" = $3
                       WHERE id = $1 AND "organizationId" = $2
                       RETURNING *"#,
                )
                .bind::<diesel::sql_types::Text, _>(id)
                .bind::<diesel::sql_types::Text, _>(scope.organization_id())
                .bind::<diesel::sql_types::Timestamp, _>(time::now())
                .get_result::<Self>(tx)
                .await
                .optional()?
                .ok_or_else(|| CampaignError::not_found("snippet", id))
            })
            .await
    }

    /// Counts one win of a use already counted, in one statement: the win rate becomes
    /// (wins + 1) / uses. A win beyond the uses counted is refused.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "snippet", op = "record_win"))]
    pub async fn record_win(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &SnippetId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                let updated = diesel::sql_query(
                    r#"UPDATE public.snippet_library SET
                           "winRate" = (round(coalesce("winRate", 0) * "usageCount") + 1) / "usageCount",
                           "lastWonAt" = $3, "updatedAt" = $3
                       WHERE id = $1 AND "organizationId" = $2
                         AND round(coalesce("winRate", 0) * "usageCount") + 1 <= "usageCount"
                       RETURNING *"#,
                )
                .bind::<diesel::sql_types::Text, _>(id)
                .bind::<diesel::sql_types::Text, _>(scope.organization_id())
                .bind::<diesel::sql_types::Timestamp, _>(now)
                .get_result::<Self>(tx)
                .await
                .optional()?;
                match updated {
                    Some(row) => Ok(row),
                    None => {
                        // Not found, or every use has won already: say which.
                        let found: Option<i32> = snippet_library::table
                            .find(id)
                            .filter(snippet_library::organizationId.eq(scope.organization_id()))
                            .select(snippet_library::usageCount)
                            .get_result(tx)
                            .await
                            .optional()?;
                        match found {
                            None => Err(CampaignError::not_found("snippet", id)),
                            Some(uses) => Err(InvalidData::OutOfRange(format!(
                                "snippet {id} has won all of its {uses} uses: record the use first"
                            ))
                            .into()),
                        }
                    }
                }
            })
            .await
    }

    /// Deletes the snippet.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "snippet", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &SnippetId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(snippet_library::table.find(id))
                    .filter(snippet_library::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("snippet", id));
                }
                Ok(())
            })
            .await
    }
}
