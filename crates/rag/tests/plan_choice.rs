//! `SearchPlan::Auto` chooses between the ANN index and an exact scan when the statement
//! runs: `EXPLAIN ANALYZE` shows which branch ran (the other is `never executed`), and the
//! hits of an exact choice equal SQL's exact ranking.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_rag::*;
use neonhub_schema::Vector;
use neonhub_schema::ids::{DocumentId, EmbeddingSpaceId};
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::rag::*;

const DIMS: i32 = 16;
/// Comfortably above both bounds, so a space or a parent this size is "large" to the choice.
const LARGE: i64 = if AUTO_EXACT_SPACE_ROWS > AUTO_EXACT_PARENT_ROWS {
    AUTO_EXACT_SPACE_ROWS
} else {
    AUTO_EXACT_PARENT_ROWS
} + 400;

/// `n` rows of `t`'s document (and of `document` when given), numbered from `from`.
async fn fill(
    conn: &mut AsyncPgConnection,
    t: &Tenant,
    document: Option<&DocumentId>,
    from: i64,
    n: i64,
) {
    conn.batch_execute(&format!(
        r#"SELECT setseed(0.{from}1);
           INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, "createdAt")
           SELECT '{sp}-' || g, '{ds}', '{doc}', '{sp}', g, 'chunk ' || g,
                  (SELECT array_agg(sin((g % 40) * 1.3 + d * 0.7) + (random() - 0.5) * 0.3 ORDER BY d)::real[]
                     FROM generate_series(1, {DIMS}) d)::vector, now()
           FROM generate_series({from}, {from} + {n} - 1) g"#,
        ds = t.dataset.id,
        doc = document.unwrap_or(&t.document.id),
        sp = t.space.id
    ))
    .await
    .unwrap();
}

