//! Objectives: what the organization wants a person to do (sign up, renew), tracked by
//! status and advanced by events.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{PersonId, PersonObjectiveId};
use neonhub_schema::schema::person_objectives;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{CrmError, Person, limits};

/// An objective for a person.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person_objectives, check_for_backend(diesel::pg::Pg))]
pub struct PersonObjective {
    /// Primary key.
    pub id: PersonObjectiveId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// Whose objective.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// What it is.
    pub title: String,
    /// More about it.
    pub description: Option<String>,
    /// Where it stands (`open`, `achieved`, `abandoned`, ...).
    pub status: String,
    /// Priority (higher first).
    pub priority: i32,
    /// What measures success.
    #[diesel(column_name = successMetric)]
    pub success_metric: Option<String>,
    /// The metric's target.
    #[diesel(column_name = targetValue)]
    pub target_value: Option<f64>,
    /// When it is due.
    #[diesel(column_name = dueAt)]
    pub due_at: Option<NaiveDateTime>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was set (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// An objective to set for a person.
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = person_objectives)]
pub struct NewPersonObjective<'a> {
    /// What it is (1 to 200 bytes).
    pub title: &'a str,
    /// More about it.
    pub description: Option<&'a str>,
    /// Where it starts (`open`).
    pub status: &'a str,
    /// Priority.
    pub priority: i32,
    /// What measures success.
    #[diesel(column_name = successMetric)]
    pub success_metric: Option<&'a str>,
    /// The metric's target.
    #[diesel(column_name = targetValue)]
    pub target_value: Option<f64>,
    /// When it is due.
    #[diesel(column_name = dueAt)]
    pub due_at: Option<NaiveDateTime>,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

impl PersonObjective {
    /// Sets an objective for a person of this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_objective", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        new: &NewPersonObjective<'_>,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        limits::name("title", new.title)?;
        limits::name("status", new.status)?;
        limits::text("description", new.description)?;
        limits::short("successMetric", new.success_metric)?;
        limits::json("metadata", new.metadata)?;
        if new.target_value.is_some_and(|v| !v.is_finite()) {
            return Err(InvalidData::OutOfRange("targetValue must be finite".into()).into());
        }
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                let now = time::now();
                Ok(diesel::insert_into(person_objectives::table)
                    .values((
                        new,
                        person_objectives::id.eq(PersonObjectiveId::generate()),
                        person_objectives::organizationId.eq(scope.organization_id()),
                        person_objectives::personId.eq(person),
                        person_objectives::createdAt.eq(now),
                        person_objectives::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The person's objectives, highest priority first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_objective", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
    ) -> Result<Vec<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                Ok(person_objectives::table
                    .filter(person_objectives::personId.eq(person))
                    .filter(person_objectives::organizationId.eq(scope.organization_id()))
                    .order((
                        person_objectives::priority.desc(),
                        person_objectives::createdAt,
                    ))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Sets the status.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_objective", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonObjectiveId,
        status: &str,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        limits::name("status", status)?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(person_objectives::table.find(id))
                    .filter(person_objectives::organizationId.eq(scope.organization_id()))
                    .set((
                        person_objectives::status.eq(status),
                        person_objectives::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CrmError::not_found("person objective", id))
            })
            .await
    }
}
