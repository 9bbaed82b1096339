//! API keys: `nhk_<id>_<secret>`, shown once, stored only as a SHA-256 hash.
//!
//! Verification parses the id, fetches that one row by primary key, and compares hashes
//! in constant time; only a key whose hash matches learns whether it is revoked or
//! expired, so guessing ids reveals nothing. The secret is 32 bytes from the OS, so a
//! plain SHA-256 is as strong as a slow password hash here, and far cheaper per request.

use chrono::{Duration, NaiveDateTime};
use diesel::QueryableByName;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{ApiKeyId, OrganizationId, UserId};
use neonhub_schema::schema::api_keys;
use neonhub_schema::{Actor, Secret, TenantScope, time};
use serde_json::json;

use crate::audit::{NewAuditEntry, actions, record};
use crate::authorize::member_permissions;
use crate::catalogue::keys;
use crate::error::IdentityError;
use crate::token::{constant_time_eq, random_hex, sha256_hex};
use neonhub_schema::{Denied, PermissionSet};

/// The prefix of every key this crate issues.
pub const KEY_PREFIX: &str = "nhk_";
/// The prefix of the hashes this crate stores; rows hashed by other tools lack it and are
/// never verified or rewritten here.
const HASH_PREFIX: &str = "sha256:";
/// `lastUsedAt` is written at most this often per key.
const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);

/// An API key as stored, without its hash: nothing here can reveal the key.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    /// Id (the middle part of the key).
    pub id: ApiKeyId,
    /// The organization it acts in.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The member it acts as.
    #[diesel(column_name = createdById)]
    pub created_by_id: UserId,
    /// Display name.
    pub name: String,
    /// Permission keys it may be used for.
    pub scopes: Option<Vec<Option<String>>>,
    /// Last verified (to the minute).
    #[diesel(column_name = lastUsedAt)]
    pub last_used_at: Option<NaiveDateTime>,
    /// Stops working at.
    #[diesel(column_name = expiresAt)]
    pub expires_at: Option<NaiveDateTime>,
    /// Revoked at.
    #[diesel(column_name = revokedAt)]
    pub revoked_at: Option<NaiveDateTime>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl ApiKey {
    /// Whether the key lists `permission` among its scopes.
    pub fn has_scope(&self, permission: &str) -> bool {
        self.scopes().any(|s| s == permission)
    }

    /// The permission keys it may be used for.
    fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().flatten().flatten().map(String::as_str)
    }
}

/// An API key to issue.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    /// Display name.
    pub name: &'a str,
    /// Permission keys it may be used for; the issuing member must hold each.
    pub scopes: &'a [&'a str],
    /// When it stops working; `None` for never.
    pub expires_at: Option<NaiveDateTime>,
}

/// A freshly issued key: `token` is shown once and is not stored anywhere.
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    /// The stored key.
    pub key: ApiKey,
    /// The full key, `nhk_<id>_<secret>`; `Debug`/`Display` redact it.
    pub token: Secret,
}

