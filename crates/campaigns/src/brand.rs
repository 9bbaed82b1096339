//! Brands (a slug unique per organization) and their assets (logos, palettes, fonts).

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{BrandAssetId, BrandId, OrganizationId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{brand_assets, brands};
use neonhub_schema::{InvalidData, TenantScope, keys, time, unique_violation};
use serde_json::Value;

use crate::{CampaignError, limits};

/// A brand of the organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = brands, check_for_backend(diesel::pg::Pg))]
pub struct Brand {
    /// Primary key.
    pub id: BrandId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Name shown.
    pub name: String,
    /// URL-safe key, unique per organization.
    pub slug: String,
    /// What the brand stands for.
    pub description: Option<String>,
    /// Its main color (`#0a84ff`).
    #[diesel(column_name = mainColor)]
    pub main_color: Option<String>,
    /// Its slogan.
    pub slogan: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Brand {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A brand to create, or the fields to change (`None` leaves a column alone).
#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = brands)]
pub struct NewBrand<'a> {
    /// Name shown (1 to 200 bytes; required to create).
    pub name: Option<&'a str>,
    /// Slug: lower-case letters, digits, `-`, `_`, `.` (required to create).
    pub slug: Option<&'a str>,
    /// What the brand stands for.
    pub description: Option<&'a str>,
    /// Main color.
    #[diesel(column_name = mainColor)]
    pub main_color: Option<&'a str>,
    /// Slogan.
    pub slogan: Option<&'a str>,
    /// Free-form metadata (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

impl NewBrand<'_> {
    fn check(&self) -> Result<(), InvalidData> {
        if let Some(name) = self.name {
            limits::name("name", name)?;
        }
        if let Some(slug) = self.slug {
            InvalidData::check_slug("slug", slug)?;
        }
        limits::text_opt("description", self.description)?;
        limits::short("mainColor", self.main_color)?;
        limits::short("slogan", self.slogan)?;
        limits::json("metadata", self.metadata)
    }
}

impl Brand {
    /// Creates a brand; a slug the organization already uses is
    /// [`CampaignError::Duplicate`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewBrand<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        new.check()?;
        let (Some(_), Some(slug)) = (new.name, new.slug) else {
            return Err(InvalidData::OutOfRange("a brand needs a name and a slug".into()).into());
        };
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                tx.transaction(async |tx| {
                    diesel::insert_into(brands::table)
                        .values((
                            new,
                            brands::id.eq(BrandId::generate()),
                            brands::organizationId.eq(scope.organization_id()),
                            brands::createdAt.eq(now),
                            brands::updatedAt.eq(now),
                        ))
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                })
                .await
                .map_err(|e| slug_taken(e, Some(slug)))
            })
            .await
    }

    /// The brand with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await)
            .await
    }

    /// The brand with `slug`, if any.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        slug: &str,
    ) -> Result<Option<Self>, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(brands::table
                    .filter(brands::organizationId.eq(scope.organization_id()))
                    .filter(brands::slug.eq(slug))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's brands, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = brands::table
                    .filter(brands::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Changes the brand's fields (`None` leaves a column alone).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandId,
        changes: &NewBrand<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                tx.transaction(async |tx| {
                    diesel::update(brands::table.find(id))
                        .set((changes, brands::updatedAt.eq(time::now())))
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                })
                .await
                .map_err(|e| slug_taken(e, changes.slug))
            })
            .await
    }

    /// Deletes the brand with its assets and voices (snippets keep their text and lose the
    /// link).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(brands::table.find(id))
                    .filter(brands::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("brand", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandId,
    ) -> Result<Self, CampaignError> {
        brands::table
            .find(id)
            .filter(brands::organizationId.eq(scope.organization_id()))
            .select(Self::as_select())
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| CampaignError::not_found("brand", id))
    }

    /// Fails with [`CampaignError::ForeignParent`] unless `id` is a brand of this
    /// organization (inside a scope transaction).
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandId,
    ) -> Result<(), CampaignError> {
        let n: i64 = brands::table
            .find(id)
            .filter(brands::organizationId.eq(scope.organization_id()))
            .count()
            .get_result(tx)
            .await?;
        if n == 0 {
            return Err(CampaignError::foreign_parent("brand", id));
        }
        Ok(())
    }
}

/// `e` as [`CampaignError::Duplicate`] when it broke the slug's unique index.
fn slug_taken(e: diesel::result::Error, slug: Option<&str>) -> CampaignError {
    match (unique_violation(&e), slug) {
        (Some("brands_organizationId_slug_key"), Some(slug)) => CampaignError::Duplicate {
            entity: "brand",
            key: slug.to_owned(),
        },
        _ => e.into(),
    }
}

/// One asset of a brand.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = brand_assets, check_for_backend(diesel::pg::Pg))]
pub struct BrandAsset {
    /// Primary key.
    pub id: BrandAssetId,
    /// The brand.
    #[diesel(column_name = brandId)]
    pub brand_id: BrandId,
    /// What it is (`logo`, `palette`, `font`, ...).
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Where it lives.
    pub url: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was added.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl BrandAsset {
    /// Adds an asset to a brand of this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_asset", op = "add"))]
    pub async fn add(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        brand: &BrandId,
        kind: &str,
        name: &str,
        url: Option<&str>,
        metadata: Option<&Value>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        limits::name("kind", kind)?;
        limits::name("name", name)?;
        limits::text_opt("url", url)?;
        limits::json("metadata", metadata)?;
        scope
            .transaction(conn, async |tx| {
                Brand::parent(tx, scope, brand).await?;
                Ok(diesel::insert_into(brand_assets::table)
                    .values((
                        brand_assets::id.eq(BrandAssetId::generate()),
                        brand_assets::brandId.eq(brand),
                        brand_assets::kind.eq(kind),
                        brand_assets::name.eq(name),
                        brand_assets::url.eq(url),
                        brand_assets::metadata.eq(metadata),
                        brand_assets::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The brand's assets, by kind and name.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_asset", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        brand: &BrandId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::BRANDS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Brand::parent(tx, scope, brand).await?;
                Ok(brand_assets::table
                    .filter(brand_assets::brandId.eq(brand))
                    .order((brand_assets::kind, brand_assets::name, brand_assets::id))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Removes an asset of one of this organization's brands.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "brand_asset", op = "remove"))]
    pub async fn remove(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BrandAssetId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::BRANDS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(brand_assets::table.find(id))
                    .filter(
                        brand_assets::brandId.eq_any(
                            brands::table
                                .filter(brands::organizationId.eq(scope.organization_id()))
                                .select(brands::id),
                        ),
                    )
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("brand asset", id));
                }
                Ok(())
            })
            .await
    }
}
