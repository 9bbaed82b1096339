//! Embedding spaces: a provider's model and its dimension, per organization.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{EmbeddingSpaceId, OrganizationId};
use neonhub_schema::keys;
use neonhub_schema::schema::embedding_spaces;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::RagError;
use crate::error::unique_violation;
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};

/// The largest dimension a space may have: pgvector's `vector` type holds up to 16,000.
/// Its indexes hold fewer: `vector` up to 2,000 dimensions, `halfvec` up to 4,000, and only
/// binary quantization ([`IndexStorage::Binary`](crate::IndexStorage::Binary)) indexes a
/// wider space.
pub const MAX_DIMENSION: i32 = 16_000;

/// An embedding space.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = embedding_spaces, check_for_backend(diesel::pg::Pg))]
pub struct EmbeddingSpace {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: EmbeddingSpaceId,
    /// Owning organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Name, unique in the organization.
    pub name: String,
    /// Embedding provider (`openai`, `cohere`, `local`, ...).
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Vector length.
    pub dimension: i32,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// The text-search configuration (language) of its chunks' stored `searchVector` and
    /// of hybrid search's query: `english` unless set with
    /// [`EmbeddingSpace::set_text_search_language`].
    #[diesel(column_name = textSearchConfig)]
    pub text_search_config: String,
}

impl Keyed for EmbeddingSpace {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A space to register; the id, organization and timestamps are added by
/// [`EmbeddingSpace::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = embedding_spaces)]
pub struct NewEmbeddingSpace<'a> {
    /// Name, unique in the organization.
    pub name: &'a str,
    /// Provider.
    pub provider: &'a str,
    /// Model.
    pub model: &'a str,
    /// Dimension, 1 to [`MAX_DIMENSION`].
    pub dimension: i32,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<&'a Value>,
}

impl<'a> NewEmbeddingSpace<'a> {
    /// Every check `create` makes before a query is sent.
    fn validate(&self) -> Result<(), RagError> {
        self.check()?;
        check_label("name", self.name, 200)?;
        check_label("provider", self.provider, 100)?;
        check_label("model", self.model, 200)?;
        if !(1..=MAX_DIMENSION).contains(&self.dimension) {
            return Err(RagError::DimensionOutOfRange(self.dimension));
        }
        Ok(())
    }

    /// The row to insert: these fields plus a new id, the scope's organization and now.
    #[allow(clippy::type_complexity)]
    fn row<'s>(
        &'s self,
        scope: &'s TenantScope,
    ) -> (
        &'s Self,
        diesel::dsl::Eq<embedding_spaces::id, EmbeddingSpaceId>,
        diesel::dsl::Eq<embedding_spaces::organizationId, &'s OrganizationId>,
        diesel::dsl::Eq<embedding_spaces::createdAt, NaiveDateTime>,
        diesel::dsl::Eq<embedding_spaces::updatedAt, NaiveDateTime>,
    ) {
        let now = time::now();
        (
            self,
            embedding_spaces::id.eq(EmbeddingSpaceId::generate()),
            embedding_spaces::organizationId.eq(scope.organization_id()),
            embedding_spaces::createdAt.eq(now),
            embedding_spaces::updatedAt.eq(now),
        )
    }
}

impl NewEmbeddingSpace<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([
            ("name", Some(self.name)),
            ("provider", Some(self.provider)),
            ("model", Some(self.model)),
        ])?;
        if let Some(value) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// What may change on a space. Provider, model and dimension are fixed: changing them
/// would silently invalidate every stored vector.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = embedding_spaces)]
pub struct EmbeddingSpaceChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New metadata (`Some(None)` clears it).
    pub metadata: Option<Option<&'a Value>>,
}

impl EmbeddingSpaceChanges<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([("name", self.name)])?;
        if let Some(Some(value)) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

fn check_label(field: &'static str, value: &str, max: usize) -> Result<(), RagError> {
    let invalid = |reason: &str| {
        Err(RagError::InvalidSpace {
            field,
            reason: reason.to_owned(),
        })
    };
    if value.trim().is_empty() {
        return invalid("empty");
    }
    if value.trim() != value {
        return invalid("leading or trailing whitespace");
    }
    if value.chars().count() > max {
        return invalid(&format!("longer than {max} characters"));
    }
    if field != "name"
        && !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/@-".contains(c))
    {
        return invalid("only ASCII letters, digits and . _ : / @ - are allowed");
    }
    Ok(())
}

