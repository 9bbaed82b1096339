//! Accounts: a user's sign-in with an OAuth provider (provider + provider account unique).

use diesel::QueryableByName;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::UserScope;
use neonhub_schema::ids::{AccountId, UserId};
use neonhub_schema::schema::accounts;
use neonhub_schema::seal::{open_column, seal_column};
use neonhub_schema::{Secret, foreign_key_violation, unique_violation};

use crate::error::IdentityError;

/// A linked provider account. Its tokens are stored sealed (bound to the row and column)
/// and read back as opened [`Secret`]s: never printed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Account {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: AccountId,
    /// The user it signs in.
    pub user_id: UserId,
    /// `oauth`, `email`, ...
    pub kind: String,
    /// The provider (`google`, `github`, ...).
    pub provider: String,
    /// The user's id at the provider.
    pub provider_account_id: String,
    /// OAuth refresh token.
    pub refresh_token: Option<Secret>,
    /// OAuth access token.
    pub access_token: Option<Secret>,
    /// Access token expiry (seconds since the epoch, as the providers give it).
    pub expires_at: Option<i32>,
    /// Token type (`Bearer`, ...).
    pub token_type: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// OpenID Connect id token.
    pub id_token: Option<Secret>,
    /// Provider session state.
    pub session_state: Option<String>,
}

/// The row as stored: tokens still sealed.
#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
struct StoredAccount {
    id: AccountId,
    #[diesel(column_name = userId)]
    user_id: UserId,
    #[diesel(column_name = type_)]
    kind: String,
    provider: String,
    #[diesel(column_name = providerAccountId)]
    provider_account_id: String,
    refresh_token: Option<String>,
    access_token: Option<String>,
    expires_at: Option<i32>,
    token_type: Option<String>,
    scope: Option<String>,
    id_token: Option<String>,
    session_state: Option<String>,
}

impl StoredAccount {
    /// Opens the sealed tokens (each bound to this row's id and its column's name).
    fn open(self) -> Result<Account, IdentityError> {
        let id = self.id.as_str();
        Ok(Account {
            refresh_token: open_column(self.refresh_token.as_deref(), id, "refresh_token")?,
            access_token: open_column(self.access_token.as_deref(), id, "access_token")?,
            id_token: open_column(self.id_token.as_deref(), id, "id_token")?,
            id: self.id,
            user_id: self.user_id,
            kind: self.kind,
            provider: self.provider,
            provider_account_id: self.provider_account_id,
            expires_at: self.expires_at,
            token_type: self.token_type,
            scope: self.scope,
            session_state: self.session_state,
        })
    }
}

/// An account to link; the id and user are added, and the tokens sealed, by
/// [`Account::link`].
#[derive(Debug, Clone, Default)]
pub struct NewAccount<'a> {
    /// `oauth`, `email`, ...
    pub kind: &'a str,
    /// The provider.
    pub provider: &'a str,
    /// The user's id at the provider.
    pub provider_account_id: &'a str,
    /// Refresh token.
    pub refresh_token: Option<&'a Secret>,
    /// Access token.
    pub access_token: Option<&'a Secret>,
    /// Access token expiry (epoch seconds).
    pub expires_at: Option<i32>,
    /// Token type.
    pub token_type: Option<&'a str>,
    /// Granted scope.
    pub scope: Option<&'a str>,
    /// Id token.
    pub id_token: Option<&'a Secret>,
}

impl Account {
    /// Links a provider account to `user`.
    #[tracing::instrument(skip_all, fields(entity = "account", op = "link"))]
    pub async fn link(
        conn: &mut AsyncPgConnection,
        user: &UserId,
        new: &NewAccount<'_>,
    ) -> Result<Account, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                InvalidData::check_fields([
                    ("type", Some(new.kind)),
                    ("provider", Some(new.provider)),
                    ("providerAccountId", Some(new.provider_account_id)),
                    ("token_type", new.token_type),
                    ("scope", new.scope),
                ])?;
                let id = AccountId::generate();
                let refresh = seal_column(new.refresh_token, id.as_str(), "refresh_token")?;
                let access = seal_column(new.access_token, id.as_str(), "access_token")?;
                let id_token = seal_column(new.id_token, id.as_str(), "id_token")?;
                // A savepoint when the caller is in a transaction: a violation leaves it usable.
                conn.transaction(async |tx| {
                    diesel::insert_into(accounts::table)
                        .values((
                            accounts::id.eq(&id),
                            accounts::userId.eq(user),
                            accounts::type_.eq(new.kind),
                            accounts::provider.eq(new.provider),
                            accounts::providerAccountId.eq(new.provider_account_id),
                            accounts::refresh_token.eq(&refresh),
                            accounts::access_token.eq(&access),
                            accounts::expires_at.eq(new.expires_at),
                            accounts::token_type.eq(new.token_type),
                            accounts::scope.eq(new.scope),
                            accounts::id_token.eq(&id_token),
                        ))
                        .returning(StoredAccount::as_returning())
                        .get_result(tx)
                        .await
                        .map_err(|e| {
                            if unique_violation(&e)
                                == Some("accounts_provider_providerAccountId_key")
                            {
                                IdentityError::DuplicateAccount {
                                    provider: new.provider.to_owned(),
                                    provider_account_id: new.provider_account_id.to_owned(),
                                }
                            } else if foreign_key_violation(&e) == Some("accounts_userId_fkey") {
                                IdentityError::UserNotFound(user.to_string())
                            } else {
                                e.into()
                            }
                        })
                })
                .await?
                .open()
            })
            .await
    }

    /// The account for a provider's user id (the sign-in lookup).
    #[tracing::instrument(skip_all, fields(entity = "account", op = "by_provider"))]
    pub async fn by_provider(
        conn: &mut AsyncPgConnection,
        provider: &str,
        provider_account_id: &str,
    ) -> Result<Option<Account>, IdentityError> {
        // Before the user is known (OAuth sign-in): through the narrow lookup function.
        diesel::sql_query(
            "SELECT a.*, a.type AS type_ FROM public.nh_account_by_provider($1, $2) a",
        )
        .bind::<diesel::sql_types::Text, _>(provider)
        .bind::<diesel::sql_types::Text, _>(provider_account_id)
        .get_result::<StoredAccount>(conn)
        .await
        .optional()?
        .map(StoredAccount::open)
        .transpose()
    }

    /// The user's linked accounts, by provider.
    #[tracing::instrument(skip_all, fields(entity = "account", op = "for_user"))]
    pub async fn for_user(
        conn: &mut AsyncPgConnection,
        user: &UserId,
    ) -> Result<Vec<Account>, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                let rows: Vec<StoredAccount> = accounts::table
                    .filter(accounts::userId.eq(user))
                    .order((accounts::provider, accounts::id))
                    .select(StoredAccount::as_select())
                    .load(conn)
                    .await?;
                rows.into_iter().map(StoredAccount::open).collect()
            })
            .await
    }

    /// Unlinks one of the user's accounts (another user's id is not found).
    #[tracing::instrument(skip_all, fields(entity = "account", op = "unlink"))]
    pub async fn unlink(
        conn: &mut AsyncPgConnection,
        user: &UserId,
        id: &AccountId,
    ) -> Result<(), IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                let n = diesel::delete(
                    accounts::table.filter(accounts::id.eq(id).and(accounts::userId.eq(user))),
                )
                .execute(conn)
                .await?;
                if n == 0 {
                    Err(IdentityError::not_found("account", id))
                } else {
                    Ok(())
                }
            })
            .await
    }
}
