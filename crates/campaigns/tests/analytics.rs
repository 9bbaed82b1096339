//! Daily marketing metrics add up; SEO imports replace by key, stay one row per key under
//! two concurrent overlapping imports, and refuse bad rows whole.

use chrono::NaiveDate;
use neonhub_campaigns::*;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, test_connection};
use serde_json::json;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

#[tokio::test]
async fn a_day_reported_twice_adds_up() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let first = json!({"email": 10, "search": 5});
    let second = json!({"search": 2.5, "social": 1});
    MarketingMetric::report_day(
        &mut conn,
        s,
        day(3),
        &DailyFigures {
            impressions: 100,
            clicks: 10,
            revenue: 50.0,
            channel_breakdown: Some(&first),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let row = MarketingMetric::report_day(
        &mut conn,
        s,
        day(3),
        &DailyFigures {
            impressions: 40,
            clicks: 4,
            conversions: 1,
            revenue: 25.5,
            cost: 3.0,
            channel_breakdown: Some(&second),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((row.impressions, row.clicks, row.conversions), (140, 14, 1));
    assert_eq!((row.revenue, row.cost), (75.5, 3.0));
    assert_eq!(
        row.channel_breakdown.unwrap(),
        json!({"email": 10, "search": 7.5, "social": 1})
    );
    let days = MarketingMetric::range(&mut conn, s, day(1), day(30))
        .await
        .unwrap();
    assert_eq!(days.len(), 1);
    // Bad figures: nothing written.
    let nested = json!({"email": {"opens": 1}});
    for bad in [
        DailyFigures {
            clicks: -1,
            ..Default::default()
        },
        DailyFigures {
            revenue: f64::INFINITY,
            ..Default::default()
        },
        DailyFigures {
            channel_breakdown: Some(&nested),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            MarketingMetric::report_day(&mut conn, s, day(4), &bad).await,
            Err(CampaignError::Invalid(_))
        ));
    }
    assert_eq!(
        MarketingMetric::range(&mut conn, s, day(1), day(30))
            .await
            .unwrap()
            .len(),
        1
    );
}

fn row<'a>(url: &'a str, keyword: &'a str, d: u32, impressions: i32) -> NewSeoMetric<'a> {
    NewSeoMetric {
        url,
        keyword,
        content: None,
        impressions,
        clicks: impressions / 10,
        ctr: 0.1,
        avg_position: 3.5,
        date: day(d),
    }
}

#[tokio::test]
async fn seo_rows_are_imported_by_key_and_bad_rows_refuse_the_import() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let globex = org(&mut conn).await;
    let s = &acme.scope;
    // 1,000 distinct keys (keyword and day) on one page.
    let keys: Vec<(String, NaiveDate)> = (0..1_000)
        .map(|i| (format!("keyword {i}"), day(1 + (i % 28) as u32)))
        .collect();
    let import: Vec<NewSeoMetric<'_>> = keys
        .iter()
        .map(|(k, d)| NewSeoMetric {
            keyword: k,
            date: *d,
            ..row("https://acme.example/", "", 1, 100)
        })
        .collect();
    assert_eq!(
        SeoMetric::import(&mut conn, s, &import).await.unwrap(),
        1_000
    );
    // Again with new figures: replaced, not added, still 1,000 rows.
    let again: Vec<NewSeoMetric<'_>> = import
        .iter()
        .map(|r| NewSeoMetric {
            impressions: 500,
            clicks: 50,
            ..r.clone()
        })
        .collect();
    assert_eq!(
        SeoMetric::import(&mut conn, s, &again).await.unwrap(),
        1_000
    );
    let stored = SeoMetric::list(&mut conn, s, Some("https://acme.example/"), day(1), day(30))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1_000);
    assert!(
        stored
            .iter()
            .all(|r| r.impressions == 500 && r.clicks == 50)
    );

    // Bad rows: a negative position, a CTR above 1, more clicks than impressions, a
    // duplicate key, another organization's content. Each refuses the import, naming it.
    let theirs = Content::create(
        &mut conn,
        &globex.scope,
        ContentKind::Article,
        None,
        &NewContent::default(),
    )
    .await
    .unwrap()
    .id;
    let bad_rows = [
        NewSeoMetric {
            avg_position: -1.0,
            ..row("https://acme.example/new", "a", 1, 10)
        },
        NewSeoMetric {
            ctr: 1.5,
            ..row("https://acme.example/new", "a", 1, 10)
        },
        NewSeoMetric {
            clicks: 11,
            ..row("https://acme.example/new", "a", 1, 10)
        },
        row("https://acme.example/", "keyword 0", 1, 10),
        NewSeoMetric {
            content: Some(&theirs),
            ..row("https://acme.example/new", "a", 1, 10)
        },
    ];
    for (i, bad) in bad_rows.iter().enumerate() {
        let batch = [row("https://acme.example/new", "fine", 2, 10), bad.clone()];
        let batch: &[NewSeoMetric<'_>] = if i == 3 {
            // A key repeated within one import.
            &[batch[1].clone(), batch[1].clone()]
        } else {
            &batch
        };
        let err = SeoMetric::import(&mut conn, s, batch).await.unwrap_err();
        assert!(
            matches!(err, CampaignError::BatchRow { position: 1, .. }),
            "{i}: {err}"
        );
    }
    let new_rows = SeoMetric::list(
        &mut conn,
        s,
        Some("https://acme.example/new"),
        day(1),
        day(30),
    )
    .await
    .unwrap();
    assert!(new_rows.is_empty(), "a refused import wrote {new_rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_overlapping_imports_leave_one_row_per_key() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let s = acme.scope.clone();
    let keywords: Vec<String> = (0..3_000).map(|i| format!("kw {i}")).collect();
    // Import A: keywords 0..2000; import B: 1000..3000, in reverse order (B's rows are
    // sorted by key before writing, so the two lock in the same order).
    let a: Vec<NewSeoMetric<'_>> = keywords[..2_000]
        .iter()
        .map(|k| NewSeoMetric {
            keyword: k,
            ..row("https://acme.example/", "", 5, 100)
        })
        .collect();
    let b: Vec<NewSeoMetric<'_>> = keywords[1_000..]
        .iter()
        .rev()
        .map(|k| NewSeoMetric {
            keyword: k,
            ..row("https://acme.example/", "", 5, 200)
        })
        .collect();
    for _ in 0..3 {
        let (mut ca, mut cb) = (db.connect_as_app().await, db.connect_as_app().await);
        let (ra, rb) = tokio::join!(
            SeoMetric::import(&mut ca, &s, &a),
            SeoMetric::import(&mut cb, &s, &b)
        );
        assert_eq!((ra.unwrap(), rb.unwrap()), (2_000, 2_000));
    }
    let mut app = db.connect_as_app().await;
    let stored = SeoMetric::list(&mut app, &s, None, day(5), day(5))
        .await
        .unwrap();
    assert_eq!(stored.len(), 3_000, "one row per key");
    // The overlap holds one import's figures or the other's, never a mix of keys twice.
    assert!(
        stored
            .iter()
            .all(|r| r.impressions == 100 || r.impressions == 200)
    );
}
