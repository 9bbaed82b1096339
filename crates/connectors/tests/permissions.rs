//! Every public operation of `neonhub-connectors` that takes a `TenantScope`, in one table
//! with the permission key it needs: a scope lacking the key is refused with `Denied`
//! naming it and nothing is written; the key alone is enough; and neither another
//! organization's member nor another member of the same organization reads, changes or
//! links to a user's connections, credentials, triggers or actions. The table is checked
//! against the source, so an operation added without an entry fails a test.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_connectors::*;
use neonhub_identity::DefaultRole;
use neonhub_schema::ids::{ConnectorAuthId, CredentialId, UserId};
use neonhub_schema::seal::with_keys;
use neonhub_schema::{Denied, PERMISSIONS, PermissionSet, TenantScope, keys, time};
use neonhub_testing::fixtures::identity::{Org, member, org, scope_of};
use neonhub_testing::{owner_do, secret_keys, test_connection};
use serde_json::json;

struct Fx {
    scope: TenantScope,
    owner: UserId,
    connector: Connector,
    shared: ConnectorAuthId,
    /// The shared connection as its owner read it (what `refresh_from` takes).
    shared_row: Option<ConnectorAuth>,
    personal: ConnectorAuthId,
    credential: CredentialId,
    trigger: neonhub_schema::ids::TriggerConfigId,
    action: neonhub_schema::ids::ActionConfigId,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<usize, ConnectorError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

/// What an operation touches: a row of the fixture, a row of its own, or the global catalog.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    FixtureRow,
    OwnRow,
    Catalog,
}

struct Case {
    name: &'static str,
    key: &'static str,
    reach: Reach,
    run: Op,
}

fn case<F>(name: &'static str, key: &'static str, reach: Reach, f: F) -> Case
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Case {
        name,
        key,
        reach,
        run: Box::new(f),
    }
}

fn one<T>(r: Result<T, ConnectorError>) -> Result<usize, ConnectorError> {
    r.map(|_| 1)
}

fn tokens(tag: &str) -> AuthTokens {
    AuthTokens {
        access_token: Some(Secret::new(format!("ya29.{tag}"))),
        ..AuthTokens::default()
    }
}

fn new_auth<'a>(fx: &'a Fx, account: &'a str, shared: bool) -> NewConnectorAuth<'a> {
    NewConnectorAuth {
        connector: &fx.connector.id,
        shared,
        account_id: Some(account),
        account_name: None,
        tokens: tokens(account),
        scope: None,
        token_type: None,
        status: AuthStatus::Active,
        metadata: None,
    }
}

fn credential(account: &str) -> NewCredential<'_> {
    NewCredential {
        provider: "x",
        account_id: Some(account),
        tokens: CredentialTokens {
            access_token: Some(Secret::new("x-token")),
            ..CredentialTokens::default()
        },
        scope: None,
        token_type: None,
    }
}

fn trigger() -> NewTriggerConfig<'static> {
    static CONFIG: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| json!({}));
    NewTriggerConfig {
        name: "t",
        trigger_type: "email.received",
        config: &CONFIG,
        metadata: None,
    }
}

fn action() -> NewActionConfig<'static> {
    static CONFIG: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| json!({}));
    NewActionConfig {
        name: "a",
        action_type: "email.send",
        config: &CONFIG,
        metadata: None,
    }
}

/// How many of the fixture owner's rows a list returned.
fn owned<T>(
    r: Result<Vec<T>, ConnectorError>,
    owner: impl Fn(&T) -> bool,
) -> Result<usize, ConnectorError> {
    r.map(|v| v.iter().filter(|x| owner(x)).count())
}

