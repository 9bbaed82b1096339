//! Model versions: a named, versioned model of a provider that the organization trains and
//! serves.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{ModelVersionId, OrganizationId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::model_versions;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{AgentError, limits};

/// One version of a model (`brand-voice` by `openai`, version `2026-11`, ...).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = model_versions, check_for_backend(diesel::pg::Pg))]
pub struct ModelVersion {
    /// Primary key.
    pub id: ModelVersionId,
    /// The organization that owns it.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The model's name.
    pub name: String,
    /// Who serves or trained it (`openai`, `local`, ...).
    pub provider: String,
    /// The version label.
    pub version: String,
    /// Anything else (base model, artifact URL, ...).
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for ModelVersion {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A model version to create; the id, organization and timestamp are added by
/// [`ModelVersion::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = model_versions)]
pub struct NewModelVersion<'a> {
    /// The model's name (1 to 200 bytes).
    pub name: &'a str,
    /// The provider (1 to 200 bytes).
    pub provider: &'a str,
    /// The version label (1 to 200 bytes).
    pub version: &'a str,
    /// Anything else (at most 1 MiB of JSON).
    pub metadata: Option<&'a Value>,
}

impl NewModelVersion<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        limits::name("name", self.name)?;
        limits::name("provider", self.provider)?;
        limits::name("version", self.version)?;
        limits::json("metadata", self.metadata)
    }
}

/// What may change on a model version: `None` leaves a column alone.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = model_versions)]
pub struct ModelVersionChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New provider.
    pub provider: Option<&'a str>,
    /// New version label.
    pub version: Option<&'a str>,
    /// New metadata (`Some(None)` clears it).
    pub metadata: Option<Option<&'a Value>>,
}

impl ModelVersionChanges<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        self.name.map_or(Ok(()), |v| limits::name("name", v))?;
        self.provider
            .map_or(Ok(()), |v| limits::name("provider", v))?;
        self.version
            .map_or(Ok(()), |v| limits::name("version", v))?;
        limits::json("metadata", self.metadata.flatten())
    }

    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.provider.is_none()
            && self.version.is_none()
            && self.metadata.is_none()
    }
}

impl ModelVersion {
    /// Creates a model version.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "model_version", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewModelVersion<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                Ok(diesel::insert_into(model_versions::table)
                    .values((
                        new,
                        model_versions::id.eq(ModelVersionId::generate()),
                        model_versions::organizationId.eq(scope.organization_id()),
                        model_versions::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The model version with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "model_version", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ModelVersionId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| AgentError::not_found("model version", id))
            })
            .await
    }

    /// The organization's model versions, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "model_version", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = model_versions::table
                    .filter(model_versions::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "model_version", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ModelVersionId,
        changes: &ModelVersionChanges<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                let updated = if changes.is_empty() {
                    // An empty SET is not SQL: nothing to change is the row as it is.
                    Self::find(tx, scope, id).await?
                } else {
                    diesel::update(model_versions::table)
                        .filter(in_org(scope, id))
                        .set(changes)
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                        .optional()?
                };
                updated.ok_or_else(|| AgentError::not_found("model version", id))
            })
            .await
    }

    /// Deletes the model version with its training jobs (its endpoints stay, detached).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "model_version", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ModelVersionId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(model_versions::table)
                    .filter(in_org(scope, id))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("model version", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ModelVersionId,
    ) -> Result<Option<Self>, AgentError> {
        Ok(model_versions::table
            .filter(in_org(scope, id))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The model version as the parent another row links to: refused unless in this
    /// organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ModelVersionId,
    ) -> Result<Self, AgentError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| AgentError::foreign_parent("model version", id))
    }
}

/// The ids of this organization's model versions, as a subselect for their children.
pub(crate) fn ids_in(
    scope: &TenantScope,
) -> diesel::dsl::Select<
    diesel::dsl::Filter<
        model_versions::table,
        diesel::dsl::Eq<model_versions::organizationId, &OrganizationId>,
    >,
    model_versions::id,
> {
    model_versions::table
        .filter(model_versions::organizationId.eq(scope.organization_id()))
        .select(model_versions::id)
}

/// `id = $1 AND "organizationId" = <the scope's>`.
fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a ModelVersionId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<model_versions::id, &'a ModelVersionId>,
    diesel::dsl::Eq<model_versions::organizationId, &'a OrganizationId>,
> {
    model_versions::id
        .eq(id)
        .and(model_versions::organizationId.eq(scope.organization_id()))
}
