//! `TenantScope::transaction`: the setting inside, its absence after, commit and rollback.

use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel::sql_types::{Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::OrganizationId;
use neonhub_schema::schema::organizations;
use neonhub_schema::{TenantScope, time};
use neonhub_testing::TestDatabase;

#[derive(QueryableByName)]
struct Current {
    #[diesel(sql_type = Nullable<Text>)]
    org: Option<String>,
}

async fn current_org(conn: &mut AsyncPgConnection) -> Option<String> {
    let row: Current = sql_query("SELECT current_setting('app.current_org', true) AS org")
        .get_result(conn)
        .await
        .unwrap();
    row.org.filter(|s| !s.is_empty())
}

async fn insert_org(
    conn: &mut AsyncPgConnection,
    id: &OrganizationId,
) -> diesel::QueryResult<usize> {
    let now = time::now();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id),
            organizations::slug.eq(id.as_str()),
            organizations::name.eq("scoped"),
            organizations::createdAt.eq(now),
            organizations::updatedAt.eq(now),
        ))
        .execute(conn)
        .await
}

async fn org_exists(conn: &mut AsyncPgConnection, id: &OrganizationId) -> bool {
    organizations::table
        .filter(organizations::id.eq(id))
        .count()
        .get_result::<i64>(conn)
        .await
        .unwrap()
        == 1
}

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("business rule failed")]
    Rule,
}

#[tokio::test(flavor = "multi_thread")]
async fn the_setting_lives_exactly_as_long_as_the_transaction() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let org = OrganizationId::generate();
    let scope = TenantScope::trusted_system(org.clone());
    assert_eq!(current_org(&mut conn).await, None);
    let inside = scope
        .transaction(&mut conn, async |tx| {
            Ok::<_, diesel::result::Error>(current_org(tx).await)
        })
        .await
        .unwrap();
    assert_eq!(inside.as_deref(), Some(org.as_str()));
    assert_eq!(
        current_org(&mut conn).await,
        None,
        "the setting outlived the transaction"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ok_commits_and_err_rolls_back() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let (kept, dropped) = (OrganizationId::generate(), OrganizationId::generate());
    let scope = TenantScope::trusted_system(kept.clone());

    scope
        .transaction(&mut conn, async |tx| {
            insert_org(tx, &kept).await.map_err(TestError::from)
        })
        .await
        .unwrap();
    let err = scope
        .transaction(&mut conn, async |tx| {
            insert_org(tx, &dropped).await?;
            Err::<(), _>(TestError::Rule)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, TestError::Rule));

    // Seen from another session: the committed row is there, the rolled-back one is not.
    let mut other = db.connect().await;
    assert!(org_exists(&mut other, &kept).await);
    assert!(!org_exists(&mut other, &dropped).await);
    assert_eq!(current_org(&mut conn).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_transaction_can_run_on_a_spawned_task() {
    // Compile-time proof that the future is Send (tokio::spawn requires it).
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let scope = TenantScope::trusted_system(OrganizationId::generate());
    let expected = scope.organization_id().as_str().to_owned();
    let seen = tokio::spawn(async move {
        scope
            .transaction(&mut conn, async |tx| {
                Ok::<_, diesel::result::Error>(current_org(tx).await)
            })
            .await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen.as_deref(), Some(expected.as_str()));
}

/// What a service writes once and uses for every request: a generic helper that runs any
/// work in a scope's transaction on a pooled connection. It compiles only because
/// `TenantScope::transaction`'s future is `Send` for every `work` whose future is.
async fn in_scope<R, F>(
    pool: neonhub_schema::PgPool,
    scope: TenantScope,
    work: F,
) -> Result<R, neonhub_schema::DieselError>
where
    for<'r> F: neonhub_schema::TransactionWork<
            &'r mut AsyncPgConnection,
            Result<R, neonhub_schema::DieselError>,
            Fut: Send,
        > + Send
        + 'static,
    R: Send + 'static,
{
    let mut conn = pool.get_owned().await.expect("pooled connection");
    scope.transaction(&mut conn, work).await
}

/// The helper spawned from generic code: `tokio::spawn` demands `Send + 'static` of the
/// helper's future for every `F` and `R`, which is the compile-time proof.
fn spawn_in_scope<R, F>(
    pool: neonhub_schema::PgPool,
    scope: TenantScope,
    work: F,
) -> tokio::task::JoinHandle<Result<R, neonhub_schema::DieselError>>
where
    for<'r> F: neonhub_schema::TransactionWork<
            &'r mut AsyncPgConnection,
            Result<R, neonhub_schema::DieselError>,
            Fut: Send,
        > + Send
        + 'static,
    R: Send + 'static,
{
    tokio::spawn(in_scope(pool, scope, work))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generic_helper_around_a_scope_transaction_can_be_spawned() {
    let db = TestDatabase::migrated().await;
    let pool = neonhub_schema::build_pool(db.url(), &neonhub_schema::PoolConfig::default());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let scope = TenantScope::trusted_system(OrganizationId::generate());
            let expected = scope.organization_id().as_str().to_owned();
            let handle = spawn_in_scope(pool.clone(), scope, async |tx| Ok(current_org(tx).await));
            (expected, handle)
        })
        .collect();
    for (expected, handle) in tasks {
        let seen = handle.await.unwrap().unwrap();
        assert_eq!(seen.as_deref(), Some(expected.as_str()));
    }
}
