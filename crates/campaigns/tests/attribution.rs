//! Attribution against hand-computed weights for every model (one touchpoint, ties at one
//! instant, touches after the conversion), weights summing to 1, re-runs changing nothing,
//! the report, and the lead uniqueness under concurrent inserts of one email in two
//! spellings.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel_async::AsyncPgConnection;
use neonhub_campaigns::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::{MarketingCampaignId, MarketingLeadId};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, test_connection};

fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

fn hours(h: i64) -> NaiveDateTime {
    t0() + Duration::hours(h)
}

async fn campaign(conn: &mut AsyncPgConnection, s: &TenantScope) -> MarketingCampaignId {
    MarketingCampaign::create(
        conn,
        s,
        &NewMarketingCampaign {
            name: "Autumn",
            kind: MarketingCampaignType::Email,
            brand: None,
            description: None,
            budget: Some(1000.0),
            start_date: t0(),
            end_date: None,
        },
    )
    .await
    .unwrap()
    .id
}

/// A lead of `campaign` touched at `at` (hours) on `channels`, converted at `converted`
/// (hours) for `value`; returns the lead and its touchpoints' ids in order.
async fn lead(
    conn: &mut AsyncPgConnection,
    s: &TenantScope,
    campaign: &MarketingCampaignId,
    email: &str,
    touches: &[(i64, &str)],
    converted: Option<(i64, f64)>,
) -> (
    MarketingLeadId,
    Vec<neonhub_schema::ids::MarketingTouchpointId>,
) {
    let lead = MarketingLead::create(
        conn,
        s,
        &NewLead {
            email,
            source: "ads",
            campaign: Some(campaign),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for (h, channel) in touches {
        ids.push(
            MarketingTouchpoint::add(
                conn,
                s,
                &lead.id,
                &NewTouchpoint {
                    kind: MarketingTouchpointType::AdClick,
                    channel,
                    campaign: Some(campaign),
                    url: None,
                    referrer: None,
                    event_data: None,
                    at: Some(hours(*h)),
                },
            )
            .await
            .unwrap()
            .id,
        );
    }
    if let Some((h, value)) = converted {
        MarketingLead::convert(conn, s, &lead.id, value, hours(h))
            .await
            .unwrap();
    }
    (lead.id, ids)
}

async fn weights(
    conn: &mut AsyncPgConnection,
    s: &TenantScope,
    lead: &MarketingLeadId,
) -> Vec<f64> {
    MarketingTouchpoint::list(conn, s, lead)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.attribution_weight)
        .collect()
}

fn assert_weights(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{what}: got {got:?}, want {want:?}");
    }
}

