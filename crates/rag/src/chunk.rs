//! Chunks: embedded pieces of a document, reached through their dataset and document.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::Vector;
use neonhub_schema::ids::{ChunkId, DatasetId, DocumentId, EmbeddingSpaceId, OrganizationId};
use neonhub_schema::keys;
use neonhub_schema::schema::{chunks, datasets};
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::error::unique_violation;
use crate::{
    Dataset, Document, EmbeddingSpace, Hit, HybridHit, HybridOptions, RagError, SearchFilter,
    SearchOptions, VectorTable, hybrid_statement, validate_vector, vector_search,
};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};

/// A chunk.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = chunks, check_for_backend(diesel::pg::Pg))]
pub struct Chunk {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: ChunkId,
    /// Its dataset.
    #[diesel(column_name = datasetId)]
    pub dataset_id: DatasetId,
    /// Its document.
    #[diesel(column_name = documentId)]
    pub document_id: DocumentId,
    /// The space its embedding lives in.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: EmbeddingSpaceId,
    /// Position in the dataset, unique there.
    pub idx: i32,
    /// The chunk's text (what full-text search and the embedding were computed from).
    pub text: String,
    /// Embedding, if computed.
    pub embedding: Option<Vector>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for Chunk {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A chunk to create; the id and `createdAt` are added by [`Chunk::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = chunks)]
pub struct NewChunk<'a> {
    /// Its dataset (in the organization).
    #[diesel(column_name = datasetId)]
    pub dataset_id: &'a DatasetId,
    /// Its document (in the organization, and in that dataset when it names one).
    #[diesel(column_name = documentId)]
    pub document_id: &'a DocumentId,
    /// Its space (in the organization, and the dataset's when the dataset names one).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: &'a EmbeddingSpaceId,
    /// Position in the dataset, unique there; `None` lets the library append: the next
    /// free position after every chunk of the dataset, allocated under the dataset's row
    /// lock, so concurrent appends never collide ([`Chunk::create`]).
    #[diesel(skip_insertion)]
    pub idx: Option<i32>,
    /// The chunk's text (what full-text search and the embedding were computed from).
    pub text: &'a str,
    /// Embedding, checked against the space.
    pub embedding: Option<&'a Vector>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<&'a Value>,
}

impl NewChunk<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([("text", Some(self.text))])?;
        if let Some(value) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// What may change on a chunk (`Some(None)` clears a nullable column). Chunks have no
/// `updatedAt` column.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = chunks)]
pub struct ChunkChanges<'a> {
    /// New text.
    pub text: Option<&'a str>,
    /// New embedding, checked against the chunk's space.
    pub embedding: Option<Option<&'a Vector>>,
    /// New metadata.
    pub metadata: Option<Option<&'a Value>>,
}

impl ChunkChanges<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([("text", self.text)])?;
        if let Some(Some(value)) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// Chunks whose dataset belongs to `org` (they have no organization column of
/// their own): the tenant filter of every query on `chunks`.
#[diesel::dsl::auto_type(no_type_alias)]
fn in_scope<'a>(org: &'a OrganizationId) -> _ {
    chunks::datasetId.eq_any(
        datasets::table
            .filter(datasets::organizationId.eq(org))
            .select(datasets::id),
    )
}

impl Chunk {
    /// Creates a chunk after checking, in the same transaction, that its dataset, document
    /// and space are this organization's and agree with each other, and its vector.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewChunk<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                let dataset = Dataset::parent(tx, scope, new.dataset_id).await?;
                let document = Document::parent(tx, scope, new.document_id).await?;
                let space = EmbeddingSpace::parent(tx, scope, new.embedding_space_id).await?;
                if let Some(other) = document
                    .dataset_id
                    .as_ref()
                    .filter(|d| *d != new.dataset_id)
                {
                    return Err(RagError::DocumentNotInDataset {
                        document: document.id.to_string(),
                        document_dataset: other.to_string(),
                        dataset: dataset.id.to_string(),
                    });
                }
                if let Some(dataset_space) = dataset
                    .embedding_space_id
                    .as_ref()
                    .filter(|s| *s != new.embedding_space_id)
                {
                    return Err(RagError::SpaceMismatch {
                        space: space.id.to_string(),
                        dataset: dataset.id.to_string(),
                        dataset_space: dataset_space.to_string(),
                    });
                }
                if let Some(v) = new.embedding {
                    validate_vector(v, space.dimension)?;
                }
                let idx = match new.idx {
                    Some(idx) => idx,
                    None => crate::ingest::next_idx(tx, new.dataset_id).await?,
                };
                diesel::insert_into(chunks::table)
                    .values((
                        new,
                        chunks::idx.eq(idx),
                        chunks::id.eq(ChunkId::generate()),
                        chunks::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_idx(e, new.dataset_id, idx))
            })
            .await
    }

    /// The chunks of a dataset of this organization, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "list_in_dataset"))]
    pub async fn list_in_dataset(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        dataset: &DatasetId,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Dataset::parent(tx, scope, dataset).await?;
                let query = chunks::table
                    .filter(chunks::datasetId.eq(dataset))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// The chunks of a document of this organization, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "list_in_document"))]
    pub async fn list_in_document(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        document: &DocumentId,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Document::parent(tx, scope, document).await?;
                let query = chunks::table
                    .filter(chunks::documentId.eq(document))
                    .filter(in_scope(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes`; a new embedding is checked against the chunk's space.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ChunkId,
        changes: &ChunkChanges<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                let chunk = Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("chunk", id))?;
                if let Some(Some(v)) = changes.embedding {
                    let space =
                        EmbeddingSpace::parent(tx, scope, &chunk.embedding_space_id).await?;
                    validate_vector(v, space.dimension)?;
                }
                if changes.text.is_none()
                    && changes.embedding.is_none()
                    && changes.metadata.is_none()
                {
                    return Ok(chunk);
                }
                Ok(diesel::update(chunks::table)
                    .filter(chunks::id.eq(id))
                    .set(changes)
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }
}

fn duplicate_idx(e: diesel::result::Error, dataset: &DatasetId, idx: i32) -> RagError {
    match unique_violation(&e) {
        Some("chunks_datasetId_idx_key") => RagError::DuplicateChunkIndex {
            dataset: dataset.to_string(),
            idx,
        },
        _ => e.into(),
    }
}

impl Chunk {
    /// The chunk with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ChunkId,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("chunk", id))
            })
            .await
    }

    /// Deletes the chunk.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ChunkId,
    ) -> Result<(), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(chunks::table)
                    .filter(chunks::id.eq(id).and(in_scope(scope.organization_id())))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(RagError::not_found("chunk", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ChunkId,
    ) -> Result<Option<Self>, RagError> {
        Ok(chunks::table
            .filter(chunks::id.eq(id).and(in_scope(scope.organization_id())))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }
}

impl Chunk {
    /// The `options.k` chunks of `space` nearest to `query`, nearest first, through the
    /// space's index (see [`crate::vector_search`]).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "search"))]
    pub async fn search(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        space: &EmbeddingSpace,
        query: &Vector,
        filter: &SearchFilter,
        options: &SearchOptions,
    ) -> Result<Vec<Hit<Chunk>>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        vector_search(
            conn,
            scope,
            VectorTable::Chunks,
            space,
            query,
            filter,
            options,
        )
        .await
    }

    /// The chunks of `space` best matching both `query` (by vector) and `text` (full
    /// text, web-search syntax), fused by reciprocal rank fusion, best first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "hybrid_search"))]
    pub async fn hybrid_search(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        space: &EmbeddingSpace,
        query: &Vector,
        text: &str,
        filter: &SearchFilter,
        options: &HybridOptions,
    ) -> Result<Vec<HybridHit>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        let statement = hybrid_statement(scope, space, query, text, filter, options)?;
        // One statement carrying its tenant and pgvector settings, as for k-NN search: one
        // round trip instead of BEGIN, the tenant's settings, the query and COMMIT.
        crate::search::run_search::<HybridHit>(conn, scope, &statement).await
    }
}
