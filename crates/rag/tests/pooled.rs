//! The pooled path end to end: two organizations' scopes interleaved over a
//! transaction-mode pgbouncer holding 2 server connections, as the application role (so
//! row-level security judges every row), for 10,000 transactions.

use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use neonhub_rag::{Chunk, RagError};
use neonhub_schema::schema::{chunks, datasets};
use neonhub_schema::{DatabaseUrl, PoolConfig, build_pool};
use neonhub_testing::fixtures::rag::{tenant, v};
use neonhub_testing::{APP_ROLE, TestDatabase, TestPgBouncer, test_connection};

const TRANSACTIONS: usize = 10_000;
const TASKS: usize = 8;

#[tokio::test(flavor = "multi_thread")]
async fn interleaved_scopes_over_two_server_connections_leak_no_setting_statement_or_row() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let (a, b) = (tenant(&mut owner).await, tenant(&mut owner).await);
    for t in [&a, &b] {
        Chunk::create(
            &mut owner,
            &t.scope,
            &t.chunk(0, Some(&v(&[1.0, 0.0, 0.0]))),
        )
        .await
        .unwrap();
    }
    let bouncer = TestPgBouncer::start_with_pool(1000, 2);
    let url = DatabaseUrl::parse(&bouncer.url(db.name()))
        .unwrap()
        .with_user(APP_ROLE, None);
    let pool = build_pool(
        &url,
        &PoolConfig {
            max_size: TASKS as u32,
            ..PoolConfig::default()
        },
    );
    let tenants = std::sync::Arc::new([a, b]);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (pool, tenants) = (pool.clone(), tenants.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen_backends = std::collections::HashSet::new();
            for i in 0..TRANSACTIONS / TASKS {
                let t = &tenants[(task + i) % 2];
                let org = t.scope.organization_id().as_str();
                let mut conn = pool.get().await.unwrap();
                let (setting, role, backend, dataset_orgs, chunk_orgs) = t
                    .scope
                    .transaction(&mut conn, async |tx| {
                        let (setting, role, backend) = diesel::select((
                            diesel::dsl::sql::<Nullable<Text>>(
                                "current_setting('app.current_org', true)",
                            ),
                            diesel::dsl::sql::<Text>("current_user::text"),
                            diesel::dsl::sql::<diesel::sql_types::Integer>("pg_backend_pid()"),
                        ))
                        .get_result::<(Option<String>, String, i32)>(tx)
                        .await?;
                        // Typed, so diesel prepares them: the pooler must keep them apart.
                        let dataset_orgs: Vec<String> = datasets::table
                            .select(datasets::organizationId)
                            .load(tx)
                            .await?;
                        let chunk_orgs: Vec<String> = chunks::table
                            .inner_join(datasets::table)
                            .filter(chunks::idx.ge(0))
                            .select(datasets::organizationId)
                            .load(tx)
                            .await?;
                        Ok::<_, RagError>((setting, role, backend, dataset_orgs, chunk_orgs))
                    })
                    .await
                    .unwrap();
                assert_eq!(
                    setting.as_deref(),
                    Some(org),
                    "transaction {i} of task {task}"
                );
                assert_eq!(role, APP_ROLE);
                assert!(!dataset_orgs.is_empty() && dataset_orgs.iter().all(|o| o == org));
                assert!(!chunk_orgs.is_empty() && chunk_orgs.iter().all(|o| o == org));
                seen_backends.insert(backend);
                // The next transaction on this client, with no scope, sees no organization
                // (and so, under row-level security, no row): nothing outlived the commit.
                if i % 10 == 0 {
                    let (setting, rows) = conn
                        .transaction(async |tx| {
                            let setting = diesel::select(diesel::dsl::sql::<Nullable<Text>>(
                                "current_setting('app.current_org', true)",
                            ))
                            .get_result::<Option<String>>(tx)
                            .await?;
                            let rows: i64 = datasets::table.count().get_result(tx).await?;
                            Ok::<_, diesel::result::Error>((setting, rows))
                        })
                        .await
                        .unwrap();
                    assert!(setting.unwrap_or_default().is_empty(), "a setting leaked");
                    assert_eq!(rows, 0, "rows visible without a scope");
                }
            }
            seen_backends
        }));
    }
    let mut backends = std::collections::HashSet::new();
    for task in tasks {
        backends.extend(task.await.unwrap());
    }
    // Every client really shared the pooler's two server sessions.
    assert!(backends.len() <= 2, "server sessions used: {backends:?}");
}

/// The suites' pooled mode (`scripts/test.sh` runs rag and identity through pgbouncer) is
/// what it says: a `test_connection` is the pooler's client, logged in as the application
/// role; without a pooler it is an owner's session acting as that role.
#[tokio::test]
async fn test_connections_are_the_poolers_clients_as_the_application_role_when_pooled() {
    let mut conn = test_connection().await;
    let (session, current, database): (String, String, String) = diesel::select((
        diesel::dsl::sql::<Text>("session_user::text"),
        diesel::dsl::sql::<Text>("current_user::text"),
        diesel::dsl::sql::<Text>("current_database()::text"),
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(current, APP_ROLE);
    let Some(pooler) = neonhub_testing::pooler_url() else {
        assert_ne!(
            session, APP_ROLE,
            "direct: an owner's session acting as the app role"
        );
        return;
    };
    assert_eq!(
        session, APP_ROLE,
        "pooled: logged in as the application role"
    );
    // pgbouncer's console lists this test's connection among its clients.
    let (console, connection) = pooler
        .with_user(APP_ROLE, None)
        .with_dbname("pgbouncer")
        .config()
        .connect(tokio_postgres::NoTls)
        .await
        .expect("the pooler's console");
    tokio::spawn(connection);
    let clients = console.simple_query("SHOW CLIENTS").await.unwrap();
    let mine = clients.iter().any(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => {
            r.get("database") == Some(database.as_str()) && r.get("user") == Some(APP_ROLE)
        }
        _ => false,
    });
    assert!(
        mine,
        "no client of {database} as {APP_ROLE} in SHOW CLIENTS"
    );
}
