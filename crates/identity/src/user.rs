//! Users: global rows (no organization), found by id or by normalized email.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::UserId;
use neonhub_schema::schema::users;
use neonhub_schema::{InvalidData, UserScope};
use neonhub_schema::{time, unique_violation};

use crate::error::IdentityError;

/// A user.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: UserId,
    /// Email, normalized ([`normalize_email`]); unique.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    /// When the email was verified.
    #[diesel(column_name = emailVerified)]
    pub email_verified: Option<NaiveDateTime>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// The Stripe customer, if billing knows the user.
    #[diesel(column_name = stripeCustomerId)]
    pub stripe_customer_id: Option<String>,
    /// In the beta programme.
    #[diesel(column_name = isBetaUser)]
    pub is_beta_user: bool,
}

/// A user to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser<'a> {
    /// Email (normalized before it is stored).
    pub email: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// Avatar URL.
    pub image: Option<&'a str>,
    /// In the beta programme.
    pub is_beta_user: bool,
}

/// What may change on a user (`Some(None)` clears a nullable column). An email is
/// normalized and checked as on creation.
#[derive(Debug, Clone, Default)]
pub struct UserChanges<'a> {
    /// New email.
    pub email: Option<&'a str>,
    /// New name.
    pub name: Option<Option<&'a str>>,
    /// New image.
    pub image: Option<Option<&'a str>>,
    /// Email verified at.
    pub email_verified: Option<Option<NaiveDateTime>>,
    /// Beta flag.
    pub is_beta_user: Option<bool>,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangeset<'a> {
    email: Option<String>,
    name: Option<Option<&'a str>>,
    image: Option<Option<&'a str>>,
    #[diesel(column_name = emailVerified)]
    email_verified: Option<Option<NaiveDateTime>>,
    #[diesel(column_name = isBetaUser)]
    is_beta_user: Option<bool>,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
}

/// Trims `email` and lower-cases its domain (the local part is the mail server's business,
/// so its case is kept). Refuses anything that is not `local@domain` without spaces.
pub fn normalize_email(email: &str) -> Result<String, IdentityError> {
    let trimmed = email.trim();
    let invalid = || IdentityError::InvalidEmail(email.to_owned());
    let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !local.contains('@')
        && trimmed.len() <= 320
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(invalid());
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

impl User {
    /// Creates a user; the email is normalized and must be unused.
    #[tracing::instrument(skip_all, fields(entity = "user", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        new: &NewUser<'_>,
    ) -> Result<User, IdentityError> {
        InvalidData::check_fields([("name", new.name), ("image", new.image)])?;
        let email = normalize_email(new.email)?;
        let now = time::now();
        let id = UserId::generate();
        // As the new user (row-level security lets one insert and read only oneself); a
        // savepoint when the caller is in a transaction, so a duplicate email leaves the
        // caller's transaction usable.
        UserScope::trusted(id.clone())
            .transaction(conn, async |tx| {
                diesel::insert_into(users::table)
                    .values((
                        users::id.eq(&id),
                        users::email.eq(&email),
                        users::name.eq(new.name),
                        users::image.eq(new.image),
                        users::isBetaUser.eq(new.is_beta_user),
                        users::createdAt.eq(now),
                        users::updatedAt.eq(now),
                    ))
                    .returning(User::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_email(e, &email))
            })
            .await
    }

    /// The user with `id`.
    #[tracing::instrument(skip_all, fields(entity = "user", op = "get"))]
    pub async fn get(conn: &mut AsyncPgConnection, id: &UserId) -> Result<User, IdentityError> {
        UserScope::trusted(id.clone())
            .transaction(conn, async |tx| {
                users::table
                    .find(id)
                    .select(User::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("user", id))
            })
            .await
    }

    /// The user with `email` (normalized first, so `" Ada@Example.COM "` finds `Ada@example.com`).
    #[tracing::instrument(skip_all, fields(entity = "user", op = "by_email"))]
    pub async fn by_email(
        conn: &mut AsyncPgConnection,
        email: &str,
    ) -> Result<User, IdentityError> {
        let email = normalize_email(email)?;
        // Before any scope (signing in): through the narrow lookup function, which the
        // application role may run although row-level security hides the table from it.
        diesel::sql_query("SELECT * FROM public.nh_user_by_email($1)")
            .bind::<diesel::sql_types::Text, _>(&email)
            .get_result::<User>(conn)
            .await
            .optional()?
            .ok_or_else(|| IdentityError::not_found("user", email))
    }

    /// Applies `changes` and sets `updatedAt`.
    #[tracing::instrument(skip_all, fields(entity = "user", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: &UserId,
        changes: &UserChanges<'_>,
    ) -> Result<User, IdentityError> {
        InvalidData::check_fields([
            ("name", changes.name.flatten()),
            ("image", changes.image.flatten()),
        ])?;
        let email = changes.email.map(normalize_email).transpose()?;
        let set = UserChangeset {
            email: email.clone(),
            name: changes.name,
            image: changes.image,
            email_verified: changes.email_verified,
            is_beta_user: changes.is_beta_user,
            updated_at: time::now(),
        };
        UserScope::trusted(id.clone())
            .transaction(conn, async |tx| {
                diesel::update(users::table.find(id))
                    .set(&set)
                    .returning(User::as_returning())
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| duplicate_email(e, email.as_deref().unwrap_or_default()))?
                    .ok_or_else(|| IdentityError::not_found("user", id))
            })
            .await
    }

    /// Deletes the user; the schema cascades to their accounts, sessions, memberships, keys
    /// and settings, and detaches their audit rows.
    #[tracing::instrument(skip_all, fields(entity = "user", op = "delete"))]
    pub async fn delete(conn: &mut AsyncPgConnection, id: &UserId) -> Result<(), IdentityError> {
        UserScope::trusted(id.clone())
            .transaction(conn, async |tx| {
                let n = diesel::delete(users::table.find(id)).execute(tx).await?;
                if n == 0 {
                    Err(IdentityError::not_found("user", id))
                } else {
                    Ok(())
                }
            })
            .await
    }
}

fn duplicate_email(e: diesel::result::Error, email: &str) -> IdentityError {
    match unique_violation(&e) {
        Some("users_email_key") => IdentityError::DuplicateEmail(email.to_owned()),
        _ => e.into(),
    }
}
