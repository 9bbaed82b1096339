//! Inference endpoints: where a model version is served.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{InferenceEndpointId, ModelVersionId, OrganizationId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::inference_endpoints;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{AgentError, ModelVersion, limits};

/// An endpoint serving a model version of the organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = inference_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct InferenceEndpoint {
    /// Primary key.
    pub id: InferenceEndpointId,
    /// The organization that owns it.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The model version it serves (cleared when that version is deleted).
    #[diesel(column_name = modelVersionId)]
    pub model_version_id: Option<ModelVersionId>,
    /// Display name.
    pub name: String,
    /// URL-safe key, unique in the organization ([`InferenceEndpoint::by_slug`]).
    pub slug: String,
    /// The serving platform's state label (`draft` until deployed; free text, as the
    /// platforms name their states differently).
    pub status: String,
    /// Serving configuration (replicas, region, ...).
    pub config: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for InferenceEndpoint {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// An endpoint to create; the id, organization and timestamp are added by
/// [`InferenceEndpoint::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = inference_endpoints)]
pub struct NewInferenceEndpoint<'a> {
    /// The model version it serves (must be in the organization).
    #[diesel(column_name = modelVersionId)]
    pub model_version_id: Option<&'a ModelVersionId>,
    /// Display name (1 to 200 bytes).
    pub name: &'a str,
    /// URL-safe key, unique in the organization (1 to 128 bytes of `a-z0-9-_.`).
    pub slug: &'a str,
    /// State label (1 to 200 bytes; `draft` for a new endpoint).
    pub status: &'a str,
    /// Serving configuration (at most 1 MiB of JSON).
    pub config: Option<&'a Value>,
}

impl NewInferenceEndpoint<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        limits::name("name", self.name)?;
        InvalidData::check_slug("slug", self.slug)?;
        limits::name("status", self.status)?;
        limits::json("config", self.config)
    }
}

/// What may change on an endpoint: `None` leaves a column alone, `Some(None)` clears a
/// nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = inference_endpoints)]
pub struct InferenceEndpointChanges<'a> {
    /// New model version (must be in the organization).
    #[diesel(column_name = modelVersionId)]
    pub model_version_id: Option<Option<&'a ModelVersionId>>,
    /// New name.
    pub name: Option<&'a str>,
    /// New slug (unique in the organization).
    pub slug: Option<&'a str>,
    /// New state label.
    pub status: Option<&'a str>,
    /// New configuration.
    pub config: Option<Option<&'a Value>>,
}

impl InferenceEndpointChanges<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        self.name.map_or(Ok(()), |v| limits::name("name", v))?;
        self.slug
            .map_or(Ok(()), |v| InvalidData::check_slug("slug", v))?;
        self.status.map_or(Ok(()), |v| limits::name("status", v))?;
        limits::json("config", self.config.flatten())
    }

    fn is_empty(&self) -> bool {
        self.model_version_id.is_none()
            && self.name.is_none()
            && self.slug.is_none()
            && self.status.is_none()
            && self.config.is_none()
    }
}

impl InferenceEndpoint {
    /// Creates an endpoint; its model version, if any, must be in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "inference_endpoint", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewInferenceEndpoint<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(model) = new.model_version_id {
                    ModelVersion::parent(tx, scope, model).await?;
                }
                diesel::insert_into(inference_endpoints::table)
                    .values((
                        new,
                        inference_endpoints::id.eq(InferenceEndpointId::generate()),
                        inference_endpoints::organizationId.eq(scope.organization_id()),
                        inference_endpoints::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| slug_taken(e, Some(new.slug)))
            })
            .await
    }

    /// The endpoint with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "inference_endpoint", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &InferenceEndpointId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| AgentError::not_found("inference endpoint", id))
            })
            .await
    }

    /// The endpoint with `slug` in this organization, if there is one.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "inference_endpoint", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        slug: &str,
    ) -> Result<Option<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        InvalidData::check_text("slug", slug)?;
        scope
            .transaction(conn, async |tx| {
                Ok(inference_endpoints::table
                    .filter(inference_endpoints::organizationId.eq(scope.organization_id()))
                    .filter(inference_endpoints::slug.eq(slug))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's endpoints, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "inference_endpoint", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = inference_endpoints::table
                    .filter(inference_endpoints::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes`; a new model version must be in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "inference_endpoint", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &InferenceEndpointId,
        changes: &InferenceEndpointChanges<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(Some(model)) = changes.model_version_id {
                    ModelVersion::parent(tx, scope, model).await?;
                }
                let updated = if changes.is_empty() {
                    // An empty SET is not SQL: nothing to change is the row as it is.
                    Self::find(tx, scope, id).await?
                } else {
                    diesel::update(inference_endpoints::table)
                        .filter(in_org(scope, id))
                        .set(changes)
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                        .optional()
                        .map_err(|e| slug_taken(e, changes.slug))?
                };
                updated.ok_or_else(|| AgentError::not_found("inference endpoint", id))
            })
            .await
    }

    /// Deletes the endpoint.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "inference_endpoint", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &InferenceEndpointId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(inference_endpoints::table)
                    .filter(in_org(scope, id))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("inference endpoint", id));
                }
                Ok(())
            })
            .await
    }

    async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &InferenceEndpointId,
    ) -> Result<Option<Self>, AgentError> {
        Ok(inference_endpoints::table
            .filter(in_org(scope, id))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }
}

/// `id = $1 AND "organizationId" = <the scope's>`.
fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a InferenceEndpointId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<inference_endpoints::id, &'a InferenceEndpointId>,
    diesel::dsl::Eq<inference_endpoints::organizationId, &'a OrganizationId>,
> {
    inference_endpoints::id
        .eq(id)
        .and(inference_endpoints::organizationId.eq(scope.organization_id()))
}

fn slug_taken(e: diesel::result::Error, slug: Option<&str>) -> AgentError {
    AgentError::slug_taken(
        e,
        "inference_endpoints_organizationId_slug_key",
        "inference endpoint",
        slug,
    )
}