fn operations() -> Vec<Case> {
    use Reach::*;
    use keys::{CONNECTORS_MANAGE as MANAGE, CONNECTORS_READ as READ};
    vec![
        case("Connector::list", READ, Catalog, |c, s, _| {
            Box::pin(async move { one(Connector::list(c, s, false).await) })
        }),
        case("Connector::by_name", READ, Catalog, |c, s, _| {
            Box::pin(async move { one(Connector::by_name(c, s, "gmail").await) })
        }),
        case("Connector::get", READ, Catalog, |c, s, f| {
            Box::pin(async move { one(Connector::get(c, s, &f.connector.id).await) })
        }),
        case("ConnectorAuth::connect", MANAGE, OwnRow, |c, s, f| {
            Box::pin(
                async move { one(ConnectorAuth::connect(c, s, &new_auth(f, "other", true)).await) },
            )
        }),
        case("ConnectorAuth::get", READ, FixtureRow, |c, s, f| {
            Box::pin(async move { one(ConnectorAuth::get(c, s, &f.personal).await) })
        }),
        case("ConnectorAuth::list", READ, FixtureRow, |c, s, f| {
            Box::pin(
                async move { owned(ConnectorAuth::list(c, s).await, |a| a.user_id == f.owner) },
            )
        }),
        case(
            "ConnectorAuth::set_tokens",
            MANAGE,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move {
                    one(ConnectorAuth::set_tokens(c, s, &f.shared, &tokens("evil")).await)
                })
            },
        ),
        case(
            "ConnectorAuth::set_status",
            MANAGE,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move {
                    one(ConnectorAuth::set_status(c, s, &f.personal, AuthStatus::Revoked).await)
                })
            },
        ),
        case("ConnectorAuth::record_use", READ, FixtureRow, |c, s, f| {
            Box::pin(async move { one(ConnectorAuth::record_use(c, s, &f.shared).await) })
        }),
        case(
            "ConnectorAuth::record_error",
            READ,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move {
                    one(ConnectorAuth::record_error(c, s, &f.personal, "boom").await)
                })
            },
        ),
        case("ConnectorAuth::refresh", READ, FixtureRow, |c, s, f| {
            Box::pin(async move {
                one(ConnectorAuth::refresh(c, s, &f.shared, async |_| {
                    Ok::<_, std::io::Error>(RefreshedTokens {
                        access_token: Secret::new("ya29.stolen"),
                        refresh_token: None,
                        expires_at: None,
                    })
                })
                .await)
            })
        }),
        case(
            "ConnectorAuth::refresh_from",
            READ,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move {
                    let seen = f.shared_row.as_ref().expect("the fixture's shared row");
                    one(ConnectorAuth::refresh_from(c, s, seen, async |_| {
                        Ok::<_, std::io::Error>(RefreshedTokens {
                            access_token: Secret::new("ya29.stolen"),
                            refresh_token: None,
                            expires_at: None,
                        })
                    })
                    .await)
                })
            },
        ),
        case("Credential::store", MANAGE, OwnRow, |c, s, _| {
            Box::pin(async move { one(Credential::store(c, s, &credential("other")).await) })
        }),
        case("Credential::get", READ, FixtureRow, |c, s, f| {
            Box::pin(async move { one(Credential::get(c, s, &f.credential).await) })
        }),
        case("Credential::list", READ, FixtureRow, |c, s, f| {
            Box::pin(
                async move { owned(Credential::list(c, s, None).await, |x| x.user_id == f.owner) },
            )
        }),
        case("Credential::set_tokens", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move {
                one(Credential::set_tokens(c, s, &f.credential, &CredentialTokens::default()).await)
            })
        }),
        case("Credential::record_use", READ, FixtureRow, |c, s, f| {
            Box::pin(async move { one(Credential::record_use(c, s, &f.credential).await) })
        }),
        case("TriggerConfig::create", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move { one(TriggerConfig::create(c, s, &f.personal, &trigger()).await) })
        }),
        case("TriggerConfig::list", READ, FixtureRow, |c, s, f| {
            Box::pin(async move { one(TriggerConfig::list(c, s, &f.personal, false).await) })
        }),
        case(
            "TriggerConfig::set_active",
            MANAGE,
            FixtureRow,
            |c, s, f| {
                Box::pin(
                    async move { one(TriggerConfig::set_active(c, s, &f.trigger, false).await) },
                )
            },
        ),
        case(
            "TriggerConfig::record_fired",
            READ,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move {
                    one(TriggerConfig::record_fired(c, s, &f.trigger, time::now()).await)
                })
            },
        ),
        case("ActionConfig::create", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move { one(ActionConfig::create(c, s, &f.shared, &action()).await) })
        }),
        case("ActionConfig::list", READ, FixtureRow, |c, s, f| {
            Box::pin(async move { one(ActionConfig::list(c, s, &f.shared, false).await) })
        }),
        case("ActionConfig::set_active", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move { one(ActionConfig::set_active(c, s, &f.action, false).await) })
        }),
        case(
            "ActionConfig::record_executed",
            READ,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move {
                    one(ActionConfig::record_executed(c, s, &f.action, time::now()).await)
                })
            },
        ),
        // Deletions last: the cases before them need the rows.
        case("TriggerConfig::delete", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move { one(TriggerConfig::delete(c, s, &f.trigger).await) })
        }),
        case("ActionConfig::delete", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move { one(ActionConfig::delete(c, s, &f.action).await) })
        }),
        case("Credential::delete", MANAGE, FixtureRow, |c, s, f| {
            Box::pin(async move { one(Credential::delete(c, s, &f.credential).await) })
        }),
        case(
            "ConnectorAuth::disconnect",
            MANAGE,
            FixtureRow,
            |c, s, f| {
                Box::pin(async move { one(ConnectorAuth::disconnect(c, s, &f.personal).await) })
            },
        ),
    ]
}

