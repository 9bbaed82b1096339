//! Index storages: a `halfvec` index and a binary-quantized one with exact re-ranking are
//! built, chosen by the search that names their storage (`EXPLAIN`), smaller than the full
//! index, and close to it in recall on clustered 384-dimensional data; what pgvector
//! cannot index is refused with a typed error before anything is built.

use diesel::QueryableByName;
use diesel::sql_types::{Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_rag::*;
use neonhub_schema::Vector;
use neonhub_schema::ids::EmbeddingSpaceId;
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::rag::*;

const DIMS: i32 = 384;
const ROWS: i64 = 4_000;
const QUERIES: usize = 20;

/// `n` rows of `t`'s document: 40 clusters of low-rank vectors plus noise (what sentence
/// embeddings look like to an index), seeded.
async fn fill(conn: &mut AsyncPgConnection, t: &Tenant, dims: i32, n: i64) {
    conn.batch_execute(&format!(
        r#"SELECT setseed(0.42);
           INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, "createdAt")
           SELECT '{sp}-' || g, '{ds}', '{doc}', '{sp}', g, 'chunk ' || g,
                  (SELECT array_agg(sin((g % 40) * 1.3 + d * 0.7) + cos((g % 7) * 0.9 + d * 0.11)
                                    + (random() - 0.5) * 0.8 ORDER BY d)::real[]
                     FROM generate_series(1, {dims}) d)::vector, now()
           FROM generate_series(1, {n}) g"#,
        ds = t.dataset.id,
        doc = t.document.id,
        sp = t.space.id
    ))
    .await
    .unwrap();
}

/// A query near cluster `i` (not a stored row).
fn query(i: usize, dims: i32) -> Vector {
    let c = (i * 7 % 40) as f32;
    Vector::from(
        (1..=dims)
            .map(|d| {
                let d = d as f32;
                (c * 1.3 + d * 0.7).sin()
                    + ((i % 7) as f32 * 0.9 + d * 0.11).cos()
                    + ((i as f32 * 13.7 + d * 3.1).sin() * 0.3)
            })
            .collect::<Vec<f32>>(),
    )
}

#[derive(QueryableByName)]
struct Truth {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Double)]
    distance: f64,
}

/// SQL's exact top 10 of the space by cosine distance (no cast, so no index serves it).
async fn truth(conn: &mut AsyncPgConnection, space: &EmbeddingSpaceId, q: &Vector) -> Vec<Truth> {
    diesel::sql_query(format!(
        r#"SELECT id, (embedding <=> $1)::float8 AS distance FROM chunks
           WHERE "embeddingSpaceId" = '{space}' ORDER BY embedding <=> $1, id LIMIT 10"#
    ))
    .bind::<neonhub_schema::vector::sql_types::Vector, _>(q)
    .load(conn)
    .await
    .unwrap()
}

fn through(storage: IndexStorage) -> SearchOptions {
    SearchOptions {
        storage,
        plan: SearchPlan::Index,
        ..SearchOptions::default()
    }
}

/// The k-NN statement of `t`'s space for `q`, unfiltered.
fn knn(t: &Tenant, q: &Vector, options: &SearchOptions) -> Result<SearchStatement, RagError> {
    search_statement(
        &t.scope,
        VectorTable::Chunks,
        &t.space,
        q,
        &SearchFilter::default(),
        options,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn half_and_binary_indexes_are_built_used_smaller_and_close_in_recall() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant_with(&mut owner, DIMS).await;
    fill(&mut owner, &t, DIMS, ROWS).await;
    let storages = [IndexStorage::Full, IndexStorage::Half, IndexStorage::Binary];
    let mut names = Vec::new();
    for storage in storages {
        names.push(cosine_hnsw_index_stored(db.url(), &t.scope, &t.space.id, storage).await);
    }
    assert!(
        names[1].ends_with("_half") && names[2].ends_with("_bin"),
        "{names:?}"
    );
    owner.batch_execute("ANALYZE chunks").await.unwrap();

    // Each search names its storage and is served by that index (as the application role).
    let mut app = db.connect_as_app().await;
    let q0 = query(0, DIMS);
    for (storage, name) in storages.iter().zip(&names) {
        let statement = knn(&t, &q0, &through(*storage)).unwrap();
        let plan = explain(&mut app, &statement).await.unwrap();
        assert!(
            plan.contains(&format!("Index Scan using {name} ")),
            "{storage:?}:\n{plan}"
        );
        for other in names.iter().filter(|n| *n != name) {
            assert!(!plan.contains(&format!("{other} ")), "{storage:?}:\n{plan}");
        }
    }

    // Recall@10 against SQL's exact ranking, and the binary search's distances are exact.
    // The fourth: binary without over-fetching (k candidates), to show what re-ranking buys.
    let mut recall = [0usize; 4];
    let no_overfetch = SearchOptions {
        rerank: Some(1),
        ..through(IndexStorage::Binary)
    };
    for i in 0..QUERIES {
        let q = query(i, DIMS);
        let expected = truth(&mut owner, &t.space.id, &q).await;
        for (s, options) in storages
            .iter()
            .map(|s| through(*s))
            .chain([no_overfetch.clone()])
            .enumerate()
        {
            let storage = &options.storage;
            let hits = Chunk::search(
                &mut app,
                &t.scope,
                &t.space,
                &q,
                &SearchFilter::default(),
                &options,
            )
            .await
            .unwrap();
            assert_eq!(hits.len(), 10);
            assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
            recall[s] += hits
                .iter()
                .filter(|h| expected.iter().any(|e| e.id == h.row.id.as_str()))
                .count();
            if *storage == IndexStorage::Binary {
                for hit in hits.iter().filter_map(|h| {
                    expected
                        .iter()
                        .find(|e| e.id == h.row.id.as_str())
                        .map(|e| (h, e))
                }) {
                    assert!((hit.0.distance - hit.1.distance).abs() < 1e-5);
                }
            }
        }
    }
    let recall = recall.map(|r| r as f64 / (QUERIES * 10) as f64);
    assert!(recall[0] >= 0.95, "full recall@10 {recall:?}");
    assert!(recall[1] >= recall[0] - 0.02, "half recall@10 {recall:?}");
    assert!(recall[2] >= 0.95, "binary+rerank recall@10 {recall:?}");
    assert!(
        recall[3] < recall[2] - 0.05,
        "binary without re-rank {recall:?}"
    );

    // Sizes: half well under full at 384 dimensions, binary under half.
    let indexes = IndexManager::new(db.url().clone())
        .list(&t.scope, Some(&t.space.id))
        .await
        .unwrap();
    let size = |name: &str| {
        indexes
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.size_bytes)
            .unwrap()
    };
    let sizes = names.iter().map(|n| size(n)).collect::<Vec<_>>();
    assert!(
        (sizes[1] as f64) < 0.75 * sizes[0] as f64 && sizes[2] < sizes[1],
        "sizes full / half / binary {sizes:?}"
    );
}

