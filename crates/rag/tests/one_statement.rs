//! A search outside a transaction is one statement carrying its own settings (tenant and
//! pgvector), applied before the index is scanned, gone after it; hits leave the embedding
//! on the server unless asked.

use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::sql_types::{Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_rag::*;
use neonhub_schema::Vector;
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::rag::*;

const ROWS: i64 = 2_000;
const DIMS: i32 = 16;

struct Corpus {
    db: TestDatabase,
    scope: neonhub_schema::TenantScope,
    user: neonhub_schema::ids::UserId,
    space: EmbeddingSpace,
    index: String,
}

async fn corpus() -> Corpus {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let t = tenant_with(&mut conn, DIMS).await;
    conn.batch_execute(&format!(
        r#"SELECT setseed(0.42);
           INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, metadata, "createdAt")
           SELECT 'c' || g, '{ds}', '{doc}', '{sp}', g, 'chunk ' || g,
                  (SELECT array_agg(sin((g % 50) * 1.7 + d * 0.9) + (random() - 0.5) * 0.2 ORDER BY d)::real[]
                     FROM generate_series(1, {DIMS}) d)::vector,
                  jsonb_build_object('bucket', g % 10), now()
           FROM generate_series(1, {ROWS}) g;
           ANALYZE chunks;"#,
        ds = t.dataset.id,
        doc = t.document.id,
        sp = t.space.id
    ))
    .await
    .unwrap();
    let index = cosine_hnsw_index(db.url(), &t.scope, &t.space.id).await;
    Corpus {
        db,
        scope: t.scope,
        user: t.user,
        space: t.space,
        index,
    }
}

fn query_vector(seed: f32) -> Vector {
    Vector::from(
        (1..=DIMS)
            .map(|d| (seed * 1.7 + d as f32 * 0.9).sin())
            .collect::<Vec<f32>>(),
    )
}

/// What the client sends, as diesel reports it: each statement, and transaction control.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<String>>>);

