//! Connections, the pool and TLS against real servers.

use std::time::{Duration, Instant};

use diesel::sql_types::{Bool, Integer, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::{ConnectError, ConnectOptions, DatabaseUrl, PoolConfig, build_pool};
use neonhub_testing::{CLUSTER_PASSWORD, TestCluster, server_url};

#[derive(QueryableByName)]
struct Settings {
    #[diesel(sql_type = Text)]
    tz: String,
    #[diesel(sql_type = Text)]
    app: String,
    #[diesel(sql_type = Text)]
    timeout: String,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

async fn backend_pid(conn: &mut AsyncPgConnection) -> i32 {
    sql_query("SELECT pg_backend_pid() AS pid")
        .get_result::<Pid>(conn)
        .await
        .unwrap()
        .pid
}

async fn uses_tls(conn: &mut AsyncPgConnection) -> bool {
    sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Ssl>(conn)
        .await
        .unwrap()
        .ssl
}

#[tokio::test]
async fn every_connection_is_utc_named_and_time_limited() {
    let options = ConnectOptions {
        application_name: "nh-settings-test".into(),
        statement_timeout: Duration::from_millis(250),
        ..ConnectOptions::default()
    };
    let mut conn = server_url().connect_with(&options).await.unwrap();
    let s: Settings = sql_query(
        "SELECT current_setting('TimeZone') AS tz, current_setting('application_name') AS app, \
         current_setting('statement_timeout') AS timeout",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        (s.tz.as_str(), s.app.as_str(), s.timeout.as_str()),
        ("UTC", "nh-settings-test", "250ms")
    );
    let err = sql_query("SELECT pg_sleep(2)")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");
}

#[tokio::test]
async fn connecting_retries_until_the_server_answers() {
    // A port that starts forwarding to the real server only after a second, as a compute
    // waking from scale-to-zero would.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = server_url();
    let upstream = match server.config().get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => format!(
            "{h}:{}",
            server.config().get_ports().first().unwrap_or(&5432)
        ),
        _ => panic!("the test server must be reached over TCP"),
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let mut config = server.config().clone();
    config.host("127.0.0.1").port(port);
    let url = format!(
        "host=127.0.0.1 port={port} user={} dbname={}",
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres")
    );
    let url = DatabaseUrl::parse(&url).unwrap();

    let no_retry = ConnectOptions {
        retry_budget: Duration::ZERO,
        ..ConnectOptions::default()
    };
    let err = url.connect_with(&no_retry).await.map(drop).unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");

    let started = Instant::now();
    let mut conn = url
        .connect()
        .await
        .expect("retried until the port answered");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "connected before the port opened?"
    );
    assert!(backend_pid(&mut conn).await > 0);
}

#[tokio::test]
async fn the_pool_limits_checks_health_and_retires_old_connections() {
    let config = PoolConfig {
        max_size: 2,
        connection_timeout: Duration::from_millis(300),
        max_lifetime: Some(Duration::from_millis(400)),
        ..PoolConfig::default()
    };
    let pool = build_pool(&server_url(), &config);
    let (a, b) = (pool.get().await.unwrap(), pool.get().await.unwrap());
    assert!(
        pool.get().await.is_err(),
        "a third checkout from a pool of two succeeded"
    );
    drop((a, b));

    // Health check on checkout: a connection the server killed is replaced, not handed out.
    let pid = backend_pid(&mut pool.get().await.unwrap()).await;
    let mut admin = server_url().connect().await.unwrap();
    sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let replaced = backend_pid(&mut conn).await;
    assert_ne!(replaced, pid, "the killed connection came back");
    drop(conn);

    // Max lifetime: after it, a checkout opens a new backend.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fresh = backend_pid(&mut pool.get().await.unwrap()).await;
    assert_ne!(fresh, replaced, "a connection outlived max_lifetime");
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmode_require_encrypts_and_wrong_passwords_are_refused() {
    let cluster = TestCluster::start(true);
    let mut tls = DatabaseUrl::parse(&cluster.url(CLUSTER_PASSWORD, "sslmode=require"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert!(
        uses_tls(&mut tls).await,
        "sslmode=require connected without TLS"
    );
    let mut plain = DatabaseUrl::parse(&cluster.url(CLUSTER_PASSWORD, "sslmode=disable"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert!(!uses_tls(&mut plain).await);

    let started = Instant::now();
    let err = DatabaseUrl::parse(&cluster.url("wrong-password", "sslmode=require"))
        .unwrap()
        .connect()
        .await
        .map(drop)
        .unwrap_err();
    assert!(matches!(err, ConnectError::Rejected { .. }), "{err}");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("wrong-password"),
        "the password leaked into {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a refusal was retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requiring_tls_from_a_server_without_it_fails_clearly() {
    let cluster = TestCluster::start(false);
    let err = DatabaseUrl::parse(&cluster.url(CLUSTER_PASSWORD, "sslmode=require"))
        .unwrap()
        .connect()
        .await
        .map(drop)
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::TlsUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the URL requires TLS (sslmode=require) but the server at 127.0.0.1:{}/postgres does not offer it",
            cluster.port()
        )
    );
}

#[test]
fn debug_of_a_url_hides_the_password() {
    let url =
        DatabaseUrl::parse("postgres://app:s3cr3t-token@db.example.com:6543/neonhub").unwrap();
    let shown = format!("{url:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("db.example.com:6543/neonhub"), "{shown}");
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[tokio::test]
async fn database_from_env_names_what_is_missing_or_wrong_and_never_the_password() {
    use neonhub_schema::{Database, SetupError};
    let err = Database::from_vars(vars(&[])).unwrap_err();
    assert!(matches!(err, SetupError::Missing("DATABASE_URL")), "{err}");
    let err = Database::from_vars(vars(&[
        ("DATABASE_URL", "postgres://app:hunter2@db/neonhub"),
        ("NEONHUB_POOL_MAX_SIZE", "lots"),
    ]))
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("NEONHUB_POOL_MAX_SIZE=\"lots\""),
        "{err}"
    );
    let err = Database::from_vars(vars(&[
        ("DATABASE_URL", "postgres://app:hunter2@db/neonhub"),
        ("NEONHUB_POOL_MAX_SIZE", "0"),
    ]))
    .unwrap_err();
    assert!(matches!(
        err,
        SetupError::InvalidSetting {
            var: "NEONHUB_POOL_MAX_SIZE",
            ..
        }
    ));
    let err =
        Database::from_vars(vars(&[("DATABASE_URL", "mysql://app:hunter2@db/x")])).unwrap_err();
    assert!(err.to_string().starts_with("DATABASE_URL: "), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let db = Database::from_vars(vars(&[
        ("DATABASE_URL", "postgres://app:hunter2@pooler/neonhub"),
        ("DIRECT_DATABASE_URL", "postgres://owner:s3cret@db/neonhub"),
        ("NEONHUB_POOL_MAX_SIZE", "3"),
    ]))
    .unwrap();
    assert_eq!(db.url().target(), "pooler:5432/neonhub");
    assert_eq!(db.direct_url().target(), "db:5432/neonhub");
    let debug = format!("{db:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("s3cret"),
        "{debug}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_a_current_schema_as_the_app_role_and_names_pending_migrations() {
    use neonhub_schema::{Database, HealthError};
    let migrated = neonhub_testing::TestDatabase::migrated().await;
    let app_url = migrated.url().with_user(neonhub_testing::APP_ROLE, None);
    let db = Database::new(
        app_url,
        Some(migrated.url().clone()),
        &PoolConfig::default(),
    );
    let health = db.health(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        health.applied,
        neonhub_schema::migrate::status_on(&mut migrated.connect().await)
            .await
            .unwrap()
            .applied
            .len()
    );
    assert!(
        health.applied >= 10 && health.newer.is_empty(),
        "{health:?}"
    );
    db.require_current_schema().await.unwrap();

    let empty = neonhub_testing::TestDatabase::empty().await;
    let db = Database::new(empty.url().clone(), None, &PoolConfig::default());
    match db.health(Duration::from_secs(5)).await {
        Err(e @ HealthError::PendingMigrations(_)) => {
            assert!(e.to_string().contains("00000000000000_baseline"), "{e}");
            assert_eq!(e.status_hint().code(), 503);
        }
        other => panic!("expected pending migrations, got {other:?}"),
    }
    assert!(matches!(
        db.require_current_schema().await,
        Err(HealthError::PendingMigrations(p)) if p.len() == health.applied
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_of_a_server_that_never_answers_fails_within_its_timeout() {
    use neonhub_schema::Database;
    // A port that accepts TCP and never speaks PostgreSQL.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = DatabaseUrl::parse(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        silent.local_addr().unwrap().port()
    ))
    .unwrap();
    let db = Database::new(url, None, &PoolConfig::default());
    let started = Instant::now();
    let err = db.health(Duration::from_millis(500)).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.status_hint().code(), 503, "{err}");
}

/// `verify-ca` and `verify-full` with libpq's meanings, against a cluster whose certificate
/// a throwaway CA issued for `localhost` only.
#[tokio::test(flavor = "multi_thread")]
async fn verify_modes_check_the_issuer_and_the_host_name() {
    use neonhub_testing::TestCa;
    let ca = TestCa::new("nh-test-ca");
    let stranger = TestCa::new("nh-other-ca");
    let (cert, key) = ca.issue("server", &["DNS:localhost"]);
    let cluster = TestCluster::start_with_certificate(&cert, &key);
    let port = cluster.port();
    let url = |host: &str, query: &str| {
        format!(
            "postgres://postgres:{CLUSTER_PASSWORD}@{host}:{port}/postgres?hostaddr=127.0.0.1&{query}"
        )
    };
    let root = |ca: &TestCa| format!("sslrootcert={}", ca.certificate().display());
    let connect = |u: String| async move {
        DatabaseUrl::parse(&u)
            .unwrap()
            .connect_with(&ConnectOptions {
                retry_budget: Duration::ZERO,
                ..ConnectOptions::default()
            })
            .await
    };

    // The right CA and the right name: connected, over TLS.
    let mut conn = connect(url(
        "localhost",
        &format!("sslmode=verify-full&{}", root(&ca)),
    ))
    .await
    .unwrap();
    assert!(uses_tls(&mut conn).await);
    // verify-ca does not look at the name: 127.0.0.1 is not in the certificate, and passes.
    connect(url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&{}", root(&ca)),
    ))
    .await
    .unwrap();
    // verify-full does: refused, naming the name problem.
    let err = connect(url(
        "127.0.0.1",
        &format!("sslmode=verify-full&{}", root(&ca)),
    ))
    .await
    .err()
    .expect("refused");
    assert!(
        matches!(
            &err,
            ConnectError::Certificate {
                mode: "verify-full",
                ..
            }
        ) && err.to_string().contains("not valid for name"),
        "{err}"
    );
    // A certificate from another CA: refused under verify-ca (and so under verify-full).
    let err = connect(url(
        "localhost",
        &format!("sslmode=verify-ca&{}", root(&stranger)),
    ))
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    // require keeps its meaning: encrypted, whoever signed the certificate.
    let mut conn = connect(url("127.0.0.1", "sslmode=require")).await.unwrap();
    assert!(uses_tls(&mut conn).await);
    // A root file that does not exist: a clear error naming it, before any handshake.
    let err = connect(url(
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/nh-root.crt",
    ))
    .await
    .err()
    .expect("refused");
    assert!(
        matches!(&err, ConnectError::Certificate { .. })
            && err.to_string().contains("/nonexistent/nh-root.crt"),
        "{err}"
    );
}