async fn index(db: &TestDatabase, t: &Tenant) {
    cosine_hnsw_index(db.url(), &t.scope, &t.space.id).await;
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

/// Runs `statement` in its one-statement form under `EXPLAIN ANALYZE` (outside any
/// transaction, as a search runs), after `runs` plain runs of the same prepared statement
/// (so a cached generic plan is what gets explained when `generic`).
async fn analyzed(
    conn: &mut AsyncPgConnection,
    scope: &neonhub_schema::TenantScope,
    statement: &SearchStatement,
    generic: bool,
) -> String {
    let inline = statement.inline(scope);
    conn.batch_execute(&inline.prepare_sql("auto_plan"))
        .await
        .unwrap();
    if generic {
        conn.batch_execute("SET plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
    }
    let lines: Vec<PlanLine> = diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {}",
        inline.execute_sql("auto_plan")
    ))
    .load(conn)
    .await
    .unwrap();
    conn.batch_execute("DEALLOCATE auto_plan; RESET plan_cache_mode")
        .await
        .unwrap();
    lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which branch ran: the ANN index scan, or the exact one (the other never executed).
#[derive(Debug, PartialEq)]
enum Ran {
    Index,
    Exact,
}

fn ran(plan: &str) -> Ran {
    // Each branch sits under a gate on the plan row (`One-Time Filter: $n`); the scan below
    // a closed gate is `never executed`. The index branch comes first.
    let lines: Vec<&str> = plan.lines().collect();
    let opened: Vec<bool> = lines
        .windows(2)
        .filter(|w| {
            w[0].trim()
                .strip_prefix("One-Time Filter: $")
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|w| !w[1].contains("never executed"))
        .collect();
    match opened[..] {
        [true, false] => Ran::Index,
        [false, true] => Ran::Exact,
        _ => panic!("exactly one of two gated branches must run, got {opened:?}:\n{plan}"),
    }
}

/// Whether the plan scanned the space's ANN index.
fn scanned_ann_index(plan: &str) -> bool {
    plan.lines()
        .any(|l| l.contains("Index Scan using nh_vec_") && !l.contains("never executed"))
}

fn q(seed: f32) -> Vector {
    Vector::from(
        (1..=DIMS)
            .map(|d| (seed * 1.3 + d as f32 * 0.7).sin())
            .collect::<Vec<f32>>(),
    )
}

/// SQL's exact ranking of `space`'s rows (of `document` when given): no cast, so no ANN
/// index can serve it.
async fn truth(
    conn: &mut AsyncPgConnection,
    space: &EmbeddingSpaceId,
    document: Option<&DocumentId>,
    query: &Vector,
) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let document = document.map_or(String::new(), |d| format!(r#"AND "documentId" = '{d}'"#));
    diesel::sql_query(format!(
        r#"SELECT id FROM chunks WHERE "embeddingSpaceId" = '{space}' {document} AND embedding IS NOT NULL
           ORDER BY embedding <=> $1, id LIMIT 10"#
    ))
    .bind::<neonhub_schema::vector::sql_types::Vector, _>(query)
    .load::<Id>(conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.id)
    .collect()
}

fn ids(hits: &[Hit<Chunk>]) -> Vec<String> {
    hits.iter().map(|h| h.row.id.to_string()).collect()
}

/// A small space is ranked exactly, a large one through its index, and a large one whose
/// catalog estimate is stale (indexed while empty, filled since, never analyzed) through its
/// index too: the bounded count corrects the estimate. As the application role, under a
/// generic plan as well as custom ones.
#[tokio::test(flavor = "multi_thread")]
async fn the_space_size_chooses_between_exact_scan_and_index() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let large = tenant_with(&mut owner, DIMS).await;
    fill(&mut owner, &large, None, 1, LARGE).await;
    index(&db, &large).await;
    let small = Tenant::builder()
        .dimension(DIMS)
        .within(large.scope.clone(), large.user.clone())
        .build(&mut owner)
        .await;
    fill(&mut owner, &small, None, 1, 300).await;
    index(&db, &small).await;
    let stale = Tenant::builder()
        .dimension(DIMS)
        .within(large.scope.clone(), large.user.clone())
        .build(&mut owner)
        .await;
    index(&db, &stale).await;
    fill(&mut owner, &stale, None, 1, LARGE).await;

    let mut app = db.connect_as_app().await;
    // On 16-dimensional toy data a bitmap scan and a sort cost less than the HNSW index; off,
    // the index branch shows that it scans the index.
    app.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .await
        .unwrap();
    let scope = &large.scope;
    let query = q(3.0);
    for (t, expected) in [
        (&large, Ran::Index),
        (&small, Ran::Exact),
        (&stale, Ran::Index),
    ] {
        let statement = search_statement(
            scope,
            VectorTable::Chunks,
            &t.space,
            &query,
            &SearchFilter::default(),
            &SearchOptions::default(),
        )
        .unwrap();
        for generic in [false, true] {
            let plan = analyzed(&mut app, scope, &statement, generic).await;
            assert_eq!(ran(&plan), expected, "generic {generic}:\n{plan}");
            assert_eq!(scanned_ann_index(&plan), expected == Ran::Index, "{plan}");
        }
    }
    // The exact choice returns the exact top 10.
    let hits = Chunk::search(
        &mut app,
        scope,
        &small.space,
        &query,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&hits),
        truth(&mut owner, &small.space.id, None, &query).await
    );
    // Index and Exact are what they say whatever the size.
    for (plan, t, forbidden) in [
        (SearchPlan::Index, &small, "+ '0'"),
        (SearchPlan::Exact, &large, "nh_vec_"),
    ] {
        let statement = search_statement(
            scope,
            VectorTable::Chunks,
            &t.space,
            &query,
            &SearchFilter::default(),
            &SearchOptions {
                plan,
                ..SearchOptions::default()
            },
        )
        .unwrap();
        assert!(!statement.sql.contains("UNION ALL"), "{}", statement.sql);
        let shown = explain(&mut app, &statement).await.unwrap();
        assert!(!shown.contains(forbidden), "{plan:?}:\n{shown}");
    }
}

/// A document of 1 % of a large space is ranked exactly, found through its btree index, and
/// the hits are its exact top 10; the large document next to it goes through the ANN index.
#[tokio::test(flavor = "multi_thread")]
async fn a_selective_parent_filter_is_ranked_exactly_through_its_btree() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant_with(&mut owner, DIMS).await;
    let few = Document::create(
        &mut owner,
        &t.scope,
        &NewDocument {
            dataset_id: Some(&t.dataset.id),
            owner_id: &t.user,
            embedding_space_id: Some(&t.space.id),
            title: "few",
            content: "",
            status: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    fill(&mut owner, &t, None, 1, LARGE).await;
    fill(&mut owner, &t, Some(&few.id), LARGE + 1, LARGE / 100).await;
    index(&db, &t).await;
    owner.batch_execute("ANALYZE chunks").await.unwrap();

    let mut app = db.connect_as_app().await;
    let query = q(7.0);
    for (document, expected) in [(&few.id, Ran::Exact), (&t.document.id, Ran::Index)] {
        let filter = SearchFilter::default().with(ParentFilter::Document(document.clone()));
        let statement = search_statement(
            &t.scope,
            VectorTable::Chunks,
            &t.space,
            &query,
            &filter,
            &SearchOptions::default(),
        )
        .unwrap();
        let plan = analyzed(&mut app, &t.scope, &statement, false).await;
        assert_eq!(ran(&plan), expected, "{plan}");
        if expected == Ran::Exact {
            assert!(plan.contains("chunks_documentId_idx"), "{plan}");
        }
        let hits = Chunk::search(
            &mut app,
            &t.scope,
            &t.space,
            &query,
            &filter,
            &SearchOptions::default(),
        )
        .await
        .unwrap();
        let expected_ids = truth(&mut owner, &t.space.id, Some(document), &query).await;
        if expected == Ran::Exact {
            assert_eq!(ids(&hits), expected_ids);
        } else {
            let found = ids(&hits)
                .iter()
                .filter(|id| expected_ids.contains(id))
                .count();
            assert!(found >= 8, "recall {found}/10 through the index");
        }
    }
}

/// The choice reads the organization's rows only after the statement's tenant settings:
/// another organization's search of this space finds nothing, whatever the plan.
#[tokio::test(flavor = "multi_thread")]
async fn another_organizations_search_finds_nothing_under_either_choice() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant_with(&mut owner, DIMS).await;
    fill(&mut owner, &t, None, 1, 50).await;
    let other = tenant_with(&mut owner, DIMS).await;
    let mut app = db.connect_as_app().await;
    let forged = EmbeddingSpace {
        organization_id: other.scope.organization_id().clone(),
        ..t.space.clone()
    };
    for plan in [SearchPlan::Auto, SearchPlan::Index, SearchPlan::Exact] {
        let options = SearchOptions {
            plan,
            ..SearchOptions::default()
        };
        let hits = Chunk::search(
            &mut app,
            &other.scope,
            &forged,
            &q(1.0),
            &SearchFilter::default(),
            &options,
        )
        .await
        .unwrap();
        assert!(hits.is_empty(), "{plan:?}: {} rows", hits.len());
        let own = Chunk::search(
            &mut app,
            &t.scope,
            &t.space,
            &q(1.0),
            &SearchFilter::default(),
            &options,
        )
        .await
        .unwrap();
        assert_eq!(own.len(), 10, "{plan:?}");
    }
}

/// How many times the connection ran the search statement whose text matches `like` (the
/// plan cache counts every run as a generic or a custom plan).
async fn runs(conn: &mut AsyncPgConnection, like: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Runs {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT coalesce(sum(generic_plans + custom_plans), 0)::int8 AS n
           FROM pg_prepared_statements
          WHERE statement LIKE '%<=>%' AND statement NOT LIKE '%pg_prepared_statements%' AND {like}"
    ))
    .get_result::<Runs>(conn)
    .await
    .unwrap()
    .n
}

