//! The pooler self-test behind a real transaction-mode pgbouncer.

use neonhub_schema::DatabaseUrl;
use neonhub_schema::pooler::{PoolerVerdict, check_pooler};
use neonhub_testing::{TestDatabase, TestPgBouncer};

/// Runs the check `runs` times; the verdict must be the same kind every time.
async fn verdicts(url: &str, runs: usize) -> Vec<PoolerVerdict> {
    let url = DatabaseUrl::parse(url).unwrap();
    let mut out = Vec::new();
    for _ in 0..runs {
        out.push(check_pooler(&url).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn without_prepared_statement_support_it_is_broken_every_time() {
    let db = TestDatabase::migrated().await;
    let bouncer = TestPgBouncer::start(0);
    for verdict in verdicts(&bouncer.url(db.name()), 10).await {
        assert!(matches!(verdict, PoolerVerdict::Broken(_)), "{verdict}");
        // The failure came from the forced move, not from luck.
        assert!(
            verdict
                .to_string()
                .contains("once the pooler moved it off server process"),
            "{verdict}"
        );
        assert!(
            verdict.to_string().contains("max_prepared_statements"),
            "no fix named: {verdict}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_prepared_statement_support_it_is_ok_every_time() {
    let db = TestDatabase::migrated().await;
    let bouncer = TestPgBouncer::start(1000);
    for verdict in verdicts(&bouncer.url(db.name()), 10).await {
        assert!(matches!(verdict, PoolerVerdict::Ok(_)), "{verdict}");
        assert!(
            verdict.to_string().contains("after") && verdict.to_string().contains("was pinned"),
            "{verdict}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_connection_is_inconclusive_never_ok() {
    let db = TestDatabase::migrated().await;
    for verdict in verdicts(&db.url_string(), 2).await {
        assert!(
            matches!(verdict, PoolerVerdict::Inconclusive(_)),
            "{verdict}"
        );
        assert_eq!(verdict.exit_code(), 2);
    }
}

/// A checkout in a private directory (mode 0700, as a home directory often is): the
/// pgbouncer built there still starts, because the helper runs a copy the `postgres` user
/// can reach.
#[tokio::test(flavor = "multi_thread")]
async fn pgbouncer_from_a_private_directory_starts() {
    use std::os::unix::fs::PermissionsExt;
    let built = std::env::var(neonhub_testing::PGBOUNCER_VAR)
        .expect("NEONHUB_PGBOUNCER names the pgbouncer scripts/test.sh built");
    let private = std::env::temp_dir().join(format!(
        "nh-private-checkout-{}",
        neonhub_schema::ids::UserId::generate()
    ));
    std::fs::create_dir_all(private.join("target")).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let binary = private.join("target").join("pgbouncer");
    std::fs::copy(&built, &binary).unwrap();
    let bouncer = TestPgBouncer::start_binary(&binary, 1000);
    let db = TestDatabase::migrated().await;
    let url = bouncer.url(db.name());
    let mut conn = neonhub_schema::DatabaseUrl::parse(&url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    use diesel_async::RunQueryDsl;
    let one: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"))
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(bouncer);
    let _ = std::fs::remove_dir_all(&private);
}
