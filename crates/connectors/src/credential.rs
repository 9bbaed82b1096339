//! Credentials: a user's own provider tokens (OAuth 1 access secrets included), outside any
//! organization, sealed at rest.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{CredentialId, UserId};
use neonhub_schema::schema::credentials;
use neonhub_schema::seal::{open_column, seal_column};
use neonhub_schema::{InvalidData, Secret, TenantScope, keys, time, unique_violation};

use crate::{AuthStatus, ConnectorError};

/// What a credential is called in [`ConnectorError::NoUser`].
const WHAT: &str = "credentials";

/// A user's credential for a provider. Its secrets are opened [`Secret`]s: `Debug`,
/// `Display` and `Serialize` print `[redacted]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Credential {
    /// Primary key.
    pub id: CredentialId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// The provider (`google`, `x`, ...).
    pub provider: String,
    /// The account's id at the provider (one credential per user, provider and account).
    pub account_id: Option<String>,
    /// Access token.
    pub access_token: Option<Secret>,
    /// Refresh token.
    pub refresh_token: Option<Secret>,
    /// OAuth 1 access token secret.
    pub access_secret: Option<Secret>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// Token type.
    pub token_type: Option<String>,
    /// When the access token expires (UTC).
    pub expires_at: Option<NaiveDateTime>,
    /// Where it stands.
    pub status: AuthStatus,
    /// When it was last used.
    pub last_used_at: Option<NaiveDateTime>,
    /// When it was stored (UTC, milliseconds).
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}

/// The row as stored: secrets still sealed.
#[derive(Queryable, Selectable)]
#[diesel(table_name = credentials, check_for_backend(diesel::pg::Pg))]
struct StoredCredential {
    id: CredentialId,
    #[diesel(column_name = userId)]
    user_id: UserId,
    provider: String,
    #[diesel(column_name = accountId)]
    account_id: Option<String>,
    #[diesel(column_name = accessToken)]
    access_token: Option<String>,
    #[diesel(column_name = refreshToken)]
    refresh_token: Option<String>,
    #[diesel(column_name = accessSecret)]
    access_secret: Option<String>,
    scope: Option<String>,
    #[diesel(column_name = tokenType)]
    token_type: Option<String>,
    #[diesel(column_name = expiresAt)]
    expires_at: Option<NaiveDateTime>,
    status: String,
    #[diesel(column_name = lastUsedAt)]
    last_used_at: Option<NaiveDateTime>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
}

