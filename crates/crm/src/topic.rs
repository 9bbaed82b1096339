//! Topics a person cares about, one row per person and name, with a weight.

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{PersonId, PersonTopicId};
use neonhub_schema::schema::person_topics;
use neonhub_schema::{InvalidData, TenantScope, keys, time};

use crate::{CrmError, Person, limits};

/// A topic of a person.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person_topics, check_for_backend(diesel::pg::Pg))]
pub struct PersonTopic {
    /// Primary key.
    pub id: PersonTopicId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// Whose topic.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// The topic (unique per person).
    pub name: String,
    /// How much it matters.
    pub weight: f64,
    /// Its trend (rising above 0).
    pub trend: Option<f64>,
    /// When it was first recorded (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl PersonTopic {
    /// Sets the person's topic `name` to `weight` (and `trend`), adding it if new: one
    /// `INSERT ... ON CONFLICT` (two writers of the same topic never fail).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_topic", op = "set"))]
    pub async fn set(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        name: &str,
        weight: f64,
        trend: Option<f64>,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        limits::name("name", name)?;
        if !weight.is_finite() || trend.is_some_and(|t| !t.is_finite()) {
            return Err(
                InvalidData::OutOfRange("topic weight and trend must be finite".into()).into(),
            );
        }
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                let now = time::now();
                Ok(diesel::insert_into(person_topics::table)
                    .values((
                        person_topics::id.eq(PersonTopicId::generate()),
                        person_topics::organizationId.eq(scope.organization_id()),
                        person_topics::personId.eq(person),
                        person_topics::name.eq(name),
                        person_topics::weight.eq(weight),
                        person_topics::trend.eq(trend),
                        person_topics::createdAt.eq(now),
                        person_topics::updatedAt.eq(now),
                    ))
                    .on_conflict((person_topics::personId, person_topics::name))
                    .do_update()
                    .set((
                        person_topics::weight.eq(excluded(person_topics::weight)),
                        person_topics::trend.eq(excluded(person_topics::trend)),
                        person_topics::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The person's topics, heaviest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_topic", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
    ) -> Result<Vec<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                Ok(person_topics::table
                    .filter(person_topics::personId.eq(person))
                    .filter(person_topics::organizationId.eq(scope.organization_id()))
                    .order((person_topics::weight.desc(), person_topics::name))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }
}
