//! Chunks: embedded pieces of a document, reached through their dataset and document.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{ChunkId, DatasetId, DocumentId, EmbeddingSpaceId};
use neonhub_schema::schema::{chunks, datasets};
use neonhub_schema::{TenantScope, time};
use pgvector::Vector;
use serde_json::Value;

use crate::error::unique_violation;
use crate::scoped::scoped;
use crate::{Dataset, Document, EmbeddingSpace, RagError, validate_vector};
use neonhub_schema::page::{Page, PageRequest};
use neonhub_schema::{keyed, load_page};

/// A chunk.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = chunks, check_for_backend(diesel::pg::Pg))]
pub struct Chunk {
    /// Id.
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
    /// Text.
    pub text: String,
    /// Embedding, if computed.
    pub embedding: Option<Vector>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

keyed!(Chunk);

/// A chunk to create.
#[derive(Debug, Clone)]
pub struct NewChunk<'a> {
    /// Its dataset (in the organization).
    pub dataset_id: &'a DatasetId,
    /// Its document (in the organization, and in that dataset when it names one).
    pub document_id: &'a DocumentId,
    /// Its space (in the organization, and the dataset's when the dataset names one).
    pub embedding_space_id: &'a EmbeddingSpaceId,
    /// Position in the dataset.
    pub idx: i32,
    /// Text.
    pub text: &'a str,
    /// Embedding, checked against the space.
    pub embedding: Option<&'a Vector>,
    /// Metadata.
    pub metadata: Option<&'a Value>,
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

/// Chunks whose dataset belongs to the scope's organization.
macro_rules! in_scope {
    ($scope:expr) => {
        chunks::datasetId.eq_any(
            datasets::table
                .filter(datasets::organizationId.eq($scope.organization_id()))
                .select(datasets::id),
        )
    };
}

impl Chunk {
    /// Creates a chunk after checking, in the same transaction, that its dataset, document
    /// and space are this organization's and agree with each other, and its vector.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewChunk<'_>,
    ) -> Result<Self, RagError> {
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
                diesel::insert_into(chunks::table)
                    .values((
                        chunks::id.eq(ChunkId::generate()),
                        chunks::datasetId.eq(new.dataset_id),
                        chunks::documentId.eq(new.document_id),
                        chunks::embeddingSpaceId.eq(new.embedding_space_id),
                        chunks::idx.eq(new.idx),
                        chunks::text.eq(new.text),
                        chunks::embedding.eq(new.embedding),
                        chunks::metadata.eq(new.metadata),
                        chunks::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_idx(e, new.dataset_id, new.idx))
            })
            .await
    }

    /// The chunks of a dataset of this organization, newest first.
    pub async fn list_in_dataset(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        dataset: &DatasetId,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope
            .transaction(conn, async |tx| {
                Dataset::parent(tx, scope, dataset).await?;
                let query = chunks::table
                    .filter(chunks::datasetId.eq(dataset))
                    .into_boxed();
                Ok(load_page!(tx, query, chunks, Self, page))
            })
            .await
    }

    /// The chunks of a document of this organization, newest first.
    pub async fn list_in_document(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        document: &DocumentId,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope
            .transaction(conn, async |tx| {
                Document::parent(tx, scope, document).await?;
                let query = chunks::table
                    .filter(chunks::documentId.eq(document))
                    .filter(in_scope!(scope))
                    .into_boxed();
                Ok(load_page!(tx, query, chunks, Self, page))
            })
            .await
    }

    /// Applies `changes`; a new embedding is checked against the chunk's space.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ChunkId,
        changes: &ChunkChanges<'_>,
    ) -> Result<Self, RagError> {
        scope
            .transaction(conn, async |tx| {
                let chunk = Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| not_found(id))?;
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

scoped!(
    Chunk,
    chunks,
    ChunkId,
    "chunk",
    "Deletes the chunk.",
    |s| in_scope!(s)
);
