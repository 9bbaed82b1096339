//! Conversations: threads of messages.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::ConversationKind;
use neonhub_schema::ids::{ConversationId, OrganizationId, UserId};
use neonhub_schema::schema::conversations;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::RagError;
use crate::scoped::org_scoped;
use neonhub_schema::page::{Page, PageRequest};
use neonhub_schema::{keyed, load_page};

/// A conversation.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = conversations, check_for_backend(diesel::pg::Pg))]
pub struct Conversation {
    /// Id.
    pub id: ConversationId,
    /// Owning organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Kind.
    pub kind: ConversationKind,
    /// Status (`active` by default).
    pub status: String,
    /// Title.
    pub title: Option<String>,
    /// Who started it.
    #[diesel(column_name = createdById)]
    pub created_by_id: Option<UserId>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// Last changed (UTC).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

keyed!(Conversation);

/// A conversation to start.
#[derive(Debug, Clone)]
pub struct NewConversation<'a> {
    /// Kind.
    pub kind: ConversationKind,
    /// Title.
    pub title: Option<&'a str>,
    /// Who starts it.
    pub created_by_id: Option<&'a UserId>,
    /// Metadata.
    pub metadata: Option<&'a Value>,
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

impl Conversation {
    /// Starts a conversation.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewConversation<'_>,
    ) -> Result<Self, RagError> {
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                diesel::insert_into(conversations::table)
                    .values((
                        conversations::id.eq(ConversationId::generate()),
                        conversations::organizationId.eq(scope.organization_id()),
                        conversations::kind.eq(new.kind),
                        conversations::status.eq("active"),
                        conversations::title.eq(new.title),
                        conversations::createdById.eq(new.created_by_id),
                        conversations::metadata.eq(new.metadata),
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
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope
            .transaction(conn, async |tx| {
                let query = conversations::table
                    .filter(conversations::organizationId.eq(scope.organization_id()))
                    .into_boxed();
                Ok(load_page!(tx, query, conversations, Self, page))
            })
            .await
    }

    /// Applies `changes` and sets `updatedAt`.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConversationId,
        changes: &ConversationChanges<'_>,
    ) -> Result<Self, RagError> {
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
                    .ok_or_else(|| not_found(id))
            })
            .await
    }
}

org_scoped!(
    Conversation,
    conversations,
    ConversationId,
    "conversation",
    "Deletes the conversation and its messages."
);
