//! Accounts: a user's sign-in with an OAuth provider (provider + provider account unique).

use diesel::QueryableByName;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::UserScope;
use neonhub_schema::ids::{AccountId, UserId};
use neonhub_schema::schema::accounts;
use neonhub_schema::{Secret, foreign_key_violation, unique_violation};

use crate::error::IdentityError;

/// A linked provider account. Its tokens are [`Secret`]s: never printed.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
pub struct Account {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: AccountId,
    /// The user it signs in.
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// `oauth`, `email`, ...
    #[diesel(column_name = type_)]
    pub kind: String,
    /// The provider (`google`, `github`, ...).
    pub provider: String,
    /// The user's id at the provider.
    #[diesel(column_name = providerAccountId)]
    pub provider_account_id: String,
    /// Refresh token.
    pub refresh_token: Option<Secret>,
    /// Access token.
    pub access_token: Option<Secret>,
    /// Access token expiry (seconds since the epoch, as the providers give it).
    pub expires_at: Option<i32>,
    /// Token type.
    pub token_type: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// OpenID Connect id token.
    pub id_token: Option<Secret>,
    /// Provider session state.
    pub session_state: Option<String>,
}

/// An account to link; the id and user are added by [`Account::link`].
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccount<'a> {
    /// `oauth`, `email`, ...
    #[diesel(column_name = type_)]
    pub kind: &'a str,
    /// The provider.
    pub provider: &'a str,
    /// The user's id at the provider.
    #[diesel(column_name = providerAccountId)]
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
                // A savepoint when the caller is in a transaction: a violation leaves it usable.
                conn.transaction(async |tx| {
                    diesel::insert_into(accounts::table)
                        .values((
                            new,
                            accounts::id.eq(AccountId::generate()),
                            accounts::userId.eq(user),
                        ))
                        .returning(Account::as_returning())
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
                .await
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
        Ok(diesel::sql_query(
            "SELECT a.*, a.type AS type_ FROM public.nh_account_by_provider($1, $2) a",
        )
        .bind::<diesel::sql_types::Text, _>(provider)
        .bind::<diesel::sql_types::Text, _>(provider_account_id)
        .get_result::<Account>(conn)
        .await
        .optional()?)
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
                Ok(accounts::table
                    .filter(accounts::userId.eq(user))
                    .order((accounts::provider, accounts::id))
                    .select(Account::as_select())
                    .load(conn)
                    .await?)
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
