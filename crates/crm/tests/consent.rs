//! Consent decides contact: campaign precedence, latest wins, ties to the more restrictive,
//! expiry; the history is append-only; an unknown status label is a typed error.

use chrono::{Duration, NaiveDateTime};
use diesel_async::SimpleAsyncConnection;
use neonhub_crm::*;
use neonhub_schema::ids::{MarketingCampaignId, PersonId};
use neonhub_schema::{TenantScope, time};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::fixtures::marketing_campaign;
use neonhub_testing::{TestDatabase, owner_do, test_connection};

fn at(minutes_ago: i64) -> NaiveDateTime {
    time::now() - Duration::minutes(minutes_ago)
}

async fn record(
    conn: &mut diesel_async::AsyncPgConnection,
    scope: &TenantScope,
    person: &PersonId,
    status: ConsentStatus,
    collected: NaiveDateTime,
    campaign: Option<&MarketingCampaignId>,
    expires_at: Option<NaiveDateTime>,
) -> Consent {
    Consent::record(
        conn,
        scope,
        person,
        &NewConsent {
            channel: "email",
            campaign,
            status,
            source: Some("test"),
            collected_at: Some(collected),
            expires_at,
            evidence: None,
            metadata: None,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_latest_record_decides_campaigns_first_ties_to_the_more_restrictive() {
    use ConsentStatus::*;
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let p = Person::create(&mut conn, s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    let spring = marketing_campaign(&mut conn, s.organization_id()).await;
    let summer = marketing_campaign(&mut conn, s.organization_id()).await;
    let may = async |conn: &mut _, campaign| {
        Consent::may_contact(conn, s, &p, "email", campaign)
            .await
            .unwrap()
    };

    let none = may(&mut conn, None).await;
    assert_eq!(
        (none.allowed, none.reason, none.deciding),
        (false, ContactReason::NoConsent, None)
    );

    let granted = record(&mut conn, s, &p, Granted, at(60), None, None).await;
    let d = may(&mut conn, None).await;
    assert!(d.allowed);
    assert_eq!(d.deciding.as_ref().map(|c| &c.id), Some(&granted.id));
    // Latest wins: a later revocation.
    let revoked = record(&mut conn, s, &p, Revoked, at(50), None, None).await;
    let d = may(&mut conn, None).await;
    assert_eq!(
        (d.allowed, d.reason),
        (false, ContactReason::NotGranted(Revoked))
    );
    assert_eq!(d.deciding.unwrap().id, revoked.id);
    // A campaign-specific grant takes precedence over the channel-wide revocation, for that
    // campaign only.
    let spring_grant = record(&mut conn, s, &p, Granted, at(55), Some(&spring), None).await;
    let d = may(&mut conn, Some(&spring)).await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(d.deciding.unwrap().id, spring_grant.id);
    let d = may(&mut conn, Some(&summer)).await;
    assert!(
        !d.allowed,
        "another campaign falls back to the channel-wide record"
    );
    assert_eq!(d.deciding.unwrap().id, revoked.id);
    // Exact-time tie: the more restrictive status wins, whatever the insertion order.
    let tie = at(40);
    record(&mut conn, s, &p, Denied, tie, None, None).await;
    record(&mut conn, s, &p, Granted, tie, None, None).await;
    let d = may(&mut conn, None).await;
    assert_eq!(d.reason, ContactReason::NotGranted(Denied));
    // Pending is more restrictive than granted, less than revoked.
    let tie = at(30);
    record(&mut conn, s, &p, Granted, tie, None, None).await;
    record(&mut conn, s, &p, Pending, tie, None, None).await;
    assert_eq!(
        may(&mut conn, None).await.reason,
        ContactReason::NotGranted(Pending)
    );
    // An expired grant is not a grant, and it still decides (an older grant does not revive).
    record(&mut conn, s, &p, Granted, at(20), None, Some(at(25))).await;
    assert_eq!(may(&mut conn, None).await.reason, ContactReason::Expired);
    let expiring = record(&mut conn, s, &p, Granted, at(10), None, Some(at(1))).await;
    let d = may(&mut conn, None).await;
    assert_eq!((d.allowed, d.reason), (false, ContactReason::Expired));
    assert_eq!(d.deciding.unwrap().id, expiring.id);
    let fresh = record(
        &mut conn,
        s,
        &p,
        Granted,
        at(5),
        None,
        Some(time::now() + Duration::days(30)),
    )
    .await;
    let d = may(&mut conn, None).await;
    assert!(d.allowed);
    assert_eq!(d.deciding.unwrap().id, fresh.id);
    // The whole history is kept, newest first; another channel knows nothing.
    let history = Consent::history(&mut conn, s, &p, Some("email"))
        .await
        .unwrap();
    assert_eq!(history.len(), 10);
    assert!(
        history
            .windows(2)
            .all(|w| w[0].collected_at >= w[1].collected_at)
    );
    let sms = Consent::may_contact(&mut conn, s, &p, "sms", None)
        .await
        .unwrap();
    assert_eq!(sms.reason, ContactReason::NoConsent);
    // Another organization asking about this person learns nothing.
    let other = org(&mut conn).await;
    let d = Consent::may_contact(&mut conn, &other.scope, &p, "email", None)
        .await
        .unwrap();
    assert_eq!((d.allowed, d.deciding), (false, None));
    // A consent in the future is refused.
    let err = Consent::record(
        &mut conn,
        s,
        &p,
        &NewConsent {
            channel: "email",
            campaign: None,
            status: Granted,
            source: None,
            collected_at: Some(time::now() + Duration::days(1)),
            expires_at: None,
            evidence: None,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CrmError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn the_history_is_append_only_in_the_database_too() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let p = Person::create(&mut conn, &acme.scope, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    let c = record(
        &mut conn,
        &acme.scope,
        &p,
        ConsentStatus::Revoked,
        at(1),
        None,
        None,
    )
    .await;
    let sql = format!(
        "UPDATE person_consents SET status = 'granted' WHERE id = '{}'",
        c.id
    );
    let err = owner_do(&mut conn, async |tx| tx.batch_execute(&sql).await)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_status_label_in_the_database_is_a_typed_error() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let p = Person::create(&mut owner, &acme.scope, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    owner
        .batch_execute(r#"ALTER TYPE "ConsentStatus" ADD VALUE 'withdrawn'"#)
        .await
        .unwrap();
    owner
        .batch_execute(&format!(
            r#"INSERT INTO person_consents (id, "personId", "organizationId", channel, status, "collectedAt", "updatedAt")
               VALUES ('c-w', '{p}', '{}', 'email', 'withdrawn', now(), now())"#,
            acme.scope.organization_id()
        ))
        .await
        .unwrap();
    let mut app = db.connect_as_app().await;
    let err = Consent::history(&mut app, &acme.scope, &p, None)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("withdrawn"), "{err}");
    let err = Consent::may_contact(&mut app, &acme.scope, &p, "email", None)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::Invalid(_)), "{err}");
}
