//! People: whom the organization markets to, found by any of their identities.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::{BTreeMap, BTreeSet};

use neonhub_schema::ids::{AuditLogId, PersonId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{audit_logs, people, person_identities};
use neonhub_schema::{Citext, TenantScope, keys, time, unique_violation};
use serde_json::Value;

use crate::erase::{Binds, Catalog, LEADS_ROOT, PERSON_ROOT};
use crate::identity::normalized;
use crate::suppression::{self, Identity, Screened};
use crate::{CrmError, limits};

/// A person of the organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = people, check_for_backend(diesel::pg::Pg))]
pub struct Person {
    /// Primary key.
    pub id: PersonId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// The id another system knows them by (unique per organization).
    #[diesel(column_name = externalId)]
    pub external_id: Option<String>,
    /// Name shown.
    #[diesel(column_name = displayName)]
    pub display_name: Option<String>,
    /// Main email (a copy for display; identities are what is matched).
    #[diesel(column_name = primaryEmail)]
    pub primary_email: Option<String>,
    /// Main phone.
    #[diesel(column_name = primaryPhone)]
    pub primary_phone: Option<String>,
    /// Main social handle.
    #[diesel(column_name = primaryHandle)]
    pub primary_handle: Option<String>,
    /// Locale (`en-GB`, ...).
    pub locale: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Persona tags.
    #[diesel(column_name = personaTags)]
    pub persona_tags: Option<Vec<Option<String>>>,
    /// Free-form attributes.
    pub attributes: Option<Value>,
    /// When the person was added (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When the row last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// When the person was last seen (an event, a visit).
    #[diesel(column_name = lastSeenAt)]
    pub last_seen_at: Option<NaiveDateTime>,
}

impl Keyed for Person {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A person to add; id, organization and timestamps are added by [`Person::create`].
#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = people)]
pub struct NewPerson<'a> {
    /// The id another system knows them by.
    #[diesel(column_name = externalId)]
    pub external_id: Option<&'a str>,
    /// Name shown.
    #[diesel(column_name = displayName)]
    pub display_name: Option<&'a str>,
    /// Main email.
    #[diesel(column_name = primaryEmail)]
    pub primary_email: Option<&'a str>,
    /// Main phone.
    #[diesel(column_name = primaryPhone)]
    pub primary_phone: Option<&'a str>,
    /// Main social handle.
    #[diesel(column_name = primaryHandle)]
    pub primary_handle: Option<&'a str>,
    /// Locale.
    pub locale: Option<&'a str>,
    /// IANA time zone.
    pub timezone: Option<&'a str>,
    /// Free-form attributes (at most 1 MiB of JSON).
    pub attributes: Option<&'a Value>,
}

impl NewPerson<'_> {
    /// Refuses an oversized or NUL-holding field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), neonhub_schema::InvalidData> {
        limits::short("externalId", self.external_id)?;
        limits::short("displayName", self.display_name)?;
        limits::short("primaryEmail", self.primary_email)?;
        limits::short("primaryPhone", self.primary_phone)?;
        limits::short("primaryHandle", self.primary_handle)?;
        limits::short("locale", self.locale)?;
        limits::short("timezone", self.timezone)?;
        limits::json("attributes", self.attributes)
    }

    /// The identity values it sets (primary email, phone, handle, external id), normalized.
    fn identities(&self) -> BTreeSet<Identity> {
        suppression::identity_set(
            [
                ("email", self.primary_email),
                ("phone", self.primary_phone),
                ("handle", self.primary_handle),
                ("external_id", self.external_id),
            ]
            .into_iter()
            .filter_map(|(kind, value)| Some((kind, value?))),
        )
    }
}

/// What an erasure did: rows deleted and detached per table, the identities put on the
/// suppression list, and the audit entry that records it (by counts and keyed hashes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    /// Rows deleted, by table: the person (`people`), everything they owned (identities,
    /// consents, notes, topics, objectives, events, memories, any later table whose foreign
    /// key cascades from them) and the organization's `marketing_leads` with their email
    /// (with what those owned).
    pub deleted: BTreeMap<String, usize>,
    /// Rows kept but unlinked, by table: a budget ledger entry keeps its amount and loses
    /// its `personId` (and every mention of the person in its text and JSON).
    pub detached: BTreeMap<String, usize>,
    /// The person's distinct identity values (after normalization) that were hashed.
    pub identities: usize,
    /// How many of those were newly put on the suppression list (the others were already).
    pub suppressed: usize,
    /// The person's id as a keyed hash: what the audit entry names instead of the id.
    pub person_hash: String,
    /// The audit entry recording the erasure.
    pub audit_entry: AuditLogId,
}

