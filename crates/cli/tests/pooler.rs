//! `neonhub check-pooler` and the pooler line of `neonhub verify`, behind a real pgbouncer.

use std::process::{Command, Output};

use neonhub_testing::{TestDatabase, TestPgBouncer};

fn neonhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_pooler_exits_by_verdict() {
    let db = TestDatabase::migrated().await;
    let (broken, good) = (TestPgBouncer::start(0), TestPgBouncer::start(1000));

    let out = neonhub(&["check-pooler", "--database-url", &broken.url(db.name())]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("pooler broken:") && stdout.contains("direct URL"),
        "{stdout}"
    );

    let out = neonhub(&[
        "check-pooler",
        "--json",
        "--database-url",
        &good.url(db.name()),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdict"], "ok");

    let out = neonhub(&["check-pooler", "--database-url", &db.url_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pooler inconclusive:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_a_broken_pooler_and_reports_a_working_one() {
    let db = TestDatabase::migrated().await;
    let broken = TestPgBouncer::start(0);
    let out = neonhub(&[
        "verify",
        "--database-url",
        &broken.url(db.name()),
        "--direct-database-url",
        &db.url_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pooler broken"), "{stderr}");

    let good = TestPgBouncer::start(1000);
    let out = neonhub(&["verify", "--database-url", &good.url(db.name())]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pooler                      ok:"));
}
