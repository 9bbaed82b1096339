//! The suppression list: keyed hashes of the identities of erased people (and of anyone who
//! asked never to be contacted), so a re-imported address is recognized without the
//! address itself being kept.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{OrganizationId, PersonId, PersonSuppressionId};
use neonhub_schema::schema::{people, person_identities, person_suppressions};
use neonhub_schema::seal::{HashKeys, KeyedHash, current_hash_keys};
use neonhub_schema::{Citext, InvalidData, TenantScope, keys, time};

use crate::CrmError;
use crate::identity::normalized;

/// One suppressed identity: its kind and keyed hash, never its value.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person_suppressions, check_for_backend(diesel::pg::Pg))]
pub struct Suppression {
    /// Primary key.
    pub id: PersonSuppressionId,
    /// The organization whose list it is on.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The kind of identity: `email`, `phone`, or another identity type, lower-cased.
    pub kind: String,
    /// The `NEONHUB_SUPPRESSION_KEY` entry that made the hash.
    #[diesel(column_name = keyId)]
    pub key_id: String,
    /// HMAC-SHA-256 of the organization, the kind and the normalized value (base64url).
    pub hash: String,
    /// Why it is suppressed: `erasure` ([`crate::Person::erase`]) or `request`
    /// ([`Suppression::add`]).
    pub source: String,
    /// When it was suppressed.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

/// A suppressed identity a write touched: its kind and when it was suppressed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SuppressionMatch {
    /// The kind of identity (`email`, `phone`, ...).
    pub kind: String,
    /// Why it is suppressed (`erasure`, `request`).
    pub source: String,
    /// Since when.
    pub suppressed_at: NaiveDateTime,
}

/// The outcome of a write that adds identities (a new person, a changed primary email, an
/// added identity): the row was written, and either none of its identities is on the
/// suppression list, or some are and the person must not be contacted through them
/// ([`crate::Consent::may_contact`] refuses every channel for such a person).
#[must_use = "a suppressed identity was written: the person must not be contacted; match on Screened::Suppressed"]
#[derive(Debug, Clone, PartialEq)]
pub enum Screened<T> {
    /// No identity of the write is suppressed.
    Clear(T),
    /// The row was written, but it holds identities of someone erased (or who asked not to
    /// be contacted): the import should drop them, or keep them knowing nobody may
    /// contact them.
    Suppressed {
        /// The row written.
        row: T,
        /// The suppressed identities it holds.
        matches: Vec<SuppressionMatch>,
    },
}

impl<T> Screened<T> {
    /// Whether an identity of the write is suppressed.
    pub fn is_suppressed(&self) -> bool {
        matches!(self, Self::Suppressed { .. })
    }

    /// The row written, whatever the outcome (having looked at the outcome).
    pub fn row(&self) -> &T {
        match self {
            Self::Clear(row) | Self::Suppressed { row, .. } => row,
        }
    }

    /// The row written, when no identity of it is suppressed; otherwise
    /// [`CrmError::Suppressed`] naming the kinds (the row stays written: the caller that
    /// wants a refusal deletes it, or erases it again).
    pub fn clear(self) -> Result<T, CrmError> {
        match self {
            Self::Clear(row) => Ok(row),
            Self::Suppressed { matches, .. } => Err(CrmError::Suppressed {
                kinds: matches.into_iter().map(|m| m.kind).collect(),
            }),
        }
    }
}

/// The class an identity kind is hashed under: email and phone kinds share one class each
/// (a `mobile` and a `phone` of the same number are one identity), anything else its own.
pub(crate) fn kind_class(kind: &str) -> String {
    let kind = kind.trim().to_ascii_lowercase();
    match kind.as_str() {
        "email" | "e-mail" | "mail" => "email".to_owned(),
        "phone" | "mobile" | "sms" | "tel" | "telephone" | "whatsapp" => "phone".to_owned(),
        _ => kind,
    }
}

/// `value` as it is hashed: emails trimmed and lower-cased; phones in E.164 when they carry
/// a country code (`+44 20 7946 0000`, `0044 20 7946 0000` → `+442079460000`), else their
/// digits (a national number has no country to add: the same number imported again in the
/// same form still matches); anything else trimmed and lower-cased (identities compare
/// case-insensitively).
pub(crate) fn normalize(class: &str, value: &str) -> String {
    let value = value.trim();
    if class != "phone" {
        return value.to_lowercase();
    }
    let plus = value.starts_with('+');
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    match (plus, digits.strip_prefix("00")) {
        (true, _) => format!("+{digits}"),
        (false, Some(rest)) if !rest.is_empty() => format!("+{rest}"),
        _ if digits.is_empty() => value.to_lowercase(),
        _ => digits,
    }
}

