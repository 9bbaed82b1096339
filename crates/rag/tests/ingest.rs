//! Bulk ingest: thousands of rows per call, all or nothing, errors naming the row.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_rag::*;
use neonhub_schema::ids::DocumentId;
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::{TestDatabase, fixtures, test_connection};

const N: usize = 10_000;

fn rows(document: &DocumentId, n: usize, start: i32) -> Vec<ChunkRow> {
    (0..n)
        .map(|i| ChunkRow {
            document_id: document.clone(),
            idx: start + i as i32,
            text: format!("chunk {i}"),
            embedding: Some(v(&[(i % 7) as f32, 1.0, (i % 3) as f32])),
            metadata: Some(serde_json::json!({ "i": i })),
        })
        .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn chunk_count(conn: &mut AsyncPgConnection, t: &Tenant) -> i64 {
    // As the owner: every row, whatever the connection acts as.
    neonhub_testing::owner_do(conn, async |conn| {
        sql_query(format!(
            r#"SELECT count(*) AS n FROM chunks WHERE "datasetId" = '{}'"#,
            t.dataset.id
        ))
        .get_result::<Count>(conn)
        .await
        .unwrap()
        .n
    })
    .await
}

fn target(t: &Tenant) -> IngestTarget<'_> {
    IngestTarget {
        dataset: &t.dataset.id,
        space: &t.space.id,
    }
}

fn expect_row_error(err: RagError, position: usize, inner: impl Fn(&RagError) -> bool) {
    match &err {
        RagError::BatchRow {
            position: p,
            source,
        } if *p == position && inner(source) => {}
        other => panic!("expected an error at row {position}, got {other}"),
    }
}

#[tokio::test]
async fn unnest_ingest_is_all_or_nothing_and_names_the_row() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let mut batch = rows(&t.document.id, N, 0);
    batch[7777].embedding = Some(v(&[0.0, f32::NAN, 1.0]));
    let err = Chunk::insert_many(&mut conn, &t.scope, target(&t), &batch)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 7777 of the batch: vector component 1 is NaN (NaN and infinities are refused)"
    );
    assert_eq!(chunk_count(&mut conn, &t).await, 0);

    batch[7777].embedding = Some(v(&[0.0, 1.0]));
    expect_row_error(
        Chunk::insert_many(&mut conn, &t.scope, target(&t), &batch)
            .await
            .unwrap_err(),
        7777,
        |e| matches!(e, RagError::DimensionMismatch { .. }),
    );
    batch[7777].embedding = None;
    batch[9000].idx = 5;
    expect_row_error(
        Chunk::insert_many(&mut conn, &t.scope, target(&t), &batch)
            .await
            .unwrap_err(),
        9000,
        |e| matches!(e, RagError::DuplicateChunkIndex { idx: 5, .. }),
    );
    batch[9000].idx = 9000;

    assert_eq!(
        Chunk::insert_many(&mut conn, &t.scope, target(&t), &batch)
            .await
            .unwrap(),
        N
    );
    assert_eq!(chunk_count(&mut conn, &t).await, N as i64);
    // An index already stored is refused with the row that repeats it.
    let again = rows(&t.document.id, 3, N as i32 - 1);
    expect_row_error(
        Chunk::insert_many(&mut conn, &t.scope, target(&t), &again)
            .await
            .unwrap_err(),
        0,
        |e| matches!(e, RagError::DuplicateChunkIndex { .. }),
    );
    assert_eq!(chunk_count(&mut conn, &t).await, N as i64);
}

#[tokio::test]
async fn unnest_ingest_refuses_other_tenants_parents() {
    let mut conn = test_connection().await;
    let a = tenant(&mut conn).await;
    let b = tenant(&mut conn).await;
    let mut batch = rows(&a.document.id, 100, 0);
    batch[42].document_id = b.document.id.clone();
    expect_row_error(
        Chunk::insert_many(&mut conn, &a.scope, target(&a), &batch)
            .await
            .unwrap_err(),
        42,
        |e| {
            matches!(
                e,
                RagError::ForeignParent {
                    entity: "document",
                    ..
                }
            )
        },
    );
    let foreign = IngestTarget {
        dataset: &b.dataset.id,
        space: &a.space.id,
    };
    assert!(matches!(
        Chunk::insert_many(&mut conn, &a.scope, foreign, &rows(&a.document.id, 1, 0)).await,
        Err(RagError::ForeignParent {
            entity: "dataset",
            ..
        })
    ));
    assert_eq!(chunk_count(&mut conn, &a).await, 0);
    assert_eq!(chunk_count(&mut conn, &b).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_ingest_is_all_or_nothing_and_refuses_other_tenants() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let t = tenant(&mut conn).await;
    let mut batch = rows(&t.document.id, N, 0);
    batch[7777].embedding = Some(v(&[f32::INFINITY, 0.0, 0.0]));
    let err = Chunk::copy_in(db.url(), &t.scope, target(&t), &batch)
        .await
        .unwrap_err();
    expect_row_error(err, 7777, |e| matches!(e, RagError::NonFiniteVector { .. }));
    assert_eq!(chunk_count(&mut conn, &t).await, 0);

    batch[7777].embedding = Some(v(&[1.0, 0.0, 0.0]));
    assert_eq!(
        Chunk::copy_in(db.url(), &t.scope, target(&t), &batch)
            .await
            .unwrap(),
        N as u64
    );
    assert_eq!(chunk_count(&mut conn, &t).await, N as i64);
    let stored = Chunk::list_in_dataset(&mut conn, &t.scope, &t.dataset.id, &PageRequest::first(1))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        stored.embedding.as_ref().map(|e| e.as_slice().len()),
        Some(3)
    );
    assert!(stored.metadata.is_some());

    let other = fixtures::scoped_organization(&mut conn).await;
    let stolen = Chunk::copy_in(
        db.url(),
        &other,
        target(&t),
        &rows(&t.document.id, 10, N as i32),
    )
    .await
    .unwrap_err();
    assert!(matches!(stolen, RagError::ForeignParent { .. }), "{stolen}");
    assert_eq!(chunk_count(&mut conn, &t).await, N as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_deleted_during_a_copy_never_leaves_orphan_chunks() {
    use diesel_async::SimpleAsyncConnection;
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let t = tenant(&mut conn).await;
    // Another session deletes the document and has not committed yet.
    let mut deleter = db.connect().await;
    deleter
        .batch_execute(&format!(
            "BEGIN; DELETE FROM documents WHERE id = '{}'",
            t.document.id
        ))
        .await
        .unwrap();
    let (url, scope, dataset, space, batch) = (
        db.url().clone(),
        t.scope.clone(),
        t.dataset.id.clone(),
        t.space.id.clone(),
        rows(&t.document.id, 500, 0),
    );
    let copy = tokio::spawn(async move {
        let target = IngestTarget {
            dataset: &dataset,
            space: &space,
        };
        Chunk::copy_in(&url, &scope, target, &batch).await
    });
    // The COPY's parent lock waits for the delete; once it commits, the document is gone.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !copy.is_finished(),
        "the COPY did not wait for the deleting transaction"
    );
    deleter.batch_execute("COMMIT").await.unwrap();
    let err = copy.await.unwrap().unwrap_err();
    assert!(matches!(err, RagError::ForeignParent { .. }), "{err}");
    let orphans: i64 = sql_query(
        r#"SELECT count(*) AS n FROM chunks c LEFT JOIN documents d ON d.id = c."documentId" WHERE d.id IS NULL"#,
    )
    .get_result::<Count>(&mut conn)
    .await
    .unwrap()
    .n;
    assert_eq!(orphans, 0);
}