/// An organization whose owner has a shared and a personal connection (with a trigger and
/// an action), and a credential.
async fn fixture(conn: &mut AsyncPgConnection) -> (Org, Fx) {
    let acme = org(conn).await;
    let (connector, _) = owner_do(conn, async |c| Connector::upsert_all(c, CATALOG).await)
        .await
        .unwrap()
        .remove(0);
    let scope = acme.scope.clone();
    let mut fx = Fx {
        scope: scope.clone(),
        owner: acme.owner.clone(),
        connector,
        shared: ConnectorAuthId::from_string(""),
        shared_row: None,
        personal: ConnectorAuthId::from_string(""),
        credential: CredentialId::from_string(""),
        trigger: neonhub_schema::ids::TriggerConfigId::from_string(""),
        action: neonhub_schema::ids::ActionConfigId::from_string(""),
    };
    let shared = ConnectorAuth::connect(conn, &scope, &new_auth(&fx, "shared", true))
        .await
        .unwrap();
    fx.shared = shared.id.clone();
    fx.shared_row = Some(shared);
    fx.personal = ConnectorAuth::connect(conn, &scope, &new_auth(&fx, "personal", false))
        .await
        .unwrap()
        .id;
    fx.credential = Credential::store(conn, &scope, &credential("mine"))
        .await
        .unwrap()
        .id;
    fx.trigger = TriggerConfig::create(conn, &scope, &fx.personal, &trigger())
        .await
        .unwrap()
        .id;
    fx.action = ActionConfig::create(conn, &scope, &fx.shared, &action())
        .await
        .unwrap()
        .id;
    (acme, fx)
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A fingerprint of every row of the fixture owner's (all of them: the catalog too).
async fn digest(conn: &mut AsyncPgConnection, owner: &UserId) -> String {
    let sql = format!(
        r#"SELECT coalesce(md5(string_agg(r, '|' ORDER BY r)), '') AS digest FROM (
            SELECT a::text AS r FROM connector_auths a WHERE a."userId" = '{owner}'
            UNION ALL SELECT c::text FROM credentials c WHERE c."userId" = '{owner}'
            UNION ALL SELECT t::text FROM trigger_configs t
                JOIN connector_auths a ON a.id = t."connectorAuthId" WHERE a."userId" = '{owner}'
            UNION ALL SELECT x::text FROM action_configs x
                JOIN connector_auths a ON a.id = x."connectorAuthId" WHERE a."userId" = '{owner}'
            UNION ALL SELECT c::text FROM connectors c
        ) rows"#
    );
    owner_do(conn, async |c| {
        sql_query(sql).get_result::<Digest>(c).await.unwrap().digest
    })
    .await
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|case| (case.name.to_owned(), case.key.to_owned()))
        .collect();
    assert_eq!(
        listed,
        neonhub_testing::source::keys_required_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
    );
}

