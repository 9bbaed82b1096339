//! Verification tokens (email sign-in links, email confirmation): each works once.

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::{Secret, time, verification_tokens};

use crate::error::IdentityError;
use crate::token::random_hex;

/// A verification token, as issued: hand `token` to the recipient (it never prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationToken {
    /// What it verifies (usually an email address).
    pub identifier: String,
    /// The token.
    pub token: Secret,
    /// When it stops working (UTC).
    pub expires: NaiveDateTime,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejected {
    /// No such token for this identifier (never issued, or already used).
    #[error("verification token is invalid or already used")]
    Invalid,
    /// The token existed but had expired; it is gone now.
    #[error("verification token expired")]
    Expired,
}

impl VerificationToken {
    /// Issues a fresh random token for `identifier`, valid until `expires`.
    #[tracing::instrument(skip_all, fields(entity = "verification token", op = "issue"))]
    pub async fn issue(
        conn: &mut AsyncPgConnection,
        identifier: &str,
        expires: NaiveDateTime,
    ) -> Result<VerificationToken, IdentityError> {
        let issued = VerificationToken {
            identifier: identifier.to_owned(),
            token: Secret::new(random_hex(32)?),
            expires: time::truncate(expires),
        };
        InvalidData::check_text("identifier", identifier)?;
        // The table is closed to the application role: through the narrow function.
        diesel::sql_query("SELECT public.nh_issue_verification_token($1, $2, $3)")
            .bind::<diesel::sql_types::Text, _>(&issued.identifier)
            .bind::<diesel::sql_types::Text, _>(issued.token.expose())
            .bind::<diesel::sql_types::Timestamp, _>(issued.expires)
            .execute(conn)
            .await?;
        Ok(issued)
    }

    /// Consumes the token: one `DELETE ... RETURNING`, so of two concurrent consumptions
    /// exactly one gets the row. An expired token is deleted too, and reported as such.
    #[tracing::instrument(skip_all, fields(entity = "verification token", op = "consume"))]
    pub async fn consume(
        conn: &mut AsyncPgConnection,
        identifier: &str,
        token: &str,
    ) -> Result<Result<(), TokenRejected>, IdentityError> {
        InvalidData::check_text("identifier", identifier)?;
        InvalidData::check_text("verification token", token)?;
        #[derive(diesel::QueryableByName)]
        struct Expires {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
            expires: Option<NaiveDateTime>,
        }
        // Through the narrow function (the table is closed to the application role); still
        // one DELETE ... RETURNING inside it, so one of two concurrent consumers wins.
        let expires =
            diesel::sql_query("SELECT public.nh_consume_verification_token($1, $2) AS expires")
                .bind::<diesel::sql_types::Text, _>(identifier)
                .bind::<diesel::sql_types::Text, _>(token)
                .get_result::<Expires>(conn)
                .await?
                .expires;
        Ok(match expires {
            None => Err(TokenRejected::Invalid),
            Some(at) if at <= time::now() => Err(TokenRejected::Expired),
            Some(_) => Ok(()),
        })
    }

    /// Deletes every expired token in one statement; returns how many.
    #[tracing::instrument(skip_all, fields(entity = "verification token", op = "delete_expired"))]
    pub async fn delete_expired(conn: &mut AsyncPgConnection) -> Result<usize, IdentityError> {
        Ok(diesel::delete(
            verification_tokens::table.filter(verification_tokens::expires.le(time::now())),
        )
        .execute(conn)
        .await?)
    }
}

impl TokenRejected {
    /// The HTTP status a web service would normally answer: 401: the token is not accepted.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        neonhub_schema::StatusHint::Unauthorized
    }
}

neonhub_schema::impl_has_status_hint!(TokenRejected);
