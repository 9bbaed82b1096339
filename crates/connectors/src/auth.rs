//! Connector auths: a user's connection to a connector (personal, or shared with the
//! organization), holding its tokens sealed at rest.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{ConnectorAuthId, ConnectorId, OrganizationId, UserId};
use neonhub_schema::schema::{connector_auths, connectors};
use neonhub_schema::seal::{open_column, seal_column};
use neonhub_schema::{
    InvalidData, Secret, TenantScope, TransactionWork, keys, time, unique_violation,
};
use serde_json::Value;

use crate::ConnectorError;

/// What a connection is called in [`ConnectorError::NoUser`].
const WHAT: &str = "connector connections";
/// The advisory-lock namespace of token refreshes (the first key of the two-key form).
const REFRESH_LOCK_NAMESPACE: i32 = 1854;
/// The longest `lastError` kept, in bytes (a provider's message, cut at a char boundary).
pub const MAX_ERROR_LEN: usize = 2_000;

/// Where a connection stands (`connector_auths.status`, text in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthStatus {
    /// Usable.
    Active,
    /// Waiting for the user to finish connecting (OAuth consent, a key to paste).
    Pending,
    /// Its token expired and could not be refreshed yet.
    Expired,
    /// The last use or refresh failed (`lastError` says why).
    Error,
    /// The user or the provider revoked it.
    Revoked,
}

impl AuthStatus {
    /// The stored label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Error => "error",
            Self::Revoked => "revoked",
        }
    }

    /// The status a stored label names; an unknown label is an error, never a guess.
    pub fn parse(label: &str) -> Result<Self, ConnectorError> {
        Ok(match label {
            "active" => Self::Active,
            "pending" => Self::Pending,
            "expired" => Self::Expired,
            "error" => Self::Error,
            "revoked" => Self::Revoked,
            other => return Err(ConnectorError::UnknownStatus(other.to_owned())),
        })
    }
}

impl fmt::Display for AuthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's connection to a connector. Its tokens are opened [`Secret`]s: `Debug`,
/// `Display` and `Serialize` print `[redacted]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConnectorAuth {
    /// Primary key.
    pub id: ConnectorAuthId,
    /// The user who connected it.
    pub user_id: UserId,
    /// The connector.
    pub connector_id: ConnectorId,
    /// The organization it is shared with (`None`: the user's own).
    pub organization_id: Option<OrganizationId>,
    /// The account's id at the provider.
    pub account_id: Option<String>,
    /// The account's display name.
    pub account_name: Option<String>,
    /// OAuth access token.
    pub access_token: Option<Secret>,
    /// OAuth refresh token.
    pub refresh_token: Option<Secret>,
    /// API key.
    pub api_key: Option<Secret>,
    /// API secret.
    pub api_secret: Option<Secret>,
    /// Granted scopes, space-separated.
    pub scope: Option<String>,
    /// Token type (`Bearer`, ...).
    pub token_type: Option<String>,
    /// When the access token expires (UTC).
    pub expires_at: Option<NaiveDateTime>,
    /// Where it stands.
    pub status: AuthStatus,
    /// When it was last used.
    pub last_used_at: Option<NaiveDateTime>,
    /// Why the last use or refresh failed.
    pub last_error: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was connected (UTC, milliseconds).
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}

/// The row as stored: secrets still sealed. Never leaves this crate.
#[derive(Queryable, Selectable)]
#[diesel(table_name = connector_auths, check_for_backend(diesel::pg::Pg))]
pub(crate) struct StoredAuth {
    id: ConnectorAuthId,
    #[diesel(column_name = userId)]
    user_id: UserId,
    #[diesel(column_name = connectorId)]
    connector_id: ConnectorId,
    #[diesel(column_name = organizationId)]
    organization_id: Option<OrganizationId>,
    #[diesel(column_name = accountId)]
    account_id: Option<String>,
    #[diesel(column_name = accountName)]
    account_name: Option<String>,
    #[diesel(column_name = accessToken)]
    access_token: Option<String>,
    #[diesel(column_name = refreshToken)]
    refresh_token: Option<String>,
    #[diesel(column_name = apiKey)]
    api_key: Option<String>,
    #[diesel(column_name = apiSecret)]
    api_secret: Option<String>,
    scope: Option<String>,
    #[diesel(column_name = tokenType)]
    token_type: Option<String>,
    #[diesel(column_name = expiresAt)]
    expires_at: Option<NaiveDateTime>,
    status: String,
    #[diesel(column_name = lastUsedAt)]
    last_used_at: Option<NaiveDateTime>,
    #[diesel(column_name = lastError)]
    last_error: Option<String>,
    metadata: Option<Value>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
}

