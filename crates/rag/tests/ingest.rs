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
            idx: Some(start + i as i32),
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
    batch[9000].idx = Some(5);
    expect_row_error(
        Chunk::insert_many(&mut conn, &t.scope, target(&t), &batch)
            .await
            .unwrap_err(),
        9000,
        |e| matches!(e, RagError::DuplicateChunkIndex { idx: 5, .. }),
    );
    batch[9000].idx = Some(9000);

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
    let mut client = db.url().connect_raw(&Default::default()).await.unwrap();
    let err = Chunk::copy_in(&mut client, &t.scope, target(&t), &batch)
        .await
        .unwrap_err();
    expect_row_error(err, 7777, |e| matches!(e, RagError::NonFiniteVector { .. }));
    assert_eq!(chunk_count(&mut conn, &t).await, 0);

    batch[7777].embedding = Some(v(&[1.0, 0.0, 0.0]));
    assert_eq!(
        Chunk::copy_in(&mut client, &t.scope, target(&t), &batch)
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
        &mut client,
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
        let mut client = url.connect_raw(&Default::default()).await.unwrap();
        Chunk::copy_in(&mut client, &scope, target, &batch).await
    });
    // The COPY's parent lock waits for the delete; once it commits, the document is gone.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !copy.is_finished(),
        "the COPY did not wait for the deleting transaction"
    );
    deleter.batch_execute("COMMIT").await.unwrap();
    let err = copy.await.unwrap().unwrap_err();
    expect_row_error(err, 0, |e| matches!(e, RagError::ForeignParent { .. }));
    let orphans: i64 = sql_query(
        r#"SELECT count(*) AS n FROM chunks c LEFT JOIN documents d ON d.id = c."documentId" WHERE d.id IS NULL"#,
    )
    .get_result::<Count>(&mut conn)
    .await
    .unwrap()
    .n;
    assert_eq!(orphans, 0);
}

/// Eight requests creating "the same" space and dataset at once, as the application role:
/// one row each, every caller gets it, exactly one was told it made it.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_get_or_create_gives_one_row() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant(&mut owner).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (scope, barrier) = (t.scope.clone(), barrier.clone());
        let mut conn = db.connect_as_app().await;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let space = NewEmbeddingSpace {
                name: "shared",
                provider: "local",
                model: "hash-3",
                dimension: 3,
                metadata: None,
            };
            let (space, space_made) = EmbeddingSpace::get_or_create(&mut conn, &scope, &space)
                .await
                .unwrap();
            let dataset = NewDataset {
                embedding_space_id: Some(&space.id),
                name: "Shared",
                slug: "shared",
                kind: neonhub_schema::enums::DatasetKind::Documents,
                description: None,
                source: None,
                metadata: None,
            };
            let (dataset, dataset_made) = Dataset::get_or_create(&mut conn, &scope, &dataset)
                .await
                .unwrap();
            (space.id, space_made, dataset.id, dataset_made)
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert!(
        results
            .iter()
            .all(|r| r.0 == results[0].0 && r.2 == results[0].2)
    );
    assert_eq!(results.iter().filter(|r| r.1).count(), 1, "one space made");
    assert_eq!(
        results.iter().filter(|r| r.3).count(),
        1,
        "one dataset made"
    );
    let n: Count = sql_query(
        r#"SELECT (SELECT count(*) FROM embedding_spaces WHERE name = 'shared')
                + (SELECT count(*) FROM datasets WHERE slug = 'shared') AS n"#,
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!(n.n, 2);

    // The same name with another dimension is not "the same" space.
    let wider = NewEmbeddingSpace {
        name: "shared",
        provider: "local",
        model: "hash-3",
        dimension: 4,
        metadata: None,
    };
    let err = EmbeddingSpace::get_or_create(&mut owner, &t.scope, &wider)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RagError::ExistsDifferently {
                field: "dimension",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.status_hint().code(), 409);
}

