//! Notes about a person, written by the organization's members.

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{PersonId, PersonNoteId, UserId};
use neonhub_schema::schema::person_notes;
use neonhub_schema::{TenantScope, keys, time};

use crate::{CrmError, Person, limits};

/// A note about a person.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person_notes, check_for_backend(diesel::pg::Pg))]
pub struct PersonNote {
    /// Primary key.
    pub id: PersonNoteId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// Whom it is about.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// Who wrote it (the scope's user; `None` for system notes).
    #[diesel(column_name = authorId)]
    pub author_id: Option<UserId>,
    /// The text.
    pub body: String,
    /// Tags.
    pub tags: Option<Vec<Option<String>>>,
    /// Who may see it (`team`, `private`, ...; shown to the organization's readers).
    pub visibility: String,
    /// When it was written (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl PersonNote {
    /// Adds a note by the scope's user (1 to 10,000 bytes).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_note", op = "add"))]
    pub async fn add(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        body: &str,
        visibility: &str,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        neonhub_schema::InvalidData::check_length("body", body, 1, limits::MAX_TEXT_LEN)?;
        limits::name("visibility", visibility)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                let now = time::now();
                Ok(diesel::insert_into(person_notes::table)
                    .values((
                        person_notes::id.eq(PersonNoteId::generate()),
                        person_notes::organizationId.eq(scope.organization_id()),
                        person_notes::personId.eq(person),
                        person_notes::authorId.eq(scope.actor().user_id()),
                        person_notes::body.eq(body),
                        person_notes::visibility.eq(visibility),
                        person_notes::createdAt.eq(now),
                        person_notes::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The person's notes, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_note", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
    ) -> Result<Vec<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                Ok(person_notes::table
                    .filter(person_notes::personId.eq(person))
                    .filter(person_notes::organizationId.eq(scope.organization_id()))
                    .order((person_notes::createdAt.desc(), person_notes::id.desc()))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Deletes a note.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_note", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonNoteId,
    ) -> Result<(), CrmError> {
        scope.require(keys::CRM_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(person_notes::table.find(id))
                    .filter(person_notes::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CrmError::not_found("person note", id));
                }
                Ok(())
            })
            .await
    }
}