impl StoredAuth {
    /// Opens the sealed columns (each bound to this row's id and its column's name).
    fn open(self) -> Result<ConnectorAuth, ConnectorError> {
        let id = self.id.as_str();
        Ok(ConnectorAuth {
            access_token: open_column(self.access_token.as_deref(), id, "accessToken")?,
            refresh_token: open_column(self.refresh_token.as_deref(), id, "refreshToken")?,
            api_key: open_column(self.api_key.as_deref(), id, "apiKey")?,
            api_secret: open_column(self.api_secret.as_deref(), id, "apiSecret")?,
            status: AuthStatus::parse(&self.status)?,
            id: self.id,
            user_id: self.user_id,
            connector_id: self.connector_id,
            organization_id: self.organization_id,
            account_id: self.account_id,
            account_name: self.account_name,
            scope: self.scope,
            token_type: self.token_type,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            last_error: self.last_error,
            metadata: self.metadata,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The secrets of a connection, as given by the provider; each is sealed before it is
/// written. `Debug` redacts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthTokens {
    /// OAuth access token.
    pub access_token: Option<Secret>,
    /// OAuth refresh token.
    pub refresh_token: Option<Secret>,
    /// API key.
    pub api_key: Option<Secret>,
    /// API secret.
    pub api_secret: Option<Secret>,
    /// When the access token expires (UTC).
    pub expires_at: Option<NaiveDateTime>,
}

/// The four sealed columns of a row, ready to write.
struct SealedTokens {
    access_token: Option<String>,
    refresh_token: Option<String>,
    api_key: Option<String>,
    api_secret: Option<String>,
}

impl AuthTokens {
    /// Seals every secret for row `id` (all or nothing: no key, no write).
    fn seal(&self, id: &ConnectorAuthId) -> Result<SealedTokens, ConnectorError> {
        let id = id.as_str();
        Ok(SealedTokens {
            access_token: seal_column(self.access_token.as_ref(), id, "accessToken")?,
            refresh_token: seal_column(self.refresh_token.as_ref(), id, "refreshToken")?,
            api_key: seal_column(self.api_key.as_ref(), id, "apiKey")?,
            api_secret: seal_column(self.api_secret.as_ref(), id, "apiSecret")?,
        })
    }
}

/// A connection to make; the user is the scope's, the id and timestamps are added by
/// [`ConnectorAuth::connect`].
#[derive(Debug, Clone)]
pub struct NewConnectorAuth<'a> {
    /// The connector (must exist and be enabled).
    pub connector: &'a ConnectorId,
    /// Shared with the scope's organization (`true`) or the user's own (`false`).
    pub shared: bool,
    /// The account's id at the provider (one connection per user, connector and account).
    pub account_id: Option<&'a str>,
    /// The account's display name.
    pub account_name: Option<&'a str>,
    /// Its secrets.
    pub tokens: AuthTokens,
    /// Granted scopes, space-separated.
    pub scope: Option<&'a str>,
    /// Token type.
    pub token_type: Option<&'a str>,
    /// Where it starts.
    pub status: AuthStatus,
    /// Free-form metadata (at most 1 MiB of JSON).
    pub metadata: Option<&'a Value>,
}

impl NewConnectorAuth<'_> {
    /// Refuses an empty, oversized or NUL-holding field, naming it, before a query is sent.
    fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([
            ("accountId", self.account_id),
            ("accountName", self.account_name),
            ("scope", self.scope),
            ("tokenType", self.token_type),
        ])?;
        if let Some(m) = self.metadata {
            InvalidData::check_json_size("metadata", m, 1 << 20)?;
        }
        Ok(())
    }
}

/// What a provider's token refresh returns: the new tokens (a `None` refresh token keeps
/// the stored one, as OAuth providers that do not rotate refresh tokens expect).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshedTokens {
    /// The new access token.
    pub access_token: Secret,
    /// A new refresh token, if the provider rotated it.
    pub refresh_token: Option<Secret>,
    /// When the new access token expires (UTC).
    pub expires_at: Option<NaiveDateTime>,
}

