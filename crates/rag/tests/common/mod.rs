//! Shared setup for the RAG tests: one organization with a space, dataset and document.

#![allow(dead_code)]

use diesel_async::AsyncPgConnection;
use neonhub_rag::*;
use neonhub_schema::TenantScope;
use neonhub_schema::enums::DatasetKind;
use neonhub_schema::ids::UserId;
use neonhub_schema::pgvector::Vector;
use neonhub_testing::fixtures;

pub const DIM: i32 = 3;

pub fn v(values: &[f32]) -> Vector {
    Vector::from(values.to_vec())
}

/// An organization with a 3-d space, a dataset in that space and a document in it.
pub struct Tenant {
    pub scope: TenantScope,
    pub user: UserId,
    pub space: EmbeddingSpace,
    pub dataset: Dataset,
    pub document: Document,
}

pub async fn tenant(conn: &mut AsyncPgConnection) -> Tenant {
    let scope = fixtures::scoped_organization(conn).await;
    let user = fixtures::user(conn).await;
    let space = EmbeddingSpace::create(
        conn,
        &scope,
        &NewEmbeddingSpace {
            name: "toy",
            provider: "local",
            model: "hash-3",
            dimension: DIM,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let dataset = Dataset::create(
        conn,
        &scope,
        &NewDataset {
            embedding_space_id: Some(&space.id),
            name: "Docs",
            slug: "docs",
            kind: DatasetKind::Documents,
            description: None,
            source: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let document = Document::create(
        conn,
        &scope,
        &NewDocument {
            dataset_id: Some(&dataset.id),
            owner_id: &user,
            embedding_space_id: Some(&space.id),
            title: "Neon care",
            content: "Keep transformers ventilated.",
            status: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    Tenant {
        scope,
        user,
        space,
        dataset,
        document,
    }
}

pub fn new_chunk<'a>(t: &'a Tenant, idx: i32, embedding: Option<&'a Vector>) -> NewChunk<'a> {
    NewChunk {
        dataset_id: &t.dataset.id,
        document_id: &t.document.id,
        embedding_space_id: &t.space.id,
        idx,
        text: "chunk text",
        embedding,
        metadata: None,
    }
}
