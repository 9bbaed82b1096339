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
    tenant_with(conn, DIM).await
}

/// An organization with a space of `dimension`, a dataset in it and a document.
pub async fn tenant_with(conn: &mut AsyncPgConnection, dimension: i32) -> Tenant {
    let scope = fixtures::scoped_organization(conn).await;
    let user = fixtures::user(conn).await;
    let space = EmbeddingSpace::create(
        conn,
        &scope,
        &NewEmbeddingSpace {
            name: "toy",
            provider: "local",
            model: "hash-3",
            dimension,
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

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// The plan of `statement` with the btree on `chunks."embeddingSpaceId"` hidden and
/// sequential scans off, inside a transaction that is rolled back (DDL is transactional).
/// On a tiny test table the planner rightly prefers that btree; hiding it shows whether a
/// specialised index matches the statement's expressions and predicates. Use it on a
/// database of the test's own: the DROP locks `chunks` until the rollback.
pub async fn plan_with_space_btree_hidden(
    conn: &mut AsyncPgConnection,
    statement: &SearchStatement,
) -> String {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    let types: Vec<&str> = statement.binds.iter().map(Bind::type_name).collect();
    let args: Vec<String> = statement.binds.iter().map(Bind::literal).collect();
    conn.batch_execute(&format!(
        r#"BEGIN; DROP INDEX "chunks_embeddingSpaceId_idx"; SET LOCAL enable_seqscan = off; PREPARE hidden_plan({}) AS {}"#,
        types.join(", "),
        statement.sql
    ))
    .await
    .unwrap();
    let lines: Vec<PlanLine> =
        diesel::sql_query(format!("EXPLAIN EXECUTE hidden_plan({})", args.join(", ")))
            .load(conn)
            .await
            .unwrap();
    conn.batch_execute("ROLLBACK; DEALLOCATE hidden_plan")
        .await
        .unwrap();
    lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}
