//! Every token sealed at rest: round trips, redaction, tampering, missing keys, sizes, and a
//! `pg_dump` of the database that holds none of the tokens.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_connectors::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::ConnectorAuthId;
use neonhub_schema::schema::connector_auths;
use neonhub_schema::seal::{MAX_SECRET_BYTES, with_keys};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, owner_do, secret_keys, test_connection};

/// The catalog, written as the owner (it is global: the application role only reads it).
async fn catalog(conn: &mut AsyncPgConnection) -> Vec<Connector> {
    owner_do(conn, async |c| Connector::upsert_all(c, CATALOG).await)
        .await
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

fn tokens(tag: &str) -> AuthTokens {
    AuthTokens {
        access_token: Some(Secret::new(format!("ya29.access-{tag}"))),
        refresh_token: Some(Secret::new(format!("1//refresh-{tag}"))),
        api_key: Some(Secret::new(format!("sk_live_key-{tag}"))),
        api_secret: Some(Secret::new(format!("whsec_secret-{tag}"))),
        expires_at: None,
    }
}

fn new_auth<'a>(
    connector: &'a Connector,
    account: &'a str,
    tokens: AuthTokens,
) -> NewConnectorAuth<'a> {
    NewConnectorAuth {
        connector: &connector.id,
        shared: true,
        account_id: Some(account),
        account_name: Some("Marketing"),
        tokens,
        scope: Some("gmail.send"),
        token_type: Some("Bearer"),
        status: AuthStatus::Active,
        metadata: None,
    }
}

/// The stored (sealed) text of `column` of a connection, read as the owner.
async fn stored(conn: &mut AsyncPgConnection, id: &ConnectorAuthId, column: &str) -> String {
    let sql = format!(r#"SELECT "{column}" AS v FROM connector_auths WHERE id = '{id}'"#);
    #[derive(diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    owner_do(conn, async |c| {
        diesel::sql_query(sql).get_result::<V>(c).await
    })
    .await
    .unwrap()
    .v
}

