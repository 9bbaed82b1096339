//! Token refresh under concurrency: eight refreshers of one connection, one provider call;
//! a refused refresh keeps the old token. And a trace of all of it that holds no token.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use neonhub_connectors::*;
use neonhub_schema::seal::with_keys;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, secret_keys};

async fn connected(
    owner: &mut AsyncPgConnection,
    app: &mut AsyncPgConnection,
    scope: &neonhub_schema::TenantScope,
) -> ConnectorAuth {
    let (gmail, _) = Connector::upsert_all(owner, CATALOG)
        .await
        .unwrap()
        .remove(0);
    ConnectorAuth::connect(
        app,
        scope,
        &NewConnectorAuth {
            connector: &gmail.id,
            shared: true,
            account_id: Some("marketing@example.com"),
            account_name: None,
            tokens: AuthTokens {
                access_token: Some(Secret::new("ya29.old-access")),
                refresh_token: Some(Secret::new("1//old-refresh")),
                ..AuthTokens::default()
            },
            scope: None,
            token_type: Some("Bearer"),
            status: AuthStatus::Active,
            metadata: None,
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_concurrent_refreshes_make_one_provider_call_and_all_see_the_new_token() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let keys = secret_keys();
    let mut conns = Vec::new();
    for _ in 0..8 {
        conns.push(db.connect_as_app().await);
    }
    let auth = with_keys(
        Some(keys.clone()),
        connected(&mut owner, &mut conns[0], &acme.scope),
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let (scope, id, calls, keys) = (
            acme.scope.clone(),
            auth.id.clone(),
            calls.clone(),
            keys.clone(),
        );
        tasks.push(tokio::spawn(with_keys(Some(keys), async move {
            ConnectorAuth::refresh(&mut conn, &scope, &id, async |current| {
                calls.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    current.refresh_token.as_ref().unwrap().expose(),
                    "1//old-refresh"
                );
                // A slow provider: the other seven queue behind the lock meanwhile.
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, std::io::Error>(RefreshedTokens {
                    access_token: Secret::new(format!("ya29.new-access-{i}")),
                    refresh_token: None,
                    expires_at: None,
                })
            })
            .await
        })));
    }
    let mut seen = Vec::new();
    for t in tasks {
        let refreshed = t.await.unwrap().unwrap();
        seen.push(refreshed.access_token.unwrap().expose().to_owned());
        // The refresh token the provider did not rotate is kept.
        assert_eq!(refreshed.refresh_token.unwrap().expose(), "1//old-refresh");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one provider call");
    assert!(seen[0].starts_with("ya29.new-access-"), "{seen:?}");
    assert!(
        seen.iter().all(|s| *s == seen[0]),
        "all see one new token: {seen:?}"
    );
    let mut app = db.connect_as_app().await;
    let stored = with_keys(
        Some(keys),
        ConnectorAuth::get(&mut app, &acme.scope, &auth.id),
    )
    .await
    .unwrap();
    assert_eq!(stored.access_token.unwrap().expose(), seen[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_refresh_records_the_error_and_keeps_the_old_token() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let mut app = db.connect_as_app().await;
    with_keys(Some(secret_keys()), async {
        let auth = connected(&mut owner, &mut app, &acme.scope).await;
        let err = ConnectorAuth::refresh(&mut app, &acme.scope, &auth.id, async |_| {
            Err::<RefreshedTokens, _>("invalid_grant: refresh token revoked")
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Provider { message } if message.contains("invalid_grant")),
            "{err}"
        );
        let after = ConnectorAuth::get(&mut app, &acme.scope, &auth.id).await.unwrap();
        assert_eq!(after.status, AuthStatus::Error);
        assert_eq!(
            after.last_error.as_deref(),
            Some("invalid_grant: refresh token revoked")
        );
        assert_eq!(after.access_token.unwrap().expose(), "ya29.old-access");
        // The next refresh that succeeds clears the error.
        let ok = ConnectorAuth::refresh(&mut app, &acme.scope, &auth.id, async |_| {
            Ok::<_, std::io::Error>(RefreshedTokens {
                access_token: Secret::new("ya29.after-error"),
                refresh_token: Some(Secret::new("1//rotated")),
                expires_at: None,
            })
        })
        .await
        .unwrap();
        assert_eq!(ok.status, AuthStatus::Active);
        assert_eq!(ok.last_error, None);
        assert_eq!(ok.refresh_token.unwrap().expose(), "1//rotated");
    })
    .await;
}

/// A handler read the token and found it expired; before its refresh ran (a saturated pool,
/// a pooler's queue), another handler refreshed. `refresh_from` with the stale read makes no
/// provider call and returns the other's token; `refresh` by id, which looks again, would
/// refresh a second time.
#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_from_a_stale_read_returns_the_winners_token_without_a_provider_call() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let mut app = db.connect_as_app().await;
    with_keys(Some(secret_keys()), async {
        let auth = connected(&mut owner, &mut app, &acme.scope).await;
        let calls = AtomicUsize::new(0);
        let provider = |tag: &'static str| {
            let calls = &calls;
            async move |_: &ConnectorAuth| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(RefreshedTokens {
                    access_token: Secret::new(format!("ya29.{tag}")),
                    refresh_token: None,
                    expires_at: None,
                })
            }
        };
        let stale = ConnectorAuth::get(&mut app, &acme.scope, &auth.id)
            .await
            .unwrap();
        let winner = ConnectorAuth::refresh_from(&mut app, &acme.scope, &stale, provider("winner"))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let late = ConnectorAuth::refresh_from(&mut app, &acme.scope, &stale, provider("late"))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no second provider call");
        assert_eq!(late.access_token.unwrap().expose(), "ya29.winner");
        // By id, the refresher reads the winner's token as its own view and refreshes it.
        let again = ConnectorAuth::refresh(&mut app, &acme.scope, &auth.id, provider("again"))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(again.access_token.unwrap().expose(), "ya29.again");
        assert!(winner.updated_at <= again.updated_at);
    })
    .await;
}