/// What a merge did: the rows moved from the merged person to the survivor, per table, and
/// the topics that clashed with the survivor's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeReport {
    /// Rows re-pointed to the survivor, by table (every table whose foreign key names a
    /// person, found in the catalog: identities, consents, notes, topics, objectives, events,
    /// memories, and any later one).
    pub moved: std::collections::BTreeMap<String, usize>,
    /// Topics both people had (the same name, unique per person): the survivor's row is
    /// kept with the higher weight of the two (and the merged one's trend if it had none),
    /// the merged person's row is dropped.
    pub topics_clashed: Vec<String>,
}

impl Person {
    /// Adds a person. When it carries an identity (a primary email, phone or handle, an
    /// external id) that is on the suppression list, the person is written and the outcome
    /// says so ([`Screened::Suppressed`]): they must not be contacted. Screening needs the
    /// suppression key whenever there is an identity to screen.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewPerson<'_>,
    ) -> Result<Screened<Self>, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        new.check()?;
        let identities = new.identities();
        let keys = (!identities.is_empty())
            .then(suppression::keys)
            .transpose()?;
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                let person = tx
                    .transaction(async |tx| {
                        diesel::insert_into(people::table)
                            .values((
                                new,
                                people::id.eq(PersonId::generate()),
                                people::organizationId.eq(scope.organization_id()),
                                people::createdAt.eq(now),
                                people::updatedAt.eq(now),
                            ))
                            .returning(Self::as_returning())
                            .get_result(tx)
                            .await
                    })
                    .await
                    .map_err(|e| external_id_taken(e, new.external_id))?;
                match keys {
                    Some(keys) => suppression::screen(tx, scope, &keys, &identities, person).await,
                    None => Ok(Screened::Clear(person)),
                }
            })
            .await
    }

    /// The person with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await)
            .await
    }

    /// The person another system knows by `external_id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "by_external_id"))]
    pub async fn by_external_id(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        external_id: &str,
    ) -> Result<Option<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(people::table
                    .filter(people::organizationId.eq(scope.organization_id()))
                    .filter(people::externalId.eq(external_id))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The person holding the identity `kind` + `value` (compared case-insensitively, after
    /// trimming), if any.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "by_identity"))]
    pub async fn by_identity(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        kind: &str,
        value: &str,
    ) -> Result<Option<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        let value = normalized(kind, value)?;
        scope
            .transaction(conn, async |tx| {
                Ok(people::table
                    .inner_join(person_identities::table)
                    .filter(person_identities::organizationId.eq(scope.organization_id()))
                    .filter(person_identities::type_.eq(kind))
                    .filter(person_identities::value.eq(Citext::new(value)))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The organization's people, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = people::table
                    .filter(people::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Replaces the person's fields with `changes` (`None` leaves a column alone). A new
    /// identity value on the suppression list is flagged as in [`Person::create`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
        changes: &NewPerson<'_>,
    ) -> Result<Screened<Self>, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        changes.check()?;
        let identities = changes.identities();
        let keys = (!identities.is_empty())
            .then(suppression::keys)
            .transpose()?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                let person = tx
                    .transaction(async |tx| {
                        diesel::update(people::table.find(id))
                            .set((changes, people::updatedAt.eq(time::now())))
                            .returning(Self::as_returning())
                            .get_result(tx)
                            .await
                    })
                    .await
                    .map_err(|e| external_id_taken(e, changes.external_id))?;
                match keys {
                    Some(keys) => suppression::screen(tx, scope, &keys, &identities, person).await,
                    None => Ok(Screened::Clear(person)),
                }
            })
            .await
    }

    /// Deletes the person and everything that references them (identities, consents,
    /// notes, topics, objectives, events, memories: the foreign keys cascade). For a
    /// person's request to be forgotten use [`Person::erase`], which also suppresses their
    /// identities, scrubs what must stay and records the erasure in the audit log.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
    ) -> Result<(), CrmError> {
        scope.require(keys::CRM_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(people::table.find(id))
                    .filter(people::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CrmError::not_found("person", id));
                }
                Ok(())
            })
            .await
    }

    /// Merges `other` into `survivor` in one transaction: every row that names `other`
    /// (identities, consents, notes, topics, objectives, events, memories, and any table a
    /// later migration adds with a foreign key to people) moves to `survivor`, then `other`
    /// is deleted. Identities cannot clash (unique per organization, so never shared by
    /// two people); a topic both have (unique per person) keeps the survivor's row with
    /// the higher weight, and is listed in the report. The survivor's own fields win; its
    /// empty ones are filled from `other`'s (`lastSeenAt`: the later of the two).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "merge"))]
    pub async fn merge(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        survivor: &PersonId,
        other: &PersonId,
    ) -> Result<MergeReport, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        if survivor == other {
            return Err(CrmError::MergeIntoItself(survivor.to_string()));
        }
        scope
            .transaction(conn, async |tx| {
                // Both rows locked in id order, so two merges of the same pair cannot deadlock.
                let mut ids = [survivor, other];
                ids.sort();
                for id in ids {
                    let found: Option<PersonId> = people::table
                        .find(id)
                        .filter(people::organizationId.eq(scope.organization_id()))
                        .select(people::id)
                        .for_update()
                        .get_result(tx)
                        .await
                        .optional()?;
                    if found.is_none() {
                        return Err(CrmError::not_found("person", id));
                    }
                }
                crate::merge::move_everything(tx, survivor, other).await
            })
            .await
    }

    /// Everything held about the person, as one JSON document (a data subject's access
    /// request): `{"format", "organizationId", "personId", "exportedAt", "tables"}`, where
    /// `tables` maps each table to its rows (each row as PostgreSQL's `to_jsonb` gives it,
    /// embeddings as text): the person's row; every row that references them or that they
    /// own, to any depth, found from the database's foreign keys (so a table a later
    /// migration adds is covered); and the organization's `marketing_leads` with one of
    /// their emails, with what those own. Every table searched is listed, empty ones as
    /// `[]`. All of it is read in one statement: one consistent snapshot.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "export"))]
    pub async fn export(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
    ) -> Result<Value, CrmError> {
        scope.require(keys::CRM_EXPORT)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                let values = suppression::identity_values(&*tx, id).await?;
                let emails = emails_of(&suppression::identity_set(
                    values.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ));
                let roots = [("public.people", PERSON_ROOT), ("public.marketing_leads", LEADS_ROOT)];
                let catalog = Catalog::load(tx, &[]).await?;
                let org = scope.organization_id().to_string();
                let binds = Binds {
                    person: id,
                    pattern: "",
                    emails: &emails,
                    org: &org,
                };
                let tables = crate::erase::export(tx, &catalog, &roots, &binds).await?;
                Ok(serde_json::json!({
                    "format": "neonhub.person-export/1",
                    "organizationId": org,
                    "personId": id,
                    "exportedAt": time::now().and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "tables": tables,
                }))
            })
            .await
    }

    /// Forgets the person, in one transaction (all of it or nothing): deletes them and
    /// everything they own (the rows whose foreign keys cascade from them, to any depth),
    /// detaches what must stay (a budget ledger entry keeps its amount, loses its
    /// `personId`, and every mention of the person's id, emails, phones and other
    /// identities in its text and JSON columns is replaced by `[erased]`), deletes the
    /// organization's `marketing_leads` with one of their emails, puts each of their
    /// identity values on the suppression list as a keyed hash (so a re-import is flagged
    /// and [`crate::Consent::may_contact`] refuses it), and writes one audit entry that
    /// names the person and their identities only by keyed hash, with the counts and
    /// `reason`. `reason` (1 to 1,000 bytes) must not itself name the person.
    ///
    /// Needs the suppression key (`NEONHUB_SUPPRESSION_KEY`): without a usable one it is
    /// [`CrmError::SuppressionKey`] before anything is read. A person of another
    /// organization is [`CrmError::NotFound`]. A foreign key that would block the deletion
    /// refuses it ([`CrmError::ErasureBlocked`]) before anything is written.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person", op = "erase"))]
    pub async fn erase(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
        reason: &str,
    ) -> Result<ErasureReport, CrmError> {
        scope.require(keys::CRM_ERASE)?;
        neonhub_schema::InvalidData::check_length("reason", reason, 1, 1_000)?;
        let keys = suppression::keys()?;
        scope
            .transaction(conn, async |tx| {
                let found: Option<PersonId> = people::table
                    .find(id)
                    .filter(people::organizationId.eq(scope.organization_id()))
                    .select(people::id)
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?;
                if found.is_none() {
                    return Err(CrmError::not_found("person", id));
                }
                let values = suppression::identity_values(&*tx, id).await?;
                let identities =
                    suppression::identity_set(values.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let raw: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
                suppression::check_reason(reason, id, &identities, &raw)?;
                let emails = emails_of(&identities);
                let mut mentions: BTreeSet<String> =
                    raw.iter().map(|v| v.trim().to_owned()).collect();
                mentions.extend(identities.iter().map(|i| i.value.clone()));
                mentions.insert(id.to_string());
                let pattern = crate::erase::mentions_pattern(&mentions);
                let org = scope.organization_id().to_string();
                let binds = Binds {
                    person: id,
                    pattern: &pattern,
                    emails: &emails,
                    org: &org,
                };
                let roots = [
                    ("public.marketing_leads", LEADS_ROOT),
                    ("public.people", PERSON_ROOT),
                ];
                let catalog = Catalog::load(tx, &roots).await?;
                let counts = crate::erase::erase(tx, &catalog, &roots, &binds).await?;
                let suppressed =
                    suppression::suppress(tx, scope, &keys, &identities, "erasure").await?;
                let org_id = scope.organization_id();
                let person_hash = keys.hash(&[org_id.as_str(), "person", id.as_str()]);
                let hashes: Vec<Value> = identities
                    .iter()
                    .map(|i| {
                        serde_json::json!({"kind": i.class, "hash": i.hash(&keys, org_id).digest})
                    })
                    .collect();
                let metadata = serde_json::json!({
                    "reason": reason,
                    "keyId": person_hash.key_id,
                    "identities": hashes,
                    "deleted": counts.deleted,
                    "detached": counts.detached,
                    "suppressed": suppressed,
                });
                let actor = scope.actor();
                let audit_entry = AuditLogId::generate();
                diesel::insert_into(audit_logs::table)
                    .values((
                        audit_logs::id.eq(&audit_entry),
                        audit_logs::organizationId.eq(org_id),
                        audit_logs::userId.eq(actor.user_id()),
                        audit_logs::actorType.eq(actor.kind()),
                        audit_logs::action.eq("crm.person.erased"),
                        audit_logs::resourceType.eq("person"),
                        audit_logs::resourceId.eq(&person_hash.digest),
                        audit_logs::metadata.eq(&metadata),
                        audit_logs::createdAt.eq(time::now()),
                    ))
                    .execute(tx)
                    .await?;
                Ok(ErasureReport {
                    deleted: counts.deleted,
                    detached: counts.detached,
                    identities: identities.len(),
                    suppressed,
                    person_hash: person_hash.digest,
                    audit_entry,
                })
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
    ) -> Result<Self, CrmError> {
        people::table
            .find(id)
            .filter(people::organizationId.eq(scope.organization_id()))
            .select(Self::as_select())
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| CrmError::not_found("person", id))
    }

    /// Fails with [`CrmError::ForeignParent`] unless `id` is a person of this organization
    /// (inside a scope transaction): what every child row's write checks first.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &PersonId,
    ) -> Result<(), CrmError> {
        let n: i64 = people::table
            .find(id)
            .filter(people::organizationId.eq(scope.organization_id()))
            .count()
            .get_result(tx)
            .await?;
        if n == 0 {
            return Err(CrmError::foreign_parent("person", id));
        }
        Ok(())
    }
}

/// `e` as [`CrmError::DuplicateExternalId`] when it broke the external id's unique index.
fn external_id_taken(e: diesel::result::Error, external_id: Option<&str>) -> CrmError {
    match (unique_violation(&e), external_id) {
        (Some("people_organizationId_externalId_key"), Some(id)) => {
            CrmError::DuplicateExternalId(id.to_owned())
        }
        _ => e.into(),
    }
}

/// The normalized emails among `identities` (what a marketing lead is matched by).
fn emails_of(identities: &BTreeSet<Identity>) -> Vec<String> {
    identities
        .iter()
        .filter(|i| i.class == "email")
        .map(|i| i.value.clone())
        .collect()
}