/// Why a presented key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyRejected {
    /// Not an `nhk_<id>_<secret>` key.
    #[error("malformed API key")]
    Malformed,
    /// Unknown id, wrong secret, or a key hashed by another tool.
    #[error("invalid API key")]
    Invalid,
    /// Revoked.
    #[error("API key revoked")]
    Revoked,
    /// Expired.
    #[error("API key expired")]
    Expired,
    /// The key does not list the permission asked for.
    #[error("API key lacks scope {0:?}")]
    MissingScope(String),
    /// The member it acts as is no longer allowed (suspended, removed, or lost the permission).
    #[error("API key's member is denied: {0}")]
    MemberDenied(#[source] Denied),
    /// The check failed.
    #[error("API key could not be checked: {0}")]
    Unavailable(#[source] diesel::result::Error),
}

/// A verified key: the key, and a scope acting as its member in its organization.
#[derive(Debug, Clone)]
pub struct VerifiedApiKey {
    /// The key.
    pub key: ApiKey,
    /// A scope for the key's organization, acting as the member who issued it.
    pub scope: TenantScope,
}

impl ApiKey {
    /// Issues a key acting as the scope's user (needs `api_keys:manage`, and the user must
    /// hold every scope given). The returned token is the only copy.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "api key", op = "issue"))]
    pub async fn issue(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewApiKey<'_>,
    ) -> Result<IssuedApiKey, IdentityError> {
        scope.require(keys::API_KEYS_MANAGE)?;
        InvalidData::check_fields([("name", Some(new.name))])?;
        if let Some(at) = new.expires_at {
            InvalidData::check_timestamp("expiresAt", at)?;
        }
        // Nobody hands out a key they do not hold themselves.
        for key in new.scopes {
            scope.require(key)?;
        }
        let Actor::User(creator) = scope.actor() else {
            return Err(IdentityError::UserActorRequired("issuing an API key"));
        };
        let id = ApiKeyId::generate();
        let token = Secret::new(format!("{KEY_PREFIX}{id}_{}", random_hex(32)?));
        let hash = format!("{HASH_PREFIX}{}", sha256_hex(token.expose()));
        scope
            .transaction(conn, async |tx| {
                let key = diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::id.eq(&id),
                        api_keys::organizationId.eq(scope.organization_id()),
                        api_keys::createdById.eq(creator),
                        api_keys::name.eq(new.name),
                        api_keys::tokenHash.eq(&hash),
                        api_keys::scopes.eq(new
                            .scopes
                            .iter()
                            .map(|s| Some(*s))
                            .collect::<Vec<_>>()),
                        api_keys::expiresAt.eq(new.expires_at.map(time::truncate)),
                        api_keys::createdAt.eq(time::now()),
                    ))
                    .returning(ApiKey::as_returning())
                    .get_result(tx)
                    .await?;
                let entry = NewAuditEntry::new(actions::API_KEY_ISSUED, "api_key", id.as_str())
                    .with_metadata(json!({ "name": new.name, "scopes": new.scopes }));
                record(tx, scope, &entry).await?;
                Ok(IssuedApiKey { key, token })
            })
            .await
    }

    /// Verifies a presented key for `permission`: well-formed, known, hash equal, not
    /// revoked or expired, listing the scope, and its member still active and permitted.
    /// Touches `lastUsedAt` at most once a minute.
    #[tracing::instrument(skip_all, fields(entity = "api key", op = "verify"))]
    pub async fn verify(
        conn: &mut AsyncPgConnection,
        presented: &str,
        permission: &str,
    ) -> Result<VerifiedApiKey, ApiKeyRejected> {
        let id = parse(presented).ok_or(ApiKeyRejected::Malformed)?;
        #[derive(diesel::QueryableByName)]
        struct Stored {
            #[diesel(embed)]
            key: ApiKey,
            #[diesel(sql_type = diesel::sql_types::Text, column_name = "tokenHash")]
            hash: String,
        }
        // Before any scope: through the narrow lookup function (row-level security).
        let row: Option<Stored> = diesel::sql_query("SELECT * FROM public.nh_api_key($1)")
            .bind::<diesel::sql_types::Text, _>(&id)
            .get_result(conn)
            .await
            .optional()
            .map_err(ApiKeyRejected::Unavailable)?;
        let Some(Stored { key, hash: stored }) = row else {
            return Err(ApiKeyRejected::Invalid);
        };
        let Some(stored) = stored.strip_prefix(HASH_PREFIX) else {
            return Err(ApiKeyRejected::Invalid);
        };
        if !constant_time_eq(stored, &sha256_hex(presented)) {
            return Err(ApiKeyRejected::Invalid);
        }
        let now = time::now();
        if key.revoked_at.is_some() {
            return Err(ApiKeyRejected::Revoked);
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiKeyRejected::Expired);
        }
        if !key.has_scope(permission) {
            return Err(ApiKeyRejected::MissingScope(permission.to_owned()));
        }
        // The key may do what both it and its member may do, as of now.
        let member = member_permissions(conn, &key.organization_id, &key.created_by_id)
            .await
            .map_err(ApiKeyRejected::MemberDenied)?;
        let permissions = member.intersection(&PermissionSet::of(key.scopes()));
        let scope = TenantScope::for_member(
            key.organization_id.clone(),
            key.created_by_id.clone(),
            permissions,
        );
        scope
            .require(permission)
            .map_err(ApiKeyRejected::MemberDenied)?;
        // At most once per granularity; through the narrow function, since no scope is set yet.
        diesel::sql_query("SELECT public.nh_touch_api_key($1, $2, make_interval(secs => $3))")
            .bind::<diesel::sql_types::Text, _>(&key.id)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .bind::<diesel::sql_types::Double, _>(LAST_USED_GRANULARITY.num_seconds() as f64)
            .execute(conn)
            .await
            .map_err(ApiKeyRejected::Unavailable)?;
        Ok(VerifiedApiKey { key, scope })
    }

    /// The organization's keys, newest first (needs `api_keys:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "api key", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<ApiKey>, IdentityError> {
        scope.require(keys::API_KEYS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Ok(api_keys::table
                    .filter(api_keys::organizationId.eq(scope.organization_id()))
                    .order((api_keys::createdAt.desc(), api_keys::id.desc()))
                    .select(ApiKey::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Revokes a key of this organization (needs `api_keys:manage`); revoking twice keeps
    /// the first time.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "api key", op = "revoke"))]
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ApiKeyId,
    ) -> Result<ApiKey, IdentityError> {
        scope.require(keys::API_KEYS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let mine = api_keys::id
                    .eq(id)
                    .and(api_keys::organizationId.eq(scope.organization_id()));
                let key: ApiKey = api_keys::table
                    .filter(mine)
                    .select(ApiKey::as_select())
                    .for_update()
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("api key", id))?;
                if key.revoked_at.is_some() {
                    return Ok(key);
                }
                let key = diesel::update(api_keys::table.find(id))
                    .set(api_keys::revokedAt.eq(time::now()))
                    .returning(ApiKey::as_returning())
                    .get_result(tx)
                    .await?;
                let entry = NewAuditEntry::new(actions::API_KEY_REVOKED, "api_key", id.as_str())
                    .with_metadata(json!({ "name": key.name }));
                record(tx, scope, &entry).await?;
                Ok(key)
            })
            .await
    }
}

