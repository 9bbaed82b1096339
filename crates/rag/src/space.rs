//! Embedding spaces: a provider's model and its dimension, per organization.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{EmbeddingSpaceId, OrganizationId};
use neonhub_schema::schema::embedding_spaces;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::RagError;
use crate::error::unique_violation;
use crate::scoped::org_scoped;
use neonhub_schema::page::{Page, PageRequest};
use neonhub_schema::{keyed, load_page};

/// The largest dimension a space may have: pgvector indexes `vector` up to 2000
/// dimensions and `halfvec` up to 4000; a larger space could never be indexed.
pub const MAX_DIMENSION: i32 = 4000;

/// An embedding space.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = embedding_spaces, check_for_backend(diesel::pg::Pg))]
pub struct EmbeddingSpace {
    /// Id.
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
    /// Created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// Last changed (UTC).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

keyed!(EmbeddingSpace);

/// A space to register.
#[derive(Debug, Clone)]
pub struct NewEmbeddingSpace<'a> {
    /// Name, unique in the organization.
    pub name: &'a str,
    /// Provider.
    pub provider: &'a str,
    /// Model.
    pub model: &'a str,
    /// Dimension, 1 to [`MAX_DIMENSION`].
    pub dimension: i32,
    /// Metadata.
    pub metadata: Option<&'a Value>,
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
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewEmbeddingSpace<'_>,
    ) -> Result<Self, RagError> {
        check_label("name", new.name, 200)?;
        check_label("provider", new.provider, 100)?;
        check_label("model", new.model, 200)?;
        if !(1..=MAX_DIMENSION).contains(&new.dimension) {
            return Err(RagError::DimensionOutOfRange(new.dimension));
        }
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                diesel::insert_into(embedding_spaces::table)
                    .values((
                        embedding_spaces::id.eq(EmbeddingSpaceId::generate()),
                        embedding_spaces::organizationId.eq(scope.organization_id()),
                        embedding_spaces::name.eq(new.name),
                        embedding_spaces::provider.eq(new.provider),
                        embedding_spaces::model.eq(new.model),
                        embedding_spaces::dimension.eq(new.dimension),
                        embedding_spaces::metadata.eq(new.metadata),
                        embedding_spaces::createdAt.eq(now),
                        embedding_spaces::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_name(e, new.name))
            })
            .await
    }

    /// The organization's spaces, newest first.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope
            .transaction(conn, async |tx| {
                let query = embedding_spaces::table
                    .filter(embedding_spaces::organizationId.eq(scope.organization_id()))
                    .into_boxed();
                Ok(load_page!(tx, query, embedding_spaces, Self, page))
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmbeddingSpaceId,
        changes: &EmbeddingSpaceChanges<'_>,
    ) -> Result<Self, RagError> {
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
                    .ok_or_else(|| not_found(id))
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

org_scoped!(
    EmbeddingSpace,
    embedding_spaces,
    EmbeddingSpaceId,
    "embedding space",
    "Deletes the space (its chunks go with it; datasets, documents and messages keep their rows with the space cleared, as the schema's foreign keys say)."
);
