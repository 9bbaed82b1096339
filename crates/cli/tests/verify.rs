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
    // And billing's (migration budget_ledger): two tables, budget_reservations (foreign keys,
    // non-unique indexes) and budget_requests (a foreign key, a jsonb request and receipt);
    // unique indexes on budget_transactions (campaign, sequence) and payouts' transfer id.
    // And CRM erasure's (migration crm_erasure): person_suppressions (a foreign key, a unique
    // index on its hash); its other indexes go to tables that had non-unique ones already.
    // And campaigns' (migration campaigns): a unique index on social_posts' external id.
    // And the search parents' (migrations 20261202*): brand_voices' first secondary index
    // ("brandId"); chunks and messages had non-unique ones already.
    // And the narrow copy of chunks' tsvectors (migration chunk_search_vectors): a table
    // without foreign keys (its triggers keep it exact) whose one secondary index is its GIN.
    assert_eq!(figures, (79, 72, 40, 50, 71, 57, 81, 4));
    assert_eq!(report.money_checks.len(), 8);
    assert!(report.money_checks.iter().all(|c| c.validated));
    assert!(report.ledger.is_empty());
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
    expected.push("78 tables, expected 79".to_owned());
    assert_eq!(report.failures, expected);
    let out = neonhub(&["verify", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("extension uuid-ossp is not installed") && stderr.contains("78 tables"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED 78 tables, expected 79"));
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
    assert_eq!(json["verify"]["tables"], 79);
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
        "1 tables, expected 79",
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

#[tokio::test(flavor = "multi_thread")]
async fn legacy_floats_and_a_broken_ledger_are_reported() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    // An adopted database: a profile holding 12.345 USD spent (not whole cents), written
    // before the check existed (so the check is NOT VALID), and a ledger that does not sum.
    conn.batch_execute(
        r#"DO $$ DECLARE def text; BEGIN
             SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint WHERE conname = 'budget_profiles_money_check';
             ALTER TABLE budget_profiles DROP CONSTRAINT budget_profiles_money_check;
             INSERT INTO organizations (id, slug, name, "createdAt", "updatedAt") VALUES ('org-legacy', 'legacy', 'Legacy', now(), now());
             INSERT INTO budget_profiles (id, "organizationId", name, currency, spent, reserved, "updatedAt")
                  VALUES ('bp-float', 'org-legacy', 'floats', 'usd', 12.345, 0, now()),
                         ('bp-short', 'org-legacy', 'short', 'usd', 5, 0, now());
             INSERT INTO budget_ledger (id, "organizationId", "budgetProfileId", "entryType", amount, currency, "spentDelta", "reservedDelta")
                  VALUES ('e1', 'org-legacy', 'bp-short', 'spend', 4, 'usd', 400, 0);
             EXECUTE format('ALTER TABLE budget_profiles ADD CONSTRAINT budget_profiles_money_check %s NOT VALID', def);
           END $$;"#,
    )
    .await
    .unwrap();
    let report = verify(&mut conn, false).await.unwrap();
    let check = report
        .money_checks
        .iter()
        .find(|c| c.constraint == "budget_profiles_money_check")
        .unwrap();
    assert!(!check.validated);
    assert_eq!(check.violating_rows, 1);
    assert_eq!(
        report.money_checks.iter().filter(|c| !c.validated).count(),
        1
    );
    assert_eq!(
        report.failures,
        vec![
            "budget ledger of organization org-legacy: profile bp-float: a balance is not whole minor units of an ISO 4217 currency".to_owned(),
            "budget ledger of organization org-legacy: profile bp-short: spent is 500 but its entries sum to 400 (minor units)".to_owned(),
        ]
    );
    let shown = report.to_string();
    assert!(
        shown.contains(
            "budget_profiles.budget_profiles_money_check: NOT VALID, 1 row(s) would not validate"
        ),
        "{shown}"
    );
    assert!(
        shown.contains(
            "ALTER TABLE public.budget_profiles VALIDATE CONSTRAINT \"budget_profiles_money_check\""
        ),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_says_whether_secrets_can_be_sealed() {
    let db = TestDatabase::migrated().await;
    let run = |keys: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_neonhub"));
        cmd.args(["verify", "--json", "--database-url", &db.url_string()]);
        cmd.env_remove("DATABASE_URL")
            .env_remove("DIRECT_DATABASE_URL");
        match keys {
            Some(k) => cmd.env("NEONHUB_SECRET_KEYS", k),
            None => cmd.env_remove("NEONHUB_SECRET_KEYS"),
        };
        let out = cmd.output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["secret_keys"].clone()
    };
    let key = neonhub_schema::seal::SecretKeys::generate_key();
    let both = run(Some(&format!("new:{key},old:{key}")));
    assert_eq!(both["ids"], serde_json::json!(["new", "old"]));
    assert!(both["problem"].is_null());
    let none = run(None);
    assert!(
        none["problem"]
            .as_str()
            .unwrap()
            .contains("NEONHUB_SECRET_KEYS"),
        "{none}"
    );
    let bad = run(Some("k1:short"));
    assert!(bad["problem"].as_str().unwrap().contains("k1"), "{bad}");
    assert!(!bad.to_string().contains(&key));
}
