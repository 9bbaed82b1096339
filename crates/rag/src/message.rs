//! Messages: the turns of a conversation, reached through it.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::MessageRole;
use neonhub_schema::ids::{ConversationId, EmbeddingSpaceId, MessageId, UserId};
use neonhub_schema::schema::{conversations, messages};
use neonhub_schema::{TenantScope, time};
use pgvector::Vector;
use serde_json::Value;

use crate::scoped::scoped;
use crate::{Conversation, EmbeddingSpace, RagError, validate_vector};
use neonhub_schema::page::{Page, PageRequest};
use neonhub_schema::{keyed, load_page};

/// A message.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// Its conversation.
    #[diesel(column_name = conversationId)]
    pub conversation_id: ConversationId,
    /// Its author, for user messages.
    #[diesel(column_name = authorId)]
    pub author_id: Option<UserId>,
    /// Role.
    pub role: MessageRole,
    /// Content.
    #[diesel(column_name = contentJson)]
    pub content_json: Value,
    /// Embedding, if computed.
    pub embedding: Option<Vector>,
    /// The space of the embedding.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<EmbeddingSpaceId>,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

keyed!(Message);

/// A message to add.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// Author.
    pub author_id: Option<&'a UserId>,
    /// Role.
    pub role: MessageRole,
    /// Content.
    pub content_json: &'a Value,
    /// Embedding; needs `embedding_space_id`.
    pub embedding: Option<&'a Vector>,
    /// The space of the embedding (in the organization).
    pub embedding_space_id: Option<&'a EmbeddingSpaceId>,
    /// Metadata.
    pub metadata: Option<&'a Value>,
}

/// What may change on a message (`Some(None)` clears a nullable column). Messages have
/// no `updatedAt` column.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = messages)]
pub struct MessageChanges<'a> {
    /// New content.
    #[diesel(column_name = contentJson)]
    pub content_json: Option<&'a Value>,
    /// New embedding, checked against the (new or current) space.
    pub embedding: Option<Option<&'a Vector>>,
    /// New space (in the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<Option<&'a EmbeddingSpaceId>>,
    /// New metadata.
    pub metadata: Option<Option<&'a Value>>,
}

/// Messages whose conversation belongs to the scope's organization.
macro_rules! in_scope {
    ($scope:expr) => {
        messages::conversationId.eq_any(
            conversations::table
                .filter(conversations::organizationId.eq($scope.organization_id()))
                .select(conversations::id),
        )
    };
}

/// A vector needs a space of this organization and the space's dimension.
async fn check_embedding(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    embedding: Option<&Vector>,
    space: Option<&EmbeddingSpaceId>,
) -> Result<(), RagError> {
    let space = match space {
        Some(id) => Some(EmbeddingSpace::parent(tx, scope, id).await?),
        None => None,
    };
    match (embedding, space) {
        (Some(_), None) => Err(RagError::VectorWithoutSpace),
        (Some(v), Some(space)) => validate_vector(v, space.dimension),
        (None, _) => Ok(()),
    }
}

impl Message {
    /// Adds a message to a conversation of this organization.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        conversation: &ConversationId,
        new: &NewMessage<'_>,
    ) -> Result<Self, RagError> {
        scope
            .transaction(conn, async |tx| {
                Conversation::parent(tx, scope, conversation).await?;
                check_embedding(tx, scope, new.embedding, new.embedding_space_id).await?;
                Ok(diesel::insert_into(messages::table)
                    .values((
                        messages::id.eq(MessageId::generate()),
                        messages::conversationId.eq(conversation),
                        messages::authorId.eq(new.author_id),
                        messages::role.eq(new.role),
                        messages::contentJson.eq(new.content_json),
                        messages::embedding.eq(new.embedding),
                        messages::embeddingSpaceId.eq(new.embedding_space_id),
                        messages::metadata.eq(new.metadata),
                        messages::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The messages of a conversation of this organization, newest first.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        conversation: &ConversationId,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope
            .transaction(conn, async |tx| {
                Conversation::parent(tx, scope, conversation).await?;
                let query = messages::table
                    .filter(messages::conversationId.eq(conversation))
                    .into_boxed();
                Ok(load_page!(tx, query, messages, Self, page))
            })
            .await
    }

    /// Applies `changes`; the resulting embedding is checked against the resulting space.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MessageId,
        changes: &MessageChanges<'_>,
    ) -> Result<Self, RagError> {
        scope
            .transaction(conn, async |tx| {
                let current = Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| not_found(id))?;
                let embedding = changes.embedding.unwrap_or(current.embedding.as_ref());
                let space = changes
                    .embedding_space_id
                    .unwrap_or(current.embedding_space_id.as_ref());
                check_embedding(tx, scope, embedding, space).await?;
                if changes.content_json.is_none()
                    && changes.embedding.is_none()
                    && changes.embedding_space_id.is_none()
                    && changes.metadata.is_none()
                {
                    return Ok(current);
                }
                Ok(diesel::update(messages::table)
                    .filter(messages::id.eq(id))
                    .set(changes)
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }
}

scoped!(
    Message,
    messages,
    MessageId,
    "message",
    "Deletes the message.",
    |s| in_scope!(s)
);
