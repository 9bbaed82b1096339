//! `neonhub verify` and `neonhub up`: figures computed from the database, failures named.

use std::process::{Command, Output};

use diesel_async::SimpleAsyncConnection;
use neonhub_cli::verify::verify;
use neonhub_testing::TestDatabase;

fn neonhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migrated_database_reports_the_true_figures() {
    let db = TestDatabase::migrated().await;
    let report = verify(&mut db.connect().await, false).await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    // The reference's true statistics (its README), computed from the live catalog.
    let figures = (
        report.tables,
        report.tables_with_foreign_keys,
        report.tables_with_unique_indexes,
        report.tables_with_other_indexes,
        report.tables_with_any_secondary_index,
        report.tables_with_jsonb,
        report.jsonb_columns,
        report.tables_with_vectors,
    );
    // The reference's 44 tables with non-unique indexes and 64 with any secondary index,
    // plus the three (content_drafts, feedback, team_members) whose first non-unique index
    // is the organizationId index row-level security needs (migration policy_indexes);
    // and the job queue's (migration agent_job_queue): agent_jobs gains a unique index
    // (its unique key) and a jsonb column (`errors`).
    assert_eq!(figures, (75, 69, 36, 47, 67, 56, 79, 4));
    assert!(report.migrations_pending.is_empty());
    // Unseeded: counts are reported, but only --expect-seed turns them into expectations.
    assert!(report.seeded_tables.iter().all(|t| t.rows == 0));
    let expecting = verify(&mut db.connect().await, true).await.unwrap();
    assert_eq!(expecting.failures.len(), 13, "{:?}", expecting.failures);
    assert!(
        expecting
            .failures
            .contains(&"connectors holds 0 rows, the seed creates 16".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_broken_expectation_is_named() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"DROP EXTENSION "uuid-ossp";
           DROP TABLE verification_tokens;
           DELETE FROM __diesel_schema_migrations;"#,
    )
    .await
    .unwrap();
    let report = verify(&mut conn, false).await.unwrap();
    let mut expected = vec!["extension uuid-ossp is not installed".to_owned()];
    // Every migration of this build is pending once the bookkeeping rows are gone.
    let pending = neonhub_schema::migrate::status_on(&mut conn)
        .await
        .unwrap()
        .pending;
    assert!(pending.len() >= 2, "{pending:?}");
    expected.extend(pending.iter().map(|m| format!("migration {m} is pending")));
    expected.push("74 tables, expected 75".to_owned());
    assert_eq!(report.failures, expected);
    let out = neonhub(&["verify", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("extension uuid-ossp is not installed") && stderr.contains("74 tables"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED 74 tables, expected 75"));
}

#[tokio::test(flavor = "multi_thread")]
async fn up_migrates_seeds_and_verifies_and_no_seed_skips_the_demo_rows() {
    let db = TestDatabase::empty().await;
    let url = db.url_string();
    let out = neonhub(&["up", "--database-url", &url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let order: Vec<usize> = [
        "applied 00000000000000_baseline",
        "seed: 52 row(s) created",
        "verify: ok",
    ]
    .iter()
    .map(|s| {
        stdout
            .find(s)
            .unwrap_or_else(|| panic!("{s} missing in {stdout}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order: {stdout}"
    );

    let again = neonhub(&["up", "--database-url", &url, "--json"]);
    assert_eq!(again.status.code(), Some(0));
    // --json: one JSON document and nothing else on stdout.
    let json: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(json["migrations_applied"], serde_json::json!([]));
    let seeded = json["seed"]["tables"].as_array().unwrap();
    assert_eq!(
        seeded
            .iter()
            .map(|t| t["existing"].as_u64().unwrap())
            .sum::<u64>(),
        52
    );
    assert_eq!(json["verify"]["tables"], 75);
    assert_eq!(json["verify"]["failures"], serde_json::json!([]));

    let bare = TestDatabase::empty().await;
    let out = neonhub(&["up", "--no-seed", "--database-url", &bare.url_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = verify(&mut bare.connect().await, false).await.unwrap();
    assert!(
        report.seeded_tables.iter().all(|t| t.rows == 0),
        "--no-seed seeded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_without_pgvector_fails_naming_it() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    // The vector columns depend on the type: CASCADE drops them with it.
    conn.batch_execute("DROP EXTENSION vector CASCADE")
        .await
        .unwrap();
    let report = verify(&mut conn, false).await.unwrap();
    assert_eq!(
        report.failures,
        vec!["extension vector is not installed".to_owned()]
    );
    assert_eq!(report.tables_with_vectors, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_is_not_neonhub_fails_naming_why() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    conn.batch_execute("CREATE TABLE invoices_of_someone_else (id int primary key)")
        .await
        .unwrap();
    let report = verify(&mut conn, false).await.unwrap();
    for expected in [
        "extension citext is not installed",
        "extension uuid-ossp is not installed",
        "extension vector is not installed",
        "migration 00000000000000_baseline is pending",
        "1 tables, expected 75",
    ] {
        assert!(
            report.failures.contains(&expected.to_owned()),
            "{expected:?} not in {:?}",
            report.failures
        );
    }
    let out = neonhub(&["verify", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(1));
}
