//! `neonhub drift` and `neonhub adopt` against real databases.

use std::process::{Command, Output};

use diesel::sql_types::{Jsonb, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_cli::drift::drift_of;
use neonhub_testing::TestDatabase;

const BASELINE_UP: &str = include_str!("../../schema/migrations/00000000000000_baseline/up.sql");

fn neonhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_database_has_no_drift_even_with_managed_vector_indexes() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    assert!(drift_of(&mut conn).await.unwrap().differences.is_empty());
    conn.batch_execute(
        r#"CREATE INDEX nh_vec_chunks_demo_cos ON chunks USING hnsw ((embedding::vector(3)) vector_cosine_ops)
           WHERE "embeddingSpaceId" = 'demo-space'"#,
    )
    .await
    .unwrap();
    let report = drift_of(&mut conn).await.unwrap();
    assert!(report.differences.is_empty(), "{report}");
    assert_eq!(
        report.managed_indexes,
        vec!["chunks.nh_vec_chunks_demo_cos".to_owned()]
    );
    let out = neonhub(&["drift", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("drift: none"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout)
            .contains("managed vector indexes (not drift): chunks.nh_vec_chunks_demo_cos")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_names_each_kind_of_change() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"ALTER TABLE chunks ALTER COLUMN idx TYPE bigint;
           DROP INDEX "chunks_embeddingSpaceId_idx";
           ALTER TYPE "DatasetKind" ADD VALUE 'spreadsheet';
           CREATE TABLE shadow_copy (id text primary key);
           DROP EXTENSION "uuid-ossp";
           CREATE INDEX not_managed_idx ON users (name);"#,
    )
    .await
    .unwrap();
    let report = drift_of(&mut conn).await.unwrap();
    let found: Vec<String> = report.differences.iter().map(ToString::to_string).collect();
    for expected in [
        "changed column chunks.idx: type bigint, expected integer",
        "missing index chunks_embeddingSpaceId_idx on chunks",
        "changed enum type DatasetKind",
        "extra table shadow_copy",
        "missing extension uuid-ossp",
        "extra index not_managed_idx on users",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(expected)),
            "{expected:?} not in:\n{}",
            found.join("\n")
        );
    }
    assert_eq!(found.len(), 6, "{}", found.join("\n"));

    let out = neonhub(&["drift", "--json", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["differences"].as_array().unwrap().len(), 6);
    assert_eq!(
        json["differences"][0]["kind"]
            .as_str()
            .map(|k| ["missing", "extra", "changed"].contains(&k)),
        Some(true)
    );
    assert!(
        text(&out.stderr).starts_with("error: drift: 6 difference(s)"),
        "{}",
        text(&out.stderr)
    );
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = Jsonb)]
    rows: serde_json::Value,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

const DATA_TABLES: &[&str] = &[
    "organizations",
    "users",
    "organization_members",
    "personas",
    "keywords",
    "connectors",
    "brands",
];

async fn all_rows(conn: &mut AsyncPgConnection) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for t in DATA_TABLES {
        let sql = format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.id::text), '[]') AS rows FROM {t} x"
        );
        out.push(sql_query(sql).get_result::<Rows>(conn).await.unwrap().rows);
    }
    out
}

/// A database as NeonHub's tooling left it: the baseline applied outside our runner, with data.
async fn neonhub_built(without_uuid_ossp: bool) -> TestDatabase {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    conn.batch_execute(BASELINE_UP).await.unwrap();
    if without_uuid_ossp {
        conn.batch_execute(r#"DROP EXTENSION "uuid-ossp""#)
            .await
            .unwrap();
    }
    conn.batch_execute(
        r#"CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, migration_name varchar(255) NOT NULL);
           INSERT INTO organizations (id, slug, name, "updatedAt") VALUES ('clorg1', 'acme', 'Acme', now()), ('clorg2', 'globex', 'Globex', now());
           INSERT INTO users (id, email, "updatedAt") VALUES ('clusr1', 'ada@acme.test', now());
           INSERT INTO organization_members (id, "organizationId", "userId", "updatedAt") VALUES ('clmem1', 'clorg1', 'clusr1', now());
           INSERT INTO personas (name, "updatedAt") VALUES ('Founder', now());
           INSERT INTO keywords (term, intent, "personaId", "updatedAt") VALUES ('Neon Art', 'commercial', 1, now());
           INSERT INTO brands (id, "organizationId", name, slug, "updatedAt") VALUES ('clbrd1', 'clorg1', 'Acme', 'acme', now());
           INSERT INTO connectors (id, name, "displayName", description, category, "authType", "authConfig", triggers, actions, "updatedAt")
               VALUES ('clcon1', 'gmail', 'Gmail', 'mail', 'EMAIL', 'oauth2', '{}', '[]', '[]', now());"#,
    )
    .await
    .unwrap();
    db
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_records_the_baseline_keeps_every_row_and_is_then_a_no_op() {
    let db = neonhub_built(false).await;
    let mut conn = db.connect().await;
    let before = all_rows(&mut conn).await;
    let url = db.url_string();

    let out = neonhub(&["adopt", "--database-url", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("baseline recorded as applied"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(all_rows(&mut conn).await, before, "adopt changed data");

    let status = text(&neonhub(&["status", "--database-url", &url]).stdout);
    assert!(
        status.contains("applied  00000000000000  00000000000000_baseline"),
        "{status}"
    );
    assert!(status.contains(" 0 pending"), "{status}");

    let again = neonhub(&["adopt", "--database-url", &url]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stdout).contains("nothing to adopt"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(all_rows(&mut conn).await, before);
    assert!(drift_of(&mut conn).await.unwrap().differences.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_creates_a_missing_uuid_ossp() {
    let db = neonhub_built(true).await;
    let out = neonhub(&["adopt", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ext: Name =
        sql_query("SELECT extname::text AS name FROM pg_extension WHERE extname = 'uuid-ossp'")
            .get_result(&mut db.connect().await)
            .await
            .unwrap();
    assert_eq!(ext.name, "uuid-ossp");
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_refuses_a_catalog_that_differs_and_touches_nothing() {
    let db = neonhub_built(false).await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"DROP INDEX "chunks_embeddingSpaceId_idx"; ALTER TABLE users ADD COLUMN nickname text;"#,
    )
    .await
    .unwrap();
    let before = all_rows(&mut conn).await;
    let out = neonhub(&["adopt", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("refusing to adopt")
            && err.contains("missing index chunks_embeddingSpaceId_idx")
            && err.contains("extra column users.nickname"),
        "{err}"
    );
    assert_eq!(all_rows(&mut conn).await, before);
    let bookkeeping: Name = sql_query(
        "SELECT coalesce(to_regclass('__diesel_schema_migrations')::text, 'absent') AS name",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        bookkeeping.name, "absent",
        "a refused adopt recorded migrations"
    );
}
