//! The runner: idempotent, reversible, atomic per migration, safe to run twice at once.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::FileBasedMigrations;
use neonhub_schema::catalog::{Catalog, DiffOptions, diff};
use neonhub_schema::migrate::{self, BASELINE_VERSION, MigrateError};
use neonhub_testing::TestDatabase;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<Count>(conn).await.unwrap().n
}

const OURS: &str = "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = 'public' AND c.relname <> '__diesel_schema_migrations'
                               AND c.relname NOT LIKE '__diesel_schema_migrations%')
                  + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                     WHERE n.nspname = 'public' AND t.typtype IN ('e', 'b', 'c', 'd') AND t.typname !~ '^_'
                       AND t.typrelid = 0)
                  + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql') AS n";

#[tokio::test(flavor = "multi_thread")]
async fn second_run_applies_nothing() {
    let db = TestDatabase::empty().await;
    let first = migrate::run_pending(db.url()).await.unwrap();
    assert!(
        first.iter().any(|m| m.starts_with(BASELINE_VERSION)),
        "{first:?}"
    );
    let second = migrate::run_pending(db.url()).await.unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    let status = migrate::status(db.url()).await.unwrap();
    assert_eq!(status.applied.len(), first.len());
    assert!(status.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn all_down_leaves_nothing_and_up_again_rebuilds() {
    let db = TestDatabase::empty().await;
    let mut conn = db.connect().await;
    assert_eq!(
        count(&mut conn, OURS).await,
        0,
        "the empty database is not empty"
    );

    let applied = migrate::run_pending(db.url()).await.unwrap();
    let built = Catalog::read(&mut conn).await.unwrap();
    assert!(count(&mut conn, OURS).await > 75);

    let reverted = migrate::revert(db.url(), applied.len(), true)
        .await
        .unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert_eq!(
        count(&mut conn, OURS).await,
        0,
        "something of ours is left after all down"
    );

    migrate::run_pending(db.url()).await.unwrap();
    let rebuilt = Catalog::read(&mut conn).await.unwrap();
    let differences = diff(&built, &rebuilt, &DiffOptions::default());
    assert!(
        differences.is_empty(),
        "up after down differs: {differences:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reverting_the_baseline_needs_the_explicit_flag() {
    let db = TestDatabase::empty().await;
    let applied = migrate::run_pending(db.url()).await.unwrap();
    let err = migrate::revert(db.url(), applied.len(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MigrateError::BaselineRevertRefused { .. }),
        "{err}"
    );
    let mut conn = db.connect().await;
    let tables = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'",
    )
    .await;
    // Every table of the chain, and diesel's bookkeeping table.
    let expected = Catalog::expected().tables.len() as i64 + 1;
    assert_eq!(tables, expected, "the refused revert changed the database");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migration_is_rolled_back_and_earlier_ones_kept() {
    let dir = std::env::temp_dir().join(format!("nh-migrations-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let baseline =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/00000000000000_baseline");
    for (name, up, down) in [
        ("00000000000000_baseline", None, None),
        (
            "20260101000000_good",
            Some("CREATE TABLE good_one (id int);"),
            Some("DROP TABLE good_one;"),
        ),
        (
            "20260102000000_bad",
            Some("CREATE TABLE half_done (id int);\nSELECT no_such_function();"),
            Some("DROP TABLE half_done;"),
        ),
    ] {
        let target = dir.join(name);
        std::fs::create_dir_all(&target).unwrap();
        match (up, down) {
            (Some(up), Some(down)) => {
                std::fs::write(target.join("up.sql"), up).unwrap();
                std::fs::write(target.join("down.sql"), down).unwrap();
            }
            _ => {
                for f in ["up.sql", "down.sql"] {
                    std::fs::copy(baseline.join(f), target.join(f)).unwrap();
                }
            }
        }
    }
    let db = TestDatabase::empty().await;
    let source = FileBasedMigrations::from_path(&dir).unwrap();
    let err = migrate::run_pending_from(db.url(), source)
        .await
        .unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    match &err {
        MigrateError::Failed {
            migration,
            applied,
            reason,
        } => {
            assert_eq!(migration, "20260102000000_bad");
            assert_eq!(applied, &["00000000000000_baseline", "20260101000000_good"]);
            assert!(reason.contains("no_such_function"), "{reason}");
            assert!(!err.to_string().contains('\n'), "not one line: {err}");
        }
        other => panic!("expected Failed, got {other}"),
    }
    let mut conn = db.connect().await;
    let exists = |t: &str| {
        format!(
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename = '{t}'"
        )
    };
    assert_eq!(
        count(&mut conn, &exists("good_one")).await,
        1,
        "the earlier migration was not kept"
    );
    assert_eq!(
        count(&mut conn, &exists("half_done")).await,
        0,
        "the failing migration was not rolled back"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM __diesel_schema_migrations"
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runners_at_once_apply_each_migration_once() {
    let db = TestDatabase::empty().await;
    let (a, b) = tokio::join!(
        migrate::run_pending(db.url()),
        migrate::run_pending(db.url())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let total = migrate::status(db.url()).await.unwrap().applied.len();
    // One runner applied everything; the other waited for the lock and found nothing pending.
    assert_eq!(a.len() + b.len(), total, "a: {a:?}, b: {b:?}");
    assert!(
        a.is_empty() || b.is_empty(),
        "both applied: a: {a:?}, b: {b:?}"
    );
    let mut conn = db.connect().await;
    let rows = count(
        &mut conn,
        "SELECT count(*) AS n FROM __diesel_schema_migrations",
    )
    .await;
    assert_eq!(rows as usize, total);
}

/// Chunks, one space and its parents, written with SQL (rows of an existing database).
const CHUNKS: &str = r#"
    INSERT INTO organizations (id, slug, name, "updatedAt") VALUES ('o', 'o', 'O', now());
    INSERT INTO users (id, email, "updatedAt") VALUES ('u', 'u@example.com', now());
    INSERT INTO embedding_spaces (id, "organizationId", name, provider, model, dimension, "updatedAt")
        VALUES ('s', 'o', 's', 'p', 'm', 3, now());
    INSERT INTO datasets (id, "organizationId", "embeddingSpaceId", name, slug, kind, "updatedAt")
        VALUES ('d', 'o', 's', 'd', 'd', 'documents', now());
    INSERT INTO documents (id, "datasetId", "organizationId", "ownerId", "embeddingSpaceId", title, content, "updatedAt")
        VALUES ('doc', 'd', 'o', 'u', 's', 't', '', now());
    INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, "createdAt")
        SELECT 'c' || g, 'd', 'doc', 's', g, 'Die alten Häuser ' || g, now() FROM generate_series(1, 12) g;"#;

/// Rows whose `searchVector` equals `to_tsvector(language, text)`.
async fn parsed_in(conn: &mut AsyncPgConnection, language: &str) -> i64 {
    count(
        conn,
        &format!(
            r#"SELECT count(*) AS n FROM chunks WHERE "searchVector" = to_tsvector('{language}', text)"#
        ),
    )
    .await
}

/// `chunks."searchVector"` came after chunks existed: re-applying its migration to a
/// database with chunks fills every row (the migration runner backfills in batches), and the
/// backfill alone fills rows left NULL in their space's language; the same for the narrow
/// copy the text side reads, `chunk_search_vectors`, applied to a database that had the
/// column already.
#[tokio::test(flavor = "multi_thread")]
async fn the_search_vector_is_backfilled_for_rows_written_before_it() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, CHUNKS)
        .await
        .unwrap();
    assert_eq!(parsed_in(&mut conn, "english").await, 12, "the trigger");
    let status = migrate::status(db.url()).await.unwrap();
    let since = status
        .applied
        .iter()
        .filter(|m| m.version.as_str() >= "20261203000000")
        .count();
    migrate::revert(db.url(), since, false).await.unwrap();
    let columns = "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'chunks' AND column_name = 'searchVector'";
    assert_eq!(count(&mut conn, columns).await, 0);
    let applied = migrate::run_pending(db.url()).await.unwrap();
    assert_eq!(applied.len(), since, "{applied:?}");
    assert_eq!(parsed_in(&mut conn, "english").await, 12);

    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        r#"UPDATE embedding_spaces SET "textSearchConfig" = 'german';
           UPDATE chunks SET "searchVector" = NULL WHERE idx % 3 = 0;"#,
    )
    .await
    .unwrap();
    let filled = migrate::backfill_search_vectors(&mut conn, 2)
        .await
        .unwrap();
    assert_eq!(filled, 4);
    assert_eq!(parsed_in(&mut conn, "german").await, 4);
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) AS n FROM chunks WHERE "searchVector" IS NULL"#
        )
        .await,
        0
    );
    assert_eq!(
        migrate::backfill_search_vectors(&mut conn, 2)
            .await
            .unwrap(),
        0
    );
    assert_eq!(copied(&mut conn).await, 12);

    // A database that had the stored column before the narrow copy existed: applying the
    // copy's migrations copies every row (in batches, after the migration).
    let since = migrate::status(db.url())
        .await
        .unwrap()
        .applied
        .iter()
        .filter(|m| m.version.as_str() >= "20261205000000")
        .count();
    migrate::revert(db.url(), since, false).await.unwrap();
    let tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'chunk_search_vectors'";
    assert_eq!(count(&mut conn, tables).await, 0);
    assert_eq!(migrate::run_pending(db.url()).await.unwrap().len(), since);
    assert_eq!(copied(&mut conn).await, 12);
}