/// The connections this scope may see: its organization's, and its user's own.
fn visible<'a>(scope: &'a TenantScope) -> connector_auths::BoxedQuery<'a, Pg> {
    let own = scope.actor().user_id().map_or("", UserId::as_str);
    connector_auths::table
        .filter(
            connector_auths::organizationId
                .eq(scope.organization_id())
                .or(connector_auths::organizationId
                    .is_null()
                    .and(connector_auths::userId.eq(own))),
        )
        .into_boxed()
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// How a refresh under the lock ended.
enum Refresh {
    /// The connection as it is now (refreshed here or by a concurrent refresher).
    Done(Box<ConnectorAuth>),
    /// The provider refused; its message (recorded on the row).
    Refused(String),
}

/// `message` cut to [`MAX_ERROR_LEN`] bytes at a char boundary, NUL bytes dropped.
fn error_text(message: &str) -> String {
    let mut end = message.len().min(MAX_ERROR_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].replace('\0', "")
}

impl ConnectorAuth {
    /// Connects the scope's user to a connector with the given tokens, sealed.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "connect"))]
    pub async fn connect(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewConnectorAuth<'_>,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        let user = crate::error::acting_user(scope, WHAT)?;
        new.check()?;
        let id = ConnectorAuthId::generate();
        let sealed = new.tokens.seal(&id)?;
        scope
            .transaction(conn, async |tx| {
                let enabled: Option<bool> = connectors::table
                    .find(new.connector)
                    .select(connectors::isEnabled)
                    .get_result(tx)
                    .await
                    .optional()?;
                match enabled {
                    None => return Err(ConnectorError::not_found("connector", new.connector)),
                    Some(false) => {
                        return Err(ConnectorError::Disabled(new.connector.to_string()));
                    }
                    Some(true) => {}
                }
                let already = || ConnectorError::AlreadyConnected {
                    connector: new.connector.to_string(),
                    account_id: new.account_id.map(str::to_owned),
                };
                if new.account_id.is_none() {
                    // NULLs are distinct in the unique index: the check it cannot make.
                    let exists: i64 = connector_auths::table
                        .filter(connector_auths::userId.eq(user))
                        .filter(connector_auths::connectorId.eq(new.connector))
                        .filter(connector_auths::accountId.is_null())
                        .count()
                        .get_result(tx)
                        .await?;
                    if exists > 0 {
                        return Err(already());
                    }
                }
                let now = time::now();
                let organization = new.shared.then(|| scope.organization_id());
                let row: StoredAuth = tx
                    .transaction(async |tx| {
                        diesel::insert_into(connector_auths::table)
                            .values((
                                connector_auths::id.eq(&id),
                                connector_auths::userId.eq(user),
                                connector_auths::connectorId.eq(new.connector),
                                connector_auths::organizationId.eq(organization),
                                connector_auths::accountId.eq(new.account_id),
                                connector_auths::accountName.eq(new.account_name),
                                connector_auths::accessToken.eq(&sealed.access_token),
                                connector_auths::refreshToken.eq(&sealed.refresh_token),
                                connector_auths::apiKey.eq(&sealed.api_key),
                                connector_auths::apiSecret.eq(&sealed.api_secret),
                                connector_auths::scope.eq(new.scope),
                                connector_auths::tokenType.eq(new.token_type),
                                connector_auths::expiresAt.eq(new.tokens.expires_at),
                                connector_auths::status.eq(new.status.as_str()),
                                connector_auths::metadata.eq(new.metadata),
                                connector_auths::createdAt.eq(now),
                                connector_auths::updatedAt.eq(now),
                            ))
                            .returning(StoredAuth::as_returning())
                            .get_result(tx)
                            .await
                    })
                    .await
                    .map_err(|e| {
                        if unique_violation(&e)
                            == Some("connector_auths_userId_connectorId_accountId_key")
                        {
                            already()
                        } else {
                            e.into()
                        }
                    })?;
                row.open()
            })
            .await
    }

