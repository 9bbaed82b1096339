//! Datasets: named collections of documents and chunks, optionally tied to one space.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::DatasetKind;
use neonhub_schema::ids::{DatasetId, EmbeddingSpaceId, OrganizationId};
use neonhub_schema::schema::datasets;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::error::unique_violation;
use crate::scoped::org_scoped;
use crate::{EmbeddingSpace, RagError};
use neonhub_schema::page::{Page, PageRequest};
use neonhub_schema::{keyed, load_page};

/// A dataset.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = datasets, check_for_backend(diesel::pg::Pg))]
pub struct Dataset {
    /// Id.
    pub id: DatasetId,
    /// Owning organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The space its chunks are embedded in, if fixed.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<EmbeddingSpaceId>,
    /// Name.
    pub name: String,
    /// Slug, unique in the organization.
    pub slug: String,
    /// Kind.
    pub kind: DatasetKind,
    /// Description.
    pub description: Option<String>,
    /// Where the data came from.
    pub source: Option<String>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// Last changed (UTC).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

keyed!(Dataset);

/// A dataset to create.
#[derive(Debug, Clone)]
pub struct NewDataset<'a> {
    /// Its space (must be in the organization).
    pub embedding_space_id: Option<&'a EmbeddingSpaceId>,
    /// Name.
    pub name: &'a str,
    /// Slug, unique in the organization.
    pub slug: &'a str,
    /// Kind.
    pub kind: DatasetKind,
    /// Description.
    pub description: Option<&'a str>,
    /// Source.
    pub source: Option<&'a str>,
    /// Metadata.
    pub metadata: Option<&'a Value>,
}

/// What may change on a dataset (`Some(None)` clears a nullable column).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = datasets)]
pub struct DatasetChanges<'a> {
    /// New space (checked against the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<Option<&'a EmbeddingSpaceId>>,
    /// New name.
    pub name: Option<&'a str>,
    /// New slug.
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

impl Dataset {
    /// Creates a dataset; its space, if any, must be in this organization.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewDataset<'_>,
    ) -> Result<Self, RagError> {
        scope
            .transaction(conn, async |tx| {
                if let Some(space) = new.embedding_space_id {
                    EmbeddingSpace::parent(tx, scope, space).await?;
                }
                let now = time::now();
                diesel::insert_into(datasets::table)
                    .values((
                        datasets::id.eq(DatasetId::generate()),
                        datasets::organizationId.eq(scope.organization_id()),
                        datasets::embeddingSpaceId.eq(new.embedding_space_id),
                        datasets::name.eq(new.name),
                        datasets::slug.eq(new.slug),
                        datasets::kind.eq(new.kind),
                        datasets::description.eq(new.description),
                        datasets::source.eq(new.source),
                        datasets::metadata.eq(new.metadata),
                        datasets::createdAt.eq(now),
                        datasets::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_slug(e, new.slug))
            })
            .await
    }

    /// The organization's datasets, newest first.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope
            .transaction(conn, async |tx| {
                let query = datasets::table
                    .filter(datasets::organizationId.eq(scope.organization_id()))
                    .into_boxed();
                Ok(load_page!(tx, query, datasets, Self, page))
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &DatasetId,
        changes: &DatasetChanges<'_>,
    ) -> Result<Self, RagError> {
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
                    .ok_or_else(|| not_found(id))
            })
            .await
    }
}

fn duplicate_slug(e: diesel::result::Error, slug: &str) -> RagError {
    match unique_violation(&e) {
        Some("datasets_organizationId_slug_key") => RagError::DuplicateDatasetSlug(slug.to_owned()),
        _ => e.into(),
    }
}

org_scoped!(
    Dataset,
    datasets,
    DatasetId,
    "dataset",
    "Deletes the dataset and its chunks."
);
