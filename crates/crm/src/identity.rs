//! Person identities: the addresses, numbers and handles a person is known by, each unique
//! per organization (case-insensitively: `citext`), so any of them finds the person.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{PersonId, PersonIdentityId};
use neonhub_schema::schema::person_identities;
use neonhub_schema::{Citext, InvalidData, TenantScope, keys, time, unique_violation};
use serde_json::Value;

use crate::suppression::{self, Screened};
use crate::{CrmError, Person, limits};

/// One identity of a person.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person_identities, check_for_backend(diesel::pg::Pg))]
pub struct PersonIdentity {
    /// Primary key.
    pub id: PersonIdentityId,
    /// The person.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// What kind of identity (`email`, `phone`, `handle`, `device`, ...).
    #[diesel(column_name = type_)]
    pub kind: String,
    /// The value, compared case-insensitively.
    pub value: Citext,
    /// The channel it reaches the person on (`email`, `sms`, `whatsapp`, ...).
    pub channel: Option<String>,
    /// When it was verified (a confirmed opt-in, a code entered).
    #[diesel(column_name = verifiedAt)]
    pub verified_at: Option<NaiveDateTime>,
    /// Where it came from (an import, a form).
    pub source: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was added (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// An identity to add to a person.
#[derive(Debug, Clone, Default)]
pub struct NewPersonIdentity<'a> {
    /// Its kind (1 to 200 bytes).
    pub kind: &'a str,
    /// Its value (trimmed; 1 to 1,000 bytes).
    pub value: &'a str,
    /// The channel it reaches the person on.
    pub channel: Option<&'a str>,
    /// Where it came from.
    pub source: Option<&'a str>,
    /// Verified already (when).
    pub verified_at: Option<NaiveDateTime>,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

/// `value` trimmed, refused when empty, oversized or holding NUL (naming `kind`).
pub(crate) fn normalized<'v>(kind: &str, value: &'v str) -> Result<&'v str, InvalidData> {
    limits::name("identity type", kind)?;
    let value = value.trim();
    InvalidData::check_length(
        &format!("{kind} identity"),
        value,
        1,
        limits::MAX_IDENTITY_LEN,
    )?;
    Ok(value)
}

impl PersonIdentity {
    /// Adds an identity to a person of this organization. An identity another person
    /// already holds (the same type and value, in any case) is
    /// [`CrmError::IdentityTaken`] naming that person: merge them if they are one. An
    /// identity on the suppression list (someone erased, or who asked never to be
    /// contacted) is added and flagged ([`Screened::Suppressed`]): the person must not be
    /// contacted, and [`crate::Consent::may_contact`] refuses them. Needs the suppression key.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_identity", op = "add"))]
    pub async fn add(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        new: &NewPersonIdentity<'_>,
    ) -> Result<Screened<Self>, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        let value = normalized(new.kind, new.value)?;
        let suppression_keys = suppression::keys()?;
        let identities = suppression::identity_set([(new.kind, value)]);
        limits::short("channel", new.channel)?;
        limits::short("source", new.source)?;
        limits::json("metadata", new.metadata)?;
        if let Some(at) = new.verified_at {
            InvalidData::check_timestamp("verifiedAt", at)?;
        }
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                let now = time::now();
                let inserted = tx
                    .transaction(async |tx| {
                        diesel::insert_into(person_identities::table)
                            .values((
                                person_identities::id.eq(PersonIdentityId::generate()),
                                person_identities::personId.eq(person),
                                person_identities::organizationId.eq(scope.organization_id()),
                                person_identities::type_.eq(new.kind),
                                person_identities::value.eq(Citext::new(value)),
                                person_identities::channel.eq(new.channel),
                                person_identities::verifiedAt.eq(new.verified_at),
                                person_identities::source.eq(new.source),
                                person_identities::metadata.eq(new.metadata),
                                person_identities::createdAt.eq(now),
                                person_identities::updatedAt.eq(now),
                            ))
                            .returning(Self::as_returning())
                            .get_result(tx)
                            .await
                    })
                    .await;
                match inserted {
                    Ok(row) => {
                        suppression::screen(tx, scope, &suppression_keys, &identities, row).await
                    }
                    Err(e)
                        if unique_violation(&e)
                            == Some("person_identities_organizationId_type_value_key") =>
                    {
                        let holder: PersonId = person_identities::table
                            .filter(person_identities::organizationId.eq(scope.organization_id()))
                            .filter(person_identities::type_.eq(new.kind))
                            .filter(person_identities::value.eq(Citext::new(value)))
                            .select(person_identities::personId)
                            .get_result(tx)
                            .await?;
                        Err(CrmError::IdentityTaken {
                            kind: new.kind.to_owned(),
                            person: holder.to_string(),
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await
    }

    /// The person's identities, by type and value.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_identity", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
    ) -> Result<Vec<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                Ok(person_identities::table
                    .filter(person_identities::personId.eq(person))
                    .filter(person_identities::organizationId.eq(scope.organization_id()))
                    .order((person_identities::type_, person_identities::value))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Marks the identity verified at `at`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_identity", op = "verify"))]
    pub async fn verify(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonIdentityId,
        at: NaiveDateTime,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        InvalidData::check_timestamp("verifiedAt", at)?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(person_identities::table.find(id))
                    .filter(person_identities::organizationId.eq(scope.organization_id()))
                    .set((
                        person_identities::verifiedAt.eq(at),
                        person_identities::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CrmError::not_found("person identity", id))
            })
            .await
    }

    /// Removes the identity.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_identity", op = "remove"))]
    pub async fn remove(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonIdentityId,
    ) -> Result<(), CrmError> {
        scope.require(keys::CRM_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(person_identities::table.find(id))
                    .filter(person_identities::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CrmError::not_found("person identity", id));
                }
                Ok(())
            })
            .await
    }
}