async fn owner_sql(conn: &mut AsyncPgConnection, sql: &str) {
    owner_do(conn, async |c| c.batch_execute(sql).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_catalog_is_inserted_once_then_updated_only_where_its_definition_changed() {
    let mut conn = test_connection().await;
    let first = owner_do(&mut conn, async |c| Connector::upsert_all(c, CATALOG).await)
        .await
        .unwrap();
    assert_eq!(first.len(), 16);
    assert!(first.iter().all(|(_, u)| *u == Upserted::Inserted));
    // An operator switches one off; a new definition of another arrives.
    owner_sql(
        &mut conn,
        "UPDATE connectors SET \"isEnabled\" = false WHERE name = 'gmail'",
    )
    .await;
    let mut defs = CATALOG.to_vec();
    defs[1].description = "Send and track email through Microsoft 365 and Exchange.";
    let second = owner_do(&mut conn, async |c| Connector::upsert_all(c, &defs).await)
        .await
        .unwrap();
    let outcomes: Vec<Upserted> = second.iter().map(|(_, u)| *u).collect();
    assert_eq!(outcomes[1], Upserted::Updated);
    assert_eq!(
        outcomes
            .iter()
            .filter(|u| **u == Upserted::Unchanged)
            .count(),
        15
    );
    assert_eq!(second[0].0.id, first[0].0.id);
    assert!(!second[0].0.is_enabled, "the operator's switch is kept");
    // Read through a scope; a disabled connector cannot be connected.
    let acme = org(&mut conn).await;
    let enabled = Connector::list(&mut conn, &acme.scope, true).await.unwrap();
    assert_eq!(enabled.len(), 15);
    let gmail = Connector::by_name(&mut conn, &acme.scope, "gmail")
        .await
        .unwrap();
    let err = with_keys(Some(secret_keys()), async {
        ConnectorAuth::connect(&mut conn, &acme.scope, &new_auth(&gmail, "a", tokens("x")))
            .await
            .unwrap_err()
    })
    .await;
    assert!(matches!(err, ConnectorError::Disabled(_)), "{err}");
    let err = Connector::by_name(&mut conn, &acme.scope, "myspace")
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn connections_and_credentials_round_trip_sealed_and_never_print_a_token() {
    with_keys(Some(secret_keys()), async {
        let mut conn = test_connection().await;
        let all = catalog(&mut conn).await;
        let acme = org(&mut conn).await;
        let auth = ConnectorAuth::connect(
            &mut conn,
            &acme.scope,
            &new_auth(&all[0], "acct", tokens("one")),
        )
        .await
        .unwrap();
        let read = ConnectorAuth::get(&mut conn, &acme.scope, &auth.id)
            .await
            .unwrap();
        assert_eq!(read, auth);
        assert_eq!(
            read.access_token.as_ref().unwrap().expose(),
            "ya29.access-one"
        );
        assert_eq!(
            read.api_secret.as_ref().unwrap().expose(),
            "whsec_secret-one"
        );
        for (column, plain) in [
            ("accessToken", "ya29.access-one"),
            ("refreshToken", "1//refresh-one"),
            ("apiKey", "sk_live_key-one"),
            ("apiSecret", "whsec_secret-one"),
        ] {
            let text = stored(&mut conn, &auth.id, column).await;
            assert!(text.starts_with("nh1:test:"), "{column}: {text}");
            assert!(
                !text.contains(plain) && !text.contains("one"),
                "{column}: {text}"
            );
        }
        // A second connection to the same account is refused by name.
        let err = ConnectorAuth::connect(
            &mut conn,
            &acme.scope,
            &new_auth(&all[0], "acct", tokens("two")),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ConnectorError::AlreadyConnected { .. }),
            "{err}"
        );

        let credential = Credential::store(
            &mut conn,
            &acme.scope,
            &NewCredential {
                provider: "x",
                account_id: Some("@neonhub"),
                tokens: CredentialTokens {
                    access_token: Some(Secret::new("x-access-one")),
                    refresh_token: None,
                    access_secret: Some(Secret::new("x-oauth1-secret-one")),
                    expires_at: None,
                },
                scope: None,
                token_type: None,
            },
        )
        .await
        .unwrap();
        let listed = Credential::list(&mut conn, &acme.scope, Some("x"))
            .await
            .unwrap();
        assert_eq!(listed, vec![credential.clone()]);
        assert_eq!(
            listed[0].access_secret.as_ref().unwrap().expose(),
            "x-oauth1-secret-one"
        );

        // Every model and input holding a secret prints `[redacted]`, in Debug and JSON.
        let printed = [
            format!("{auth:?}"),
            format!("{auth:#?}"),
            serde_json::to_string(&auth).unwrap(),
            format!("{credential:?}"),
            serde_json::to_string(&credential).unwrap(),
            format!("{:?}", tokens("one")),
            format!("{:?}", new_auth(&all[0], "acct", tokens("one"))),
            format!(
                "{:?}",
                RefreshedTokens {
                    access_token: Secret::new("ya29.access-one"),
                    refresh_token: None,
                    expires_at: None
                }
            ),
            format!(
                "{:?}",
                CredentialTokens {
                    access_token: Some(Secret::new("x-access-one")),
                    ..Default::default()
                }
            ),
        ];
        for p in &printed {
            assert!(p.contains("redacted"), "{p}");
            for token in [
                "ya29.access-one",
                "1//refresh-one",
                "sk_live_key-one",
                "whsec_secret-one",
                "x-access-one",
                "x-oauth1-secret-one",
            ] {
                assert!(!p.contains(token), "{token} printed in {p}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn tampered_swapped_misplaced_and_unknown_key_values_are_typed_errors() {
    with_keys(Some(secret_keys()), async {
        let mut conn = test_connection().await;
        let all = catalog(&mut conn).await;
        let acme = org(&mut conn).await;
        let a = ConnectorAuth::connect(&mut conn, &acme.scope, &new_auth(&all[0], "a", tokens("a")))
            .await
            .unwrap();
        let b = ConnectorAuth::connect(&mut conn, &acme.scope, &new_auth(&all[0], "b", tokens("b")))
            .await
            .unwrap();
        let get = async |conn: &mut AsyncPgConnection, scope: &TenantScope, id| {
            ConnectorAuth::get(conn, scope, id).await.unwrap_err()
        };

        // A flipped byte in the payload.
        let original = stored(&mut conn, &a.id, "accessToken").await;
        let mut bytes = original.clone().into_bytes();
        let at = bytes.len() - 5;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        owner_sql(&mut conn, &format!(r#"UPDATE connector_auths SET "accessToken" = '{flipped}' WHERE id = '{}'"#, a.id)).await;
        let err = get(&mut conn, &acme.scope, &a.id).await;
        assert!(matches!(err, ConnectorError::Seal(SealError::Tampered { .. })), "{err}");

        // Another row's value, and another column's value of the same row.
        let from_b = stored(&mut conn, &b.id, "accessToken").await;
        owner_sql(&mut conn, &format!(r#"UPDATE connector_auths SET "accessToken" = '{from_b}' WHERE id = '{}'"#, a.id)).await;
        let err = get(&mut conn, &acme.scope, &a.id).await;
        assert!(matches!(err, ConnectorError::Seal(SealError::Tampered { .. })), "{err}");
        owner_sql(&mut conn, &format!(r#"UPDATE connector_auths SET "accessToken" = "refreshToken" WHERE id = '{}'"#, a.id)).await;
        let err = get(&mut conn, &acme.scope, &a.id).await;
        assert!(matches!(err, ConnectorError::Seal(SealError::Tampered { .. })), "{err}");

        // Sealed under a key that is not configured.
        let ghost = SecretKeys::parse(&format!("ghost:{}", SecretKeys::generate_key())).unwrap();
        let sealed = ghost.seal(&Secret::new("ya29.ghost"), a.id.as_str(), "accessToken").unwrap();
        owner_sql(&mut conn, &format!(r#"UPDATE connector_auths SET "accessToken" = '{sealed}' WHERE id = '{}'"#, a.id)).await;
        let err = get(&mut conn, &acme.scope, &a.id).await;
        assert!(
            matches!(&err, ConnectorError::Seal(SealError::UnknownKey { key_id, .. }) if key_id == "ghost"),
            "{err}"
        );

        // Plain text from before sealing, and a truncated value.
        owner_sql(&mut conn, &format!(r#"UPDATE connector_auths SET "accessToken" = 'ya29.plain' WHERE id = '{}'"#, a.id)).await;
        let err = get(&mut conn, &acme.scope, &a.id).await;
        assert!(matches!(err, ConnectorError::Seal(SealError::NotSealed { .. })), "{err}");
        assert!(!err.to_string().contains("ya29"), "{err}");
        owner_sql(&mut conn, &format!(r#"UPDATE connector_auths SET "accessToken" = 'nh1:test:AAAA' WHERE id = '{}'"#, a.id)).await;
        let err = get(&mut conn, &acme.scope, &a.id).await;
        assert!(matches!(err, ConnectorError::Seal(SealError::Tampered { .. })), "{err}");

        // The untouched row still opens.
        let b_read = ConnectorAuth::get(&mut conn, &acme.scope, &b.id).await.unwrap();
        assert_eq!(b_read.access_token.unwrap().expose(), "ya29.access-b");
    })
    .await;
}

#[tokio::test]
async fn without_a_key_nothing_is_written_and_nothing_sealed_opens() {
    let mut conn = test_connection().await;
    let all = catalog(&mut conn).await;
    let acme = org(&mut conn).await;
    let sealed = with_keys(Some(secret_keys()), async {
        ConnectorAuth::connect(
            &mut conn,
            &acme.scope,
            &new_auth(&all[0], "sealed", tokens("k")),
        )
        .await
        .unwrap()
    })
    .await;
    with_keys(None, async {
        let err = ConnectorAuth::connect(
            &mut conn,
            &acme.scope,
            &new_auth(&all[1], "nokey", tokens("n")),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Seal(SealError::NoKey(_))),
            "{err}"
        );
        assert!(err.to_string().contains("NEONHUB_SECRET_KEYS"), "{err}");
        let n: i64 = connector_auths::table
            .filter(connector_auths::accountId.eq("nokey"))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "nothing written");
        let err = ConnectorAuth::get(&mut conn, &acme.scope, &sealed.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Seal(SealError::NoKey(_))),
            "{err}"
        );
        // A connection without any secret (pending consent) needs no key.
        let pending = NewConnectorAuth {
            status: AuthStatus::Pending,
            ..new_auth(&all[2], "pending", AuthTokens::default())
        };
        let made = ConnectorAuth::connect(&mut conn, &acme.scope, &pending)
            .await
            .unwrap();
        assert_eq!(made.status, AuthStatus::Pending);
        assert!(made.access_token.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_one_megabyte_token_is_refused_and_a_large_one_is_stored_whole() {
    with_keys(Some(secret_keys()), async {
        let mut conn = test_connection().await;
        let all = catalog(&mut conn).await;
        let acme = org(&mut conn).await;
        let huge = AuthTokens {
            api_key: Some(Secret::new("k".repeat(1 << 20))),
            ..AuthTokens::default()
        };
        let err = ConnectorAuth::connect(&mut conn, &acme.scope, &new_auth(&all[0], "huge", huge))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Seal(SealError::TooLarge { len, .. }) if len == 1 << 20),
            "{err}"
        );
        let big = "b".repeat(MAX_SECRET_BYTES);
        let whole = AuthTokens {
            api_key: Some(Secret::new(big.clone())),
            ..AuthTokens::default()
        };
        let made = ConnectorAuth::connect(&mut conn, &acme.scope, &new_auth(&all[0], "big", whole))
            .await
            .unwrap();
        let read = ConnectorAuth::get(&mut conn, &acme.scope, &made.id)
            .await
            .unwrap();
        assert_eq!(read.api_key.unwrap().expose(), big);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pg_dump_holds_none_of_a_thousand_sealed_tokens() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let all: Vec<Connector> = Connector::upsert_all(&mut owner, CATALOG)
        .await
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let acme = org(&mut owner).await;
    let mut app = db.connect_as_app().await;
    let mut made = Vec::new();
    with_keys(Some(secret_keys()), async {
        for i in 0..1000 {
            let token = format!("tok{i:04}-{}", ConnectorAuthId::generate());
            let account = format!("acct-{i}");
            let new = new_auth(
                &all[i % all.len()],
                &account,
                AuthTokens {
                    access_token: Some(Secret::new(token.clone())),
                    ..AuthTokens::default()
                },
            );
            ConnectorAuth::connect(&mut app, &acme.scope, &new)
                .await
                .unwrap();
            made.push(token);
        }
    })
    .await;
    let dump = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg("--data-only")
        .arg(db.url_string())
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8(dump.stdout).unwrap();
    let sealed_rows = dump.matches("nh1:test:").count();
    assert_eq!(sealed_rows, 1000, "the dump holds the sealed values");
    for token in &made {
        for form in [
            token.clone(),
            STANDARD.encode(token),
            URL_SAFE_NO_PAD.encode(token),
        ] {
            assert!(!dump.contains(&form), "{form} is in the dump");
        }
    }
}
