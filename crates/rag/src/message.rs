//! Messages: the turns of a conversation, reached through it.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl,
    Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::Vector;
use neonhub_schema::enums::MessageRole;
use neonhub_schema::ids::{ConversationId, EmbeddingSpaceId, MessageId, OrganizationId, UserId};
use neonhub_schema::keys;
use neonhub_schema::schema::{conversations, messages};
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::{
    Conversation, EmbeddingSpace, Hit, RagError, SearchFilter, SearchOptions, VectorTable,
    validate_vector, vector_search,
};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};

/// A message.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: MessageId,
    /// Its conversation.
    #[diesel(column_name = conversationId)]
    pub conversation_id: ConversationId,
    /// Its author, for user messages.
    #[diesel(column_name = authorId)]
    pub author_id: Option<UserId>,
    /// Who speaks: user, assistant, system or tool.
    pub role: MessageRole,
    /// The message body as JSON (text parts, tool calls, ...).
    #[diesel(column_name = contentJson)]
    pub content_json: Value,
    /// Embedding, if computed.
    pub embedding: Option<Vector>,
    /// The space of the embedding.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<EmbeddingSpaceId>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for Message {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A message to add; the id, conversation and `createdAt` are added by
/// [`Message::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    /// Author.
    #[diesel(column_name = authorId)]
    pub author_id: Option<&'a UserId>,
    /// Who speaks: user, assistant, system or tool.
    pub role: MessageRole,
    /// The message body as JSON (text parts, tool calls, ...).
    #[diesel(column_name = contentJson)]
    pub content_json: &'a Value,
    /// Embedding; needs `embedding_space_id`.
    pub embedding: Option<&'a Vector>,
    /// The space of the embedding (in the organization).
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<&'a EmbeddingSpaceId>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<&'a Value>,
}

impl NewMessage<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        if let Some(value) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        InvalidData::check_json("content_json", self.content_json)?;
        Ok(())
    }
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

impl MessageChanges<'_> {
    /// Refuses a NUL byte in any text or JSON field, naming it, before a query is sent.
    pub(crate) fn check(&self) -> Result<(), InvalidData> {
        if let Some(value) = self.content_json {
            InvalidData::check_json("content_json", value)?;
        }
        if let Some(Some(value)) = self.metadata {
            InvalidData::check_json("metadata", value)?;
        }
        Ok(())
    }
}

/// Messages whose conversation belongs to `org` (they have no organization column of
/// their own): the tenant filter of every query on `messages`.
#[diesel::dsl::auto_type(no_type_alias)]
fn in_scope<'a>(org: &'a OrganizationId) -> _ {
    messages::conversationId.eq_any(
        conversations::table
            .filter(conversations::organizationId.eq(org))
            .select(conversations::id),
    )
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
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "message", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        conversation: &ConversationId,
        new: &NewMessage<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        new.check()?;
        scope
            .transaction(conn, async |tx| {
                Conversation::parent(tx, scope, conversation).await?;
                check_embedding(tx, scope, new.embedding, new.embedding_space_id).await?;
                Ok(diesel::insert_into(messages::table)
                    .values((
                        new,
                        messages::id.eq(MessageId::generate()),
                        messages::conversationId.eq(conversation),
                        messages::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The messages of a conversation of this organization, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "message", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        conversation: &ConversationId,
        page: &PageRequest,
    ) -> Result<Page<Self>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Conversation::parent(tx, scope, conversation).await?;
                let query = messages::table
                    .filter(messages::conversationId.eq(conversation))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Applies `changes`; the resulting embedding is checked against the resulting space.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "message", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MessageId,
        changes: &MessageChanges<'_>,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                let current = Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("message", id))?;
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

impl Message {
    /// The message with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "message", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MessageId,
    ) -> Result<Self, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| RagError::not_found("message", id))
            })
            .await
    }

    /// Deletes the message.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "message", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MessageId,
    ) -> Result<(), RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(messages::table)
                    .filter(messages::id.eq(id).and(in_scope(scope.organization_id())))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(RagError::not_found("message", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MessageId,
    ) -> Result<Option<Self>, RagError> {
        Ok(messages::table
            .filter(messages::id.eq(id).and(in_scope(scope.organization_id())))
            .select(Self::as_select())
            .first(tx)
            .await
            .optional()?)
    }
}

impl Message {
    /// The `options.k` messages embedded in `space` nearest to `query`, nearest first,
    /// through the space's index (filter by [`crate::ParentFilter::Conversation`] for one
    /// thread).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "message", op = "search"))]
    pub async fn search(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        space: &EmbeddingSpace,
        query: &Vector,
        filter: &SearchFilter,
        options: &SearchOptions,
    ) -> Result<Vec<Hit<Message>>, RagError> {
        scope.require(keys::KNOWLEDGE_READ)?;
        vector_search(
            conn,
            scope,
            VectorTable::Messages,
            space,
            query,
            filter,
            options,
        )
        .await
    }
}