/// `Auto` remembers its choice per space: the next search sends the chosen branch alone,
/// with the same exact hits. The memory outlives a change of size until it is forgotten
/// (or expires), and then the statement decides again from the database.
#[tokio::test(flavor = "multi_thread")]
async fn auto_remembers_its_choice_and_sends_that_branch_alone() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant_with(&mut owner, DIMS).await;
    fill(&mut owner, &t, None, 1, 300).await;
    index(&db, &t).await;
    // A direct connection: its prepared statements are the server's to inspect.
    let mut conn = db.connect().await;
    let query = q(5.0);
    let auto = "statement LIKE 'WITH nh_plan%'";
    let exact_alone = "statement NOT LIKE 'WITH nh_plan%' AND statement LIKE '%+ 0%'";
    let index_alone = "statement NOT LIKE 'WITH nh_plan%' AND statement NOT LIKE '%+ 0%'";
    let mut counts = Vec::new();
    for step in 0..5 {
        if step == 2 {
            // The space grows past the bound and its index estimate says so.
            fill(&mut owner, &t, None, 1_000, LARGE).await;
            owner.batch_execute("VACUUM ANALYZE chunks").await.unwrap();
        }
        if step == 3 {
            forget_plan_choices();
        }
        let hits = Chunk::search(
            &mut conn,
            &t.scope,
            &t.space,
            &query,
            &SearchFilter::default(),
            &SearchOptions::default(),
        )
        .await
        .unwrap();
        if step < 3 {
            assert_eq!(
                ids(&hits),
                truth(&mut owner, &t.space.id, None, &query).await,
                "step {step}: the exact top 10"
            );
        } else {
            assert_eq!(hits.len(), 10);
        }
        counts.push((
            runs(&mut conn, auto).await,
            runs(&mut conn, exact_alone).await,
            runs(&mut conn, index_alone).await,
        ));
    }
    assert_eq!(
        counts,
        [
            (1, 0, 0), // decided: exact
            (1, 1, 0), // remembered: the exact branch alone
            (1, 2, 0), // still remembered, though the space is large now
            (2, 2, 0), // forgotten: decided again, the index this time
            (2, 2, 1), // remembered: the index branch alone
        ]
    );
}
