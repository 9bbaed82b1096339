//! Every public operation of `neonhub-crm` that takes a `TenantScope`, in one table with
//! the permission key it needs: a scope lacking the key is refused with `Denied` naming it
//! and nothing is written; the key alone is enough; and another organization's scope
//! (holding every key) reads, changes and links to none of this organization's rows. The
//! table is checked against the source, so an operation added without an entry fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_crm::*;
use neonhub_rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub_schema::Vector;
use neonhub_schema::ids::{
    EmbeddingSpaceId, MemEmbeddingId, OrganizationId, PersonId, PersonIdentityId, PersonNoteId,
    PersonObjectiveId, UserId,
};
use neonhub_schema::{Denied, PERMISSIONS, PermissionSet, TenantScope, keys, time};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{owner_do, test_connection};

struct Fx {
    scope: TenantScope,
    person: PersonId,
    other_person: PersonId,
    identity: PersonIdentityId,
    note: PersonNoteId,
    objective: PersonObjectiveId,
    memory: MemEmbeddingId,
    space: EmbeddingSpaceId,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<usize, CrmError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

struct Case {
    name: &'static str,
    key: &'static str,
    names_a_row: bool,
    run: Op,
}

fn case<F>(name: &'static str, key: &'static str, names_a_row: bool, f: F) -> Case
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Case {
        name,
        key,
        names_a_row,
        run: Box::new(f),
    }
}

fn one<T>(r: Result<T, CrmError>) -> Result<usize, CrmError> {
    r.map(|_| 1)
}

fn v() -> Vector {
    Vector::from(vec![1.0, 0.0, 0.0])
}

fn consent() -> NewConsent<'static> {
    NewConsent {
        channel: "email",
        campaign: None,
        status: ConsentStatus::Granted,
        source: None,
        collected_at: None,
        expires_at: None,
        evidence: None,
        metadata: None,
    }
}

fn event(person: &PersonId) -> NewEvent {
    NewEvent {
        person_id: person.clone(),
        campaign_id: None,
        objective_id: None,
        channel: "email".into(),
        kind: "email.opened".into(),
        source: None,
        provider_id: None,
        topic: None,
        intent: None,
        sentiment: None,
        payload: None,
        metadata: None,
        occurred_at: time::now(),
    }
}