    /// The connection with `id`, tokens opened, if this scope may see it (its
    /// organization's, or its user's own).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await?.open())
            .await
    }

    /// The organization's connections and the scope user's own, oldest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<Self>, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let rows: Vec<StoredAuth> = visible(scope)
                    .order((connector_auths::createdAt, connector_auths::id))
                    .select(StoredAuth::as_select())
                    .load(tx)
                    .await?;
                rows.into_iter().map(StoredAuth::open).collect()
            })
            .await
    }

    /// Replaces the connection's secrets (after the user re-consented, or pasted a new
    /// key): status back to active, `lastError` cleared.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "set_tokens"))]
    pub async fn set_tokens(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
        tokens: &AuthTokens,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        let sealed = tokens.seal(id)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                diesel::update(connector_auths::table.find(id))
                    .set((
                        connector_auths::accessToken.eq(&sealed.access_token),
                        connector_auths::refreshToken.eq(&sealed.refresh_token),
                        connector_auths::apiKey.eq(&sealed.api_key),
                        connector_auths::apiSecret.eq(&sealed.api_secret),
                        connector_auths::expiresAt.eq(tokens.expires_at),
                        connector_auths::status.eq(AuthStatus::Active.as_str()),
                        connector_auths::lastError.eq(None::<String>),
                        connector_auths::updatedAt.eq(time::now()),
                    ))
                    .returning(StoredAuth::as_returning())
                    .get_result(tx)
                    .await?
                    .open()
            })
            .await
    }

    /// Sets the status (revoking, pausing, marking expired).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
        status: AuthStatus,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                diesel::update(connector_auths::table.find(id))
                    .set((
                        connector_auths::status.eq(status.as_str()),
                        connector_auths::updatedAt.eq(time::now()),
                    ))
                    .returning(StoredAuth::as_returning())
                    .get_result(tx)
                    .await?
                    .open()
            })
            .await
    }

    /// Records that the connection was used now (`lastUsedAt`). Using a connection is
    /// reading it, so this needs `connectors:read`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "record_use"))]
    pub async fn record_use(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
    ) -> Result<NaiveDateTime, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                let now = time::now();
                diesel::update(connector_auths::table.find(id))
                    .set(connector_auths::lastUsedAt.eq(now))
                    .execute(tx)
                    .await?;
                Ok(now)
            })
            .await
    }

    /// Records that using the connection failed: `lastError` (cut to [`MAX_ERROR_LEN`]
    /// bytes) and status `error`. Needs `connectors:read`, like using it.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "record_error"))]
    pub async fn record_error(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
        message: &str,
    ) -> Result<(), ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                Self::write_error(tx, id, message).await
            })
            .await
    }

    /// Disconnects: deletes the connection with its tokens and its trigger and action
    /// configs.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "disconnect"))]
    pub async fn disconnect(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
    ) -> Result<(), ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                diesel::delete(connector_auths::table.find(id))
                    .execute(tx)
                    .await?;
                Ok(())
            })
            .await
    }

    /// Refreshes the connection's token through `provider`, which runs at most once among
    /// concurrent refreshers of this connection: a transaction-scoped advisory lock on the
    /// row serializes them, and a refresher that had to wait for it, or finds the row
    /// changed since it started, returns the connection as the winner left it instead of
    /// calling the provider again. `provider` gets the current connection (tokens opened)
    /// and runs while the lock is held.
    ///
    /// When `provider` fails, its error is recorded (`lastError`, status `error`), the old
    /// tokens are kept, and the call returns [`ConnectorError::Provider`]. Refreshing is
    /// part of using a connection, so this needs `connectors:read`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "refresh"))]
    pub async fn refresh<F, E>(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
        provider: F,
    ) -> Result<Self, ConnectorError>
    where
        for<'r> F: TransactionWork<&'r ConnectorAuth, Result<RefreshedTokens, E>, Fut: Send> + Send,
        E: fmt::Display + Send,
    {
        scope.require(keys::CONNECTORS_READ)?;
        // What this refresher saw before queueing for the lock (the opened token: a key
        // rotation re-seals it without changing it).
        let seen = scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await?.open())
            .await?;
        Self::refresh_from(conn, scope, &seen, provider).await
    }

    /// [`ConnectorAuth::refresh`] of the connection as the caller saw it: `provider` runs
    /// only if the stored token is still `seen`'s; if another refresher replaced it since,
    /// that result is returned without a provider call. Use it when the decision to refresh
    /// came from a row read earlier (a token found expired): between that read and the
    /// refresh a saturated pool, or a transaction pooler's queue, can let another refresh
    /// finish, and [`ConnectorAuth::refresh`], which looks again, would refresh a second time.
    /// Needs `connectors:read`; `seen` must belong to the scope's organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector_auth", op = "refresh"))]
    pub async fn refresh_from<F, E>(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        seen: &ConnectorAuth,
        provider: F,
    ) -> Result<Self, ConnectorError>
    where
        for<'r> F: TransactionWork<&'r ConnectorAuth, Result<RefreshedTokens, E>, Fut: Send> + Send,
        E: fmt::Display + Send,
    {
        scope.require(keys::CONNECTORS_READ)?;
        let id = &seen.id;
        let outcome = scope
            .transaction(conn, async |tx| -> Result<Refresh, ConnectorError> {
                let got: Locked = diesel::sql_query(
                    "SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked",
                )
                .bind::<diesel::sql_types::Integer, _>(REFRESH_LOCK_NAMESPACE)
                .bind::<Text, _>(id)
                .get_result(tx)
                .await?;
                if !got.locked {
                    // Someone is refreshing: wait for them, then take what they stored.
                    diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                        .bind::<diesel::sql_types::Integer, _>(REFRESH_LOCK_NAMESPACE)
                        .bind::<Text, _>(id)
                        .execute(tx)
                        .await?;
                    return Ok(Refresh::Done(Box::new(
                        Self::find(tx, scope, id).await?.open()?,
                    )));
                }
                // Re-read under the lock: a refresh that finished since `seen` stands.
                let current = Self::find(tx, scope, id).await?.open()?;
                if (current.updated_at, &current.access_token)
                    != (seen.updated_at, &seen.access_token)
                {
                    return Ok(Refresh::Done(Box::new(current)));
                }
                match provider(&current).await {
                    Ok(fresh) => {
                        let tokens = AuthTokens {
                            access_token: Some(fresh.access_token),
                            refresh_token: fresh.refresh_token.or(current.refresh_token.clone()),
                            api_key: current.api_key.clone(),
                            api_secret: current.api_secret.clone(),
                            expires_at: fresh.expires_at,
                        };
                        let sealed = tokens.seal(id)?;
                        let row: StoredAuth = diesel::update(connector_auths::table.find(id))
                            .set((
                                connector_auths::accessToken.eq(&sealed.access_token),
                                connector_auths::refreshToken.eq(&sealed.refresh_token),
                                connector_auths::expiresAt.eq(tokens.expires_at),
                                connector_auths::status.eq(AuthStatus::Active.as_str()),
                                connector_auths::lastError.eq(None::<String>),
                                connector_auths::updatedAt.eq(time::now()),
                            ))
                            .returning(StoredAuth::as_returning())
                            .get_result(tx)
                            .await?;
                        Ok(Refresh::Done(Box::new(row.open()?)))
                    }
                    Err(e) => {
                        let message = error_text(&e.to_string());
                        Self::write_error(tx, id, &message).await?;
                        Ok(Refresh::Refused(message))
                    }
                }
            })
            .await?;
        match outcome {
            Refresh::Done(auth) => Ok(*auth),
            Refresh::Refused(message) => Err(ConnectorError::Provider { message }),
        }
    }

    /// Sets `lastError` and status `error` (the row was checked by the caller).
    async fn write_error(
        tx: &mut AsyncPgConnection,
        id: &ConnectorAuthId,
        message: &str,
    ) -> Result<(), ConnectorError> {
        diesel::update(connector_auths::table.find(id))
            .set((
                connector_auths::lastError.eq(error_text(message)),
                connector_auths::status.eq(AuthStatus::Error.as_str()),
                connector_auths::updatedAt.eq(time::now()),
            ))
            .execute(tx)
            .await?;
        Ok(())
    }

    /// The stored row, if this scope may see it (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorAuthId,
    ) -> Result<StoredAuth, ConnectorError> {
        visible(scope)
            .filter(connector_auths::id.eq(id))
            .select(StoredAuth::as_select())
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| ConnectorError::not_found("connector auth", id))
    }
}
