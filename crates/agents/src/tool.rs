//! Tools: what an agent calls, each with a JSON Schema contract for its input and output.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{AgentId, OrganizationId, ToolId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::tools;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{Agent, AgentError, ContractSide, contract, limits};

/// A tool of one organization, optionally assigned to one of its agents.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = tools, check_for_backend(diesel::pg::Pg))]
pub struct Tool {
    /// Primary key.
    pub id: ToolId,
    /// The organization that owns it.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// URL-safe key, unique in the organization ([`Tool::by_slug`]).
    pub slug: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema every execution's input must satisfy (none: any input).
    #[diesel(column_name = inputSchema)]
    pub input_schema: Option<Value>,
    /// JSON Schema every completed execution's output must satisfy (none: any output).
    #[diesel(column_name = outputSchema)]
    pub output_schema: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// The agent it is assigned to (cleared when that agent is deleted).
    #[diesel(column_name = agentId)]
    pub agent_id: Option<AgentId>,
}

impl Keyed for Tool {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A tool to create; the id, organization and timestamp are added by [`Tool::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tools)]
pub struct NewTool<'a> {
    /// The agent it is assigned to (must be in the organization).
    #[diesel(column_name = agentId)]
    pub agent_id: Option<&'a AgentId>,
    /// Display name (1 to 200 bytes).
    pub name: &'a str,
    /// URL-safe key, unique in the organization (1 to 128 bytes of `a-z0-9-_.`).
    pub slug: &'a str,
    /// What it does.
    pub description: Option<&'a str>,
    /// JSON Schema of its input (refused unless a valid JSON Schema).
    #[diesel(column_name = inputSchema)]
    pub input_schema: Option<&'a Value>,
    /// JSON Schema of its output (refused unless a valid JSON Schema).
    #[diesel(column_name = outputSchema)]
    pub output_schema: Option<&'a Value>,
}

impl NewTool<'_> {
    /// Refuses an empty, oversized or NUL-holding field, or a schema that is not a valid
    /// JSON Schema, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), AgentError> {
        limits::name("name", self.name)?;
        InvalidData::check_slug("slug", self.slug)?;
        limits::text("description", self.description)?;
        check_schemas(self.input_schema, self.output_schema)
    }
}

/// What may change on a tool: `None` leaves a column alone, `Some(None)` clears a
/// nullable one. Schemas are checked as at creation.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = tools)]
pub struct ToolChanges<'a> {
    /// New agent (must be in the organization), or `Some(None)` to unassign.
    #[diesel(column_name = agentId)]
    pub agent_id: Option<Option<&'a AgentId>>,
    /// New name.
    pub name: Option<&'a str>,
    /// New slug (unique in the organization).
    pub slug: Option<&'a str>,
    /// New description.
    pub description: Option<Option<&'a str>>,
    /// New input schema.
    #[diesel(column_name = inputSchema)]
    pub input_schema: Option<Option<&'a Value>>,
    /// New output schema.
    #[diesel(column_name = outputSchema)]
    pub output_schema: Option<Option<&'a Value>>,
}

impl ToolChanges<'_> {
    /// Refuses an empty, oversized or NUL-holding field, or a schema that is not a valid
    /// JSON Schema, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), AgentError> {
        self.name.map_or(Ok(()), |v| limits::name("name", v))?;
        self.slug
            .map_or(Ok(()), |v| InvalidData::check_slug("slug", v))?;
        limits::text("description", self.description.flatten())?;
        check_schemas(self.input_schema.flatten(), self.output_schema.flatten())
    }

    fn is_empty(&self) -> bool {
        self.agent_id.is_none()
            && self.name.is_none()
            && self.slug.is_none()
            && self.description.is_none()
            && self.input_schema.is_none()
            && self.output_schema.is_none()
    }
}

fn check_schemas(input: Option<&Value>, output: Option<&Value>) -> Result<(), AgentError> {
    for (field, schema) in [("inputSchema", input), ("outputSchema", output)] {
        if let Some(schema) = schema {
            limits::json(field, Some(schema))?;
            contract::compile(field, schema)?;
        }
    }
    Ok(())
}

impl Tool {
    /// Checks `input` against the tool's input schema: [`AgentError::ContractViolation`]
    /// with the JSON Pointer of the first violation. [`crate::ToolExecution::start`] calls
    /// it; a caller may too, before doing any work.
    pub fn check_input(&self, input: &Value) -> Result<(), AgentError> {
        contract::check(
            &self.slug,
            ContractSide::Input,
            self.input_schema.as_ref(),
            input,
        )
    }

    /// Checks `output` against the tool's output schema, as [`Tool::check_input`] does.
    pub fn check_output(&self, output: &Value) -> Result<(), AgentError> {
        contract::check(
            &self.slug,
            ContractSide::Output,
            self.output_schema.as_ref(),
            output,
        )
    }

    /// Creates a tool; its agent, if any, must be in this organization, and its schemas
    /// must be valid JSON Schemas that need no remote document.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewTool<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(agent) = new.agent_id {
                    Agent::parent(tx, scope, agent).await?;
                }
                diesel::insert_into(tools::table)
                    .values((
                        new,
                        tools::id.eq(ToolId::generate()),
                        tools::organizationId.eq(scope.organization_id()),
                        tools::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| slug_taken(e, Some(new.slug)))
            })
            .await
    }

    /// The tool with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolId,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| AgentError::not_found("tool", id))
            })
            .await
    }

    /// The tool with `slug` in this organization, if there is one.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        slug: &str,
    ) -> Result<Option<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        InvalidData::check_text("slug", slug)?;
        scope
            .transaction(conn, async |tx| {
                Ok(tools::table
                    .filter(tools::organizationId.eq(scope.organization_id()))
                    .filter(tools::slug.eq(slug))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's tools, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, AgentError> {
        scope.require(keys::AGENTS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = tools::table
                    .filter(tools::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes`; a new agent must be in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolId,
        changes: &ToolChanges<'_>,
    ) -> Result<Self, AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(Some(agent)) = changes.agent_id {
                    Agent::parent(tx, scope, agent).await?;
                }
                let updated = if changes.is_empty() {
                    // An empty SET is not SQL: nothing to change is the row as it is.
                    Self::find(tx, scope, id).await?
                } else {
                    diesel::update(tools::table)
                        .filter(in_org(scope, id))
                        .set(changes)
                        .returning(Self::as_returning())
                        .get_result(tx)
                        .await
                        .optional()
                        .map_err(|e| slug_taken(e, changes.slug))?
                };
                updated.ok_or_else(|| AgentError::not_found("tool", id))
            })
            .await
    }

    /// Deletes the tool with its executions (the foreign key cascades).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "tool", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolId,
    ) -> Result<(), AgentError> {
        scope.require(keys::AGENTS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(tools::table)
                    .filter(in_org(scope, id))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(AgentError::not_found("tool", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolId,
    ) -> Result<Option<Self>, AgentError> {
        Ok(tools::table
            .filter(in_org(scope, id))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The tool as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ToolId,
    ) -> Result<Self, AgentError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| AgentError::foreign_parent("tool", id))
    }
}

/// `id = $1 AND "organizationId" = <the scope's>`.
fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a ToolId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<tools::id, &'a ToolId>,
    diesel::dsl::Eq<tools::organizationId, &'a OrganizationId>,
> {
    tools::id
        .eq(id)
        .and(tools::organizationId.eq(scope.organization_id()))
}

fn slug_taken(e: diesel::result::Error, slug: Option<&str>) -> AgentError {
    AgentError::slug_taken(e, "tools_organizationId_slug_key", "tool", slug)
}