#[tokio::test]
async fn every_model_gives_the_hand_computed_weights() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let c = campaign(&mut conn, s).await;
    // Touches at 0 h, 10 h, 10 h (a tie), 20 h; converted at 24 h; a touch at 30 h, after
    // the conversion, that never counts. (Listed by time, then id: the 10 h pair in
    // creation order.)
    let (main, _) = lead(
        &mut conn,
        s,
        &c,
        "main@example.com",
        &[
            (0, "search"),
            (10, "email"),
            (10, "social"),
            (20, "email"),
            (30, "email"),
        ],
        Some((24, 100.0)),
    )
    .await;
    let (single, _) = lead(
        &mut conn,
        s,
        &c,
        "one@example.com",
        &[(5, "email")],
        Some((6, 10.0)),
    )
    .await;
    let (same, _) = lead(
        &mut conn,
        s,
        &c,
        "same@example.com",
        &[(3, "email"), (3, "search"), (3, "social")],
        Some((4, 30.0)),
    )
    .await;
    let (pair, _) = lead(
        &mut conn,
        s,
        &c,
        "pair@example.com",
        &[(1, "email"), (1, "search"), (2, "social")],
        Some((3, 20.0)),
    )
    .await;
    let (open, _) = lead(&mut conn, s, &c, "open@example.com", &[(1, "email")], None).await;

    let decay = |age_h: f64| 0.5_f64.powf(age_h / 24.0);
    let (d0, d10, d20) = (decay(24.0), decay(14.0), decay(4.0));
    let total = d0 + 2.0 * d10 + d20;
    let third = 1.0 / 3.0;
    let cases: Vec<(Model, [Vec<f64>; 4])> = vec![
        (
            Model::FirstTouch,
            [
                vec![1.0, 0.0, 0.0, 0.0, 0.0],
                vec![1.0],
                vec![third, third, third],
                vec![0.5, 0.5, 0.0],
            ],
        ),
        (
            Model::LastTouch,
            [
                vec![0.0, 0.0, 0.0, 1.0, 0.0],
                vec![1.0],
                vec![third, third, third],
                vec![0.0, 0.0, 1.0],
            ],
        ),
        (
            Model::Linear,
            [
                vec![0.25, 0.25, 0.25, 0.25, 0.0],
                vec![1.0],
                vec![third, third, third],
                vec![third, third, third],
            ],
        ),
        (
            Model::TimeDecay {
                half_life: Duration::hours(24),
            },
            [
                vec![d0 / total, d10 / total, d10 / total, d20 / total, 0.0],
                vec![1.0],
                vec![third, third, third],
                {
                    let (a, b) = (decay(2.0), decay(1.0));
                    let t = 2.0 * a + b;
                    vec![a / t, a / t, b / t]
                },
            ],
        ),
        (
            Model::PositionBased,
            [
                vec![0.4, 0.1, 0.1, 0.4, 0.0],
                vec![1.0],
                vec![third, third, third],
                vec![0.25, 0.25, 0.5],
            ],
        ),
    ];
    for (model, [w_main, w_single, w_same, w_pair]) in cases {
        let changed = Attribution::run(&mut conn, s, Target::Campaign(&c), model)
            .await
            .unwrap();
        assert!(changed > 0, "{model:?} changed nothing");
        let got_main = weights(&mut conn, s, &main).await;
        assert_weights(&got_main, &w_main, &format!("{model:?} main"));
        assert_weights(
            &weights(&mut conn, s, &single).await,
            &w_single,
            &format!("{model:?} single"),
        );
        assert_weights(
            &weights(&mut conn, s, &same).await,
            &w_same,
            &format!("{model:?} same instant"),
        );
        assert_weights(
            &weights(&mut conn, s, &pair).await,
            &w_pair,
            &format!("{model:?} pair"),
        );
        assert_weights(
            &weights(&mut conn, s, &open).await,
            &[0.0],
            &format!("{model:?} not converted"),
        );
        for lead in [&main, &single, &same, &pair] {
            let sum: f64 = weights(&mut conn, s, lead).await.iter().sum();
            assert!((sum - 1.0).abs() < 1e-9, "{model:?}: weights sum to {sum}");
        }
        // Again: nothing changes.
        assert_eq!(
            Attribution::run(&mut conn, s, Target::Campaign(&c), model)
                .await
                .unwrap(),
            0,
            "{model:?} re-run"
        );
    }

    // One lead alone gives the same as within its campaign; the report adds them up.
    Attribution::run(&mut conn, s, Target::Organization, Model::Linear)
        .await
        .unwrap();
    Attribution::run(&mut conn, s, Target::Lead(&main), Model::FirstTouch)
        .await
        .unwrap();
    assert_weights(
        &weights(&mut conn, s, &main).await,
        &[1.0, 0.0, 0.0, 0.0, 0.0],
        "one lead",
    );
    let report = Attribution::report(&mut conn, s, t0(), hours(48))
        .await
        .unwrap();
    let total_conversions: f64 = report.iter().map(|r| r.conversions).sum();
    let total_revenue: f64 = report.iter().map(|r| r.revenue).sum();
    assert!((total_conversions - 4.0).abs() < 1e-9, "{report:?}");
    assert!((total_revenue - 160.0).abs() < 1e-9, "{report:?}");
    let search = report.iter().find(|r| r.channel == "search").unwrap();
    // main's first touch (100) + a third of same (10) + a third of pair (20/3).
    assert!(
        (search.revenue - (100.0 + 10.0 + 20.0 / 3.0)).abs() < 1e-9,
        "{search:?}"
    );
    assert_eq!(search.campaign_id.as_ref(), Some(&c));
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let globex = org(&mut conn).await;
    let s = &acme.scope;
    let c = campaign(&mut conn, s).await;
    let (theirs, _) = {
        let gc = campaign(&mut conn, &globex.scope).await;
        lead(
            &mut conn,
            &globex.scope,
            &gc,
            "x@globex.example",
            &[(1, "email")],
            Some((2, 1.0)),
        )
        .await
    };
    let touch = NewTouchpoint {
        kind: MarketingTouchpointType::PageView,
        channel: "web",
        campaign: None,
        url: None,
        referrer: None,
        event_data: None,
        at: None,
    };
    assert!(matches!(
        MarketingTouchpoint::add(&mut conn, s, &theirs, &touch).await,
        Err(CampaignError::ForeignParent { entity: "lead", .. })
    ));
    assert_eq!(weights(&mut conn, &globex.scope, &theirs).await.len(), 1);
    // A touchpoint naming another organization's campaign.
    let (mine, _) = lead(&mut conn, s, &c, "me@acme.example", &[], None).await;
    let gc = campaign(&mut conn, &globex.scope).await;
    assert!(matches!(
        MarketingTouchpoint::add(
            &mut conn,
            s,
            &mine,
            &NewTouchpoint {
                campaign: Some(&gc),
                ..touch.clone()
            }
        )
        .await,
        Err(CampaignError::ForeignParent {
            entity: "marketing campaign",
            ..
        })
    ));
    assert!(weights(&mut conn, s, &mine).await.is_empty());
    assert_eq!(
        MarketingLead::get(&mut conn, s, &mine)
            .await
            .unwrap()
            .touch_count,
        0
    );
    // A half-life of zero; another organization's lead as the target.
    for half_life in [Duration::zero(), Duration::hours(-1)] {
        assert!(matches!(
            Attribution::run(
                &mut conn,
                s,
                Target::Campaign(&c),
                Model::TimeDecay { half_life }
            )
            .await,
            Err(CampaignError::Invalid(_))
        ));
    }
    assert!(matches!(
        Attribution::run(&mut conn, s, Target::Lead(&theirs), Model::Linear).await,
        Err(CampaignError::NotFound { .. })
    ));
    assert_eq!(weights(&mut conn, &globex.scope, &theirs).await, vec![0.0]);
    // A lead converts once.
    MarketingLead::convert(&mut conn, s, &mine, 5.0, hours(1))
        .await
        .unwrap();
    assert!(matches!(
        MarketingLead::convert(&mut conn, s, &mine, 9.0, hours(2)).await,
        Err(CampaignError::IllegalTransition { .. })
    ));
    let lead = MarketingLead::get(&mut conn, s, &mine).await.unwrap();
    assert_eq!(
        (lead.converted_value, lead.converted_at),
        (Some(5.0), Some(hours(1)))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_lead_per_email_under_concurrent_inserts_in_two_spellings() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let s = acme.scope.clone();
    for round in 0..10 {
        let (mut a, mut b) = (db.connect_as_app().await, db.connect_as_app().await);
        let (lower, upper) = (
            format!("lead{round}@example.com"),
            format!("  LEAD{round}@Example.COM "),
        );
        let new = |email| NewLead {
            email,
            source: "form",
            ..Default::default()
        };
        let (na, nb) = (new(&lower), new(&upper));
        let (ra, rb) = tokio::join!(
            MarketingLead::create(&mut a, &s, &na),
            MarketingLead::create(&mut b, &s, &nb),
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
                .any(|r| matches!(r, Err(CampaignError::Duplicate { entity: "lead", .. }))),
            "round {round}"
        );
    }
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    use diesel_async::RunQueryDsl;
    let n: N = diesel::sql_query(
        r#"SELECT count(*) AS n FROM (SELECT lower(btrim(email)) FROM marketing_leads
           GROUP BY "organizationId", 1 HAVING count(*) > 1) d"#,
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!(n.n, 0);
}