impl Instrumentation for Sent {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let line = match event {
            InstrumentationEvent::StartQuery { query, .. } => query.to_string(),
            InstrumentationEvent::BeginTransaction { .. } => "BEGIN".to_owned(),
            InstrumentationEvent::CommitTransaction { .. } => "COMMIT".to_owned(),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

impl Sent {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(QueryableByName)]
struct Settings {
    #[diesel(sql_type = Nullable<Text>)]
    org: Option<String>,
    #[diesel(sql_type = Text)]
    ef: String,
}

async fn settings(conn: &mut AsyncPgConnection) -> (Option<String>, String) {
    let s: Settings = sql_query(
        "SELECT nullif(current_setting('app.current_org', true), '') AS org, current_setting('hnsw.ef_search') AS ef",
    )
    .get_result(conn)
    .await
    .unwrap();
    (s.org, s.ef)
}

fn ids(hits: &[Hit<Chunk>]) -> Vec<String> {
    hits.iter().map(|h| h.row.id.to_string()).collect()
}

/// An unfiltered search of the corpus's space with `options`.
async fn search(
    conn: &mut AsyncPgConnection,
    c: &Corpus,
    q: &Vector,
    options: &SearchOptions,
) -> Vec<Hit<Chunk>> {
    Chunk::search(
        conn,
        &c.scope,
        &c.space,
        q,
        &SearchFilter::default(),
        options,
    )
    .await
    .unwrap()
}

/// As the application role, outside a transaction: a search is one statement (no BEGIN,
/// no settings statement, no COMMIT), row-level security sees the organization, and the
/// settings are gone afterwards; inside a transaction it takes the scope's path, with the
/// same hits.
#[tokio::test(flavor = "multi_thread")]
async fn outside_a_transaction_a_search_is_one_statement_and_leaves_no_setting() {
    let c = corpus().await;
    let mut conn = c.db.connect_as_app().await;
    let sent = Sent::default();
    conn.set_instrumentation(sent.clone());
    let q = query_vector(3.0);
    let options = SearchOptions::default();
    let filter = SearchFilter::default();
    for _ in 0..2 {
        // Warm up: the first run on a connection prepares the statement.
        search(&mut conn, &c, &q, &options).await;
    }
    sent.take();
    let hits = search(&mut conn, &c, &q, &options).await;
    let statements = sent.take();
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(
        statements[0].contains("set_config('app.current_org'"),
        "{}",
        statements[0]
    );
    assert!(statements[0].contains("set_config('hnsw.ef_search', '200', true)"));
    assert_eq!(hits.len(), 10, "row-level security saw the organization");
    assert_eq!(
        settings(&mut conn).await,
        (None, "40".to_owned()),
        "nothing outlives it"
    );

    let in_tx = conn
        .transaction(async |tx| {
            Chunk::search(tx, &c.scope, &c.space, &q, &filter, &options)
                .await
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
        })
        .await
        .unwrap();
    let statements = sent.take();
    assert!(statements.len() > 3, "the scope's path: {statements:#?}");
    assert_eq!(ids(&in_tx), ids(&hits));
}

/// The settings run before the index is read: the plan gates the scan on them (a
/// One-Time Filter above the Index Scan), and an `ef_search` of 1 really limits HNSW to
/// one candidate, where 100 gives k.
#[tokio::test(flavor = "multi_thread")]
async fn the_settings_take_effect_before_the_index_is_scanned() {
    let c = corpus().await;
    let mut conn = c.db.connect_as_app().await;
    let q = query_vector(7.0);
    let statement = search_statement(
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &q,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .unwrap()
    .inline(&c.scope);
    assert_eq!(statement.settings, None);
    let plan = explain(&mut conn, &statement).await.unwrap();
    let gate = plan.find("One-Time Filter").expect(&plan);
    let scan = plan
        .find(&format!("Index Scan using {}", c.index))
        .expect(&plan);
    assert!(gate < scan, "{plan}");

    let run = |ef: u32| SearchOptions {
        ef_search: Some(ef),
        iterative_scan: Some(IterativeScan::Off),
        ..SearchOptions::default()
    };
    let one = search(&mut conn, &c, &q, &run(1)).await;
    assert_eq!(
        one.len(),
        1,
        "hnsw.ef_search = 1 was in effect for the scan"
    );
    let hundred = search(&mut conn, &c, &q, &run(100)).await;
    assert_eq!(hundred.len(), 10);
}

/// The database still guards the tenant in the one-statement form: a space value forged
/// to look like another organization's finds nothing, and that organization's own scope
/// finds none of these rows.
#[tokio::test(flavor = "multi_thread")]
async fn the_one_statement_form_keeps_the_tenant_guard() {
    let c = corpus().await;
    let mut owner = c.db.connect().await;
    let other = tenant_with(&mut owner, DIMS).await;
    let mut conn = c.db.connect_as_app().await;
    let q = query_vector(1.0);
    let forged = EmbeddingSpace {
        organization_id: other.scope.organization_id().clone(),
        ..c.space.clone()
    };
    let hits = Chunk::search(
        &mut conn,
        &other.scope,
        &forged,
        &q,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        hits.is_empty(),
        "{} rows of another organization",
        hits.len()
    );
    let own = search(&mut conn, &c, &q, &SearchOptions::default()).await;
    assert_eq!(own.len(), 10);
}

/// Hits carry no embedding unless asked; asked, it is the stored vector.
#[tokio::test(flavor = "multi_thread")]
async fn hits_carry_the_embedding_only_when_asked() {
    let c = corpus().await;
    let mut conn = c.db.connect_as_app().await;
    let q = query_vector(5.0);
    let plain = search(&mut conn, &c, &q, &SearchOptions::default()).await;
    assert!(!plain.is_empty());
    assert!(plain.iter().all(|h| h.row.embedding.is_none()));
    let with = search(
        &mut conn,
        &c,
        &q,
        &SearchOptions {
            with_embedding: true,
            ..SearchOptions::default()
        },
    )
    .await;
    assert_eq!(ids(&with), ids(&plain));
    let stored = Chunk::get(&mut conn, &c.scope, &with[0].row.id)
        .await
        .unwrap();
    assert_eq!(with[0].row.embedding, stored.embedding);
    assert_eq!(
        with[0].row.embedding.as_ref().map(|v| v.as_slice().len()),
        Some(DIMS as usize)
    );
}

/// A row type of the caller's own with two fields: only those columns are selected, the
/// hits match `Chunk::search`'s; an unknown or empty column list is a typed error, and so is
/// one for hybrid search, whose hits are whole chunks (without their embedding unless
/// asked).
#[tokio::test(flavor = "multi_thread")]
async fn hits_carry_the_columns_asked_for() {
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Slim {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        text: String,
    }
    let c = corpus().await;
    let mut conn = c.db.connect_as_app().await;
    let q = query_vector(6.0);
    let slim_options = SearchOptions {
        columns: Some(vec!["id".to_owned(), "text".to_owned()]),
        ..SearchOptions::default()
    };
    let statement = search_statement(
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &q,
        &SearchFilter::default(),
        &slim_options,
    )
    .unwrap();
    for absent in [
        "t.\"metadata\"",
        "t.\"embedding\"",
        "AS embedding",
        "t.\"createdAt\"",
    ] {
        assert!(
            !statement.sql.contains(absent),
            "{absent}: {}",
            statement.sql
        );
    }
    let slim: Vec<Hit<Slim>> = vector_search(
        &mut conn,
        &c.scope,
        VectorTable::Chunks,
        &c.space,
        &q,
        &SearchFilter::default(),
        &slim_options,
    )
    .await
    .unwrap();
    let full = search(&mut conn, &c, &q, &SearchOptions::default()).await;
    assert_eq!(slim.len(), 10);
    assert_eq!(
        slim.iter()
            .map(|h| (h.row.id.clone(), h.row.text.clone()))
            .collect::<Vec<_>>(),
        full.iter()
            .map(|h| (h.row.id.to_string(), h.row.text.clone()))
            .collect::<Vec<_>>()
    );
    for columns in [vec!["id".to_owned(), "secret".to_owned()], Vec::new()] {
        let err = vector_search::<Slim>(
            &mut conn,
            &c.scope,
            VectorTable::Chunks,
            &c.space,
            &q,
            &SearchFilter::default(),
            &SearchOptions {
                columns: Some(columns.clone()),
                ..SearchOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                RagError::InvalidOption {
                    option: "columns",
                    ..
                }
            ),
            "{columns:?}: {err}"
        );
    }
    let hybrid = |search: SearchOptions| HybridOptions {
        search,
        ..HybridOptions::default()
    };
    let err = Chunk::hybrid_search(
        &mut conn,
        &c.scope,
        &c.space,
        &q,
        "chunk",
        &SearchFilter::default(),
        &hybrid(slim_options.clone()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            RagError::InvalidOption {
                option: "columns",
                ..
            }
        ),
        "{err}"
    );
    let fused = Chunk::hybrid_search(
        &mut conn,
        &c.scope,
        &c.space,
        &q,
        "chunk",
        &SearchFilter::default(),
        &hybrid(SearchOptions::default()),
    )
    .await
    .unwrap();
    assert!(!fused.is_empty());
    assert!(fused.iter().all(|h| h.chunk.embedding.is_none()));
    let fused = Chunk::hybrid_search(
        &mut conn,
        &c.scope,
        &c.space,
        &q,
        "chunk",
        &SearchFilter::default(),
        &hybrid(SearchOptions {
            with_embedding: true,
            ..SearchOptions::default()
        }),
    )
    .await
    .unwrap();
    assert!(fused.iter().all(|h| h.chunk.embedding.is_some()));
}

/// The column lists searches select match the live catalog, table by table.
#[tokio::test(flavor = "multi_thread")]
async fn the_searched_tables_column_lists_match_the_catalog() {
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = Text)]
        column_name: String,
    }
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    for table in VectorTable::ALL {
        let live: Vec<Column> = sql_query(
            "SELECT column_name::text AS column_name FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table.name())
        .load(&mut conn)
        .await
        .unwrap();
        // "searchVector" is kept by the server for hybrid search and never selected.
        let live: Vec<String> = live
            .into_iter()
            .map(|c| c.column_name)
            .filter(|c| c != "searchVector")
            .collect();
        assert_eq!(live, table.columns(), "{}", table.name());
    }
}

/// `SearchPlan::Exact` on a small dataset of a large space: the rows come through the dataset's
/// btree index, not the HNSW index, and the hits are the exact top k.
#[tokio::test(flavor = "multi_thread")]
async fn an_exact_search_ranks_a_small_dataset_exactly_through_its_btree_index() {
    let c = corpus().await;
    let mut owner = c.db.connect().await;
    let small = Dataset::create(
        &mut owner,
        &c.scope,
        &NewDataset {
            embedding_space_id: Some(&c.space.id),
            name: "Small",
            slug: "small",
            kind: neonhub_schema::enums::DatasetKind::Documents,
            description: None,
            source: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let doc = Document::create(
        &mut owner,
        &c.scope,
        &NewDocument {
            dataset_id: Some(&small.id),
            owner_id: &c.user,
            embedding_space_id: Some(&c.space.id),
            title: "small",
            content: "",
            status: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    owner
        .batch_execute(&format!(
            r#"SELECT setseed(0.7);
               INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, "createdAt")
               SELECT 's' || g, '{ds}', '{doc}', '{sp}', g, 'small ' || g,
                      (SELECT array_agg(sin((g % 50) * 1.7 + d * 0.9) + (random() - 0.5) * 0.4 ORDER BY d)::real[]
                         FROM generate_series(1, {DIMS}) d)::vector, now()
               FROM generate_series(1, 20) g;
               ANALYZE chunks;"#,
            ds = small.id,
            doc = doc.id,
            sp = c.space.id
        ))
        .await
        .unwrap();
    let q = query_vector(11.0);
    let filter = SearchFilter::default().with(ParentFilter::Dataset(small.id.clone()));
    let exact = SearchOptions {
        plan: SearchPlan::Exact,
        ..SearchOptions::default()
    };
    let statement = search_statement(&c.scope, VectorTable::Chunks, &c.space, &q, &filter, &exact)
        .unwrap()
        .inline(&c.scope);
    let mut conn = c.db.connect_as_app().await;
    let plan = explain(&mut conn, &statement).await.unwrap();
    assert!(!plan.contains(&c.index), "{plan}");
    assert!(plan.contains("chunks_datasetId_idx_key"), "{plan}");
    assert!(
        !statement.sql.contains("hnsw.ef_search"),
        "{}",
        statement.sql
    );

    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let truth: Vec<Id> = sql_query(
        r#"SELECT id FROM chunks WHERE "datasetId" = $1 ORDER BY embedding <=> $2, id LIMIT 10"#,
    )
    .bind::<Text, _>(small.id.as_str())
    .bind::<neonhub_schema::vector::sql_types::Vector, _>(&q)
    .load(&mut owner)
    .await
    .unwrap();
    let truth: Vec<String> = truth.into_iter().map(|r| r.id).collect();
    let hits = Chunk::search(&mut conn, &c.scope, &c.space, &q, &filter, &exact)
        .await
        .unwrap();
    assert_eq!(ids(&hits), truth, "the exact top 10");
}

#[derive(QueryableByName)]
struct PlanCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    custom_plans: i64,
}

/// PostgreSQL's plan cache keeps one generic plan for a repeated search instead of planning
/// every run again (the query vector is an uncast parameter and k a literal, so a generic
/// plan costs what a custom one does; the automatic plan choice happens at run time either
/// way), with and without a parent filter.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_search_runs_on_the_plan_caches_generic_plan() {
    // Enough rows that a per-row cost difference between the generic and the custom plan
    // outweighs what PostgreSQL charges a custom plan for planning (no ANN index: the
    // branches are planned, and the choice is made, all the same).
    let db = TestDatabase::migrated().await;
    // A direct connection: its prepared statements are the server's to inspect.
    let mut conn = db.connect().await;
    let t = tenant_with(&mut conn, DIMS).await;
    conn.batch_execute(&format!(
        r#"INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, "createdAt")
           SELECT 'g' || g, '{ds}', '{doc}', '{sp}', g, 'chunk ' || g,
                  array_fill(sin(g)::real, ARRAY[{DIMS}])::vector, now()
           FROM generate_series(1, 40000) g;
           ANALYZE chunks;"#,
        ds = t.dataset.id,
        doc = t.document.id,
        sp = t.space.id
    ))
    .await
    .unwrap();
    let c = Corpus {
        db,
        scope: t.scope,
        user: t.user,
        space: t.space,
        index: String::new(),
    };
    let dataset = t.dataset;
    // The self-deciding statement (its choice forgotten before each run, so it runs every
    // time), then the branch it chose, sent alone while the choice is remembered.
    for remembered in [false, true] {
        for filter in [
            SearchFilter::default(),
            SearchFilter::default().with(ParentFilter::Dataset(dataset.id.clone())),
        ] {
            for i in 0..12 {
                if !remembered {
                    forget_plan_choices();
                }
                let hits = Chunk::search(
                    &mut conn,
                    &c.scope,
                    &c.space,
                    &query_vector(i as f32),
                    &filter,
                    &SearchOptions::default(),
                )
                .await
                .unwrap();
                assert_eq!(hits.len(), 10);
            }
            let counts: PlanCounts = sql_query(format!(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements
                 WHERE statement LIKE '%<=>%' AND statement NOT LIKE '%pg_prepared_statements%'
                   AND statement {} LIKE 'WITH nh_plan%'
                   AND statement {} LIKE '%\"datasetId\" = $%'
                 ORDER BY prepare_time DESC LIMIT 1",
                if remembered { "NOT" } else { "" },
                if filter.is_empty() { "NOT" } else { "" }
            ))
            .get_result(&mut conn)
            .await
            .unwrap();
            // Five custom plans first (PostgreSQL's rule), the generic plan from then on.
            assert!(
                counts.generic_plans >= 6 && counts.custom_plans <= 6,
                "generic {} / custom {} (filtered: {}, remembered: {remembered})",
                counts.generic_plans,
                counts.custom_plans,
                !filter.is_empty()
            );
        }
    }
}
