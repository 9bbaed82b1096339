//! Brand voices: a prompt template, style rules and an embedding of how the brand sounds,
//! so content can be matched against it. `brand_voices` has no `"organizationId"`: the
//! organization is the voice's brand's, and its embedding space must be that organization's
//! too (checked here, refused by a trigger in the database as well).

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_rag::{
    EmbeddingSpace, Hit, ParentFilter, SearchFilter, SearchOptions, SearchStatement, VectorTable,
    search_statement, validate_vector,
};
use neonhub_schema::Vector;
use neonhub_schema::ids::{BrandId, BrandVoiceId, EmbeddingSpaceId};
use neonhub_schema::schema::{brand_voices, brands};
use neonhub_schema::{TenantScope, keys, time};
use serde_json::Value;

use crate::{Brand, CampaignError, limits};

/// One voice of a brand.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = brand_voices, check_for_backend(diesel::pg::Pg))]
pub struct BrandVoice {
    /// Primary key.
    pub id: BrandVoiceId,
    /// The brand.
    #[diesel(column_name = brandId)]
    pub brand_id: BrandId,
    /// The embedding space its vector lives in (the brand's organization's).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: EmbeddingSpaceId,
    /// The prompt template content is generated with.
    #[diesel(column_name = promptTemplate)]
    pub prompt_template: String,
    /// Style rules (tone, banned words, ...).
    #[diesel(column_name = styleRulesJson)]
    pub style_rules: Value,
    /// How the brand sounds, in the space's dimension.
    pub embedding: Option<Vector>,
    /// Measured results of content in this voice.
    pub metrics: Option<Value>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// A voice to add to a brand.
#[derive(Debug, Clone)]
pub struct NewBrandVoice<'a> {
    /// The embedding space (this organization's).
    pub space: &'a EmbeddingSpaceId,
    /// The prompt template (1 byte to 100 KB).
    pub prompt_template: &'a str,
    /// Style rules (a JSON value, at most 1 MiB).
    pub style_rules: &'a Value,
    /// The embedding, in the space's dimension (finite values).
    pub embedding: Option<&'a Vector>,
    /// Metrics.
    pub metrics: Option<&'a Value>,
}

/// The embedding space `id` if it is this organization's (inside a scope transaction).
async fn space_of(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    id: &EmbeddingSpaceId,
) -> Result<EmbeddingSpace, CampaignError> {
    EmbeddingSpace::find_in(tx, scope.organization_id(), id)
        .await?
        .ok_or_else(|| CampaignError::foreign_parent("embedding space", id))
}

impl BrandVoice {
    /// Adds a voice to a brand of this organization; the space must be the organization's
    /// and the embedding must fit it (dimension, finite values), checked before anything is
    /// written.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_voice", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        brand: &BrandId,
        new: &NewBrandVoice<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        limits::text("promptTemplate", new.prompt_template)?;
        limits::json("styleRulesJson", Some(new.style_rules))?;
        limits::json("metrics", new.metrics)?;
        scope
            .transaction(conn, async |tx| {
                Brand::parent(tx, scope, brand).await?;
                let space = space_of(tx, scope, new.space).await?;
                if let Some(v) = new.embedding {
                    validate_vector(v, space.dimension)?;
                }
                let now = time::now();
                Ok(diesel::insert_into(brand_voices::table)
                    .values((
                        brand_voices::id.eq(BrandVoiceId::generate()),
                        brand_voices::brandId.eq(brand),
                        brand_voices::embeddingSpaceId.eq(new.space),
                        brand_voices::promptTemplate.eq(new.prompt_template),
                        brand_voices::styleRulesJson.eq(new.style_rules),
                        brand_voices::embedding.eq(new.embedding),
                        brand_voices::metrics.eq(new.metrics),
                        brand_voices::createdAt.eq(now),
                        brand_voices::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The voice with `id` (of a brand of this organization).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_voice", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandVoiceId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                brand_voices::table
                    .inner_join(brands::table)
                    .filter(brand_voices::id.eq(id))
                    .filter(brands::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("brand voice", id))
            })
            .await
    }

    /// The brand's voices, oldest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_voice", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        brand: &BrandId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Brand::parent(tx, scope, brand).await?;
                Ok(brand_voices::table
                    .filter(brand_voices::brandId.eq(brand))
                    .order((brand_voices::createdAt, brand_voices::id))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Deletes a voice of one of this organization's brands.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_voice", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandVoiceId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(brand_voices::table.find(id))
                    .filter(
                        brand_voices::brandId.eq_any(
                            brands::table
                                .filter(brands::organizationId.eq(scope.organization_id()))
                                .select(brands::id),
                        ),
                    )
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("brand voice", id));
                }
                Ok(())
            })
            .await
    }

    /// The `k` voices of `brand` in `space` nearest to `vector`, nearest first: the brand's
    /// voice a draft is closest to. `neonhub-rag`'s search (the space's partial index, its
    /// literal predicate, the organization guard on the space).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_voice", op = "closest"))]
    pub async fn closest(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        brand: &BrandId,
        space: &EmbeddingSpaceId,
        vector: &Vector,
        k: i64,
    ) -> Result<Vec<Hit<Self>>, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Brand::parent(tx, scope, brand).await?;
                let space = space_of(tx, scope, space).await?;
                let statement = Self::search_statement(scope, &space, vector, Some(brand), k)?;
                Ok(statement.run::<Hit<Self>>(tx).await?)
            })
            .await
    }

    /// Which voices, of all the organization's brands, `vector` (a draft's embedding in
    /// `space`) sounds like: the `k` nearest, nearest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_voice", op = "sounds_like"))]
    pub async fn sounds_like(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        space: &EmbeddingSpaceId,
        vector: &Vector,
        k: i64,
    ) -> Result<Vec<Hit<Self>>, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let space = space_of(tx, scope, space).await?;
                let statement = Self::search_statement(scope, &space, vector, None, k)?;
                Ok(statement.run::<Hit<Self>>(tx).await?)
            })
            .await
    }

    /// The statement [`BrandVoice::closest`] (with a brand) and [`BrandVoice::sounds_like`]
    /// (without) run, for `EXPLAIN` through `neonhub_rag::explain`.
    pub fn search_statement(
        scope: &TenantScope,
        space: &EmbeddingSpace,
        vector: &Vector,
        brand: Option<&BrandId>,
        k: i64,
    ) -> Result<SearchStatement, CampaignError> {
        let filter = match brand {
            Some(b) => SearchFilter::default().with(ParentFilter::Brand(b.clone())),
            None => SearchFilter::default(),
        };
        let options = SearchOptions {
            k,
            ..SearchOptions::default()
        };
        Ok(search_statement(
            scope,
            VectorTable::BrandVoices,
            space,
            vector,
            &filter,
            &options,
        )?)
    }
}
