//! Memories: embeddings of what is known about a person, per embedding space, searched
//! through `neonhub-rag`'s search machinery; an expired memory is never returned.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_rag::{
    EmbeddingSpace, Hit, ParentFilter, SearchFilter, SearchOptions, VectorTable, search_statement,
    validate_vector,
};
use neonhub_schema::Vector;
use neonhub_schema::ids::{EmbeddingSpaceId, EventId, MemEmbeddingId, PersonId};
use neonhub_schema::schema::{events, mem_embeddings};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{CrmError, Person, limits};

/// A memory about a person.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = mem_embeddings, check_for_backend(diesel::pg::Pg))]
pub struct Memory {
    /// Primary key.
    pub id: MemEmbeddingId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// Whom it is about.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// The event it was drawn from.
    #[diesel(column_name = sourceEventId)]
    pub source_event_id: Option<EventId>,
    /// A short label.
    pub label: Option<String>,
    /// The embedding (in [`Memory::embedding_space_id`]'s dimension).
    pub embedding: Option<Vector>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was stored (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it is forgotten (never returned after).
    #[diesel(column_name = expiresAt)]
    pub expires_at: Option<NaiveDateTime>,
    /// The embedding space of its vector.
    #[diesel(column_name = embeddingSpaceId)]
    pub embedding_space_id: Option<EmbeddingSpaceId>,
}

/// A memory to store about a person.
#[derive(Debug, Clone)]
pub struct NewMemory<'a> {
    /// The embedding space (of this organization).
    pub space: &'a EmbeddingSpaceId,
    /// The embedding, of the space's dimension, finite.
    pub embedding: &'a Vector,
    /// A short label.
    pub label: Option<&'a str>,
    /// The event it was drawn from (of this organization).
    pub source_event: Option<&'a EventId>,
    /// When it is forgotten.
    pub expires_at: Option<NaiveDateTime>,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

/// The embedding space `id` if it is this organization's (inside a scope transaction).
async fn space_of(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    id: &EmbeddingSpaceId,
) -> Result<EmbeddingSpace, CrmError> {
    EmbeddingSpace::find_in(tx, scope.organization_id(), id)
        .await?
        .ok_or_else(|| CrmError::foreign_parent("embedding space", id))
}

impl Memory {
    /// Stores a memory about a person of this organization; the vector is checked against
    /// its space (dimension, finite values) before anything is written.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "memory", op = "remember"))]
    pub async fn remember(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        new: &NewMemory<'_>,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        limits::short("label", new.label)?;
        limits::json("metadata", new.metadata)?;
        if let Some(at) = new.expires_at {
            InvalidData::check_timestamp("expiresAt", at)?;
        }
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                let space = space_of(tx, scope, new.space).await?;
                validate_vector(new.embedding, space.dimension)?;
                if let Some(event) = new.source_event {
                    let n: i64 = events::table
                        .find(event)
                        .filter(events::organizationId.eq(scope.organization_id()))
                        .count()
                        .get_result(tx)
                        .await?;
                    if n == 0 {
                        return Err(CrmError::foreign_parent("event", event));
                    }
                }
                Ok(diesel::insert_into(mem_embeddings::table)
                    .values((
                        mem_embeddings::id.eq(MemEmbeddingId::generate()),
                        mem_embeddings::organizationId.eq(scope.organization_id()),
                        mem_embeddings::personId.eq(person),
                        mem_embeddings::sourceEventId.eq(new.source_event),
                        mem_embeddings::label.eq(new.label),
                        mem_embeddings::embedding.eq(new.embedding),
                        mem_embeddings::metadata.eq(new.metadata),
                        mem_embeddings::createdAt.eq(time::now()),
                        mem_embeddings::expiresAt.eq(new.expires_at),
                        mem_embeddings::embeddingSpaceId.eq(new.space),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The person's memories that have not expired, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "memory", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
    ) -> Result<Vec<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                Ok(mem_embeddings::table
                    .filter(mem_embeddings::personId.eq(person))
                    .filter(mem_embeddings::organizationId.eq(scope.organization_id()))
                    .filter(
                        mem_embeddings::expiresAt
                            .is_null()
                            .or(mem_embeddings::expiresAt.gt(time::now())),
                    )
                    .order((mem_embeddings::createdAt.desc(), mem_embeddings::id.desc()))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Forgets a memory now.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "memory", op = "forget"))]
    pub async fn forget(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MemEmbeddingId,
    ) -> Result<(), CrmError> {
        scope.require(keys::CRM_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(mem_embeddings::table.find(id))
                    .filter(mem_embeddings::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CrmError::not_found("memory", id));
                }
                Ok(())
            })
            .await
    }

    /// The `options.k` memories in `space` nearest to `query` (of one person, if given),
    /// nearest first, never an expired one nor another organization's: `neonhub-rag`'s
    /// search over `mem_embeddings` (the space's partial index, its literal predicate, the
    /// organization guard on the memory's own `"organizationId"`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "memory", op = "search"))]
    pub async fn search(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        space: &EmbeddingSpaceId,
        query: &Vector,
        person: Option<&PersonId>,
        options: &SearchOptions,
    ) -> Result<Vec<Hit<Self>>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                let space = space_of(tx, scope, space).await?;
                let statement = Self::search_statement(scope, &space, query, person, options)?;
                Ok(statement.run::<Hit<Self>>(tx).await?)
            })
            .await
    }

    /// The statement [`Memory::search`] runs (for `EXPLAIN` through
    /// `neonhub_rag::explain`), built the same way; the space must be this organization's.
    pub fn search_statement(
        scope: &TenantScope,
        space: &EmbeddingSpace,
        query: &Vector,
        person: Option<&PersonId>,
        options: &SearchOptions,
    ) -> Result<neonhub_rag::SearchStatement, CrmError> {
        let filter = match person {
            Some(p) => SearchFilter::default().with(ParentFilter::Person(p.clone())),
            None => SearchFilter::default(),
        };
        Ok(search_statement(
            scope,
            VectorTable::MemEmbeddings,
            space,
            query,
            &filter,
            options,
        )?)
    }
}