/// Rows of `chunk_search_vectors` equal to their chunk's id, space and tsvector.
async fn copied(conn: &mut AsyncPgConnection) -> i64 {
    count(
        conn,
        r#"SELECT count(*) AS n FROM chunks c JOIN chunk_search_vectors v ON v."chunkId" = c.id
            AND v."embeddingSpaceId" = c."embeddingSpaceId" AND v."searchVector" = c."searchVector""#,
    )
    .await
}

/// The backfill beside writers: while it copies 2,000 chunks in batches of 7, other
/// connections delete chunks and two more rewrite the same others' text, each statement in
/// its own transaction. After
/// both, the copy equals the chunks row for row: no copy of a deleted chunk (the batch's
/// key-share lock makes a delete either wait for the batch or hide the row from it), none
/// missing, none stale.
#[tokio::test(flavor = "multi_thread")]
async fn the_backfill_beside_deletes_and_updates_leaves_the_copy_exact() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let many = CHUNKS.replace("generate_series(1, 12)", "generate_series(1, 2000)");
    diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, &many)
        .await
        .unwrap();
    // As a database that had the column before the copy existed.
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        "DELETE FROM chunk_search_vectors",
    )
    .await
    .unwrap();
    let url = db.url().clone();
    let backfill = tokio::spawn(async move {
        let mut conn = url.connect().await.unwrap();
        migrate::backfill_search_vectors(&mut conn, 7)
            .await
            .unwrap()
    });
    let mut writers = Vec::new();
    for w in 0..3i64 {
        let url = db.url().clone();
        writers.push(tokio::spawn(async move {
            let mut conn = url.connect().await.unwrap();
            // Writer 0 deletes every third chunk from the end (the backfill starts at the
            // beginning, so they meet); writers 1 and 2 both rewrite the text of all the
            // others, racing each other row by row.
            for i in (1..=2000i64).rev().filter(|i| (i % 3 == 0) == (w == 0)) {
                let sql = if w == 0 {
                    format!("DELETE FROM chunks WHERE id = 'c{i}'")
                } else {
                    format!("UPDATE chunks SET text = 'Neue Häuser {w} {i}' WHERE id = 'c{i}'")
                };
                diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, &sql)
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let copied_by_backfill = backfill.await.unwrap();
    assert!(copied_by_backfill > 0, "the backfill copied nothing");
    let chunks = count(&mut conn, "SELECT count(*) AS n FROM chunks").await;
    let deleted = (1..=2000i64).filter(|i| i % 3 == 0).count() as i64;
    assert_eq!(chunks, 2000 - deleted);
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) AS n FROM chunks c FULL JOIN chunk_search_vectors v ON v."chunkId" = c.id
               WHERE c.id IS NULL OR v."chunkId" IS NULL OR v."embeddingSpaceId" <> c."embeddingSpaceId"
                  OR v."searchVector" <> c."searchVector""#,
        )
        .await,
        0
    );
    assert_eq!(copied(&mut conn).await, chunks);
}