/// Eight requests appending 100 chunks each to one document without choosing positions
/// (one by one, in batches, and by COPY), as the application role: all 800 stored, at
/// positions 0 to 799 with no gap and no repeat.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_appends_get_unique_gapless_positions() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant(&mut owner).await;
    let app_url = db.app_url();
    let unnumbered = |n: usize, task: usize| -> Vec<ChunkRow> {
        (0..n)
            .map(|i| ChunkRow {
                document_id: t.document.id.clone(),
                idx: None,
                text: format!("task {task} chunk {i}"),
                embedding: Some(v(&[1.0, task as f32, i as f32])),
                metadata: None,
            })
            .collect()
    };
    let mut tasks = Vec::new();
    for task in 0..8usize {
        let scope = t.scope.clone();
        let (dataset, space, document) = (
            t.dataset.id.clone(),
            t.space.id.clone(),
            t.document.id.clone(),
        );
        let mut conn = db.connect_as_app().await;
        let (app_url, batch) = (app_url.clone(), unnumbered(100, task));
        tasks.push(tokio::spawn(async move {
            let target = IngestTarget {
                dataset: &dataset,
                space: &space,
            };
            match task % 3 {
                0 => {
                    for row in &batch {
                        let new = NewChunk {
                            dataset_id: &dataset,
                            document_id: &document,
                            embedding_space_id: &space,
                            idx: None,
                            text: &row.text,
                            embedding: row.embedding.as_ref(),
                            metadata: None,
                        };
                        Chunk::create(&mut conn, &scope, &new).await.unwrap();
                    }
                }
                1 => {
                    for part in batch.chunks(25) {
                        Chunk::insert_many(&mut conn, &scope, target, part)
                            .await
                            .unwrap();
                    }
                }
                _ => {
                    // One client of the caller's for every batch, as from a pool.
                    let mut client = app_url.connect_raw(&Default::default()).await.unwrap();
                    for part in batch.chunks(50) {
                        Chunk::copy_in(&mut client, &scope, target, part)
                            .await
                            .unwrap();
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    #[derive(QueryableByName)]
    struct Positions {
        #[diesel(sql_type = BigInt)]
        n: i64,
        #[diesel(sql_type = BigInt)]
        distinct: i64,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        lowest: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        highest: i32,
    }
    let p: Positions = sql_query(
        r#"SELECT count(*) AS n, count(DISTINCT idx) AS distinct, min(idx) AS lowest, max(idx) AS highest
           FROM chunks WHERE "datasetId" = $1"#,
    )
    .bind::<diesel::sql_types::Text, _>(t.dataset.id.as_str())
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!((p.n, p.distinct, p.lowest, p.highest), (800, 800, 0, 799));
}

/// `copy_in` runs on a client of the caller's pool (a `RawPool` of one connection, as the
/// application role): each checkout is the same server session (its backend pid), left as
/// it was found, with no tenant or replication-role setting, after a COPY and after a
/// refused one, and it goes on serving the next COPY and queries.
#[tokio::test(flavor = "multi_thread")]
async fn copy_in_runs_on_the_callers_client_and_leaves_it_clean() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant(&mut owner).await;
    let other = tenant(&mut owner).await;
    let pool = neonhub_schema::build_raw_pool(
        &db.app_url(),
        &neonhub_schema::PoolConfig {
            max_size: 1,
            ..Default::default()
        },
    );
    let settings = async |client: &tokio_postgres::Client| {
        let row = client
            .query_one(
                "SELECT current_user::text, coalesce(current_setting('app.current_org', true), ''), \
                        current_setting('session_replication_role'), pg_catalog.txid_current_if_assigned() IS NULL, \
                        pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2),
            row.get::<_, bool>(3),
            row.get::<_, i32>(4),
        )
    };
    let clean = settings(&*pool.get().await.unwrap()).await;
    assert_eq!(clean.1, "");
    assert_eq!(clean.2, "origin");
    assert_eq!(
        Chunk::copy_in(
            &mut pool.get().await.unwrap(),
            &t.scope,
            target(&t),
            &rows(&t.document.id, 300, 0)
        )
        .await
        .unwrap(),
        300
    );
    assert_eq!(settings(&*pool.get().await.unwrap()).await, clean);
    // Another organization's document: refused, nothing written, the client still clean.
    let err = Chunk::copy_in(
        &mut pool.get().await.unwrap(),
        &t.scope,
        target(&t),
        &rows(&other.document.id, 10, 300),
    )
    .await
    .unwrap_err();
    expect_row_error(err, 0, |e| matches!(e, RagError::ForeignParent { .. }));
    assert_eq!(settings(&*pool.get().await.unwrap()).await, clean);
    assert_eq!(
        Chunk::copy_in(
            &mut pool.get().await.unwrap(),
            &t.scope,
            target(&t),
            &rows(&t.document.id, 200, 300)
        )
        .await
        .unwrap(),
        200
    );
    assert_eq!(chunk_count(&mut owner, &t).await, 500);
    assert_eq!(chunk_count(&mut owner, &other).await, 0);
}