impl EmbeddingSpace {
    /// Registers a space after validating name, provider, model and dimension.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewEmbeddingSpace<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.validate()?;
        scope
            .transaction(conn, async |tx| {
                diesel::insert_into(embedding_spaces::table)
                    .values(new.row(scope))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_name(e, new.name))
            })
            .await
    }

    /// The space named `new.name` in this organization, made from `new` when there is none;
    /// `true` when this call made it. Concurrent first requests get one row:
    /// `INSERT ... ON CONFLICT DO NOTHING` waits for a concurrent insert of the same name
    /// to commit, and the read that follows sees it. A space of that name with another
    /// provider, model or dimension is refused ([`RagError::ExistsDifferently`]): its
    /// vectors would not be comparable with the caller's.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "get_or_create"))]
    pub async fn get_or_create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewEmbeddingSpace<'_>,
    ) -> Result<(Self, bool), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.validate()?;
        scope
            .transaction(conn, async |tx| {
                let made = diesel::insert_into(embedding_spaces::table)
                    .values(new.row(scope))
                    .on_conflict((embedding_spaces::organizationId, embedding_spaces::name))
                    .do_nothing()
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                if let Some(made) = made {
                    return Ok((made, true));
                }
                let found: Self = embedding_spaces::table
                    .filter(embedding_spaces::organizationId.eq(scope.organization_id()))
                    .filter(embedding_spaces::name.eq(new.name))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await?;
                let differs = [
                    ("provider", found.provider != new.provider),
                    ("model", found.model != new.model),
                    ("dimension", found.dimension != new.dimension),
                ];
                match differs.into_iter().find(|(_, d)| *d) {
                    Some((field, _)) => Err(RagError::ExistsDifferently {
                        entity: "embedding space",
                        key: new.name.to_owned(),
                        field,
                    }),
                    None => Ok((found, false)),
                }
            })
            .await
    }

    /// The space named `name` in this organization, if there is one.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "by_name"))]
    pub async fn by_name(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        name: &str,
    ) -> Result<Option<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(embedding_spaces::table
                    .filter(embedding_spaces::organizationId.eq(scope.organization_id()))
                    .filter(embedding_spaces::name.eq(name))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's spaces, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = embedding_spaces::table
                    .filter(embedding_spaces::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
        changes: &EmbeddingSpaceChanges<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        changes.check()?;
        if let Some(name) = changes.name {
            check_label("name", name, 200)?;
        }
        scope
            .transaction(conn, async |tx| {
                diesel::update(embedding_spaces::table)
                    .filter(
                        embedding_spaces::id
                            .eq(id)
                            .and(embedding_spaces::organizationId.eq(scope.organization_id())),
                    )
                    .set((changes, embedding_spaces::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| duplicate_name(e, changes.name.unwrap_or_default()))?
                    .ok_or_else(|| RagError::not_found("embedding space", id))
            })
            .await
    }
}

impl EmbeddingSpace {
    /// Sets the text-search language (a configuration the server knows: `german`,
    /// `french`, `simple`, ...) of the space's chunks, and recomputes the stored
    /// `searchVector` of every chunk already in it, in one transaction (one pass over the
    /// space's chunks: set it before a large ingest). An unknown name is
    /// [`RagError::UnknownTextSearchLanguage`] and changes nothing.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding_space", op = "set_text_search_language"))]
    pub async fn set_text_search_language(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
        language: &str,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        use diesel::sql_types::{Bool, Text};
        InvalidData::check_text("language", language)?;
        #[derive(diesel::QueryableByName)]
        struct Known {
            #[diesel(sql_type = Bool)]
            known: bool,
        }
        scope
            .transaction(conn, async |tx| {
                let known: Known = diesel::sql_query(
                    "SELECT EXISTS (SELECT FROM pg_catalog.pg_ts_config c \
                     WHERE c.cfgname = $1 AND pg_catalog.pg_ts_config_is_visible(c.oid)) AS known",
                )
                .bind::<Text, _>(language)
                .get_result(tx)
                .await?;
                if !known.known {
                    return Err(RagError::UnknownTextSearchLanguage(language.to_owned()));
                }
                let space = diesel::update(embedding_spaces::table)
                    .filter(
                        embedding_spaces::id
                            .eq(id)
                            .and(embedding_spaces::organizationId.eq(scope.organization_id())),
                    )
                    .set((
                        embedding_spaces::textSearchConfig.eq(language),
                        embedding_spaces::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| RagError::not_found("embedding space", id))?;
                diesel::sql_query(
                    r#"UPDATE public.chunks SET "searchVector" = to_tsvector($1::regconfig, text)
                       WHERE "embeddingSpaceId" = $2"#,
                )
                .bind::<Text, _>(language)
                .bind::<Text, _>(id.as_str())
                .execute(tx)
                .await?;
                Ok(space)
            })
            .await
    }
}

fn duplicate_name(e: diesel::result::Error, name: &str) -> RagError {
    match unique_violation(&e) {
        Some("embedding_spaces_organizationId_name_key") => {
            RagError::DuplicateSpaceName(name.to_owned())
        }
        _ => e.into(),
    }
}

impl EmbeddingSpace {
    /// The embedding space with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("embedding space", id))
            })
            .await
    }

    /// Deletes the space (its chunks go with it; datasets, documents and messages keep their rows with the space cleared, as the schema's foreign keys say).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "embedding space", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
    ) -> Result<(), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(embedding_spaces::table)
                    .filter(
                        embedding_spaces::id
                            .eq(id)
                            .and(embedding_spaces::organizationId.eq(scope.organization_id())),
                    )
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(RagError::not_found("embedding space", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
    ) -> Result<Option<Self>, RagError> {
        Self::find_in(tx, scope.organization_id(), id).await
    }

    /// The space `id` if it belongs to `org`, read inside the caller's scope transaction
    /// and without a permission check of its own: for domain crates that link their rows
    /// to a space (CRM memories, brand voices) under their own keys.
    pub async fn find_in(
        tx: &mut AsyncPgConnection,
        org: &OrganizationId,
        id: &EmbeddingSpaceId,
    ) -> Result<Option<Self>, RagError> {
        Ok(embedding_spaces::table
            .filter(
                embedding_spaces::id
                    .eq(id)
                    .and(embedding_spaces::organizationId.eq(org)),
            )
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The embedding space as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
    ) -> Result<Self, RagError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| RagError::foreign_parent("embedding space", id))
    }
}