/// One identity value of a person, ready to hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Identity {
    /// [`kind_class`] of its kind.
    pub class: String,
    /// [`normalize`]d value.
    pub value: String,
}

impl Identity {
    pub(crate) fn new(kind: &str, value: &str) -> Self {
        let class = kind_class(kind);
        let value = normalize(&class, value);
        Self { class, value }
    }

    /// Its hash under every configured key (what a stored hash is matched against).
    pub(crate) fn hashes(&self, keys: &HashKeys, org: &OrganizationId) -> Vec<KeyedHash> {
        keys.hash_all(&[org.as_str(), &self.class, &self.value])
    }

    /// Its hash under the first key (what is stored).
    pub(crate) fn hash(&self, keys: &HashKeys, org: &OrganizationId) -> KeyedHash {
        keys.hash(&[org.as_str(), &self.class, &self.value])
    }
}

/// Every identity value a person holds, as stored (kind, value): their identities and the
/// people row's primary email, phone, handle and external id (inside a scope transaction).
/// Two prepared statements sent together (pipelined), on a shared connection so the caller
/// can pipeline a third.
pub(crate) async fn identity_values(
    conn: &AsyncPgConnection,
    person: &PersonId,
) -> Result<Vec<(String, String)>, CrmError> {
    let (mut a, mut b) = (conn, conn);
    let identities = person_identities::table
        .filter(person_identities::personId.eq(person))
        .select((person_identities::type_, person_identities::value))
        .load::<(String, Citext)>(&mut a);
    let primary = people::table
        .find(person)
        .select((
            people::primaryEmail,
            people::primaryPhone,
            people::primaryHandle,
            people::externalId,
        ))
        .first::<(
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        )>(&mut b);
    let (identities, primary) = tokio::join!(identities, primary);
    let mut values: Vec<(String, String)> = identities?
        .into_iter()
        .map(|(kind, value)| (kind, value.to_string()))
        .collect();
    if let Some((email, phone, handle, external)) = primary.optional()? {
        for (kind, value) in [
            ("email", email),
            ("phone", phone),
            ("handle", handle),
            ("external_id", external),
        ] {
            if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
                values.push((kind.to_owned(), value));
            }
        }
    }
    Ok(values)
}

/// The normalized identities of `values` (kind, value).
pub(crate) fn identity_set<'a>(
    values: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeSet<Identity> {
    values
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| Identity::new(k, v))
        .collect()
}

/// The suppressed ones among `identities` (inside a scope transaction).
pub(crate) async fn matches(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    keys: &HashKeys,
    identities: &BTreeSet<Identity>,
) -> Result<Vec<SuppressionMatch>, CrmError> {
    if identities.is_empty() {
        return Ok(Vec::new());
    }
    let org = scope.organization_id();
    let hashes: Vec<String> = identities
        .iter()
        .flat_map(|i| i.hashes(keys, org))
        .map(|h| h.digest)
        .collect();
    let found: Vec<(String, String, NaiveDateTime)> = person_suppressions::table
        .filter(person_suppressions::organizationId.eq(org))
        .filter(person_suppressions::hash.eq_any(&hashes))
        .order((person_suppressions::kind, person_suppressions::createdAt))
        .select((
            person_suppressions::kind,
            person_suppressions::source,
            person_suppressions::createdAt,
        ))
        .load(tx)
        .await?;
    Ok(found
        .into_iter()
        .map(|(kind, source, suppressed_at)| SuppressionMatch {
            kind,
            source,
            suppressed_at,
        })
        .collect())
}

/// `row` screened against the suppression list by `identities`.
pub(crate) async fn screen<T>(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    keys: &HashKeys,
    identities: &BTreeSet<Identity>,
    row: T,
) -> Result<Screened<T>, CrmError> {
    let matches = matches(tx, scope, keys, identities).await?;
    Ok(if matches.is_empty() {
        Screened::Clear(row)
    } else {
        Screened::Suppressed { row, matches }
    })
}

