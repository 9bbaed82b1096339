//! Campaign life: every status change judged by the machine, metrics in bulk and their
//! daily rollups, what is due, emails sent once, and posts published once under two
//! concurrent publishers.

use chrono::{Duration, NaiveDate};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use neonhub_campaigns::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::CampaignId;
use neonhub_schema::time;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, as_owner, test_connection};

async fn campaign(conn: &mut AsyncPgConnection, s: &TenantScope) -> CampaignId {
    Campaign::create(
        conn,
        s,
        &NewCampaign {
            name: "Spring",
            kind: "email",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id
}

async fn set_status(conn: &mut AsyncPgConnection, id: &CampaignId, status: CampaignStatus) {
    as_owner(
        conn,
        &format!("UPDATE campaigns SET status = '{status}' WHERE id = '{id}'"),
    )
    .await;
}

#[tokio::test]
async fn every_status_change_is_judged_by_the_life_cycle() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let id = campaign(&mut conn, s).await;
    let mut allowed = 0;
    for &from in CampaignStatus::ALL {
        for &to in CampaignStatus::ALL {
            set_status(&mut conn, &id, from).await;
            let outcome = Campaign::transition(&mut conn, s, &id, to).await;
            let now = Campaign::get(&mut conn, s, &id).await.unwrap().status;
            if transition_allowed(from, to) {
                allowed += 1;
                assert_eq!(outcome.unwrap().status, to, "{from} -> {to}");
                assert_eq!(now, to);
            } else {
                let err = outcome.unwrap_err();
                assert!(
                    matches!(&err, CampaignError::IllegalTransition { from: f, to: t, .. }
                        if *f == from.to_string() && *t == to.to_string()),
                    "{from} -> {to}: {err}"
                );
                assert!(
                    err.to_string().contains(from.as_str())
                        && err.to_string().contains(to.as_str())
                );
                assert_eq!(
                    now, from,
                    "{from} -> {to} changed the status although refused"
                );
            }
        }
    }
    // draft→scheduled, scheduled→active, active⇄paused, active/paused→completed,
    // completed→archived.
    assert_eq!(allowed, 7);
    // The whole road, through the repository alone.
    let road = campaign(&mut conn, s).await;
    for to in [
        CampaignStatus::Scheduled,
        CampaignStatus::Active,
        CampaignStatus::Paused,
        CampaignStatus::Active,
        CampaignStatus::Completed,
        CampaignStatus::Archived,
    ] {
        Campaign::transition(&mut conn, s, &road, to).await.unwrap();
    }
}

#[tokio::test]
async fn metrics_are_appended_whole_and_rolled_up_per_kind_and_day() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let id = campaign(&mut conn, s).await;
    let day = |d: u32, h: u32| {
        NaiveDate::from_ymd_opt(2026, 11, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    };
    let rows = [
        ("sent", 100.0, day(1, 9)),
        ("sent", 50.0, day(1, 23)),
        ("sent", 70.0, day(2, 0)),
        ("opened", 30.0, day(1, 10)),
    ];
    let metrics: Vec<NewMetric<'_>> = rows
        .iter()
        .map(|(kind, value, at)| NewMetric {
            kind,
            value: Some(*value),
            payload: None,
            at: Some(*at),
        })
        .collect();
    assert_eq!(
        CampaignMetric::append_many(&mut conn, s, &id, &metrics)
            .await
            .unwrap(),
        4
    );
    let rollup = CampaignMetric::rollup(&mut conn, s, &id, day(1, 0), day(3, 0))
        .await
        .unwrap();
    type Row = (
        String,
        chrono::NaiveDateTime,
        i64,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );
    let got: Vec<Row> = rollup
        .into_iter()
        .map(|r| (r.kind, r.day, r.count, r.sum, r.min, r.max))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "opened".into(),
                day(1, 0),
                1,
                Some(30.0),
                Some(30.0),
                Some(30.0)
            ),
            (
                "sent".into(),
                day(1, 0),
                2,
                Some(150.0),
                Some(50.0),
                Some(100.0)
            ),
            (
                "sent".into(),
                day(2, 0),
                1,
                Some(70.0),
                Some(70.0),
                Some(70.0)
            ),
        ]
    );
    // A bad row refuses the batch, naming it; nothing of it is written.
    let bad = [
        NewMetric {
            kind: "sent",
            value: Some(1.0),
            payload: None,
            at: None,
        },
        NewMetric {
            kind: "sent",
            value: Some(f64::NAN),
            payload: None,
            at: None,
        },
    ];
    let err = CampaignMetric::append_many(&mut conn, s, &id, &bad)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CampaignError::BatchRow { position: 1, .. }),
        "{err}"
    );
    let empty_kind = [NewMetric {
        kind: "",
        value: None,
        payload: None,
        at: None,
    }];
    assert!(matches!(
        CampaignMetric::append_many(&mut conn, s, &id, &empty_kind).await,
        Err(CampaignError::BatchRow { position: 0, .. })
    ));
    let all = CampaignMetric::rollup(
        &mut conn,
        s,
        &id,
        day(1, 0),
        time::now() + Duration::days(1),
    )
    .await
    .unwrap();
    assert_eq!(all.iter().map(|r| r.count).sum::<i64>(), 4);
}

