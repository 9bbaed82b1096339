//! The baseline builds NeonHub's reference catalog exactly, and a catalog difference is
//! reported item by item.

use diesel_async::SimpleAsyncConnection;
use neonhub_schema::catalog::{Catalog, DiffKind, DiffOptions, diff};
use neonhub_schema::migrate::{self, FirstMigrations};
use neonhub_testing::TestDatabase;

fn versions_ignored() -> DiffOptions {
    DiffOptions {
        ignore_extension_versions: true,
        ..DiffOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_alone_equals_the_reference_catalog() {
    let db = TestDatabase::empty().await;
    let applied = migrate::run_pending_from(db.url(), FirstMigrations(1))
        .await
        .unwrap();
    assert_eq!(applied, vec!["00000000000000_baseline".to_owned()]);

    let actual = Catalog::read(&mut db.connect().await).await.unwrap();
    let differences = diff(&Catalog::baseline(), &actual, &versions_ignored());
    let report: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "baseline differs from the reference:\n{}",
        report.join("\n")
    );

    assert_eq!(actual.tables.len(), 75);
    assert_eq!(actual.enums.len(), 17);
    let vector = actual
        .extension_version("vector")
        .expect("vector installed");
    let parts: Vec<u32> = vector.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(
        parts >= vec![0, 8, 0],
        "vector {vector} is older than 0.8.0"
    );
}

#[test]
fn the_reference_copy_is_the_shipped_catalog() {
    let reference = Catalog::reference();
    assert_eq!(reference.tables.len(), 75);
    assert_eq!(
        reference
            .tables
            .values()
            .map(|t| t.columns.len())
            .sum::<usize>(),
        779
    );
    assert_eq!(
        reference
            .tables
            .values()
            .map(|t| t.foreign_keys.len())
            .sum::<usize>(),
        129
    );
    assert_eq!(reference.enums.len(), 17);
    // The baseline adds exactly one documented item to the reference: uuid-ossp.
    let added = diff(&reference, &Catalog::baseline(), &versions_ignored());
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(
        (added[0].kind, added[0].object.as_str()),
        (DiffKind::Extra, "extension uuid-ossp")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_difference_is_named() {
    // A fully migrated database, compared with the catalog the whole chain builds.
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"
        DROP INDEX "chunks_embeddingSpaceId_idx";
        ALTER TABLE chunks ALTER COLUMN metadata SET NOT NULL;
        ALTER TABLE keywords ALTER COLUMN priority SET DEFAULT 5;
        ALTER TABLE organizations ADD COLUMN extra text;
        ALTER TABLE chunks ALTER COLUMN idx TYPE bigint;
        ALTER TABLE chunks DROP CONSTRAINT "chunks_documentId_fkey";
        ALTER TABLE chunks ADD CONSTRAINT "chunks_documentId_fkey" FOREIGN KEY ("documentId")
            REFERENCES documents(id) ON DELETE SET NULL ON UPDATE CASCADE;
        ALTER TYPE "MessageRole" ADD VALUE 'critic';
        DROP TABLE verification_tokens;
        CREATE TABLE stray (id int);
        "#,
    )
    .await
    .unwrap();
    let actual = Catalog::read(&mut conn).await.unwrap();
    let found: Vec<String> = diff(&Catalog::expected(), &actual, &versions_ignored())
        .iter()
        .map(ToString::to_string)
        .collect();
    let expect = [
        "missing index chunks_embeddingSpaceId_idx on chunks",
        "changed column chunks.metadata: NOT NULL, expected nullable",
        "changed column keywords.priority: default 5, expected none",
        "extra column organizations.extra",
        "changed column chunks.idx: type bigint, expected integer",
        "changed foreign key chunks_documentId_fkey on chunks",
        "changed enum type MessageRole",
        "missing table verification_tokens",
        "extra table stray",
        "__diesel_schema_migrations",
    ];
    for item in &expect[..9] {
        assert!(
            found.iter().any(|f| f.starts_with(item)),
            "no difference starting {item:?} in:\n{}",
            found.join("\n")
        );
    }
    // Migration bookkeeping is not part of the schema.
    assert!(!found.iter().any(|f| f.contains(expect[9])), "{found:?}");
    assert_eq!(
        found.len(),
        9,
        "unexpected extra differences:\n{}",
        found.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_expected_catalog_is_what_the_migrations_build() {
    let db = TestDatabase::migrated().await;
    let live = Catalog::read(&mut db.connect().await)
        .await
        .unwrap()
        .normalized();
    let expected = Catalog::from_json(neonhub_schema::catalog::EXPECTED_JSON).expect(
        "crates/schema/expected_catalog.json is a catalog: run scripts/check-schema.sh --write",
    );
    let differences: Vec<String> = diff(&expected, &live, &DiffOptions::default())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        differences.is_empty(),
        "expected_catalog.json is stale (run scripts/check-schema.sh --write):\n{}",
        differences.join("\n")
    );
    // The chain is a superset of the reference: nothing of the baseline may go missing.
    let lost: Vec<String> = diff(&Catalog::baseline(), &live, &versions_ignored())
        .iter()
        .filter(|d| d.kind != DiffKind::Extra)
        .map(ToString::to_string)
        .collect();
    assert!(
        lost.is_empty(),
        "later migrations changed the baseline:\n{}",
        lost.join("\n")
    );
}
