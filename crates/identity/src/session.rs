//! Sessions: a browser session of a user, found by its token while unexpired.
//!
//! Tokens are stored as they are (the NeonHub web app looks them up by value, so hashing
//! them here would lock it out); they are 32 random bytes and never printed.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::UserScope;
use neonhub_schema::ids::{SessionId, UserId};
use neonhub_schema::schema::sessions;
use neonhub_schema::{Secret, foreign_key_violation, time};

use crate::error::IdentityError;
use crate::token::random_hex;

/// A session.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: SessionId,
    /// The token the browser holds.
    #[diesel(column_name = sessionToken)]
    pub token: Secret,
    /// The signed-in user.
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// When it stops being valid (UTC).
    pub expires: NaiveDateTime,
}

impl Session {
    /// Starts a session for `user` that ends at `expires`, with a fresh random token.
    #[tracing::instrument(skip_all, fields(entity = "session", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        user: &UserId,
        expires: NaiveDateTime,
    ) -> Result<Session, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                let token = Secret::new(random_hex(32)?);
                conn.transaction(async |tx| {
                    diesel::insert_into(sessions::table)
                        .values((
                            sessions::id.eq(SessionId::generate()),
                            sessions::sessionToken.eq(&token),
                            sessions::userId.eq(user),
                            sessions::expires.eq(time::truncate(expires)),
                        ))
                        .returning(Session::as_returning())
                        .get_result(tx)
                        .await
                        .map_err(|e| match foreign_key_violation(&e) {
                            Some("sessions_userId_fkey") => {
                                IdentityError::UserNotFound(user.to_string())
                            }
                            _ => e.into(),
                        })
                })
                .await
            })
            .await
    }

    /// The unexpired session with `token`; an expired one is never returned.
    #[tracing::instrument(skip_all, fields(entity = "session", op = "by_token"))]
    pub async fn by_token(
        conn: &mut AsyncPgConnection,
        token: &str,
    ) -> Result<Option<Session>, IdentityError> {
        InvalidData::check_text("session token", token)?;
        // Before any scope: through the narrow lookup function (row-level security).
        Ok(diesel::sql_query("SELECT * FROM public.nh_session($1, $2)")
            .bind::<diesel::sql_types::Text, _>(token)
            .bind::<diesel::sql_types::Timestamp, _>(time::now())
            .get_result::<Session>(conn)
            .await
            .optional()?)
    }

    /// Moves the session's end (sliding sessions); `false` if it is gone or expired.
    #[tracing::instrument(skip_all, fields(entity = "session", op = "extend"))]
    pub async fn extend(
        conn: &mut AsyncPgConnection,
        token: &str,
        expires: NaiveDateTime,
    ) -> Result<bool, IdentityError> {
        // By token, before any scope: through the narrow function.
        let n = diesel::sql_query("SELECT public.nh_extend_session($1, $2, $3) AS n")
            .bind::<diesel::sql_types::Text, _>(token)
            .bind::<diesel::sql_types::Timestamp, _>(time::now())
            .bind::<diesel::sql_types::Timestamp, _>(time::truncate(expires))
            .get_result::<Changed>(conn)
            .await?
            .n;
        Ok(n == 1)
    }

    /// Ends the session with `token` (signing out); `false` if there was none.
    #[tracing::instrument(skip_all, fields(entity = "session", op = "delete"))]
    pub async fn delete(conn: &mut AsyncPgConnection, token: &str) -> Result<bool, IdentityError> {
        // By token, before any scope: through the narrow function.
        Ok(
            diesel::sql_query("SELECT public.nh_delete_session($1) AS n")
                .bind::<diesel::sql_types::Text, _>(token)
                .get_result::<Changed>(conn)
                .await?
                .n
                == 1,
        )
    }

    /// Ends every session of `user` (sign out everywhere); returns how many.
    #[tracing::instrument(skip_all, fields(entity = "session", op = "delete_for_user"))]
    pub async fn delete_for_user(
        conn: &mut AsyncPgConnection,
        user: &UserId,
    ) -> Result<usize, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                Ok(
                    diesel::delete(sessions::table.filter(sessions::userId.eq(user)))
                        .execute(conn)
                        .await?,
                )
            })
            .await
    }

    /// Deletes every expired session in one statement; returns how many.
    #[tracing::instrument(skip_all, fields(entity = "session", op = "delete_expired"))]
    pub async fn delete_expired(conn: &mut AsyncPgConnection) -> Result<usize, IdentityError> {
        Ok(
            diesel::delete(sessions::table.filter(sessions::expires.le(time::now())))
                .execute(conn)
                .await?,
        )
    }
}

/// The count a session function returns.
#[derive(diesel::QueryableByName)]
struct Changed {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