#[tokio::test]
async fn due_lists_what_active_campaigns_must_send_and_sending_is_recorded_once() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let now = time::now();
    let (active, paused) = (campaign(&mut conn, s).await, campaign(&mut conn, s).await);
    for id in [&active, &paused] {
        for to in [CampaignStatus::Scheduled, CampaignStatus::Active] {
            Campaign::transition(&mut conn, s, id, to).await.unwrap();
        }
    }
    Campaign::transition(&mut conn, s, &paused, CampaignStatus::Paused)
        .await
        .unwrap();
    let email = |subject, minutes: i64| NewEmail {
        subject,
        body: "Hello",
        variant: None,
        scheduled_for: Some(now + Duration::minutes(minutes)),
    };
    let past = EmailSequence::create(&mut conn, s, &active, &email("past", -10))
        .await
        .unwrap();
    let earlier = EmailSequence::create(&mut conn, s, &active, &email("earlier", -20))
        .await
        .unwrap();
    EmailSequence::create(&mut conn, s, &active, &email("future", 10))
        .await
        .unwrap();
    EmailSequence::create(&mut conn, s, &paused, &email("paused", -10))
        .await
        .unwrap();
    let due = EmailSequence::due(&mut conn, s, now, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>(),
        ["earlier", "past"]
    );
    assert_eq!(
        EmailSequence::due(&mut conn, s, now, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    let sent = EmailSequence::mark_sent(&mut conn, s, &past.id, now)
        .await
        .unwrap();
    assert_eq!(sent.sent_at, Some(now));
    let again = EmailSequence::mark_sent(&mut conn, s, &past.id, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.sent_at, Some(now), "sent once: the first time stays");
    assert_eq!(
        EmailSequence::due(&mut conn, s, now, 10).await.unwrap()[0].id,
        earlier.id
    );
    // Posts: the same rules.
    let post = SocialPost::create(
        &mut conn,
        s,
        &active,
        &NewPost {
            platform: "linkedin",
            content: "Spring",
            scheduled_for: Some(now - Duration::minutes(1)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        SocialPost::due(&mut conn, s, now, 10).await.unwrap()[0].id,
        post.id
    );
    SocialPost::publish(&mut conn, s, &post.id, "urn:1", now)
        .await
        .unwrap();
    assert!(
        SocialPost::due(&mut conn, s, now, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Limits are checked.
    for limit in [0, MAX_DUE + 1] {
        assert!(matches!(
            SocialPost::due(&mut conn, s, now, limit).await,
            Err(CampaignError::Invalid(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_publishers_record_one_publication() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let s = acme.scope.clone();
    let mut app = db.connect_as_app().await;
    let id = campaign(&mut app, &s).await;
    let new_post = || NewPost {
        platform: "x",
        content: "Spring",
        ..Default::default()
    };
    for round in 0..10 {
        let post = SocialPost::create(&mut app, &s, &id, &new_post())
            .await
            .unwrap();
        let external = format!("tweet-{round}");
        let (mut a, mut b) = (db.connect_as_app().await, db.connect_as_app().await);
        let (ra, rb) = tokio::join!(
            SocialPost::publish(&mut a, &s, &post.id, &external, time::now()),
            SocialPost::publish(&mut b, &s, &post.id, &external, time::now()),
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(
            [ra.first, rb.first].iter().filter(|f| **f).count(),
            1,
            "round {round}: exactly one publisher records it"
        );
        assert_eq!(ra.post.published_at, rb.post.published_at);
        // Different ids at once: one wins, the other is told where it went.
        let other = SocialPost::create(&mut app, &s, &id, &new_post())
            .await
            .unwrap();
        let (ea, eb) = (format!("a-{round}"), format!("b-{round}"));
        let (ra, rb) = tokio::join!(
            SocialPost::publish(&mut a, &s, &other.id, &ea, time::now()),
            SocialPost::publish(&mut b, &s, &other.id, &eb, time::now()),
        );
        let outcomes = [ra, rb];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}"
        );
        assert!(
            outcomes
                .iter()
                .any(|r| matches!(r, Err(CampaignError::PublishedElsewhere { .. })))
        );
    }
    // Invariant: no external id is recorded twice, every published post has one.
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel_async::RunQueryDsl;
    let dupes: N = diesel::sql_query(
        r#"SELECT count(*) AS n FROM (SELECT platform, "externalId" FROM social_posts
           WHERE "externalId" IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) d"#,
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!(dupes.n, 0);
    let published: N = diesel::sql_query(
        r#"SELECT count(*) AS n FROM social_posts WHERE "publishedAt" IS NOT NULL AND "externalId" IS NOT NULL"#,
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!(published.n, 20);
    // An id another post holds: refused by the database's unique index, named.
    let third = SocialPost::create(&mut app, &s, &id, &new_post())
        .await
        .unwrap();
    let err = SocialPost::publish(&mut app, &s, &third.id, "tweet-0", time::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CampaignError::ExternalIdTaken { external_id, .. } if external_id == "tweet-0"),
        "{err}"
    );
    owner.batch_execute("SELECT 1").await.unwrap();
}