/// What pgvector cannot index is refused before anything is built, and a space too wide
/// for any full-precision index is still searched: exactly by default, through a binary
/// index with re-ranking when it has one.
#[tokio::test(flavor = "multi_thread")]
async fn storages_refuse_what_pgvector_cannot_index() {
    const WIDE: i32 = 5_000;
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant_with(&mut owner, WIDE).await;
    fill(&mut owner, &t, WIDE, 60).await;
    let manager = IndexManager::new(db.url().clone());
    for storage in [IndexStorage::Full, IndexStorage::Half] {
        let spec = IndexSpec {
            storage,
            ..IndexSpec::default()
        };
        let err = manager
            .create(&t.scope, &t.space.id, &spec, |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                RagError::StorageTooNarrow {
                    dimension: WIDE,
                    ..
                }
            ),
            "{storage:?}: {err}"
        );
        assert_eq!(err.status_hint().code(), 400);
        assert!(err.to_string().contains("binary"), "{err}");
        // Nothing half-built is left behind.
        assert!(
            manager
                .list(&t.scope, Some(&t.space.id))
                .await
                .unwrap()
                .is_empty()
        );
        let err = knn(&t, &query(1, WIDE), &through(IndexStorage::Half)).unwrap_err();
        assert!(matches!(err, RagError::StorageTooNarrow { .. }), "{err}");
    }
    let q = query(3, WIDE);
    let expected: Vec<String> = truth(&mut owner, &t.space.id, &q)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    let ids = |hits: Vec<Hit<Chunk>>| {
        hits.into_iter()
            .map(|h| h.row.id.to_string())
            .collect::<Vec<_>>()
    };
    let mut app = db.connect_as_app().await;
    let scanned = Chunk::search(
        &mut app,
        &t.scope,
        &t.space,
        &q,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids(scanned), expected, "the exact scan of a wide space");

    let name =
        cosine_hnsw_index_stored(db.url(), &t.scope, &t.space.id, IndexStorage::Binary).await;
    // 60 rows, 400 candidates: the re-ranking sees every row, so the top 10 is exact.
    let hits = Chunk::search(
        &mut app,
        &t.scope,
        &t.space,
        &q,
        &SearchFilter::default(),
        &through(IndexStorage::Binary),
    )
    .await
    .unwrap();
    assert_eq!(ids(hits), expected, "binary + re-rank of a wide space");
    app.batch_execute("SET enable_seqscan = off").await.unwrap();
    let statement = knn(&t, &q, &through(IndexStorage::Binary)).unwrap();
    let plan = explain(&mut app, &statement).await.unwrap();
    assert!(plan.contains(&name), "{plan}");

    // Bad options and combinations: typed errors naming them.
    for rerank in [0, 101] {
        let err = knn(
            &t,
            &q,
            &SearchOptions {
                rerank: Some(rerank),
                ..through(IndexStorage::Binary)
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                RagError::InvalidOption {
                    option: "rerank",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = hybrid_statement(
        &t.scope,
        &t.space,
        &q,
        "chunk",
        &SearchFilter::default(),
        &HybridOptions {
            search: through(IndexStorage::Binary),
            ..HybridOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RagError::InvalidOption {
                option: "storage",
                ..
            }
        ),
        "{err}"
    );
    let err = EmbeddingSpace::create(
        &mut owner,
        &t.scope,
        &NewEmbeddingSpace {
            name: "too wide",
            provider: "test",
            model: "m",
            dimension: MAX_DIMENSION + 1,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RagError::DimensionOutOfRange(16_001)),
        "{err}"
    );
}
