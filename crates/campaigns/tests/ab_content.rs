//! A/B tests judged against hand-computed z-scores, counters under eight concurrent
//! writers, the content and draft life cycles, and bad input refused with nothing written.

use diesel_async::AsyncPgConnection;
use neonhub_campaigns::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::CampaignId;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, test_connection};

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

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[tokio::test]
async fn a_winner_is_declared_only_at_the_configured_confidence_and_recorded_once() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let c = campaign(&mut conn, s).await;

    // 100/1000 against 110/1000. By hand: pooled p = 0.105, SE = sqrt(0.105 * 0.895 *
    // (2/1000)) = 0.0137095, z = 0.01 / 0.0137095 = 0.72942, two-sided p = 0.46574: not yet.
    let close_call = AbTest::create(&mut conn, s, &c, "subject line", &["A", "B"], 0.95)
        .await
        .unwrap();
    AbTest::record(&mut conn, s, &close_call.id, "A", 1000, 100)
        .await
        .unwrap();
    AbTest::record(&mut conn, s, &close_call.id, "B", 1000, 110)
        .await
        .unwrap();
    let e = AbTest::evaluate(&mut conn, s, &close_call.id)
        .await
        .unwrap();
    assert_eq!(e.winner, None);
    assert!(close(e.z, 0.72942, 1e-4), "z = {}", e.z);
    assert!(close(e.p_value, 0.46574, 1e-4), "p = {}", e.p_value);
    assert_eq!(e.variants[0].name, "B", "best first");
    assert!(
        e.not_yet.as_deref().unwrap().contains("B leads A"),
        "{:?}",
        e.not_yet
    );
    assert!(
        AbTest::get(&mut conn, s, &close_call.id)
            .await
            .unwrap()
            .winner
            .is_none()
    );

    // 200/1000 against 250/1000. By hand: pooled p = 0.225, SE = sqrt(0.225 * 0.775 *
    // (2/1000)) = 0.0186748, z = 0.05 / 0.0186748 = 2.67741, two-sided p = 0.0074197:
    // a winner at 0.95 (and at 0.99).
    let clear = AbTest::create(&mut conn, s, &c, "hero image", &["A", "B"], 0.99)
        .await
        .unwrap();
    AbTest::record(&mut conn, s, &clear.id, "A", 1000, 200)
        .await
        .unwrap();
    AbTest::record(&mut conn, s, &clear.id, "B", 1000, 250)
        .await
        .unwrap();
    let e = AbTest::evaluate(&mut conn, s, &clear.id).await.unwrap();
    assert!(close(e.z, 2.67741, 1e-4), "z = {}", e.z);
    assert!(close(e.p_value, 0.0074197, 1e-5), "p = {}", e.p_value);
    assert_eq!((e.winner.as_deref(), e.declared_now), (Some("B"), true));
    // Recorded once: A surging afterwards changes nothing.
    AbTest::record(&mut conn, s, &clear.id, "A", 1000, 900)
        .await
        .unwrap();
    let again = AbTest::evaluate(&mut conn, s, &clear.id).await.unwrap();
    assert_eq!(
        (again.winner.as_deref(), again.declared_now),
        (Some("B"), false)
    );
    let row = AbTest::get(&mut conn, s, &clear.id).await.unwrap();
    assert_eq!(row.winner.as_deref(), Some("B"));
    assert!(row.completed_at.is_some());

    // Three variants: Bonferroni halves the threshold. 200/1000 against 250/1000 again,
    // p = 0.0074 <= 0.05 / 2 = 0.025: a winner; at 0.99 (0.005) not yet.
    let three = AbTest::create(&mut conn, s, &c, "three", &["A", "B", "C"], 0.99)
        .await
        .unwrap();
    for (v, n) in [("A", 200), ("B", 250), ("C", 150)] {
        AbTest::record(&mut conn, s, &three.id, v, 1000, n)
            .await
            .unwrap();
    }
    let e = AbTest::evaluate(&mut conn, s, &three.id).await.unwrap();
    assert!(close(e.threshold, 0.005, 1e-12));
    assert_eq!(e.winner, None, "p 0.0074 > 0.005");
    // Too few exposures: not yet, whatever the rates.
    let small = AbTest::create(&mut conn, s, &c, "small", &["A", "B"], 0.95)
        .await
        .unwrap();
    AbTest::record(&mut conn, s, &small.id, "A", 10, 0)
        .await
        .unwrap();
    AbTest::record(&mut conn, s, &small.id, "B", 10, 10)
        .await
        .unwrap();
    let e = AbTest::evaluate(&mut conn, s, &small.id).await.unwrap();
    assert_eq!(e.winner, None);
    assert!(e.not_yet.unwrap().contains("at least 30"));
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let c = campaign(&mut conn, s).await;
    for (variants, confidence) in [
        (&["A"][..], 0.95),
        (&["A", "A"][..], 0.95),
        (&["A", ""][..], 0.95),
        (&["A", "B"][..], 1.0),
        (&["A", "B"][..], 0.3),
        (&["A", "B"][..], f64::NAN),
    ] {
        let err = AbTest::create(&mut conn, s, &c, "t", variants, confidence)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CampaignError::Invalid(_)),
            "{variants:?} {confidence}: {err}"
        );
    }
    assert!(AbTest::list(&mut conn, s, &c).await.unwrap().is_empty());
    let t = AbTest::create(&mut conn, s, &c, "t", &["A", "B"], 0.95)
        .await
        .unwrap();
    for (variant, exposures, conversions) in [("Z", 1, 0), ("A", -1, 0), ("A", 1, 2)] {
        assert!(
            matches!(
                AbTest::record(&mut conn, s, &t.id, variant, exposures, conversions).await,
                Err(CampaignError::Invalid(_))
            ),
            "{variant} {exposures} {conversions}"
        );
    }
    assert_eq!(
        AbTest::get(&mut conn, s, &t.id).await.unwrap().metrics["counts"]["A"]["exposures"],
        0
    );
    // A snippet with an empty channel or name; a duplicate.
    for (channel, name) in [("", "hook"), ("email", "")] {
        let err = Snippet::create(
            &mut conn,
            s,
            &NewSnippet {
                channel,
                name,
                content: "Hi",
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, CampaignError::Invalid(_)),
            "{channel:?} {name:?}: {err}"
        );
    }
    let hook = NewSnippet {
        channel: "email",
        name: "hook",
        content: "Hi",
        ..Default::default()
    };
    Snippet::create(&mut conn, s, &hook).await.unwrap();
    assert!(matches!(
        Snippet::create(&mut conn, s, &hook).await,
        Err(CampaignError::Duplicate {
            entity: "snippet",
            ..
        })
    ));
    assert_eq!(Snippet::list(&mut conn, s, None).await.unwrap().len(), 1);
    // A brand slug taken, a bad slug.
    let brand = NewBrand {
        name: Some("Acme"),
        slug: Some("acme"),
        ..Default::default()
    };
    Brand::create(&mut conn, s, &brand).await.unwrap();
    assert!(matches!(
        Brand::create(&mut conn, s, &brand).await,
        Err(CampaignError::Duplicate {
            entity: "brand",
            ..
        })
    ));
    assert!(matches!(
        Brand::create(
            &mut conn,
            s,
            &NewBrand {
                slug: Some("Not A Slug"),
                ..brand.clone()
            }
        )
        .await,
        Err(CampaignError::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_lose_no_increment_under_eight_concurrent_writers() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let s = acme.scope.clone();
    let mut app = db.connect_as_app().await;
    let c = campaign(&mut app, &s).await;
    let test = AbTest::create(&mut app, &s, &c, "t", &["A", "B"], 0.95)
        .await
        .unwrap();
    let snippet = Snippet::create(
        &mut app,
        &s,
        &NewSnippet {
            channel: "email",
            name: "hook",
            content: "Hi",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    const WRITERS: usize = 8;
    const EACH: i64 = 25;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (s, test, snippet) = (s.clone(), test.id.clone(), snippet.id.clone());
        let mut conn = db.connect_as_app().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let variant = if (w as i64 + i) % 2 == 0 { "A" } else { "B" };
                AbTest::record(&mut conn, &s, &test, variant, 3, 1)
                    .await
                    .unwrap();
                Snippet::record_use(&mut conn, &s, &snippet).await.unwrap();
                if i % 5 == 0 {
                    Snippet::record_win(&mut conn, &s, &snippet).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = WRITERS as i64 * EACH;
    let row = AbTest::get(&mut app, &s, &test.id).await.unwrap();
    let counts = &row.metrics["counts"];
    let exposures =
        counts["A"]["exposures"].as_i64().unwrap() + counts["B"]["exposures"].as_i64().unwrap();
    let conversions =
        counts["A"]["conversions"].as_i64().unwrap() + counts["B"]["conversions"].as_i64().unwrap();
    assert_eq!((exposures, conversions), (3 * total, total));
    let snip = Snippet::list(&mut app, &s, Some("email"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(i64::from(snip.usage_count), total);
    assert_eq!(
        snip.wins(),
        WRITERS as i64 * 5,
        "i % 5 == 0 for 5 of 25 uses"
    );
    assert!(
        close(snip.win_rate.unwrap(), 40.0 / 200.0, 1e-9),
        "{:?}",
        snip.win_rate
    );
    assert!(snip.last_won_at.is_some());
}

#[tokio::test]
async fn every_content_and_draft_status_change_is_judged() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let states = [
        "draft",
        "review",
        "approved",
        "published",
        "archived",
        "rejected",
    ];
    let item = Content::create(
        &mut conn,
        s,
        ContentKind::Article,
        None,
        &NewContent::default(),
    )
    .await
    .unwrap();
    let draft = ContentDraft::create(
        &mut conn,
        s,
        &NewDraft {
            title: "Spring",
            topic: "spring",
            body: "text",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut allowed = (0, 0);
    for from in states {
        for to in states {
            neonhub_testing::as_owner(
                &mut conn,
                &format!(
                    "UPDATE content SET status = '{from}' WHERE id = '{}';
                     UPDATE content_drafts SET status = '{from}' WHERE id = '{}'",
                    item.id, draft.id
                ),
            )
            .await;
            let outcome = Content::set_status(&mut conn, s, &item.id, to).await;
            if content_transition_allowed(from, to) {
                allowed.0 += 1;
                let row = outcome.unwrap();
                assert_eq!(row.status, to);
                if to == "published" {
                    assert!(row.published_at.is_some());
                }
            } else {
                assert!(
                    matches!(&outcome, Err(CampaignError::IllegalTransition { entity: "content", from: f, to: t })
                        if f == from && t == to),
                    "content {from} -> {to}: {outcome:?}"
                );
                assert_eq!(
                    Content::get(&mut conn, s, &item.id).await.unwrap().status,
                    from
                );
            }
            let outcome = ContentDraft::set_status(&mut conn, s, &draft.id, to).await;
            if draft_transition_allowed(from, to) {
                allowed.1 += 1;
                assert_eq!(outcome.unwrap().status, to);
            } else {
                assert!(
                    matches!(
                        &outcome,
                        Err(CampaignError::IllegalTransition {
                            entity: "content draft",
                            ..
                        })
                    ),
                    "draft {from} -> {to}: {outcome:?}"
                );
                assert_eq!(
                    ContentDraft::get(&mut conn, s, &draft.id)
                        .await
                        .unwrap()
                        .status,
                    from
                );
            }
        }
    }
    assert_eq!(allowed, (7, 5));
}