fn operations() -> Vec<Case> {
    use keys::{CRM_ERASE as ERASE, CRM_EXPORT as EXPORT, CRM_READ as READ, CRM_WRITE as WRITE};
    let page = || PageRequest::first(50);
    vec![
        case("Person::create", WRITE, false, |c, s, _| {
            Box::pin(async move { one(Person::create(c, s, &NewPerson::default()).await) })
        }),
        case("Person::get", READ, true, |c, s, f| {
            Box::pin(async move { one(Person::get(c, s, &f.person).await) })
        }),
        case("Person::by_external_id", READ, true, |c, s, _| {
            Box::pin(async move {
                Person::by_external_id(c, s, "ext-1")
                    .await
                    .map(|p| usize::from(p.is_some()))
            })
        }),
        case("Person::by_identity", READ, true, |c, s, _| {
            Box::pin(async move {
                Person::by_identity(c, s, "email", "fx@example.com")
                    .await
                    .map(|p| usize::from(p.is_some()))
            })
        }),
        case("Person::list", READ, true, move |c, s, f| {
            Box::pin(async move {
                Person::list(c, s, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.person).count())
            })
        }),
        case("Person::update", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Person::update(
                    c,
                    s,
                    &f.person,
                    &NewPerson {
                        display_name: Some("x"),
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("PersonIdentity::add", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(PersonIdentity::add(
                    c,
                    s,
                    &f.person,
                    &NewPersonIdentity {
                        kind: "phone",
                        value: "+1",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("PersonIdentity::list", READ, true, |c, s, f| {
            Box::pin(async move { one(PersonIdentity::list(c, s, &f.person).await) })
        }),
        case("PersonIdentity::verify", WRITE, true, |c, s, f| {
            Box::pin(
                async move { one(PersonIdentity::verify(c, s, &f.identity, time::now()).await) },
            )
        }),
        case("Consent::record", WRITE, true, |c, s, f| {
            Box::pin(async move { one(Consent::record(c, s, &f.person, &consent()).await) })
        }),
        case("Consent::history", READ, true, |c, s, f| {
            Box::pin(async move { one(Consent::history(c, s, &f.person, None).await) })
        }),
        case("Consent::may_contact", READ, true, |c, s, f| {
            Box::pin(async move {
                Consent::may_contact(c, s, &f.person, "email", None)
                    .await
                    .map(|d| usize::from(d.deciding.is_some()))
            })
        }),
        case("Suppression::is_suppressed", READ, false, |c, s, _| {
            Box::pin(async move {
                Suppression::is_suppressed(c, s, "email", "gone@example.com")
                    .await
                    .map(usize::from)
            })
        }),
        case("Suppression::add", WRITE, false, |c, s, _| {
            Box::pin(async move {
                Suppression::add(c, s, "email", "never@example.com")
                    .await
                    .map(usize::from)
            })
        }),
        case("Person::export", EXPORT, true, |c, s, f| {
            Box::pin(async move { one(Person::export(c, s, &f.person).await) })
        }),
        case("Event::insert_many", WRITE, true, |c, s, f| {
            Box::pin(async move { Event::insert_many(c, s, &[event(&f.person)]).await })
        }),
        // On a connection of its own, which cannot see the test's uncommitted fixture: the
        // person is unknown there, so the outcome is a refusal unless the key is missing.
        case("Event::copy_in", WRITE, true, |_, s, f| {
            Box::pin(async move {
                Event::copy_in(&neonhub_testing::shared_url(), s, &[event(&f.person)])
                    .await
                    .map(|n| n as usize)
            })
        }),
        case("Event::list", READ, true, move |c, s, f| {
            Box::pin(async move {
                Event::list(
                    c,
                    s,
                    &EventFilter {
                        person: Some(&f.person),
                        ..Default::default()
                    },
                    &page(),
                )
                .await
                .map(|p| p.items.len())
            })
        }),
        case("Event::explain_list", READ, false, move |c, s, _| {
            Box::pin(async move {
                one(Event::explain_list(c, s, &EventFilter::default(), &page()).await)
            })
        }),
        case("Memory::remember", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Memory::remember(
                    c,
                    s,
                    &f.person,
                    &NewMemory {
                        space: &f.space,
                        embedding: &v(),
                        label: None,
                        source_event: None,
                        expires_at: None,
                        metadata: None,
                    },
                )
                .await)
            })
        }),
        case("Memory::list", READ, true, |c, s, f| {
            Box::pin(async move { one(Memory::list(c, s, &f.person).await) })
        }),
        case("Memory::search", READ, true, |c, s, f| {
            Box::pin(async move {
                one(Memory::search(c, s, &f.space, &v(), None, &SearchOptions::default()).await)
            })
        }),
        case("PersonNote::add", WRITE, true, |c, s, f| {
            Box::pin(async move { one(PersonNote::add(c, s, &f.person, "n", "team").await) })
        }),
        case("PersonNote::list", READ, true, |c, s, f| {
            Box::pin(async move { one(PersonNote::list(c, s, &f.person).await) })
        }),
        case("PersonTopic::set", WRITE, true, |c, s, f| {
            Box::pin(async move { one(PersonTopic::set(c, s, &f.person, "t", 1.0, None).await) })
        }),
        case("PersonTopic::list", READ, true, |c, s, f| {
            Box::pin(async move { one(PersonTopic::list(c, s, &f.person).await) })
        }),
        case("PersonObjective::create", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(PersonObjective::create(
                    c,
                    s,
                    &f.person,
                    &NewPersonObjective {
                        title: "o",
                        status: "open",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("PersonObjective::list", READ, true, |c, s, f| {
            Box::pin(async move { one(PersonObjective::list(c, s, &f.person).await) })
        }),
        case("PersonObjective::set_status", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(PersonObjective::set_status(c, s, &f.objective, "achieved").await)
            })
        }),
        // Deletions and the merge last: the cases before them need the rows.
        case("PersonNote::delete", WRITE, true, |c, s, f| {
            Box::pin(async move { one(PersonNote::delete(c, s, &f.note).await) })
        }),
        case("Memory::forget", WRITE, true, |c, s, f| {
            Box::pin(async move { one(Memory::forget(c, s, &f.memory).await) })
        }),
        case("PersonIdentity::remove", WRITE, true, |c, s, f| {
            Box::pin(async move { one(PersonIdentity::remove(c, s, &f.identity).await) })
        }),
        case("Person::merge", WRITE, true, |c, s, f| {
            Box::pin(async move { one(Person::merge(c, s, &f.person, &f.other_person).await) })
        }),
        case("Person::erase", ERASE, true, |c, s, f| {
            Box::pin(async move { one(Person::erase(c, s, &f.person, "a test").await) })
        }),
        case("Person::delete", WRITE, true, |c, s, f| {
            Box::pin(async move { one(Person::delete(c, s, &f.person).await) })
        }),
    ]
}

async fn fixture(conn: &mut AsyncPgConnection) -> Fx {
    let acme = org(conn).await;
    let s = acme.scope.clone();
    let person = Person::create(
        conn,
        &s,
        &NewPerson {
            external_id: Some("ext-1"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap()
    .id;
    let other_person = Person::create(conn, &s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    let identity = PersonIdentity::add(
        conn,
        &s,
        &person,
        &NewPersonIdentity {
            kind: "email",
            value: "fx@example.com",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap()
    .id;
    Consent::record(conn, &s, &person, &consent())
        .await
        .unwrap();
    Event::insert_many(conn, &s, &[event(&person)])
        .await
        .unwrap();
    let note = PersonNote::add(conn, &s, &person, "fx", "team")
        .await
        .unwrap()
        .id;
    let objective = PersonObjective::create(
        conn,
        &s,
        &person,
        &NewPersonObjective {
            title: "fx",
            status: "open",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let space = EmbeddingSpace::create(
        conn,
        &s,
        &NewEmbeddingSpace {
            name: "fx",
            provider: "local",
            model: "toy",
            dimension: 3,
            metadata: None,
        },
    )
    .await
    .unwrap()
    .id;
    let memory = Memory::remember(
        conn,
        &s,
        &person,
        &NewMemory {
            space: &space,
            embedding: &v(),
            label: None,
            source_event: None,
            expires_at: None,
            metadata: None,
        },
    )
    .await
    .unwrap()
    .id;
    Fx {
        scope: s,
        person,
        other_person,
        identity,
        note,
        objective,
        memory,
        space,
    }
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A fingerprint of every CRM row of `org`.
async fn digest(conn: &mut AsyncPgConnection, org: &OrganizationId) -> String {
    let tables = [
        "people",
        "person_identities",
        "person_consents",
        "person_notes",
        "person_topics",
        "person_objectives",
        "events",
        "mem_embeddings",
        "person_suppressions",
        "marketing_leads",
    ];
    let union: Vec<String> = tables
        .iter()
        .map(|t| format!(r#"SELECT x::text AS r FROM {t} x WHERE x."organizationId" = '{org}'"#))
        .collect();
    let sql = format!(
        "SELECT coalesce(md5(string_agg(r, '|' ORDER BY r)), '') AS digest FROM ({}) rows",
        union.join(" UNION ALL ")
    );
    owner_do(conn, async |c| {
        sql_query(sql).get_result::<Digest>(c).await.unwrap().digest
    })
    .await
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|c| (c.name.to_owned(), c.key.to_owned()))
        .collect();
    assert_eq!(
        listed,
        neonhub_testing::source::keys_required_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
    );
}

#[tokio::test]
async fn a_scope_lacking_the_key_is_refused_and_writes_nothing() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let org = fx.scope.organization_id().clone();
    let before = digest(&mut conn, &org).await;
    for case in operations() {
        let scope = TenantScope::for_member(
            org.clone(),
            UserId::generate(),
            PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != case.key)),
        );
        let err = (case.run)(&mut conn, &scope, &fx).await.unwrap_err();
        assert!(
            matches!(&err, CrmError::Denied(Denied::MissingPermission { key: k, .. }) if k == case.key),
            "{} without {}: {err}",
            case.name,
            case.key
        );
        assert_eq!(
            digest(&mut conn, &org).await,
            before,
            "{} wrote although refused",
            case.name
        );
    }
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    for case in operations() {
        let scope = TenantScope::for_member(
            fx.scope.organization_id().clone(),
            UserId::generate(),
            PermissionSet::of([case.key]),
        );
        if let Err(CrmError::Denied(denied)) = (case.run)(&mut conn, &scope, &fx).await {
            panic!("{} with {} alone: {denied}", case.name, case.key);
        }
    }
}

#[tokio::test]
async fn another_organization_reads_changes_and_links_to_none_of_its_rows() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let org = fx.scope.organization_id().clone();
    let other = org_scope(&mut conn).await;
    let before = digest(&mut conn, &org).await;
    let mut refused = 0;
    for case in operations() {
        let outcome = (case.run)(&mut conn, &other, &fx).await;
        if case.names_a_row {
            match outcome {
                Err(CrmError::NotFound { .. } | CrmError::ForeignParent { .. }) => refused += 1,
                Err(CrmError::BatchRow { source, .. })
                    if matches!(*source, CrmError::ForeignParent { .. }) =>
                {
                    refused += 1
                }
                Ok(0) => {}
                other => panic!("{} from another organization: {other:?}", case.name),
            }
        } else {
            outcome.unwrap_or_else(|e| panic!("{} in its own organization: {e}", case.name));
        }
        assert_eq!(
            digest(&mut conn, &org).await,
            before,
            "{} from another organization changed this one's rows",
            case.name
        );
    }
    assert!(refused >= 24, "only {refused} operations were refused");
}

async fn org_scope(conn: &mut AsyncPgConnection) -> TenantScope {
    org(conn).await.scope
}
