//! Users, accounts, sessions, verification tokens and API keys, against a real database.

use chrono::Duration;
use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use neonhub_identity::*;
use neonhub_schema::ids::{ApiKeyId, UserId};
use neonhub_schema::schema::{accounts, api_keys, sessions};
use neonhub_schema::seal::{SealError, with_keys};
use neonhub_schema::{UserScope, time};
use neonhub_testing::fixtures::identity::*;
use neonhub_testing::{TestDatabase, fixtures, test_connection};

#[tokio::test]
async fn users_have_one_normalized_email() {
    let mut conn = test_connection().await;
    let email = format!("  Ada.Lovelace+{}@Example.COM ", UserId::generate());
    let ada = User::create(
        &mut conn,
        &NewUser {
            email: &email,
            name: Some("Ada"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        ada.email,
        email.trim().replace("Example.COM", "example.com")
    );
    let lookup = format!(" {} ", email.trim().replace("Example.COM", "EXAMPLE.com"));
    assert_eq!(User::by_email(&mut conn, &lookup).await.unwrap().id, ada.id);
    assert_eq!(User::get(&mut conn, &ada.id).await.unwrap(), ada);

    let dup = User::create(
        &mut conn,
        &NewUser {
            email: &email.replace("example", "EXAMPLE"),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(dup, IdentityError::DuplicateEmail(_)), "{dup}");
    for bad in [
        "",
        "no-at-sign",
        "@example.com",
        "ada@",
        "a b@example.com",
        "a@b@c",
    ] {
        let err = User::create(
            &mut conn,
            &NewUser {
                email: bad,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidEmail(_)),
            "{bad:?}: {err}"
        );
    }

    let renamed = User::update(
        &mut conn,
        &ada.id,
        &UserChanges {
            email: Some(" ada@NEW.example "),
            name: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (renamed.email.as_str(), renamed.name.as_deref()),
        ("ada@new.example", None)
    );
    assert!(renamed.updated_at >= ada.updated_at);
    User::delete(&mut conn, &ada.id).await.unwrap();
    let gone = User::get(&mut conn, &ada.id).await.unwrap_err();
    assert!(
        matches!(gone, IdentityError::NotFound { entity: "user", .. }),
        "{gone}"
    );
    assert!(matches!(
        User::delete(&mut conn, &ada.id).await.unwrap_err(),
        IdentityError::NotFound { .. }
    ));
}

#[tokio::test]
async fn accounts_are_unique_per_provider_and_never_print_tokens() {
    with_keys(Some(neonhub_testing::secret_keys()), async {
        let mut conn = test_connection().await;
        let (a, b) = (
            fixtures::user(&mut conn).await,
            fixtures::user(&mut conn).await,
        );
        let access = Secret::new("ya29.very-secret-access-token");
        let provider_id = UserId::generate().to_string();
        let new = NewAccount {
            kind: "oauth",
            provider: "google",
            provider_account_id: &provider_id,
            access_token: Some(&access),
            ..Default::default()
        };
        let linked = Account::link(&mut conn, &a, &new).await.unwrap();
        assert_eq!(
            linked.access_token.as_ref().unwrap().expose(),
            access.expose()
        );
        let printed = format!("{linked:?} {}", serde_json::to_string(&linked).unwrap());
        assert!(!printed.contains("very-secret"), "{printed}");

        let dup = Account::link(&mut conn, &b, &new).await.unwrap_err();
        assert!(
            matches!(dup, IdentityError::DuplicateAccount { .. }),
            "{dup}"
        );
        let found = Account::by_provider(&mut conn, "google", &provider_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user_id, a);
        assert!(
            Account::by_provider(&mut conn, "github", &provider_id)
                .await
                .unwrap()
                .is_none()
        );
        // b cannot unlink a's account; a can.
        let err = Account::unlink(&mut conn, &b, &linked.id)
            .await
            .unwrap_err();
        assert!(matches!(err, IdentityError::NotFound { .. }), "{err}");
        assert_eq!(Account::for_user(&mut conn, &a).await.unwrap().len(), 1);
        Account::unlink(&mut conn, &a, &linked.id).await.unwrap();
        assert!(Account::for_user(&mut conn, &a).await.unwrap().is_empty());
        // Stored sealed, bound to the row: the column holds no trace of the token.
        let linked = Account::link(&mut conn, &a, &new).await.unwrap();
        let stored: Option<String> = UserScope::trusted(a.clone())
            .transaction(&mut conn, async |tx| {
                accounts::table
                    .find(&linked.id)
                    .select(accounts::access_token)
                    .get_result(tx)
                    .await
            })
            .await
            .unwrap();
        let stored = stored.unwrap();
        assert!(stored.starts_with("nh1:test:"), "{stored}");
        assert!(!stored.contains("very-secret"), "{stored}");
    })
    .await;
    // Without a key nothing is written, and a sealed token is not read.
    with_keys(None, async {
        let mut conn = test_connection().await;
        let user = fixtures::user(&mut conn).await;
        let token = Secret::new("ya29.no-key");
        let new = NewAccount {
            kind: "oauth",
            provider: "github",
            provider_account_id: "no-key",
            access_token: Some(&token),
            ..Default::default()
        };
        let err = Account::link(&mut conn, &user, &new).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::Seal(SealError::NoKey(_))),
            "{err}"
        );
        assert!(
            Account::for_user(&mut conn, &user)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_are_found_by_token_only_until_they_expire() {
    let mut conn = test_connection().await;
    let user = fixtures::user(&mut conn).await;
    let live = Session::create(&mut conn, &user, time::now() + Duration::hours(1))
        .await
        .unwrap();
    let dead = Session::create(&mut conn, &user, time::now() - Duration::seconds(1))
        .await
        .unwrap();
    assert_ne!(live.token, dead.token);
    assert!(!format!("{live:?}").contains(live.token.expose()));

    assert_eq!(
        Session::by_token(&mut conn, live.token.expose())
            .await
            .unwrap()
            .unwrap()
            .user_id,
        user
    );
    assert!(
        Session::by_token(&mut conn, dead.token.expose())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Session::by_token(&mut conn, "nope")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !Session::extend(
            &mut conn,
            dead.token.expose(),
            time::now() + Duration::days(1)
        )
        .await
        .unwrap()
    );
    assert!(
        Session::extend(
            &mut conn,
            live.token.expose(),
            time::now() + Duration::days(1)
        )
        .await
        .unwrap()
    );

    // Cleanup is system work, as the owner.
    let cleaned = neonhub_testing::owner_do(&mut conn, async |conn| {
        Session::delete_expired(conn).await.unwrap()
    })
    .await;
    assert!(cleaned >= 1);
    let left: i64 = neonhub_testing::owner_do(&mut conn, async |conn| {
        sessions::table
            .filter(sessions::userId.eq(&user))
            .count()
            .get_result(conn)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(left, 1, "only the expired session was cleaned up");
    assert!(
        Session::delete(&mut conn, live.token.expose())
            .await
            .unwrap()
    );
    assert!(
        Session::by_token(&mut conn, live.token.expose())
            .await
            .unwrap()
            .is_none()
    );
    let err = Session::create(&mut conn, &UserId::generate(), time::now())
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::UserNotFound(_)), "{err}");
}

#[tokio::test]
async fn a_verification_token_works_once_and_not_after_it_expires() {
    let mut conn = test_connection().await;
    let who = format!("{}@example.test", UserId::generate());
    let token = VerificationToken::issue(&mut conn, &who, time::now() + Duration::minutes(10))
        .await
        .unwrap();
    assert!(!format!("{token:?}").contains(token.token.expose()));
    let wrong_identifier =
        VerificationToken::consume(&mut conn, "someone@else.test", token.token.expose())
            .await
            .unwrap();
    assert_eq!(wrong_identifier, Err(TokenRejected::Invalid));
    assert_eq!(
        VerificationToken::consume(&mut conn, &who, token.token.expose())
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        VerificationToken::consume(&mut conn, &who, token.token.expose())
            .await
            .unwrap(),
        Err(TokenRejected::Invalid)
    );

    let old = VerificationToken::issue(&mut conn, &who, time::now() - Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        VerificationToken::consume(&mut conn, &who, old.token.expose())
            .await
            .unwrap(),
        Err(TokenRejected::Expired)
    );
    assert_eq!(
        VerificationToken::consume(&mut conn, &who, old.token.expose())
            .await
            .unwrap(),
        Err(TokenRejected::Invalid)
    );
}

#[tokio::test]
async fn two_concurrent_consumptions_of_one_token_let_exactly_one_through() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect_as_app().await;
    for _ in 0..5 {
        let token = VerificationToken::issue(
            &mut conn,
            "race@example.test",
            time::now() + Duration::minutes(5),
        )
        .await
        .unwrap();
        let (mut a, mut b) = (db.connect_as_app().await, db.connect_as_app().await);
        let (t1, t2) = (
            token.token.expose().to_owned(),
            token.token.expose().to_owned(),
        );
        let (ra, rb) = tokio::join!(
            VerificationToken::consume(&mut a, "race@example.test", &t1),
            VerificationToken::consume(&mut b, "race@example.test", &t2),
        );
        let outcomes = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "{outcomes:?}"
        );
        assert!(outcomes.contains(&Err(TokenRejected::Invalid)));
    }
}

async fn stored_hash(conn: &mut diesel_async::AsyncPgConnection, id: &ApiKeyId) -> String {
    // As the owner: the stored row, read around the repository.
    neonhub_testing::owner_do(conn, async |conn| {
        api_keys::table
            .find(id)
            .select(api_keys::tokenHash)
            .first(conn)
            .await
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn api_keys_are_shown_once_stored_hashed_and_verified_with_their_scopes() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let new = NewApiKey {
        name: "ci",
        scopes: &[keys::CAMPAIGNS_WRITE, keys::CONTENT_READ],
        expires_at: None,
    };
    let issued = ApiKey::issue(&mut conn, &o.scope, &new).await.unwrap();
    let token = issued.token.expose().to_owned();
    assert!(token.starts_with(&format!("nhk_{}_", issued.key.id)));
    assert_eq!(
        token.len(),
        "nhk_".len() + issued.key.id.as_str().len() + 1 + 64
    );
    for printed in [
        format!("{issued:?}"),
        format!("{}", issued.token),
        format!("{:?}", issued.token),
    ] {
        assert!(!printed.contains(&token[token.len() - 64..]), "{printed}");
    }
    // Never readable back: neither the model nor the row holds the key.
    let hash = stored_hash(&mut conn, &issued.key.id).await;
    assert!(hash.starts_with("sha256:") && !hash.contains(&token[token.len() - 64..]));
    let listed = ApiKey::list(&mut conn, &o.scope).await.unwrap();
    assert!(
        !serde_json::to_string(&listed)
            .unwrap()
            .contains(&token[token.len() - 64..])
    );

    let verified = ApiKey::verify(&mut conn, &token, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap();
    assert_eq!(verified.scope.organization_id(), &o.org.id);
    assert_eq!(verified.scope.actor().user_id(), Some(&o.owner));
    let used = verified.key.last_used_at;
    let stamped: Option<chrono::NaiveDateTime> =
        neonhub_testing::owner_do(&mut conn, async |conn| {
            api_keys::table
                .find(&issued.key.id)
                .select(api_keys::lastUsedAt)
                .first(conn)
                .await
                .unwrap()
        })
        .await;
    assert!(stamped.is_some() && used.is_none());
    // A second use within the minute writes nothing.
    ApiKey::verify(&mut conn, &token, keys::CONTENT_READ)
        .await
        .unwrap();
    let again: Option<chrono::NaiveDateTime> = neonhub_testing::owner_do(&mut conn, async |conn| {
        api_keys::table
            .find(&issued.key.id)
            .select(api_keys::lastUsedAt)
            .first(conn)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(again, stamped);

    let err = ApiKey::verify(&mut conn, &token, keys::BILLING_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiKeyRejected::MissingScope(_)), "{err}");
    // A member cannot issue a key with scopes beyond their own role.
    let member_user = member(&mut conn, &o, DefaultRole::Member, true).await;
    let as_member = scope_of(&mut conn, &o, &member_user, keys::CONTENT_READ).await;
    let err = ApiKey::issue(&mut conn, &as_member, &new)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Denied(_)), "{err}");
    let system = neonhub_schema::TenantScope::trusted_system(o.org.id.clone());
    let err = ApiKey::issue(&mut conn, &system, &new).await.unwrap_err();
    assert!(matches!(err, IdentityError::UserActorRequired(_)), "{err}");
}

#[tokio::test]
async fn revoked_expired_tampered_foreign_and_orphaned_keys_are_rejected() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let scopes = [keys::CAMPAIGNS_READ];
    let issue = |expires_at| NewApiKey {
        name: "k",
        scopes: &scopes,
        expires_at,
    };

    let revoked = ApiKey::issue(&mut conn, &o.scope, &issue(None))
        .await
        .unwrap();
    ApiKey::revoke(&mut conn, &o.scope, &revoked.key.id)
        .await
        .unwrap();
    let err = ApiKey::verify(&mut conn, revoked.token.expose(), keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiKeyRejected::Revoked), "{err}");

    let expired = ApiKey::issue(
        &mut conn,
        &o.scope,
        &issue(Some(time::now() - Duration::seconds(1))),
    )
    .await
    .unwrap();
    let err = ApiKey::verify(&mut conn, expired.token.expose(), keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiKeyRejected::Expired), "{err}");

    let good = ApiKey::issue(
        &mut conn,
        &o.scope,
        &issue(Some(time::now() + Duration::days(30))),
    )
    .await
    .unwrap();
    let token = good.token.expose();
    // Tampered: one secret digit changed; the id of another key; garbage.
    let last = token.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let err = ApiKey::verify(&mut conn, &flipped, keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiKeyRejected::Invalid), "{err}");
    let swapped = token.replace(good.key.id.as_str(), revoked.key.id.as_str());
    let err = ApiKey::verify(&mut conn, &swapped, keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiKeyRejected::Invalid), "{err}");
    let unknown = token.replace(good.key.id.as_str(), ApiKeyId::generate().as_str());
    assert!(matches!(
        ApiKey::verify(&mut conn, &unknown, keys::CAMPAIGNS_READ)
            .await
            .unwrap_err(),
        ApiKeyRejected::Invalid
    ));
    for garbage in ["", "nhk_", "Bearer xyz", &token[..token.len() - 1]] {
        let err = ApiKey::verify(&mut conn, garbage, keys::CAMPAIGNS_READ)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiKeyRejected::Malformed),
            "{garbage:?}: {err}"
        );
    }
    ApiKey::verify(&mut conn, token, keys::CAMPAIGNS_READ)
        .await
        .unwrap();

    // A row hashed by another tool is refused and left exactly as it was.
    let before = stored_hash(&mut conn, &good.key.id).await;
    neonhub_testing::owner_do(&mut conn, async |conn| {
        diesel::update(api_keys::table.find(&good.key.id))
            .set(api_keys::tokenHash.eq("$2b$10$someoneelseshash"))
            .execute(conn)
            .await
            .unwrap()
    })
    .await;
    assert!(matches!(
        ApiKey::verify(&mut conn, token, keys::CAMPAIGNS_READ)
            .await
            .unwrap_err(),
        ApiKeyRejected::Invalid
    ));
    assert_eq!(
        stored_hash(&mut conn, &good.key.id).await,
        "$2b$10$someoneelseshash"
    );
    neonhub_testing::owner_do(&mut conn, async |conn| {
        diesel::update(api_keys::table.find(&good.key.id))
            .set(api_keys::tokenHash.eq(before))
            .execute(conn)
            .await
            .unwrap()
    })
    .await;

    // The key of a suspended member stops working, and works again on reactivation.
    let admin_user = member(&mut conn, &o, DefaultRole::Admin, true).await;
    let as_admin = scope_of(&mut conn, &o, &admin_user, keys::API_KEYS_MANAGE).await;
    let admins = ApiKey::issue(&mut conn, &as_admin, &issue(None))
        .await
        .unwrap();
    ApiKey::verify(&mut conn, admins.token.expose(), keys::CAMPAIGNS_READ)
        .await
        .unwrap();
    Membership::suspend(&mut conn, &o.scope, &admin_user)
        .await
        .unwrap();
    let err = ApiKey::verify(&mut conn, admins.token.expose(), keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiKeyRejected::MemberDenied(Denied::Inactive { .. })),
        "{err}"
    );
    Membership::reactivate(&mut conn, &o.scope, &admin_user)
        .await
        .unwrap();
    ApiKey::verify(&mut conn, admins.token.expose(), keys::CAMPAIGNS_READ)
        .await
        .unwrap();

    let tail: Vec<_> = audit_actions(&mut conn, &o)
        .await
        .into_iter()
        .filter(|a| a.starts_with("api_key."))
        .collect();
    assert_eq!(
        tail,
        [
            actions::API_KEY_ISSUED,
            actions::API_KEY_REVOKED,
            actions::API_KEY_ISSUED,
            actions::API_KEY_ISSUED,
            actions::API_KEY_ISSUED
        ]
    );
}
