//! Feedback: opened by a user about an organization (or, with no organization, about the
//! product: then it belongs to that user alone), responded to and resolved.

use chrono::NaiveDateTime;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::UserScope;
use neonhub_schema::ids::{FeedbackId, OrganizationId, UserId};
use neonhub_schema::schema::feedback;
use neonhub_schema::{Actor, TenantScope, text_enum, time};
use serde_json::Value;

use crate::catalogue::keys;
use crate::error::IdentityError;

text_enum! {
    /// Where a piece of feedback stands.
    FeedbackStatus, "feedback.status" {
        /// New (the default).
        Open = "open",
        /// Responded to, not yet resolved.
        InProgress = "in_progress",
        /// Resolved.
        Resolved = "resolved",
    }
}

/// A piece of feedback.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = feedback, check_for_backend(diesel::pg::Pg))]
pub struct Feedback {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: FeedbackId,
    /// The organization; `None` for the user's own product feedback.
    #[diesel(column_name = organizationId)]
    pub organization_id: Option<OrganizationId>,
    /// Type (`bug`, `feature`, ...).
    #[diesel(column_name = type_)]
    pub kind: String,
    /// Category.
    pub category: Option<String>,
    /// Title, as shown to people.
    pub title: String,
    /// Free-text description.
    pub description: String,
    /// Rating, 1 to 5.
    pub rating: Option<i32>,
    /// Where it stands (open, in progress, resolved): moved by `respond` and `resolve`.
    pub status: FeedbackStatus,
    /// Who opened it.
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// The response.
    pub response: Option<String>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// Resolved at.
    #[diesel(column_name = resolvedAt)]
    pub resolved_at: Option<NaiveDateTime>,
}

/// Feedback to open.
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = feedback)]
pub struct NewFeedback<'a> {
    /// What kind of feedback (`bug`, `feature`, `praise`, ...).
    #[diesel(column_name = type_)]
    pub kind: &'a str,
    /// Category.
    pub category: Option<&'a str>,
    /// Title, as shown to people.
    pub title: &'a str,
    /// Free-text description.
    pub description: &'a str,
    /// Rating, 1 to 5.
    pub rating: Option<i32>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<&'a Value>,
}

impl Feedback {
    /// Opens feedback about the organization, by the scope's user.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "feedback", op = "open"))]
    pub async fn open(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewFeedback<'_>,
    ) -> Result<Feedback, IdentityError> {
        scope.require(keys::FEEDBACK_WRITE)?;
        InvalidData::check_fields([
            ("type", Some(new.kind)),
            ("category", new.category),
            ("title", Some(new.title)),
            ("description", Some(new.description)),
        ])?;
        if let Some(metadata) = new.metadata {
            InvalidData::check_json("metadata", metadata)?;
        }
        let Actor::User(user) = scope.actor() else {
            return Err(IdentityError::UserActorRequired("opening feedback"));
        };
        scope
            .transaction(conn, async |tx| {
                insert(tx, Some(scope.organization_id()), user, new).await
            })
            .await
    }

    /// Opens product feedback with no organization: it belongs to `user` alone.
    #[tracing::instrument(skip_all, fields(entity = "feedback", op = "open_personal"))]
    pub async fn open_personal(
        conn: &mut AsyncPgConnection,
        user: &UserId,
        new: &NewFeedback<'_>,
    ) -> Result<Feedback, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| insert(conn, None, user, new).await)
            .await
    }

    /// Everything `user` opened that has no organization, newest first.
    #[tracing::instrument(skip_all, fields(entity = "feedback", op = "personal"))]
    pub async fn personal(
        conn: &mut AsyncPgConnection,
        user: &UserId,
    ) -> Result<Vec<Feedback>, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                Ok(feedback::table
                    .filter(
                        feedback::userId
                            .eq(user)
                            .and(feedback::organizationId.is_null()),
                    )
                    .order((feedback::createdAt.desc(), feedback::id.desc()))
                    .select(Feedback::as_select())
                    .load(conn)
                    .await?)
            })
            .await
    }

    /// The organization's feedback, optionally of one status, newest first (needs
    /// `feedback:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "feedback", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<FeedbackStatus>,
    ) -> Result<Vec<Feedback>, IdentityError> {
        scope.require(keys::FEEDBACK_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = feedback::table
                    .filter(feedback::organizationId.eq(scope.organization_id()))
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(feedback::status.eq(status));
                }
                Ok(query
                    .order((feedback::createdAt.desc(), feedback::id.desc()))
                    .select(Feedback::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Records a response; open feedback moves to in progress (needs `feedback:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "feedback", op = "respond"))]
    pub async fn respond(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &FeedbackId,
        response: &str,
    ) -> Result<Feedback, IdentityError> {
        scope.require(keys::FEEDBACK_MANAGE)?;
        let org = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                let current = find(tx, org, id).await?;
                let status = match current.status {
                    FeedbackStatus::Open => FeedbackStatus::InProgress,
                    other => other,
                };
                Ok(diesel::update(feedback::table.find(id))
                    .set((
                        feedback::response.eq(response),
                        feedback::status.eq(status),
                        feedback::updatedAt.eq(time::now()),
                    ))
                    .returning(Feedback::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Resolves the feedback (needs `feedback:manage`); resolving twice keeps the first time.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "feedback", op = "resolve"))]
    pub async fn resolve(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &FeedbackId,
    ) -> Result<Feedback, IdentityError> {
        scope.require(keys::FEEDBACK_MANAGE)?;
        let org = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                let current = find(tx, org, id).await?;
                if current.status == FeedbackStatus::Resolved {
                    return Ok(current);
                }
                let now = time::now();
                Ok(diesel::update(feedback::table.find(id))
                    .set((
                        feedback::status.eq(FeedbackStatus::Resolved),
                        feedback::resolvedAt.eq(now),
                        feedback::updatedAt.eq(now),
                    ))
                    .returning(Feedback::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }
}

async fn insert(
    conn: &mut AsyncPgConnection,
    org: Option<&OrganizationId>,
    user: &UserId,
    new: &NewFeedback<'_>,
) -> Result<Feedback, IdentityError> {
    if new.rating.is_some_and(|r| !(1..=5).contains(&r)) {
        return Err(IdentityError::InvalidRating(new.rating.unwrap_or_default()));
    }
    let now = time::now();
    Ok(diesel::insert_into(feedback::table)
        .values((
            new,
            feedback::id.eq(FeedbackId::generate()),
            feedback::organizationId.eq(org),
            feedback::status.eq(FeedbackStatus::Open),
            feedback::userId.eq(user),
            feedback::createdAt.eq(now),
            feedback::updatedAt.eq(now),
        ))
        .returning(Feedback::as_returning())
        .get_result(conn)
        .await?)
}

/// The feedback of `org` with `id`, locked for the change that follows.
async fn find(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    id: &FeedbackId,
) -> Result<Feedback, IdentityError> {
    feedback::table
        .filter(feedback::id.eq(id).and(feedback::organizationId.eq(org)))
        .select(Feedback::as_select())
        .for_update()
        .first(tx)
        .await
        .optional()?
        .ok_or_else(|| IdentityError::not_found("feedback", id))
}
