//! The global editorial tables (read with any scope, written by system code only) and the
//! internal link graph.

use chrono::Duration;
use neonhub_campaigns::*;
use neonhub_schema::time;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, test_connection};

#[tokio::test]
async fn global_tables_are_written_by_system_code_and_read_with_any_scope() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let (cmo, inserted) = Persona::ensure(&mut owner, "CMO", Some("runs marketing"))
        .await
        .unwrap();
    assert!(inserted);
    let (again, inserted) = Persona::ensure(&mut owner, "CMO", Some("other"))
        .await
        .unwrap();
    assert_eq!(
        (again.id, inserted, again.summary.as_deref()),
        (cmo.id, false, Some("runs marketing"))
    );
    let (kw, inserted) = Keyword::ensure(
        &mut owner,
        "Marketing Automation",
        "commercial",
        Some(1),
        Some(cmo.id),
    )
    .await
    .unwrap();
    assert!(inserted);
    // Unique case-insensitively, across all organizations.
    let (same, inserted) = Keyword::ensure(
        &mut owner,
        " marketing AUTOMATION ",
        "informational",
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (same.id, inserted, same.intent.as_str()),
        (kw.id, false, "commercial")
    );
    let now = time::now();
    for (title, days, persona) in [
        ("Soon", 1, Some(cmo.id)),
        ("Later", 20, Some(cmo.id)),
        ("Soon for everyone", 2, None),
    ] {
        let (_, inserted) = CalendarEntry::ensure(
            &mut owner,
            &NewCalendarEntry {
                title,
                publish_at: now + Duration::days(days),
                priority: None,
                status: None,
                persona,
            },
        )
        .await
        .unwrap();
        assert!(inserted, "{title}");
    }
    // Read with an organization's scope, as the application role.
    let mut app = db.connect_as_app().await;
    let s = &acme.scope;
    assert_eq!(Persona::list(&mut app, s).await.unwrap().len(), 1);
    assert_eq!(
        Keyword::list(&mut app, s, Some(cmo.id))
            .await
            .unwrap()
            .len(),
        1
    );
    let week = CalendarEntry::due(&mut app, s, now, now + Duration::days(7), None)
        .await
        .unwrap();
    assert_eq!(
        week.iter().map(|e| e.title.as_str()).collect::<Vec<_>>(),
        ["Soon", "Soon for everyone"]
    );
    let cmo_week = CalendarEntry::due(&mut app, s, now, now + Duration::days(7), Some(cmo.id))
        .await
        .unwrap();
    assert_eq!(cmo_week.len(), 1);
    // The application role cannot write them (row-level security lets it only read).
    assert!(Persona::ensure(&mut app, "Intruder", None).await.is_err());
    assert!(
        Keyword::ensure(&mut app, "spam", "commercial", None, None)
            .await
            .is_err()
    );
    assert_eq!(Persona::list(&mut app, s).await.unwrap().len(), 1);
}

#[tokio::test]
async fn links_join_an_organizations_content_once_and_suggestions_follow_the_title() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let globex = org(&mut conn).await;
    let s = &acme.scope;
    let article = |title: &'static str, body: &'static str| NewContent {
        title: Some(title),
        body: Some(body),
        metadata: None,
    };
    let mut ids = Vec::new();
    for (title, body) in [
        ("Email automation for small teams", "How to automate email."),
        (
            "A guide to email deliverability",
            "Deliverability explained.",
        ),
        (
            "Automation recipes",
            "Ten recipes for marketing automation.",
        ),
        ("Our office dog", "Meet Rex."),
    ] {
        ids.push(
            Content::create(
                &mut conn,
                s,
                ContentKind::Article,
                None,
                &article(title, body),
            )
            .await
            .unwrap()
            .id,
        );
    }
    let theirs = Content::create(
        &mut conn,
        &globex.scope,
        ContentKind::Article,
        None,
        &article("Email automation", "x"),
    )
    .await
    .unwrap()
    .id;
    let first = Link::link(&mut conn, s, &ids[0], &ids[1], "deliverability", Some(0.5))
        .await
        .unwrap();
    let again = Link::link(&mut conn, s, &ids[0], &ids[1], "deliverability", Some(0.8))
        .await
        .unwrap();
    assert_eq!(
        (again.id, again.similarity),
        (first.id, Some(0.8)),
        "one row per source, target, anchor"
    );
    assert_eq!(
        Link::links_from(&mut conn, s, &ids[0]).await.unwrap().len(),
        1
    );
    // Another organization's content, itself, a similarity out of range: refused.
    assert!(matches!(
        Link::link(&mut conn, s, &ids[0], &theirs, "x", None).await,
        Err(CampaignError::ForeignParent {
            entity: "content",
            ..
        })
    ));
    assert!(matches!(
        Link::link(&mut conn, s, &ids[0], &ids[0], "x", None).await,
        Err(CampaignError::Invalid(_))
    ));
    assert!(matches!(
        Link::link(&mut conn, s, &ids[0], &ids[2], "x", Some(1.5)).await,
        Err(CampaignError::Invalid(_))
    ));
    // Suggestions for "Email automation for small teams": the recipes (automation), not the
    // dog, not the deliverability guide (already linked), not another organization's.
    let suggested = Link::suggest(&mut conn, s, &ids[0], 10).await.unwrap();
    assert_eq!(
        suggested
            .iter()
            .map(|x| x.target.clone())
            .collect::<Vec<_>>(),
        vec![ids[2].clone()]
    );
    assert_eq!(suggested[0].anchor, "Automation recipes");
}