/// The id of `nhk_<id>_<secret>` (secret: 64 hex digits), if the key has that shape.
fn parse(presented: &str) -> Option<ApiKeyId> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.rsplit_once('_')?;
    // Ids we issue are UUIDs; other tools' are cuids: letters, digits, `-`, nothing else.
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| ApiKeyId::from_string(id))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_only_well_formed_keys() {
        let secret = "a".repeat(64);
        assert_eq!(
            parse(&format!("nhk_abc-1_{secret}")).unwrap().as_str(),
            "abc-1"
        );
        for bad in [
            String::new(),
            format!("nhx_abc_{secret}"),
            format!("nhk__{secret}"),
            format!("nhk_abc_{}", "a".repeat(63)),
            format!("nhk_abc_{}", "g".repeat(64)),
            "nhk_abc".to_owned(),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
    }
}

impl ApiKeyRejected {
    /// The HTTP status a web service would normally answer: 401 for a key that is not accepted, 403 when it lacks the scope or its member is denied, 503 when the check could not run.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::MissingScope(_) => S::Forbidden,
            Self::MemberDenied(d) => d.status_hint(),
            Self::Unavailable(_) => S::Unavailable,
            _ => S::Unauthorized,
        }
    }
}

neonhub_schema::impl_has_status_hint!(ApiKeyRejected);
