//! Datasets: named collections of documents and chunks, optionally tied to one space.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::enums::DatasetKind;
use neonhub_schema::ids::{DatasetId, EmbeddingSpaceId, OrganizationId};
use neonhub_schema::keys;
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::datasets;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::error::unique_violation;
use crate::{EmbeddingSpace, RagError};

/// A named collection of documents and chunks, owned by one organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = datasets, check_for_backend(diesel::pg::Pg))]
pub struct Dataset {
    /// Primary key (UUIDv7 text for rows made here; any text for adopted rows).
    pub id: DatasetId,
    /// The organization that owns it.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The space its chunks are embedded in, when fixed for the whole dataset.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<EmbeddingSpaceId>,
    /// Display name.
    pub name: String,
    /// URL-safe key, unique in the organization ([`Dataset::by_slug`]).
    pub slug: String,
    /// What the dataset holds (documents, FAQ, transcripts, ...).
    pub kind: DatasetKind,
    /// Free-text description.
    pub description: Option<String>,
    /// Where the data came from (a URL, a connector name, ...).
    pub source: Option<String>,
    /// Free-form JSON the application keeps with it.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Dataset {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A dataset to create; the id, organization and timestamps are added by [`Dataset::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = datasets)]
pub struct NewDataset<'a> {
    /// Its space, if fixed (must be in the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<&'a EmbeddingSpaceId>,
    /// Display name.
    pub name: &'a str,
    /// URL-safe key, unique in the organization.
    pub slug: &'a str,
    /// What the dataset holds.
    pub kind: DatasetKind,
    /// Free-text description.
    pub description: Option<&'a str>,
    /// Where the data came from.
    pub source: Option<&'a str>,
    /// Free-form JSON.
    pub metadata: Option<&'a Value>,
}

impl<'a> NewDataset<'a> {
    /// The row to insert: these fields plus a new id, the scope's organization and now.
    #[allow(clippy::type_complexity)]
    fn row<'s>(
        &'s self,
        scope: &'s TenantScope,
    ) -> (
        &'s Self,
        diesel::dsl::Eq<datasets::id, DatasetId>,
        diesel::dsl::Eq<datasets::organizationId, &'s OrganizationId>,
        diesel::dsl::Eq<datasets::createdAt, NaiveDateTime>,
        diesel::dsl::Eq<datasets::updatedAt, NaiveDateTime>,
    ) {
        let now = time::now();
        (
            self,
            datasets::id.eq(DatasetId::generate()),
            datasets::organizationId.eq(scope.organization_id()),
            datasets::createdAt.eq(now),
            datasets::updatedAt.eq(now),
        )
    }
}

impl NewDataset<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([
            ("name", Some(self.name)),
            ("slug", Some(self.slug)),
            ("description", self.description),
            ("source", self.source),
        ])?;
        if let Some(value) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// What may change on a dataset: `None` leaves a column alone, `Some(None)` clears a
/// nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = datasets)]
pub struct DatasetChanges<'a> {
    /// New space (checked against the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<Option<&'a EmbeddingSpaceId>>,
    /// New name.
    pub name: Option<&'a str>,
    /// New slug (unique in the organization).
    pub slug: Option<&'a str>,
    /// New kind.
    pub kind: Option<DatasetKind>,
    /// New description.
    pub description: Option<Option<&'a str>>,
    /// New source.
    pub source: Option<Option<&'a str>>,
    /// New metadata.
    pub metadata: Option<Option<&'a Value>>,
}

impl DatasetChanges<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([
            ("name", self.name),
            ("slug", self.slug),
            ("description", self.description.flatten()),
            ("source", self.source.flatten()),
        ])?;
        if let Some(Some(value)) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

impl Dataset {
    /// Creates a dataset; its space, if any, must be in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewDataset<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(space) = new.embedding_space_id {
                    EmbeddingSpace::parent(tx, scope, space).await?;
                }
                diesel::insert_into(datasets::table)
                    .values(new.row(scope))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_slug(e, new.slug))
            })
            .await
    }

    /// The dataset with slug `new.slug` in this organization, made from `new` when there is
    /// none; `true` when this call made it. Concurrent first requests get one row (`INSERT
    /// ... ON CONFLICT DO NOTHING`, then a read that sees the winner). A dataset of that
    /// slug of another kind, or tied to another space than `new` names, is refused
    /// ([`RagError::ExistsDifferently`]).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "get_or_create"))]
    pub async fn get_or_create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewDataset<'_>,
    ) -> Result<(Self, bool), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(space) = new.embedding_space_id {
                    EmbeddingSpace::parent(tx, scope, space).await?;
                }
                let made = diesel::insert_into(datasets::table)
                    .values(new.row(scope))
                    .on_conflict((datasets::organizationId, datasets::slug))
                    .do_nothing()
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                if let Some(made) = made {
                    return Ok((made, true));
                }
                let found: Self = datasets::table
                    .filter(datasets::organizationId.eq(scope.organization_id()))
                    .filter(datasets::slug.eq(new.slug))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await?;
                let other_space = new
                    .embedding_space_id
                    .is_some_and(|s| found.embedding_space_id.as_ref() != Some(s));
                let field = if found.kind != new.kind {
                    Some("kind")
                } else if other_space {
                    Some("embedding space")
                } else {
                    None
                };
                match field {
                    Some(field) => Err(RagError::ExistsDifferently {
                        entity: "dataset",
                        key: new.slug.to_owned(),
                        field,
                    }),
                    None => Ok((found, false)),
                }
            })
            .await
    }

    /// The dataset with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DatasetId,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("dataset", id))
            })
            .await
    }

    /// The dataset with `slug` in this organization, if there is one.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        slug: &str,
    ) -> Result<Option<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(datasets::table
                    .filter(datasets::organizationId.eq(scope.organization_id()))
                    .filter(datasets::slug.eq(slug))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's datasets, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = datasets::table
                    .filter(datasets::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`; a new space must be in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DatasetId,
        changes: &DatasetChanges<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(Some(space)) = changes.embedding_space_id {
                    EmbeddingSpace::parent(tx, scope, space).await?;
                }
                diesel::update(datasets::table)
                    .filter(
                        datasets::id
                            .eq(id)
                            .and(datasets::organizationId.eq(scope.organization_id())),
                    )
                    .set((changes, datasets::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| duplicate_slug(e, changes.slug.unwrap_or_default()))?
                    .ok_or_else(|| RagError::not_found("dataset", id))
            })
            .await
    }

    /// Deletes the dataset with its chunks (the foreign keys cascade).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "dataset", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DatasetId,
    ) -> Result<(), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(datasets::table)
                    .filter(
                        datasets::id
                            .eq(id)
                            .and(datasets::organizationId.eq(scope.organization_id())),
                    )
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(RagError::not_found("dataset", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DatasetId,
    ) -> Result<Option<Self>, RagError> {
        Ok(datasets::table
            .filter(
                datasets::id
                    .eq(id)
                    .and(datasets::organizationId.eq(scope.organization_id())),
            )
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The dataset as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DatasetId,
    ) -> Result<Self, RagError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| RagError::foreign_parent("dataset", id))
    }
}

fn duplicate_slug(e: diesel::result::Error, slug: &str) -> RagError {
    match unique_violation(&e) {
        Some("datasets_organizationId_slug_key") => RagError::DuplicateDatasetSlug(slug.to_owned()),
        _ => e.into(),
    }
}