#[tokio::test]
async fn a_scope_lacking_the_key_is_refused_and_writes_nothing() {
    with_keys(Some(secret_keys()), async {
        let mut conn = test_connection().await;
        let (_, fx) = fixture(&mut conn).await;
        let before = digest(&mut conn, &fx.owner).await;
        for case in operations() {
            let scope = TenantScope::for_member(
                fx.scope.organization_id().clone(),
                fx.owner.clone(),
                PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != case.key)),
            );
            let err = (case.run)(&mut conn, &scope, &fx).await.unwrap_err();
            assert!(
                matches!(&err, ConnectorError::Denied(Denied::MissingPermission { key: k, .. }) if k == case.key),
                "{} without {}: {err}",
                case.name,
                case.key
            );
            assert_eq!(digest(&mut conn, &fx.owner).await, before, "{} wrote although refused", case.name);
        }
    })
    .await;
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    with_keys(Some(secret_keys()), async {
        let mut conn = test_connection().await;
        let (_, fx) = fixture(&mut conn).await;
        for case in operations() {
            let scope = TenantScope::for_member(
                fx.scope.organization_id().clone(),
                fx.owner.clone(),
                PermissionSet::of([case.key]),
            );
            let outcome = (case.run)(&mut conn, &scope, &fx).await;
            assert!(
                outcome.is_ok(),
                "{} with {} alone: {:?}",
                case.name,
                case.key,
                outcome.err()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn neither_another_organization_nor_another_member_reaches_a_users_rows() {
    with_keys(Some(secret_keys()), async {
        let mut conn = test_connection().await;
        let (acme, fx) = fixture(&mut conn).await;
        let mut before = digest(&mut conn, &fx.owner).await;
        let elsewhere = org(&mut conn).await.scope;
        let colleague = member(&mut conn, &acme, DefaultRole::Admin, true).await;
        let colleague = scope_of(&mut conn, &acme, &colleague, keys::CONNECTORS_MANAGE).await;
        // Every fixture-row case but the two lists; a colleague also uses the shared
        // connection, so only the owner's own rows are refused.
        for (who, scope, expected) in [
            ("another organization", &elsewhere, 22),
            ("another member", &colleague, 13),
        ] {
            let mut refused = 0;
            for case in operations() {
                let outcome = (case.run)(&mut conn, scope, &fx).await;
                match case.reach {
                    Reach::FixtureRow => match outcome {
                        Err(ConnectorError::NotFound { .. }) => refused += 1,
                        // A colleague shares the organization's connection, not the user's own.
                        Ok(_) if who == "another member" && touches_shared(case.name) => {}
                        Ok(0) => {}
                        other => panic!("{} from {who}: {other:?}", case.name),
                    },
                    Reach::OwnRow | Reach::Catalog => {
                        outcome.unwrap_or_else(|e| panic!("{} for {who}'s own: {e}", case.name));
                    }
                }
                let now = digest(&mut conn, &fx.owner).await;
                if who == "another member" && touches_shared(case.name) {
                    // A legitimate change to the shared connection: the new baseline.
                    before = now;
                } else {
                    assert_eq!(
                        now, before,
                        "{} from {who} changed the user's rows",
                        case.name
                    );
                }
            }
            assert_eq!(refused, expected, "{who}: operations refused");
        }
    })
    .await;
}

/// The cases that work on the organization's shared connection, which a colleague may use.
fn touches_shared(name: &str) -> bool {
    matches!(
        name,
        "ConnectorAuth::set_tokens"
            | "ConnectorAuth::record_use"
            | "ConnectorAuth::refresh"
            | "ConnectorAuth::refresh_from"
            | "ConnectorAuth::list"
            | "ActionConfig::create"
            | "ActionConfig::list"
            | "ActionConfig::set_active"
            | "ActionConfig::record_executed"
            | "ActionConfig::delete"
    )
}