impl StoredCredential {
    /// Opens the sealed columns (each bound to this row's id and its column's name).
    fn open(self) -> Result<Credential, ConnectorError> {
        let id = self.id.as_str();
        Ok(Credential {
            access_token: open_column(self.access_token.as_deref(), id, "accessToken")?,
            refresh_token: open_column(self.refresh_token.as_deref(), id, "refreshToken")?,
            access_secret: open_column(self.access_secret.as_deref(), id, "accessSecret")?,
            status: AuthStatus::parse(&self.status)?,
            id: self.id,
            user_id: self.user_id,
            provider: self.provider,
            account_id: self.account_id,
            scope: self.scope,
            token_type: self.token_type,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The secrets of a credential; each is sealed before it is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CredentialTokens {
    /// Access token.
    pub access_token: Option<Secret>,
    /// Refresh token.
    pub refresh_token: Option<Secret>,
    /// OAuth 1 access token secret.
    pub access_secret: Option<Secret>,
    /// When the access token expires (UTC).
    pub expires_at: Option<NaiveDateTime>,
}

impl CredentialTokens {
    /// The three columns sealed for row `id` (all or nothing).
    fn seal(&self, id: &CredentialId) -> Result<SealedColumns, ConnectorError> {
        let id = id.as_str();
        Ok((
            seal_column(self.access_token.as_ref(), id, "accessToken")?,
            seal_column(self.refresh_token.as_ref(), id, "refreshToken")?,
            seal_column(self.access_secret.as_ref(), id, "accessSecret")?,
        ))
    }
}

/// The access token, refresh token and access secret, sealed for one row.
type SealedColumns = (Option<String>, Option<String>, Option<String>);

/// A credential to store for the scope's user.
#[derive(Debug, Clone)]
pub struct NewCredential<'a> {
    /// The provider.
    pub provider: &'a str,
    /// The account's id at the provider.
    pub account_id: Option<&'a str>,
    /// Its secrets.
    pub tokens: CredentialTokens,
    /// Granted scopes.
    pub scope: Option<&'a str>,
    /// Token type.
    pub token_type: Option<&'a str>,
}

impl Credential {
    /// Stores a credential for the scope's user, its secrets sealed.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "credential", op = "store"))]
    pub async fn store(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewCredential<'_>,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        InvalidData::check_fields([
            ("provider", Some(new.provider)),
            ("accountId", new.account_id),
            ("scope", new.scope),
            ("tokenType", new.token_type),
        ])?;
        let id = CredentialId::generate();
        let (access, refresh, secret) = new.tokens.seal(&id)?;
        let duplicate = || ConnectorError::DuplicateCredential {
            provider: new.provider.to_owned(),
            account_id: new.account_id.map(str::to_owned),
        };
        scope
            .transaction(conn, async |tx| {
                if new.account_id.is_none() {
                    // NULLs are distinct in the unique index: the check it cannot make.
                    let exists: i64 = credentials::table
                        .filter(credentials::userId.eq(user))
                        .filter(credentials::provider.eq(new.provider))
                        .filter(credentials::accountId.is_null())
                        .count()
                        .get_result(tx)
                        .await?;
                    if exists > 0 {
                        return Err(duplicate());
                    }
                }
                let now = time::now();
                tx.transaction(async |tx| {
                    diesel::insert_into(credentials::table)
                        .values((
                            credentials::id.eq(&id),
                            credentials::userId.eq(user),
                            credentials::provider.eq(new.provider),
                            credentials::accountId.eq(new.account_id),
                            credentials::accessToken.eq(&access),
                            credentials::refreshToken.eq(&refresh),
                            credentials::accessSecret.eq(&secret),
                            credentials::scope.eq(new.scope),
                            credentials::tokenType.eq(new.token_type),
                            credentials::expiresAt.eq(new.tokens.expires_at),
                            credentials::status.eq(AuthStatus::Active.as_str()),
                            credentials::createdAt.eq(now),
                            credentials::updatedAt.eq(now),
                        ))
                        .returning(StoredCredential::as_returning())
                        .get_result(tx)
                        .await
                })
                .await
                .map_err(|e| {
                    if unique_violation(&e) == Some("credentials_userId_provider_accountId_key") {
                        duplicate()
                    } else {
                        e.into()
                    }
                })?
                .open()
            })
            .await
    }

    /// The scope user's credential with `id` (another user's is not found).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "credential", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CredentialId,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        scope
            .transaction(conn, async |tx| {
                credentials::table
                    .filter(credentials::id.eq(id))
                    .filter(credentials::userId.eq(user))
                    .select(StoredCredential::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| ConnectorError::not_found("credential", id))?
                    .open()
            })
            .await
    }

    /// The scope user's credentials, by provider (`provider`: only that one's).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "credential", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        provider: Option<&str>,
    ) -> Result<Vec<Self>, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = credentials::table
                    .filter(credentials::userId.eq(user))
                    .order((
                        credentials::provider,
                        credentials::createdAt,
                        credentials::id,
                    ))
                    .select(StoredCredential::as_select())
                    .into_boxed();
                if let Some(p) = provider {
                    query = query.filter(credentials::provider.eq(p));
                }
                let rows: Vec<StoredCredential> = query.load(tx).await?;
                rows.into_iter().map(StoredCredential::open).collect()
            })
            .await
    }

    /// Replaces the credential's secrets; status back to active.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "credential", op = "set_tokens"))]
    pub async fn set_tokens(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CredentialId,
        tokens: &CredentialTokens,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        let (access, refresh, secret) = tokens.seal(id)?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(credentials::table)
                    .filter(credentials::id.eq(id))
                    .filter(credentials::userId.eq(user))
                    .set((
                        credentials::accessToken.eq(&access),
                        credentials::refreshToken.eq(&refresh),
                        credentials::accessSecret.eq(&secret),
                        credentials::expiresAt.eq(tokens.expires_at),
                        credentials::status.eq(AuthStatus::Active.as_str()),
                        credentials::updatedAt.eq(time::now()),
                    ))
                    .returning(StoredCredential::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| ConnectorError::not_found("credential", id))?
                    .open()
            })
            .await
    }

    /// Records that the credential was used now (`lastUsedAt`); needs `connectors:read`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "credential", op = "record_use"))]
    pub async fn record_use(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CredentialId,
    ) -> Result<NaiveDateTime, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                let n = diesel::update(credentials::table)
                    .filter(credentials::id.eq(id))
                    .filter(credentials::userId.eq(user))
                    .set(credentials::lastUsedAt.eq(now))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(ConnectorError::not_found("credential", id));
                }
                Ok(now)
            })
            .await
    }

    /// Deletes the scope user's credential.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "credential", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CredentialId,
    ) -> Result<(), ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(credentials::table)
                    .filter(credentials::id.eq(id))
                    .filter(credentials::userId.eq(user))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(ConnectorError::not_found("credential", id));
                }
                Ok(())
            })
            .await
    }
}
