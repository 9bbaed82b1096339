//! Managed indexes and k-NN search, proven by EXPLAIN against a real pgvector.

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_rag::*;
use neonhub_schema::Vector;
use neonhub_schema::catalog::{Catalog, DiffOptions, MANAGED_INDEX_PREFIX, diff};
use neonhub_schema::ids::ConversationId;
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::{TestDatabase, fixtures};
use serde_json::json;

const ROWS: i64 = 10_000;
const DIMS: i32 = 16;

struct Corpus {
    db: TestDatabase,
    scope: neonhub_schema::TenantScope,
    space: EmbeddingSpace,
    dataset: Dataset,
}

/// A space of clustered 16-d vectors (50 clusters plus noise), with metadata buckets:
/// `bucket` 0..9 (10 % each) and `rare` (1 %).
async fn corpus() -> Corpus {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let Tenant {
        scope,
        space,
        dataset,
        document,
        ..
    } = tenant_with(&mut conn, DIMS).await;
    conn.batch_execute(&format!(
        r#"SELECT setseed(0.42);
           INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, metadata, "createdAt")
           SELECT 'c' || g, '{ds}', '{doc}', '{sp}', g, 'chunk ' || g,
                  (SELECT array_agg(sin((g % 50) * 1.7 + d * 0.9) + (random() - 0.5) * 0.2 ORDER BY d)::real[]
                     FROM generate_series(1, {DIMS}) d)::vector,
                  jsonb_build_object('bucket', g % 10, 'rare', g % 100 = 7),
                  now() - (g || ' seconds')::interval
           FROM generate_series(1, {ROWS}) g;
           ANALYZE chunks;"#,
        ds = dataset.id, doc = document.id, sp = space.id
    ))
    .await
    .unwrap();
    Corpus {
        db,
        scope,
        space,
        dataset,
    }
}

fn query_vector(seed: f32) -> Vector {
    Vector::from(
        (1..=DIMS)
            .map(|d| (seed * 1.7 + d as f32 * 0.9).sin())
            .collect::<Vec<f32>>(),
    )
}

fn cosine_hnsw() -> IndexSpec {
    IndexSpec {
        table: VectorTable::Chunks,
        distance: Distance::Cosine,
        method: IndexMethod::default(),
        storage: IndexStorage::Full,
    }
}

async fn build_index(c: &Corpus) -> String {
    let manager = IndexManager::new(c.db.url().clone());
    let mut readings = 0;
    let outcome = manager
        .create(&c.scope, &c.space.id, &cosine_hnsw(), |_| readings += 1)
        .await
        .unwrap();
    assert_eq!(outcome, BuildOutcome::Created);
    IndexManager::index_name(&c.space.id, &cosine_hnsw())
}

