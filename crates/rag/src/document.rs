//! Documents: the source texts that chunks are cut from.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{DatasetId, DocumentId, EmbeddingSpaceId, OrganizationId, UserId};
use neonhub_schema::keys;
use neonhub_schema::schema::documents;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::{Dataset, EmbeddingSpace, RagError};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};

/// A document.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = documents, check_for_backend(diesel::pg::Pg))]
pub struct Document {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: DocumentId,
    /// The dataset it belongs to, if any.
    #[diesel(column_name = datasetId)]
    pub dataset_id: Option<DatasetId>,
    /// Owning organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The user who owns it.
    #[diesel(column_name = ownerId)]
    pub owner_id: UserId,
    /// Its embedding space, if any.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<EmbeddingSpaceId>,
    /// Title, as shown to people.
    pub title: String,
    /// Full text.
    pub content: String,
    /// Workflow status (`draft` by default).
    pub status: String,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Document {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A document to create; the id, organization and timestamps are added by
/// [`Document::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = documents)]
pub struct NewDocument<'a> {
    /// Its dataset (must be in the organization).
    #[diesel(column_name = datasetId)]
    pub dataset_id: Option<&'a DatasetId>,
    /// Owner (a user; users are global).
    #[diesel(column_name = ownerId)]
    pub owner_id: &'a UserId,
    /// Its space (must be in the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<&'a EmbeddingSpaceId>,
    /// Title, as shown to people.
    pub title: &'a str,
    /// Full text.
    pub content: &'a str,
    /// Workflow status; `None` takes the column's default (`draft`).
    pub status: Option<&'a str>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<&'a Value>,
}

impl NewDocument<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([
            ("title", Some(self.title)),
            ("content", Some(self.content)),
            ("status", self.status),
        ])?;
        if let Some(value) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// What may change on a document (`Some(None)` clears a nullable column).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = documents)]
pub struct DocumentChanges<'a> {
    /// New dataset (checked against the organization).
    #[diesel(column_name = datasetId)]
    pub dataset_id: Option<Option<&'a DatasetId>>,
    /// New space (checked against the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<Option<&'a EmbeddingSpaceId>>,
    /// New title.
    pub title: Option<&'a str>,
    /// New text.
    pub content: Option<&'a str>,
    /// New status.
    pub status: Option<&'a str>,
    /// New metadata.
    pub metadata: Option<Option<&'a Value>>,
}

impl DocumentChanges<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([
            ("title", self.title),
            ("content", self.content),
            ("status", self.status),
        ])?;
        if let Some(Some(value)) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

impl Document {
    /// Creates a document; its dataset and space, if any, must be in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "document", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewDocument<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                check_parents(tx, scope, new.dataset_id, new.embedding_space_id).await?;
                let now = time::now();
                diesel::insert_into(documents::table)
                    .values((
                        new,
                        documents::id.eq(DocumentId::generate()),
                        documents::organizationId.eq(scope.organization_id()),
                        documents::createdAt.eq(now),
                        documents::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(RagError::from)
            })
            .await
    }

    /// The organization's documents, newest first; only those of `dataset` when given.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "document", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        dataset: Option<&DatasetId>,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = documents::table
                    .filter(documents::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(dataset) = dataset {
                    query = query.filter(documents::datasetId.eq(dataset));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "document", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DocumentId,
        changes: &DocumentChanges<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                check_parents(
                    tx,
                    scope,
                    changes.dataset_id.flatten(),
                    changes.embedding_space_id.flatten(),
                )
                .await?;
                diesel::update(documents::table)
                    .filter(
                        documents::id
                            .eq(id)
                            .and(documents::organizationId.eq(scope.organization_id())),
                    )
                    .set((changes, documents::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| RagError::not_found("document", id))
            })
            .await
    }
}

async fn check_parents(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    dataset: Option<&DatasetId>,
    space: Option<&EmbeddingSpaceId>,
) -> Result<(), RagError> {
    if let Some(dataset) = dataset {
        Dataset::parent(tx, scope, dataset).await?;
    }
    if let Some(space) = space {
        EmbeddingSpace::parent(tx, scope, space).await?;
    }
    Ok(())
}

impl Document {
    /// The document with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "document", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DocumentId,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("document", id))
            })
            .await
    }

    /// Deletes the document and its chunks.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "document", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DocumentId,
    ) -> Result<(), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(documents::table)
                    .filter(
                        documents::id
                            .eq(id)
                            .and(documents::organizationId.eq(scope.organization_id())),
                    )
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(RagError::not_found("document", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DocumentId,
    ) -> Result<Option<Self>, RagError> {
        Ok(documents::table
            .filter(
                documents::id
                    .eq(id)
                    .and(documents::organizationId.eq(scope.organization_id())),
            )
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The document as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DocumentId,
    ) -> Result<Self, RagError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| RagError::foreign_parent("document", id))
    }
}
