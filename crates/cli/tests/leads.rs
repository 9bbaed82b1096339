//! `neonhub leads dedupe`: duplicate leads of an adopted database listed, then merged by
//! the documented rule, then kept one by a unique index that drift does not report.

use std::process::{Command, Output};

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use neonhub_campaigns::{CampaignError, MarketingLead, NewLead};
use neonhub_cli::drift::drift_of;
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::identity::org;

fn neonhub(db: &TestDatabase, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .args(["--database-url", &db.url_string()])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap()
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Lead {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    touches: i64,
    #[diesel(sql_type = BigInt)]
    touchpoints: i64,
    #[diesel(sql_type = Nullable<Text>)]
    company: Option<String>,
    #[diesel(sql_type = BigInt)]
    score: i64,
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut diesel_async::AsyncPgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<N>(conn).await.unwrap().n
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_are_listed_then_merged_by_the_rule_and_kept_one_by_the_index() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let acme = org(&mut conn).await;
    let globex = org(&mut conn).await;
    let (a, g) = (
        acme.scope.organization_id().clone(),
        globex.scope.organization_id().clone(),
    );
    // Acme: three spellings of one email (l2 converted, so it stays although l1 is older),
    // two spellings of another (the older, l4, stays), one lone lead; Globex: the same
    // first email once (not a duplicate across organizations).
    conn.batch_execute(&format!(
        r#"INSERT INTO marketing_leads (id, "organizationId", email, source, company, score, "touchCount", "createdAt", "updatedAt", "convertedAt", "convertedValue", status)
           VALUES ('l1', '{a}', 'ada@example.com', 'ads', 'Acme Ltd', 70, 2, now() - interval '3 days', now(), NULL, NULL, 'new'),
                  ('l2', '{a}', ' ADA@Example.com', 'form', NULL, 20, 1, now() - interval '2 days', now(), now(), 99, 'converted'),
                  ('l3', '{a}', 'Ada@example.COM ', 'ads', 'Other', 90, 3, now() - interval '1 day', now(), NULL, NULL, 'new'),
                  ('l4', '{a}', 'bo@example.com', 'ads', NULL, 10, 1, now() - interval '5 days', now(), NULL, NULL, 'new'),
                  ('l5', '{a}', 'BO@example.com', 'ads', 'Bo Co', 15, 1, now() - interval '4 days', now(), NULL, NULL, 'new'),
                  ('l6', '{a}', 'solo@example.com', 'ads', NULL, 0, 0, now(), now(), NULL, NULL, 'new'),
                  ('g1', '{g}', 'ada@example.com', 'ads', NULL, 0, 0, now(), now(), NULL, NULL, 'new');
           INSERT INTO marketing_touchpoints (id, "leadId", type, channel)
           SELECT 't' || l || '-' || k, l, 'page_view', 'web'
           FROM unnest(ARRAY['l1', 'l2', 'l3', 'l4', 'l5']) l, generate_series(1, 2) k;"#
    ))
    .await
    .unwrap();

    // Listing changes nothing.
    let out = neonhub(&db, &["leads", "dedupe"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 duplicate group(s)"), "{stdout}");
    assert!(stdout.contains("keeps l2, merges l1, l3"), "{stdout}");
    assert!(stdout.contains("keeps l4, merges l5"), "{stdout}");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM marketing_leads").await,
        7
    );

    // Apply: merged, then the index.
    let out = neonhub(&db, &["leads", "dedupe", "--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "merged 2 group(s): 3 lead(s) deleted, 6 touchpoint(s) moved; unique index created"
        ),
        "{stdout}"
    );
    let leads: Vec<Lead> = sql_query(
        r#"SELECT l.id, l."touchCount"::bigint AS touches,
                  (SELECT count(*) FROM marketing_touchpoints t WHERE t."leadId" = l.id) AS touchpoints,
                  l.company, l.score::bigint AS score
           FROM marketing_leads l ORDER BY l.id"#,
    )
    .load(&mut conn)
    .await
    .unwrap();
    let summary: Vec<(&str, i64, i64, Option<&str>, i64)> = leads
        .iter()
        .map(|l| {
            (
                l.id.as_str(),
                l.touches,
                l.touchpoints,
                l.company.as_deref(),
                l.score,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("g1", 0, 0, None, 0),
            // Counts summed (2 + 1 + 3), touchpoints moved, the empty company filled from
            // the oldest other lead, the highest score.
            ("l2", 6, 6, Some("Acme Ltd"), 90),
            ("l4", 2, 4, Some("Bo Co"), 15),
            ("l6", 0, 0, None, 0),
        ]
    );
    // The survivor's conversion is its own.
    assert_eq!(
        count(
            &mut conn,
            r#"SELECT count(*) AS n FROM marketing_leads WHERE id = 'l2' AND status = 'converted' AND "convertedValue" = 99"#
        )
        .await,
        1
    );
    // The index now refuses a duplicate from any writer; the repository reports it typed.
    let err = conn
        .batch_execute(&format!(
            r#"INSERT INTO marketing_leads (id, "organizationId", email, source, "updatedAt")
               VALUES ('x', '{a}', 'SOLO@example.com', 'ads', now())"#
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(neonhub_campaigns::LEADS_EMAIL_KEY),
        "{err}"
    );
    let mut app = db.connect_as_app().await;
    assert!(matches!(
        MarketingLead::create(
            &mut app,
            &acme.scope,
            &NewLead {
                email: "solo@EXAMPLE.com",
                source: "form",
                ..Default::default()
            }
        )
        .await,
        Err(CampaignError::Duplicate { .. })
    ));
    // Drift does not count the optional index; a second run has nothing to do.
    assert!(drift_of(&mut conn).await.unwrap().differences.is_empty());
    let out = neonhub(&db, &["leads", "dedupe", "--apply", "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["merged"]["groups"].as_array().unwrap().len(), 0);
    assert_eq!(json["unique_index_created"], false);
}