fn uses(plan: &str, index: &str) -> bool {
    plan.contains(&format!("Index Scan using {index}"))
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Exact top-k by cosine without the index (the cast differs from the index's expression).
async fn exact(
    conn: &mut AsyncPgConnection,
    c: &Corpus,
    query: &Vector,
    filter_sql: &str,
    k: i64,
) -> Vec<String> {
    let rows: Vec<Id> = sql_query(format!(
        r#"SELECT id FROM chunks WHERE "embeddingSpaceId" = $1 {filter_sql} ORDER BY embedding <=> $2 LIMIT $3"#
    ))
    .bind::<Text, _>(c.space.id.as_str())
    .bind::<neonhub_schema::vector::sql_types::Vector, _>(query)
    .bind::<BigInt, _>(k)
    .load(conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn indexes_are_built_listed_idempotent_dropped_and_leave_no_drift() {
    let c = corpus().await;
    let manager = IndexManager::new(c.db.url().clone());
    let name = build_index(&c).await;
    assert!(name.starts_with(MANAGED_INDEX_PREFIX) && name.len() <= 63);
    assert_eq!(
        manager
            .create(&c.scope, &c.space.id, &cosine_hnsw(), |_| {})
            .await
            .unwrap(),
        BuildOutcome::AlreadyValid
    );
    let listed = manager.list(&c.scope, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].valid && listed[0].size_bytes > 0 && listed[0].table == VectorTable::Chunks);
    assert!(listed[0].definition.contains("USING hnsw (((embedding)::vector(16)) vector_cosine_ops) WITH (m='16', ef_construction='128')"), "{}", listed[0].definition);

    // Drift stays clean with managed indexes present.
    let mut conn = c.db.connect().await;
    let live = Catalog::read(&mut conn).await.unwrap();
    let options = DiffOptions {
        ignore_extension_versions: true,
        ignore_index_prefix: Some(MANAGED_INDEX_PREFIX.to_owned()),
        ..Default::default()
    };
    assert!(diff(&Catalog::expected(), &live, &options).is_empty());

    // Another organization sees none of them and cannot build on this space.
    let other = fixtures::scoped_organization(&mut conn).await;
    assert!(manager.list(&other, None).await.unwrap().is_empty());
    assert!(matches!(
        manager
            .create(&other, &c.space.id, &cosine_hnsw(), |_| {})
            .await,
        Err(RagError::NotFound { .. })
    ));

    let ivf = IndexSpec {
        method: IndexMethod::IvfFlat { lists: None },
        distance: Distance::L2,
        ..cosine_hnsw()
    };
    assert_eq!(
        manager
            .create(&c.scope, &c.space.id, &ivf, |_| {})
            .await
            .unwrap(),
        BuildOutcome::Created
    );
    let ivf_def = manager
        .list(&c.scope, Some(&c.space.id))
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.name.ends_with("_l2_ivf"))
        .unwrap();
    assert!(
        ivf_def.definition.contains("lists='10'"),
        "rows/1000 lists: {}",
        ivf_def.definition
    );
    assert_eq!(
        manager
            .rebuild(&c.scope, &c.space.id, &ivf, |_| {})
            .await
            .unwrap(),
        BuildOutcome::Created
    );
    assert!(manager.drop(&c.scope, &c.space.id, &ivf).await.unwrap());
    assert!(!manager.drop(&c.scope, &c.space.id, &ivf).await.unwrap());
    assert_eq!(manager.list(&c.scope, None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_leftover_is_detected_and_rebuilt() {
    let c = corpus().await;
    let mut conn = c.db.connect().await;
    // A row whose vector has the wrong length (written around the repository) makes the
    // cast fail mid-build: CREATE INDEX CONCURRENTLY leaves an INVALID index behind.
    conn.batch_execute(
        r#"INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding)
           SELECT 'bad', "datasetId", "documentId", "embeddingSpaceId", -1, 'bad', '[1,2,3]' FROM chunks LIMIT 1"#,
    )
    .await
    .unwrap();
    let manager = IndexManager::new(c.db.url().clone());
    let err = manager
        .create(&c.scope, &c.space.id, &cosine_hnsw(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected 16 dimensions"), "{err}");
    assert!(
        manager.list(&c.scope, None).await.unwrap().is_empty(),
        "the failed build's INVALID leftover is dropped"
    );

    // A build abandoned by a killed process leaves one behind (made here by hand, the
    // same way): the next create finds it INVALID and rebuilds it.
    let name = IndexManager::index_name(&c.space.id, &cosine_hnsw());
    conn.batch_execute(&format!(
        r#"CREATE INDEX CONCURRENTLY {name} ON chunks USING hnsw ((embedding::vector(16)) vector_cosine_ops) WHERE "embeddingSpaceId" = '{}'"#,
        c.space.id
    ))
    .await
    .unwrap_err();
    let listed = manager.list(&c.scope, None).await.unwrap();
    assert_eq!(
        (listed.len(), listed[0].valid),
        (1, false),
        "an INVALID leftover: {listed:?}"
    );

    conn.batch_execute("DELETE FROM chunks WHERE id = 'bad'")
        .await
        .unwrap();
    assert_eq!(
        manager
            .create(&c.scope, &c.space.id, &cosine_hnsw(), |_| {})
            .await
            .unwrap(),
        BuildOutcome::RebuiltInvalid
    );
    assert!(manager.list(&c.scope, None).await.unwrap()[0].valid);
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_use_the_index_also_under_generic_plans() {
    let c = corpus().await;
    let index = build_index(&c).await;
    let mut conn = c.db.connect().await;
    let query = query_vector(3.0);
    let unfiltered = SearchFilter::default();
    let tenth = SearchFilter {
        metadata: Some(json!({"bucket": 3})),
        ..SearchFilter::default()
    };

    // pgvector's ef_search: the index's cost grows with ef_search, and on this small corpus
    // (10k rows of 16-d) the default 20 x k makes an exact scan of the 1,000 rows of the 10 %
    // filter the cheaper generic plan; this test is about the cast and predicate matching.
    let options = SearchOptions {
        ef_search: Some(DEFAULT_EF_SEARCH),
        ..SearchOptions::default()
    };
    for (what, filter) in [("unfiltered", &unfiltered), ("10 % filter", &tenth)] {
        let statement = search_statement(
            &c.scope,
            VectorTable::Chunks,
            &c.space,
            &query,
            filter,
            &options,
        )
        .unwrap();
        let plan = explain(&mut conn, &statement).await.unwrap();
        assert!(
            uses(&plan, &index),
            "{what}: custom plan does not use {index}:\n{plan}"
        );

        // The same prepared statement, run 10 times, then explained: a generic plan by then.
        let knn = PreparedSearch::prepare(&mut conn, "knn", &statement).await;
        knn.run(&mut conn, 10).await;
        let plan = knn.explain(&mut conn, "auto").await;
        assert!(
            uses(&plan, &index),
            "{what}: plan after 10 runs does not use {index}:\n{plan}"
        );
        let plan = knn.explain(&mut conn, "force_generic_plan").await;
        assert!(
            uses(&plan, &index),
            "{what}: forced generic plan does not use {index}:\n{plan}"
        );
        assert!(plan.contains("$"), "{what}: not a generic plan:\n{plan}");
        knn.deallocate(&mut conn).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filtered_searches_return_k_rows_with_iterative_scans_and_fewer_without() {
    let c = corpus().await;
    build_index(&c).await;
    let mut conn = c.db.connect().await;
    // Pin the index path: this test is about what the index scan returns under a filter.
    conn.batch_execute("SET enable_seqscan = off")
        .await
        .unwrap();
    let query = query_vector(11.0);
    let rare = SearchFilter {
        metadata: Some(json!({"rare": true})),
        ..SearchFilter::default()
    };
    let k = 10;

    let on = SearchOptions {
        k,
        iterative_scan: Some(IterativeScan::StrictOrder),
        ..SearchOptions::default()
    };
    let hits: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &query,
        &rare,
        &on,
    )
    .await
    .unwrap();
    assert_eq!(
        hits.len() as i64,
        k,
        "iterative scan returned {} rows",
        hits.len()
    );
    assert!(
        hits.iter()
            .all(|h| h.row.metadata.as_ref().unwrap()["rare"] == json!(true))
    );
    assert!(
        hits.windows(2).all(|w| w[0].distance <= w[1].distance),
        "not nearest first"
    );
    let truth = exact(
        &mut conn,
        &c,
        &query,
        r#"AND metadata @> '{"rare": true}'"#,
        k,
    )
    .await;
    let found = hits
        .iter()
        .filter(|h| truth.contains(&h.row.id.to_string()))
        .count();
    assert!(found >= 8, "recall {found}/10 against exact search");

    // At pgvector's ef_search (40 candidates) a 1 % filter starves a plain index scan; the
    // library's wider default (20 x k) only makes that rarer on a corpus this small.
    let off = SearchOptions {
        k,
        ef_search: Some(DEFAULT_EF_SEARCH),
        iterative_scan: Some(IterativeScan::Off),
        ..SearchOptions::default()
    };
    let fewer: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &query,
        &rare,
        &off,
    )
    .await
    .unwrap();
    assert!(
        (fewer.len() as i64) < k,
        "without iterative scans the filter should starve the scan, got {}",
        fewer.len()
    );

    // The default for a filtered search is the iterative scan.
    let default: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &query,
        &rare,
        &SearchOptions {
            k,
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(default.len() as i64, k);
}

#[tokio::test(flavor = "multi_thread")]
async fn unfiltered_and_filtered_hits_are_correct_with_every_distance() {
    let c = corpus().await;
    build_index(&c).await;
    let mut conn = c.db.connect().await;
    let query = query_vector(7.0);
    let hits: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &query,
        &SearchFilter::default(),
        &SearchOptions {
            ef_search: Some(100),
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    let truth = exact(&mut conn, &c, &query, "", 10).await;
    let found = hits
        .iter()
        .filter(|h| truth.contains(&h.row.id.to_string()))
        .count();
    assert!(found >= 9, "recall {found}/10");

    // Filters: dataset, metadata, time range; each hit satisfies them.
    let newest = SearchFilter::default().with(ParentFilter::Dataset(c.dataset.id.clone()));
    let recent = SearchFilter {
        created_from: Some(neonhub_schema::time::now() - chrono::Duration::seconds(1000)),
        ..newest
    };
    let hits: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &query,
        &recent,
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(hits.len(), 10);
    assert!(
        hits.iter().all(|h| h.row.idx <= 1001),
        "time filter ignored"
    );

    for distance in [Distance::L2, Distance::InnerProduct] {
        let hits: Vec<Hit<Chunk>> = vector_search(
            &mut conn,
            &c.scope,
            VectorTable::Chunks,
            &c.space,
            &query,
            &SearchFilter::default(),
            &SearchOptions {
                distance,
                ..SearchOptions::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(hits.len(), 10, "{distance:?}");
        assert!(
            hits.windows(2).all(|w| w[0].distance <= w[1].distance),
            "{distance:?} not ordered"
        );
    }

    // A parent of another table: a column chunks do not have.
    let bad =
        SearchFilter::default().with(ParentFilter::Conversation(ConversationId::from_string("x")));
    let err = vector_search::<Chunk>(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &query,
        &bad,
        &SearchOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RagError::InvalidFilter(_)), "{err}");
    let err = vector_search::<Chunk>(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &Vector::from(vec![1.0; 3]),
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            RagError::DimensionMismatch {
                expected: 16,
                got: 3
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_are_local_and_skipped_when_default() {
    let q = query_vector(1.0);
    let scope = neonhub_schema::TenantScope::trusted_system(
        neonhub_schema::ids::OrganizationId::from_string("o"),
    );
    let space = EmbeddingSpace {
        id: neonhub_schema::ids::EmbeddingSpaceId::from_string("s"),
        organization_id: scope.organization_id().clone(),
        name: "s".into(),
        provider: "p".into(),
        model: "m".into(),
        dimension: DIMS,
        metadata: None,
        created_at: neonhub_schema::time::now(),
        updated_at: neonhub_schema::time::now(),
        text_search_config: "english".into(),
    };
    let stmt = |filter: &SearchFilter, options: &SearchOptions| {
        search_statement(&scope, VectorTable::Chunks, &space, &q, filter, options).unwrap()
    };
    assert_eq!(
        stmt(
            &SearchFilter::default(),
            &SearchOptions {
                ef_search: Some(DEFAULT_EF_SEARCH),
                probes: Some(DEFAULT_PROBES),
                ..SearchOptions::default()
            }
        )
        .settings,
        None
    );
    // Left to the library, ef_search is 20 x k within pgvector's 40..=1000.
    assert_eq!(
        stmt(&SearchFilter::default(), &SearchOptions::default())
            .settings
            .as_deref(),
        Some("SELECT set_config('hnsw.ef_search', '200', true)")
    );
    for (k, ef) in [
        (1, 40),
        (2, 40),
        (3, 60),
        (10, 200),
        (25, 500),
        (50, 1000),
        (500, 1000),
    ] {
        let options = SearchOptions {
            k,
            ..SearchOptions::default()
        };
        assert_eq!(options.effective_ef_search(), ef, "k = {k}");
    }
    let tuned = stmt(
        &SearchFilter::default(),
        &SearchOptions {
            ef_search: Some(200),
            probes: Some(10),
            ..SearchOptions::default()
        },
    );
    assert_eq!(
        tuned.settings.as_deref(),
        Some(
            "SELECT set_config('hnsw.ef_search', '200', true), set_config('ivfflat.probes', '10', true)"
        )
    );

    // Inside the search transaction the setting applies; after it, the session is untouched.
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    conn.batch_execute(&format!(r#"INSERT INTO organizations (id, slug, name, "updatedAt") VALUES ('o', 'o', 'o', now());
        INSERT INTO embedding_spaces (id, "organizationId", name, provider, model, dimension, "updatedAt") VALUES ('s', 'o', 's', 'p', 'm', {DIMS}, now());"#))
        .await
        .unwrap();
    let hits: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &scope,
        VectorTable::Chunks,
        &space,
        &q,
        &SearchFilter::default(),
        &SearchOptions {
            ef_search: Some(200),
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(hits.is_empty());
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let after: Setting = sql_query("SELECT current_setting('hnsw.ef_search') AS v")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        after.v,
        DEFAULT_EF_SEARCH.to_string(),
        "SET LOCAL leaked out of the transaction"
    );

    // A forged space value of another organization finds nothing: the SQL gate checks ownership.
    let other = neonhub_schema::TenantScope::trusted_system(
        neonhub_schema::ids::OrganizationId::from_string("intruder"),
    );
    let forged = EmbeddingSpace {
        organization_id: other.organization_id().clone(),
        ..space.clone()
    };
    conn.batch_execute(r#"INSERT INTO organizations (id, slug, name, "updatedAt") VALUES ('intruder', 'intruder', 'i', now())"#).await.unwrap();
    let stolen: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &other,
        VectorTable::Chunks,
        &forged,
        &q,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert!(stolen.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_3072_dimension_space_is_indexed_as_halfvec_and_searched() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let Tenant {
        scope,
        space,
        dataset,
        document,
        ..
    } = tenant_with(&mut conn, 3072).await;
    let vectors: Vec<Vector> = (0..40)
        .map(|i| {
            Vector::from(
                (0..3072)
                    .map(|d| ((i * 31 + d) as f32 * 0.013).sin())
                    .collect::<Vec<f32>>(),
            )
        })
        .collect();
    for (i, v) in vectors.iter().enumerate() {
        Chunk::create(
            &mut conn,
            &scope,
            &NewChunk {
                dataset_id: &dataset.id,
                document_id: &document.id,
                embedding_space_id: &space.id,
                idx: Some(i as i32),
                text: "x",
                embedding: Some(v),
                metadata: None,
            },
        )
        .await
        .unwrap();
    }
    let manager = IndexManager::new(db.url().clone());
    manager
        .create(&scope, &space.id, &cosine_hnsw(), |_| {})
        .await
        .unwrap();
    let index = manager
        .list(&scope, Some(&space.id))
        .await
        .unwrap()
        .remove(0);
    assert!(
        index
            .definition
            .contains("::halfvec(3072)) halfvec_cosine_ops"),
        "{}",
        index.definition
    );

    // 40 rows: the planner rightly prefers the btree on the space column; hidden, the plan
    // shows whether the halfvec index matches the query's expression and predicate.
    let statement = search_statement(
        &scope,
        VectorTable::Chunks,
        &space,
        &vectors[17],
        &SearchFilter::default(),
        &SearchOptions {
            k: 3,
            ..SearchOptions::default()
        },
    )
    .unwrap();
    let plan = plan_with_space_btree_hidden(&mut conn, &statement).await;
    assert!(uses(&plan, &index.name), "{plan}");
    let hits: Vec<Hit<Chunk>> = vector_search(
        &mut conn,
        &scope,
        VectorTable::Chunks,
        &space,
        &vectors[17],
        &SearchFilter::default(),
        &SearchOptions {
            k: 3,
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(hits[0].row.idx, 17);
    assert!(hits[0].distance < 1e-3, "{}", hits[0].distance);
}
