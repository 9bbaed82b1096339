//! Conversations: threads of messages.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::enums::ConversationKind;
use neonhub_schema::ids::{ConversationId, OrganizationId, UserId};
use neonhub_schema::keys;
use neonhub_schema::schema::conversations;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::RagError;
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};

/// A conversation.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
pub struct Conversation {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: ConversationId,
    /// Owning organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// What kind of thread it is (chat, support, agent run, ...).
    pub kind: ConversationKind,
    /// Status (`active` by default).
    pub status: String,
    /// Title, as shown to people.
    pub title: Option<String>,
    /// Who started it.
    #[diesel(column_name = createdById)]
    pub created_by_id: Option<UserId>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Conversation {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A conversation to start; the id, organization, status (`active`) and timestamps are
/// added by [`Conversation::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = conversations)]
pub struct NewConversation<'a> {
    /// What kind of thread it is (chat, support, agent run, ...).
    pub kind: ConversationKind,
    /// Title, as shown to people.
    pub title: Option<&'a str>,
    /// Who starts it.
    #[diesel(column_name = createdById)]
    pub created_by_id: Option<&'a UserId>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<&'a Value>,
}

impl NewConversation<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([("title", self.title)])?;
        if let Some(value) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// What may change on a conversation (`Some(None)` clears a nullable column).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = conversations)]
pub struct ConversationChanges<'a> {
    /// New kind.
    pub kind: Option<ConversationKind>,
    /// New status.
    pub status: Option<&'a str>,
    /// New title.
    pub title: Option<Option<&'a str>>,
    /// New metadata.
    pub metadata: Option<Option<&'a Value>>,
}

impl ConversationChanges<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_fields([("status", self.status), ("title", self.title.flatten())])?;
        if let Some(Some(value)) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

impl Conversation {
    /// Starts a conversation.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "conversation", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewConversation<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                diesel::insert_into(conversations::table)
                    .values((
                        new,
                        conversations::id.eq(ConversationId::generate()),
                        conversations::organizationId.eq(scope.organization_id()),
                        conversations::status.eq("active"),
                        conversations::createdAt.eq(now),
                        conversations::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(RagError::from)
            })
            .await
    }

    /// The organization's conversations, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "conversation", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = conversations::table
                    .filter(conversations::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "conversation", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConversationId,
        changes: &ConversationChanges<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(conversations::table)
                    .filter(
                        conversations::id
                            .eq(id)
                            .and(conversations::organizationId.eq(scope.organization_id())),
                    )
                    .set((changes, conversations::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| RagError::not_found("conversation", id))
            })
            .await
    }
}

impl Conversation {
    /// The conversation with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "conversation", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConversationId,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("conversation", id))
            })
            .await
    }

    /// Deletes the conversation and its messages.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "conversation", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConversationId,
    ) -> Result<(), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(conversations::table)
                    .filter(
                        conversations::id
                            .eq(id)
                            .and(conversations::organizationId.eq(scope.organization_id())),
                    )
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(RagError::not_found("conversation", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConversationId,
    ) -> Result<Option<Self>, RagError> {
        Ok(conversations::table
            .filter(
                conversations::id
                    .eq(id)
                    .and(conversations::organizationId.eq(scope.organization_id())),
            )
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }

    /// The conversation as the parent another row links to: refused unless in this organization.
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConversationId,
    ) -> Result<Self, RagError> {
        Self::find(tx, scope, id)
            .await?
            .ok_or_else(|| RagError::foreign_parent("conversation", id))
    }
}
