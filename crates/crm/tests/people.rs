//! Identity resolution, merge, notes, topics and objectives, as the application role.

use neonhub_crm::*;
use neonhub_schema::InvalidData;
use neonhub_schema::enums::ConsentStatus;
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::fixtures::marketing_campaign;
use neonhub_testing::test_connection;

fn email(value: &str) -> NewPersonIdentity<'_> {
    NewPersonIdentity {
        kind: "email",
        value,
        channel: Some("email"),
        ..Default::default()
    }
}

#[tokio::test]
async fn any_identity_finds_its_person_case_insensitively_and_is_held_once() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let ada = Person::create(
        &mut conn,
        s,
        &NewPerson {
            display_name: Some("Ada"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap();
    let bob = Person::create(&mut conn, s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap();
    let id = PersonIdentity::add(&mut conn, s, &ada.id, &email("  Ada@Example.com "))
        .await
        .unwrap()
        .clear()
        .unwrap();
    assert_eq!(id.value.as_str(), "Ada@Example.com", "trimmed, case kept");
    let found = Person::by_identity(&mut conn, s, "email", "ada@example.COM")
        .await
        .unwrap();
    assert_eq!(found.map(|p| p.id), Some(ada.id.clone()));
    assert!(
        Person::by_identity(&mut conn, s, "phone", "ada@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // The same address in another case, for another person: refused, naming the holder.
    let err = PersonIdentity::add(&mut conn, s, &bob.id, &email("ADA@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CrmError::IdentityTaken { person, .. } if *person == ada.id.to_string()),
        "{err}"
    );
    // Another organization has its own namespace, and sees nothing of this one.
    let other = org(&mut conn).await;
    let carol = Person::create(&mut conn, &other.scope, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap();
    PersonIdentity::add(
        &mut conn,
        &other.scope,
        &carol.id,
        &email("ada@example.com"),
    )
    .await
    .unwrap()
    .clear()
    .unwrap();
    assert_eq!(
        Person::by_identity(&mut conn, &other.scope, "email", "ada@example.com")
            .await
            .unwrap()
            .map(|p| p.id),
        Some(carol.id.clone())
    );
    // Verify, list, remove.
    let at = neonhub_schema::time::now();
    let verified = PersonIdentity::verify(&mut conn, s, &id.id, at)
        .await
        .unwrap();
    assert_eq!(verified.verified_at, Some(at));
    assert_eq!(
        PersonIdentity::list(&mut conn, s, &ada.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let err = PersonIdentity::remove(&mut conn, &other.scope, &id.id)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "{err}");
    PersonIdentity::remove(&mut conn, s, &id.id).await.unwrap();
    assert!(
        Person::by_identity(&mut conn, s, "email", "ada@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_empty_or_ten_kilobyte_identity_is_refused_by_name() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let p = Person::create(&mut conn, &acme.scope, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap();
    let big = "a".repeat(10_000);
    for value in ["", "   ", big.as_str()] {
        let err = PersonIdentity::add(&mut conn, &acme.scope, &p.id, &email(value))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CrmError::Invalid(InvalidData::Length { field, .. }) if field.contains("email identity")),
            "{value:.10}: {err}"
        );
    }
    assert!(
        PersonIdentity::list(&mut conn, &acme.scope, &p.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn merge_moves_everything_resolves_topic_clashes_and_deletes_the_other() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let keep = Person::create(
        &mut conn,
        s,
        &NewPerson {
            display_name: Some("Ada"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap();
    let dup = Person::create(
        &mut conn,
        s,
        &NewPerson {
            external_id: Some("crm-42"),
            primary_phone: Some("+4420"),
            display_name: Some("A. L."),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap();
    PersonIdentity::add(&mut conn, s, &keep.id, &email("ada@example.com"))
        .await
        .unwrap()
        .clear()
        .unwrap();
    PersonIdentity::add(&mut conn, s, &dup.id, &email("ada.l@example.com"))
        .await
        .unwrap()
        .clear()
        .unwrap();
    PersonTopic::set(&mut conn, s, &keep.id, "math", 0.4, None)
        .await
        .unwrap();
    PersonTopic::set(&mut conn, s, &dup.id, "math", 0.9, Some(0.1))
        .await
        .unwrap();
    PersonTopic::set(&mut conn, s, &dup.id, "poetry", 0.3, None)
        .await
        .unwrap();
    PersonNote::add(&mut conn, s, &dup.id, "met at the fair", "team")
        .await
        .unwrap();
    let objective = PersonObjective::create(
        &mut conn,
        s,
        &dup.id,
        &NewPersonObjective {
            title: "renew",
            status: "open",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Consent::record(
        &mut conn,
        s,
        &dup.id,
        &NewConsent {
            channel: "email",
            campaign: None,
            status: ConsentStatus::Granted,
            source: Some("form"),
            collected_at: None,
            expires_at: None,
            evidence: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    Event::insert_many(
        &mut conn,
        s,
        &[NewEvent {
            person_id: dup.id.clone(),
            campaign_id: None,
            objective_id: Some(objective.id.clone()),
            channel: "email".into(),
            kind: "email.opened".into(),
            source: None,
            provider_id: None,
            topic: None,
            intent: None,
            sentiment: None,
            payload: None,
            metadata: None,
            occurred_at: neonhub_schema::time::now(),
        }],
    )
    .await
    .unwrap();

    let err = Person::merge(&mut conn, s, &keep.id, &keep.id)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::MergeIntoItself(_)), "{err}");
    let other = org(&mut conn).await;
    let stranger = Person::create(&mut conn, &other.scope, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap();
    let err = Person::merge(&mut conn, s, &keep.id, &stranger.id)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "{err}");

    let report = Person::merge(&mut conn, s, &keep.id, &dup.id)
        .await
        .unwrap();
    assert_eq!(report.topics_clashed, vec!["math".to_owned()]);
    for (table, n) in [
        ("person_identities", 1),
        ("person_topics", 1),
        ("person_notes", 1),
        ("person_objectives", 1),
        ("person_consents", 1),
        ("events", 1),
    ] {
        assert_eq!(report.moved.get(table), Some(&n), "{table}: {report:?}");
    }
    let err = Person::get(&mut conn, s, &dup.id).await.unwrap_err();
    assert!(matches!(err, CrmError::NotFound { .. }), "{err}");
    let merged = Person::get(&mut conn, s, &keep.id).await.unwrap();
    assert_eq!(
        merged.display_name.as_deref(),
        Some("Ada"),
        "the survivor's own field wins"
    );
    assert_eq!(
        merged.external_id.as_deref(),
        Some("crm-42"),
        "its empty one is filled"
    );
    assert_eq!(merged.primary_phone.as_deref(), Some("+4420"));
    let topics = PersonTopic::list(&mut conn, s, &keep.id).await.unwrap();
    let math = topics.iter().find(|t| t.name == "math").unwrap();
    assert_eq!((math.weight, math.trend), (0.9, Some(0.1)));
    assert_eq!(topics.len(), 2);
    assert_eq!(
        PersonIdentity::list(&mut conn, s, &keep.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        Person::by_identity(&mut conn, s, "email", "ada.l@example.com")
            .await
            .unwrap()
            .map(|p| p.id),
        Some(keep.id.clone())
    );
    assert_eq!(
        Consent::history(&mut conn, s, &keep.id, None)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        PersonNote::list(&mut conn, s, &keep.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_external_id_is_unique_per_organization() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let new = NewPerson {
        external_id: Some("x-1"),
        ..Default::default()
    };
    Person::create(&mut conn, &acme.scope, &new)
        .await
        .unwrap()
        .clear()
        .unwrap();
    let err = Person::create(&mut conn, &acme.scope, &new)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CrmError::DuplicateExternalId(ref id) if id == "x-1"),
        "{err}"
    );
    let found = Person::by_external_id(&mut conn, &acme.scope, "x-1")
        .await
        .unwrap();
    assert!(found.is_some());
    // A consent for another organization's campaign is refused.
    let p = found.unwrap();
    let other = org(&mut conn).await;
    let campaign = marketing_campaign(&mut conn, other.scope.organization_id()).await;
    let err = Consent::record(
        &mut conn,
        &acme.scope,
        &p.id,
        &NewConsent {
            channel: "email",
            campaign: Some(&campaign),
            status: ConsentStatus::Granted,
            source: None,
            collected_at: None,
            expires_at: None,
            evidence: None,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CrmError::ForeignParent { .. }), "{err}");
}