/// Puts `identities` on the organization's list (an identity already there stays as it
/// was); returns how many were added.
pub(crate) async fn suppress(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    keys: &HashKeys,
    identities: &BTreeSet<Identity>,
    source: &str,
) -> Result<usize, CrmError> {
    let org = scope.organization_id();
    let now = time::now();
    let rows: Vec<_> = identities
        .iter()
        .map(|identity| {
            let hash = identity.hash(keys, org);
            (
                person_suppressions::id.eq(PersonSuppressionId::generate()),
                person_suppressions::organizationId.eq(org),
                person_suppressions::kind.eq(identity.class.clone()),
                person_suppressions::keyId.eq(hash.key_id),
                person_suppressions::hash.eq(hash.digest),
                person_suppressions::source.eq(source),
                person_suppressions::createdAt.eq(now),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    // Under a rotated key the same value gets a second row (the new key's hash), so the
    // list keeps matching once the old key is retired.
    Ok(diesel::insert_into(person_suppressions::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(tx)
        .await?)
}

/// The hashing keys in force, or the error naming `NEONHUB_SUPPRESSION_KEY`'s problem.
pub(crate) fn keys() -> Result<Arc<HashKeys>, CrmError> {
    Ok(current_hash_keys()?)
}

impl Suppression {
    /// Puts an identity on the organization's suppression list without erasing anyone:
    /// someone who asked never to be contacted, a hard bounce, a complaint. Returns whether
    /// it was added (`false`: it was already there).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_suppression", op = "add"))]
    pub async fn add(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        kind: &str,
        value: &str,
    ) -> Result<bool, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        let value = normalized(kind, value)?;
        let keys = keys()?;
        let identities = BTreeSet::from([Identity::new(kind, value)]);
        scope
            .transaction(conn, async |tx| {
                if !matches(tx, scope, &keys, &identities).await?.is_empty() {
                    return Ok(false);
                }
                Ok(suppress(tx, scope, &keys, &identities, "request").await? > 0)
            })
            .await
    }

    /// Whether the identity `kind` + `value` is on the organization's suppression list
    /// (compared after normalization: an email in any case, a phone in any formatting).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_suppression", op = "is_suppressed"))]
    pub async fn is_suppressed(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        kind: &str,
        value: &str,
    ) -> Result<bool, CrmError> {
        scope.require(keys::CRM_READ)?;
        let value = normalized(kind, value)?;
        let keys = keys()?;
        let identities = BTreeSet::from([Identity::new(kind, value)]);
        scope
            .transaction(conn, async |tx| {
                Ok(!matches(tx, scope, &keys, &identities).await?.is_empty())
            })
            .await
    }
}

/// Checks a caller's free-text `reason` for an erasure: 1 to 1,000 bytes, and naming none
/// of the person's identities nor their id (it is kept in the append-only audit log).
pub(crate) fn check_reason(
    reason: &str,
    person: &PersonId,
    identities: &BTreeSet<Identity>,
    raw: &[String],
) -> Result<(), InvalidData> {
    InvalidData::check_length("reason", reason, 1, 1_000)?;
    let lowered = reason.to_lowercase();
    let names_them = std::iter::once(person.as_str().to_lowercase())
        .chain(identities.iter().map(|i| i.value.clone()))
        .chain(raw.iter().map(|v| v.trim().to_lowercase()))
        .any(|v| v.len() >= 3 && lowered.contains(&v));
    if names_them {
        return Err(InvalidData::OutOfRange(
            "the erasure reason names the person (their id or an identity): it is kept in the audit log, so give the reason without them".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_normalized_before_hashing() {
        assert_eq!(
            Identity::new("Email", "  Ada@Example.COM ").value,
            "ada@example.com"
        );
        assert_eq!(Identity::new("email", "x").class, "email");
        for phone in [
            "+44 20 7946 0000",
            "0044 (20) 7946-0000",
            "+44.20.7946.0000",
        ] {
            let i = Identity::new("phone", phone);
            assert_eq!(
                (i.class.as_str(), i.value.as_str()),
                ("phone", "+442079460000")
            );
        }
        assert_eq!(
            Identity::new("mobile", "020 7946 0000").value,
            "02079460000"
        );
        assert_eq!(Identity::new("whatsapp", "+1 555 0100").class, "phone");
        assert_eq!(Identity::new("Handle", "@Ada").value, "@ada");
        assert_eq!(Identity::new("handle", "@Ada").class, "handle");
    }
}
