//! The event stream (bulk insert all or nothing, filtered keyset pages served by indexes)
//! and memories (never expired, never another organization's).

use chrono::Duration;
use diesel_async::SimpleAsyncConnection;
use neonhub_crm::*;
use neonhub_rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub_schema::Vector;
use neonhub_schema::ids::PersonId;
use neonhub_schema::time;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{owner_do, test_connection};

fn event(person: &PersonId, i: usize) -> NewEvent {
    NewEvent {
        person_id: person.clone(),
        campaign_id: None,
        objective_id: None,
        channel: format!("c{}", i % 10),
        kind: format!("t{}", i % 37),
        source: Some("import".into()),
        provider_id: Some(format!("p-{i}")),
        topic: None,
        intent: None,
        sentiment: None,
        payload: Some(serde_json::json!({"i": i})),
        metadata: None,
        occurred_at: time::now() - Duration::seconds(i as i64),
    }
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_names_its_bad_row() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let p = Person::create(&mut conn, s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    let stranger = {
        let other = org(&mut conn).await;
        Person::create(&mut conn, &other.scope, &NewPerson::default())
            .await
            .unwrap()
            .clear()
            .unwrap()
            .id
    };
    let mut rows: Vec<NewEvent> = (0..10).map(|i| event(&p, i)).collect();
    rows[7].channel = String::new();
    let err = Event::insert_many(&mut conn, s, &rows).await.unwrap_err();
    assert!(
        matches!(err, CrmError::BatchRow { position: 7, .. }),
        "{err}"
    );
    rows[7].channel = "email".into();
    rows[4].person_id = stranger;
    let err = Event::insert_many(&mut conn, s, &rows).await.unwrap_err();
    assert!(
        matches!(&err, CrmError::BatchRow { position: 4, source } if matches!(**source, CrmError::ForeignParent { .. })),
        "{err}"
    );
    let page = Event::list(
        &mut conn,
        s,
        &EventFilter::default(),
        &PageRequest::first(50),
    )
    .await
    .unwrap();
    assert!(page.items.is_empty(), "nothing written");
    rows[4].person_id = p.clone();
    assert_eq!(Event::insert_many(&mut conn, s, &rows).await.unwrap(), 10);
}

#[tokio::test]
async fn event_queries_page_by_time_and_use_their_indexes() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let mut people = Vec::new();
    for _ in 0..40 {
        people.push(
            Person::create(&mut conn, s, &NewPerson::default())
                .await
                .unwrap()
                .clear()
                .unwrap()
                .id,
        );
    }
    let rows: Vec<NewEvent> = (0..4000).map(|i| event(&people[i % 40], i)).collect();
    assert_eq!(Event::insert_many(&mut conn, s, &rows).await.unwrap(), 4000);
    owner_do(&mut conn, async |c| c.batch_execute("ANALYZE events").await)
        .await
        .unwrap();

    // Pages of one person's events, newest first, no gaps or repeats.
    let filter = EventFilter {
        person: Some(&people[3]),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut request = PageRequest::first(30);
    loop {
        let page = Event::list(&mut conn, s, &filter, &request).await.unwrap();
        seen.extend(page.items.iter().map(|e| (e.occurred_at, e.id.clone())));
        match page.next {
            Some(cursor) => request = PageRequest::after(30, cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 100);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first"
    );
    // Channel, type and a time range.
    let filter = EventFilter {
        channel: Some("c3"),
        kind: Some("t3"),
        from: Some(time::now() - Duration::hours(2)),
        ..Default::default()
    };
    let page = Event::list(&mut conn, s, &filter, &PageRequest::first(500))
        .await
        .unwrap();
    let expected = (0..4000).filter(|i| i % 10 == 3 && i % 37 == 3).count();
    assert_eq!(page.items.len(), expected);
    assert!(
        page.items
            .iter()
            .all(|e| e.channel == "c3" && e.kind == "t3")
    );

    for (filter, index) in [
        (
            EventFilter {
                person: Some(&people[3]),
                ..Default::default()
            },
            "events_personId_occurredAt_idx",
        ),
        (
            EventFilter {
                channel: Some("c3"),
                kind: Some("t3"),
                ..Default::default()
            },
            // The added (…, "occurredAt", id) index or the baseline's (…, type) one: with a
            // few matching rows the planner may take either; both serve the shape.
            "events_organizationId_channel_type_",
        ),
    ] {
        let plan = Event::explain_list(&mut conn, s, &filter, &PageRequest::first(50))
            .await
            .unwrap();
        assert!(
            plan.contains(index),
            "{filter:?} is not served by {index}:\n{plan}"
        );
        assert!(!plan.contains("Seq Scan"), "{plan}");
    }
}

async fn space(
    conn: &mut diesel_async::AsyncPgConnection,
    scope: &neonhub_schema::TenantScope,
) -> EmbeddingSpace {
    EmbeddingSpace::create(
        conn,
        scope,
        &NewEmbeddingSpace {
            name: "mem",
            provider: "local",
            model: "toy",
            dimension: 3,
            metadata: None,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn memories_are_never_returned_expired_nor_to_another_organization() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let sp = space(&mut conn, s).await;
    let p = Person::create(&mut conn, s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    let q = Vector::from(vec![1.0, 0.0, 0.0]);
    let remember = |label: &'static str, v: Vec<f32>, expires: Option<chrono::NaiveDateTime>| {
        (label, Vector::from(v), expires)
    };
    let mut kept = Vec::new();
    for (label, v, expires) in [
        remember(
            "near, expired",
            vec![1.0, 0.0, 0.0],
            Some(time::now() - Duration::minutes(1)),
        ),
        remember(
            "near",
            vec![0.9, 0.1, 0.0],
            Some(time::now() + Duration::days(1)),
        ),
        remember("far", vec![0.0, 1.0, 0.0], None),
    ] {
        let m = Memory::remember(
            &mut conn,
            s,
            &p,
            &NewMemory {
                space: &sp.id,
                embedding: &v,
                label: Some(label),
                source_event: None,
                expires_at: expires,
                metadata: None,
            },
        )
        .await
        .unwrap();
        kept.push(m);
    }
    let hits = Memory::search(
        &mut conn,
        s,
        &sp.id,
        &q,
        Some(&p),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    let labels: Vec<_> = hits
        .iter()
        .map(|h| h.row.label.as_deref().unwrap())
        .collect();
    assert_eq!(labels, ["near", "far"]);
    let listed = Memory::list(&mut conn, s, &p).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|m| m.label.as_deref() != Some("near, expired"))
    );

    // A vector of the wrong length or with NaN is refused before anything is written.
    for bad in [vec![1.0, 0.0], vec![f32::NAN, 0.0, 0.0]] {
        let v = Vector::from(bad);
        let err = Memory::remember(
            &mut conn,
            s,
            &p,
            &NewMemory {
                space: &sp.id,
                embedding: &v,
                label: None,
                source_event: None,
                expires_at: None,
                metadata: None,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CrmError::Rag(_)), "{err}");
    }

    // Another organization: its own space cannot reach these memories, this space is not
    // its to search, and a memory of its own about this person is refused.
    let other = org(&mut conn).await;
    let theirs = space(&mut conn, &other.scope).await;
    let hits = Memory::search(
        &mut conn,
        &other.scope,
        &theirs.id,
        &q,
        None,
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert!(hits.is_empty());
    let err = Memory::search(
        &mut conn,
        &other.scope,
        &sp.id,
        &q,
        None,
        &SearchOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CrmError::ForeignParent { .. }), "{err}");
    let err = Memory::remember(
        &mut conn,
        &other.scope,
        &p,
        &NewMemory {
            space: &theirs.id,
            embedding: &q,
            label: None,
            source_event: None,
            expires_at: None,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CrmError::ForeignParent { .. }), "{err}");
    // Forgetting: another organization cannot, the owner can.
    let err = Memory::forget(&mut conn, &other.scope, &kept[1].id)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "{err}");
    Memory::forget(&mut conn, s, &kept[1].id).await.unwrap();
    assert_eq!(Memory::list(&mut conn, s, &p).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_in_imports_as_the_application_role_all_or_nothing() {
    use neonhub_testing::{APP_ROLE, APP_ROLE_PASSWORD, TestDatabase};
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let s = &acme.scope;
    let p = Person::create(&mut owner, s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    let stranger = {
        let other = org(&mut owner).await;
        Person::create(&mut owner, &other.scope, &NewPerson::default())
            .await
            .unwrap()
            .clear()
            .unwrap()
            .id
    };
    let password = neonhub_schema::Secret::new(APP_ROLE_PASSWORD);
    let app_url = db.url().with_user(APP_ROLE, Some(&password));
    // A bad row is named before anything is copied; so is another organization's person.
    let mut rows: Vec<NewEvent> = (0..5000).map(|i| event(&p, i)).collect();
    rows[4321].occurred_at = chrono::NaiveDate::from_ymd_opt(-5000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let err = Event::copy_in(&app_url, s, &rows).await.unwrap_err();
    assert!(
        matches!(err, CrmError::BatchRow { position: 4321, .. }),
        "{err}"
    );
    rows[4321] = event(&p, 4321);
    rows[17].person_id = stranger;
    let err = Event::copy_in(&app_url, s, &rows).await.unwrap_err();
    assert!(
        matches!(err, CrmError::BatchRow { position: 17, .. }),
        "{err}"
    );
    rows[17].person_id = p.clone();
    // As the application role (row-level security applies: the staging path).
    assert_eq!(Event::copy_in(&app_url, s, &rows).await.unwrap(), 5000);
    let mut app = db.connect_as_app().await;
    let filter = EventFilter {
        person: Some(&p),
        ..Default::default()
    };
    let page = Event::list(&mut app, s, &filter, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 100);
    assert_eq!(
        page.items[0].provider_id.as_deref(),
        Some("p-0"),
        "newest first"
    );
    // As the owner (direct COPY) too; the other organization sees none of them.
    assert_eq!(Event::copy_in(db.url(), s, &rows[..10]).await.unwrap(), 10);
    let other = org(&mut owner).await;
    let page = Event::list(
        &mut app,
        &other.scope,
        &EventFilter::default(),
        &PageRequest::first(10),
    )
    .await
    .unwrap();
    assert!(page.items.is_empty());
}
