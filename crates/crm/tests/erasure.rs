//! A person's data on request and their erasure: the export covers every table that
//! references a person (from the catalog), the erasure leaves no trace of them in any table
//! (checked from the catalog, every row as text), suppresses their identities so a
//! re-import is flagged and never contacted, and fails whole or not at all.

use std::collections::{BTreeMap, BTreeSet};

use diesel::sql_types::{Array, BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_crm::*;
use neonhub_rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub_schema::Vector;
use neonhub_schema::ids::{EventId, OrganizationId, PersonId};
use neonhub_schema::seal::{KeyError, SUPPRESSION_KEY_ENV, with_hash_keys};
use neonhub_schema::{TenantScope, time};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{APP_ROLE, TestDatabase, suppression_keys};
use serde_json::json;

const PRIMARY_EMAIL: &str = "Ada@Example.com";
const WORK_EMAIL: &str = "ada.work@analytical.example";
const PHONE: &str = "+44 20 7946 0000";
const PHONE_AGAIN: &str = "0044 (20) 7946-0000";
const HANDLE: &str = "@ada_l1815";
const EXTERNAL_ID: &str = "shop-ada-1815";

/// The person's identifying strings: what must be gone after the erasure (plus their id).
fn needles(id: &PersonId) -> Vec<String> {
    vec![
        id.to_string(),
        PRIMARY_EMAIL.to_lowercase(),
        WORK_EMAIL.into(),
        PHONE.into(),
        "+442079460000".into(),
        PHONE_AGAIN.into(),
        HANDLE.into(),
        EXTERNAL_ID.into(),
    ]
}

struct Fixture {
    db: TestDatabase,
    owner: AsyncPgConnection,
    app: AsyncPgConnection,
    scope: TenantScope,
    other: TenantScope,
    ada: PersonId,
    bob: PersonId,
    ada_event: EventId,
    twin: PersonId,
}

fn event(
    person: &PersonId,
    i: usize,
    objective: Option<&neonhub_schema::ids::PersonObjectiveId>,
) -> NewEvent {
    NewEvent {
        person_id: person.clone(),
        campaign_id: None,
        objective_id: objective.cloned(),
        channel: "email".into(),
        kind: "email.opened".into(),
        source: Some("esp".into()),
        provider_id: Some(format!("msg-{i}")),
        topic: None,
        intent: None,
        sentiment: None,
        payload: Some(json!({"to": PRIMARY_EMAIL, "n": i})),
        metadata: None,
        occurred_at: time::now() - chrono::Duration::seconds(i as i64),
    }
}

/// Ada, with a row in every table that references a person and her identities written
/// into their text and JSON; Bob (whose memory cites Ada's event); a lead with her email;
/// a ledger entry and an allocation pointing at her; and, in another organization, a person
/// with her email (who must survive her erasure).
async fn fixture() -> Fixture {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let mut app = db.connect_as_app().await;
    let acme = org(&mut owner).await;
    let globex = org(&mut owner).await;
    let s = acme.scope.clone();
    let conn = &mut app;
    let ada = Person::create(
        conn,
        &s,
        &NewPerson {
            display_name: Some("Ada Lovelace"),
            primary_email: Some(PRIMARY_EMAIL),
            primary_phone: Some(PHONE),
            primary_handle: Some(HANDLE),
            external_id: Some(EXTERNAL_ID),
            attributes: Some(&json!({"work": WORK_EMAIL})),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap()
    .id;
    for (kind, value) in [
        ("email", PRIMARY_EMAIL),
        ("email", WORK_EMAIL),
        ("phone", PHONE_AGAIN),
        ("handle", HANDLE),
    ] {
        PersonIdentity::add(
            conn,
            &s,
            &ada,
            &NewPersonIdentity {
                kind,
                value,
                metadata: Some(&json!({"imported": value})),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .clear()
        .unwrap();
    }
    Consent::record(
        conn,
        &s,
        &ada,
        &NewConsent {
            channel: "email",
            campaign: None,
            status: ConsentStatus::Granted,
            source: Some("form"),
            collected_at: None,
            expires_at: None,
            evidence: Some(&json!({"typed": PRIMARY_EMAIL})),
            metadata: None,
        },
    )
    .await
    .unwrap();
    PersonNote::add(conn, &s, &ada, &format!("called her on {PHONE}"), "team")
        .await
        .unwrap();
    PersonTopic::set(conn, &s, &ada, "engines", 0.9, None)
        .await
        .unwrap();
    let objective = PersonObjective::create(
        conn,
        &s,
        &ada,
        &NewPersonObjective {
            title: "win back",
            description: Some(&format!("write to {WORK_EMAIL}")),
            status: "open",
            priority: 1,
            success_metric: None,
            target_value: None,
            due_at: None,
            metadata: None,
        },
    )
    .await
    .unwrap()
    .id;
    let events: Vec<NewEvent> = (0..20)
        .map(|i| event(&ada, i, (i % 2 == 0).then_some(&objective)))
        .collect();
    Event::insert_many(conn, &s, &events).await.unwrap();
    let ada_event = Event::list(
        conn,
        &s,
        &EventFilter {
            person: Some(&ada),
            ..Default::default()
        },
        &PageRequest::first(1),
    )
    .await
    .unwrap()
    .items[0]
        .id
        .clone();
    let space = EmbeddingSpace::create(
        conn,
        &s,
        &NewEmbeddingSpace {
            name: "mem",
            provider: "local",
            model: "toy",
            dimension: 3,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let v = Vector::from(vec![1.0, 0.0, 0.0]);
    let bob = Person::create(conn, &s, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    for (person, label) in [
        (&ada, format!("{EXTERNAL_ID} likes tea")),
        (&bob, format!("met {PRIMARY_EMAIL} at the fair")),
    ] {
        Memory::remember(
            conn,
            &s,
            person,
            &NewMemory {
                space: &space.id,
                embedding: &v,
                label: Some(&label),
                source_event: Some(&ada_event),
                expires_at: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
    }
    // Tables of crates still to come, written as the owner.
    let org_id = s.organization_id();
    owner
        .batch_execute(&format!(
            r#"INSERT INTO budget_profiles (id, "organizationId", name, "updatedAt")
                   VALUES ('bp-{org_id}', '{org_id}', 'main', now());
               INSERT INTO budget_allocations (id, "organizationId", "budgetProfileId", channel, amount, "updatedAt", "objectiveId")
                   VALUES ('ba-{org_id}', '{org_id}', 'bp-{org_id}', 'email', 100, now(), '{objective}');
               INSERT INTO budget_ledger (id, "organizationId", "budgetProfileId", "personId", "entryType", amount, metadata)
                   VALUES ('bl-{org_id}', '{org_id}', 'bp-{org_id}', '{ada}', 'spend', 12.5,
                           '{{"customer": "ADA@EXAMPLE.COM", "person": "{ada}", "phone": "{PHONE}"}}');
               INSERT INTO marketing_leads (id, "organizationId", email, "firstName", phone, source, "updatedAt")
                   VALUES ('ml-{org_id}', '{org_id}', ' ADA@example.com', 'Ada', '{PHONE}', 'webinar', now()),
                          ('ml2-{org_id}', '{org_id}', 'someone@else.example', 'Sam', NULL, 'ads', now());
               INSERT INTO marketing_touchpoints (id, "leadId", type, channel, "eventData")
                   VALUES ('mt-{org_id}', 'ml-{org_id}', 'email_open', 'email', '{{"to": "{WORK_EMAIL}"}}');"#
        ))
        .await
        .unwrap();
    let twin = Person::create(
        conn,
        &globex.scope,
        &NewPerson {
            primary_email: Some(PRIMARY_EMAIL),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap()
    .id;
    Fixture {
        db,
        owner,
        app,
        scope: s,
        other: globex.scope,
        ada,
        bob,
        ada_event,
        twin,
    }
}

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = BigInt)]
    scoped: i64,
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `table: rows` of every table (from the catalog) with a row of `org` (every row, for a
/// table without `"organizationId"`) holding one of `needles` anywhere in it, the whole row
/// read as text, case-insensitively.
async fn traces(
    owner: &mut AsyncPgConnection,
    org: &OrganizationId,
    needles: &[String],
) -> BTreeMap<String, i64> {
    let tables: Vec<Table> = sql_query(
        r#"SELECT t.table_name::text AS table_name,
                  count(c.column_name) AS scoped
           FROM information_schema.tables t
           LEFT JOIN information_schema.columns c
             ON c.table_schema = t.table_schema AND c.table_name = t.table_name
            AND c.column_name = 'organizationId'
           WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
           GROUP BY 1 ORDER BY 1"#,
    )
    .load(owner)
    .await
    .unwrap();
    assert!(tables.len() >= 75, "only {} tables", tables.len());
    let patterns: Vec<String> = needles
        .iter()
        .map(|n| {
            format!(
                "%{}%",
                n.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        })
        .collect();
    let mut found = BTreeMap::new();
    for t in tables {
        let scope = if t.scoped > 0 {
            r#" AND x."organizationId" = $2"#
        } else {
            ""
        };
        let n = sql_query(format!(
            r#"SELECT count(*) AS n FROM public."{}" x WHERE x::text ILIKE ANY($1){scope}"#,
            t.table_name
        ))
        .bind::<Array<Text>, _>(&patterns)
        .bind::<Text, _>(org)
        .get_result::<N>(owner)
        .await
        .unwrap()
        .n;
        if n > 0 {
            found.insert(t.table_name, n);
        }
    }
    found
}

async fn count(owner: &mut AsyncPgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<N>(owner).await.unwrap().n
}

#[tokio::test]
async fn erasure_leaves_no_trace_of_the_person_in_any_table() {
    let mut fx = fixture().await;
    let org = fx.scope.organization_id().clone();
    let needles = needles(&fx.ada);
    // The check can fail: before the erasure it finds her in many tables.
    let before = traces(&mut fx.owner, &org, &needles).await;
    for table in [
        "people",
        "person_identities",
        "person_consents",
        "person_notes",
        "person_objectives",
        "events",
        "mem_embeddings",
        "budget_ledger",
        "marketing_leads",
        "marketing_touchpoints",
    ] {
        assert!(before.contains_key(table), "{table} not seeded: {before:?}");
    }

    let report = Person::erase(&mut fx.app, &fx.scope, &fx.ada, "data subject request 42")
        .await
        .unwrap();
    let after = traces(&mut fx.owner, &org, &needles).await;
    assert!(after.is_empty(), "traces left: {after:?}");

    let expected_deleted = BTreeMap::from(
        [
            ("people", 1),
            ("person_identities", 4),
            ("person_consents", 1),
            ("person_notes", 1),
            ("person_topics", 1),
            ("person_objectives", 1),
            ("events", 20),
            ("mem_embeddings", 1),
            ("marketing_leads", 1),
            ("marketing_touchpoints", 1),
        ]
        .map(|(t, n)| (t.to_owned(), n)),
    );
    assert_eq!(report.deleted, expected_deleted);
    let expected_detached = BTreeMap::from(
        [
            ("budget_ledger", 1),
            ("budget_allocations", 1),
            ("mem_embeddings", 1),
        ]
        .map(|(t, n)| (t.to_owned(), n)),
    );
    assert_eq!(report.detached, expected_detached);
    // Two emails, one phone (two spellings of one number), one handle, one external id.
    assert_eq!((report.identities, report.suppressed), (5, 5));

    // What stays: the ledger entry's amount, Bob and his memory (unlinked from her event),
    // the other lead, and the other organization's person with the same address.
    let o = &mut fx.owner;
    assert_eq!(
        count(o, &format!(r#"SELECT count(*) AS n FROM budget_ledger WHERE id = 'bl-{org}' AND amount = 12.5 AND "personId" IS NULL"#)).await,
        1
    );
    assert_eq!(
        count(o, &format!(r#"SELECT count(*) AS n FROM mem_embeddings WHERE "personId" = '{}' AND "sourceEventId" IS NULL"#, fx.bob)).await,
        1
    );
    assert_eq!(
        count(
            o,
            &format!(
                r#"SELECT count(*) AS n FROM events WHERE id = '{}'"#,
                fx.ada_event
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            o,
            &format!(
                r#"SELECT count(*) AS n FROM marketing_leads WHERE "organizationId" = '{org}'"#
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(o, &format!(r#"SELECT count(*) AS n FROM people WHERE id = '{}' AND "primaryEmail" = '{PRIMARY_EMAIL}'"#, fx.twin)).await,
        1
    );
    // The suppression list holds hashes only; the audit entry names her by keyed hash.
    assert_eq!(
        count(o, &format!(r#"SELECT count(*) AS n FROM person_suppressions WHERE "organizationId" = '{org}' AND length(hash) = 43 AND source = 'erasure'"#)).await,
        5
    );
    #[derive(QueryableByName)]
    struct Audit {
        #[diesel(sql_type = Text)]
        action: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        resource: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        metadata: serde_json::Value,
    }
    let audit: Vec<Audit> = sql_query(format!(
        r#"SELECT action, "resourceId" AS resource, metadata FROM audit_logs
           WHERE "organizationId" = '{org}' AND action LIKE 'crm.%'"#
    ))
    .load(o)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "crm.person.erased");
    assert_eq!(
        audit[0].resource.as_deref(),
        Some(report.person_hash.as_str())
    );
    assert_eq!(audit[0].metadata["deleted"]["events"], 20);
    assert_eq!(audit[0].metadata["identities"].as_array().unwrap().len(), 5);
    assert_eq!(audit[0].metadata["reason"], "data subject request 42");

    // Erased is gone: a second erasure is NotFound.
    assert!(matches!(
        Person::erase(&mut fx.app, &fx.scope, &fx.ada, "again").await,
        Err(CrmError::NotFound { .. })
    ));
}

/// The tables whose foreign key names `people` or `marketing_leads`, and those their rows
/// own (ON DELETE CASCADE), from the catalog.
async fn referencing_tables(owner: &mut AsyncPgConnection) -> BTreeSet<String> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let rows: Vec<Name> = sql_query(
        r#"WITH RECURSIVE tree(rel) AS (
               SELECT 'public.people'::regclass::oid
               UNION SELECT 'public.marketing_leads'::regclass::oid
               UNION
               SELECT c.conrelid FROM pg_constraint c JOIN tree ON c.confrelid = tree.rel
               WHERE c.contype = 'f' AND (c.confdeltype = 'c' OR tree.rel IN
                   ('public.people'::regclass, 'public.marketing_leads'::regclass))
           )
           SELECT relname::text AS name FROM tree JOIN pg_class ON pg_class.oid = tree.rel"#,
    )
    .load(owner)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.name).collect()
}

#[tokio::test]
async fn the_export_covers_every_table_that_references_the_person() {
    let mut fx = fixture().await;
    let expected = referencing_tables(&mut fx.owner).await;
    assert!(expected.len() >= 11, "{expected:?}");
    let export = Person::export(&mut fx.app, &fx.scope, &fx.ada)
        .await
        .unwrap();
    assert_eq!(export["format"], "neonhub.person-export/1");
    assert_eq!(export["personId"], fx.ada.as_str());
    let tables = export["tables"].as_object().unwrap();
    let listed: BTreeSet<String> = tables.keys().cloned().collect();
    assert_eq!(listed, expected);
    // Each table holds exactly the rows that name her (or her leads), and the fixture
    // gave every table at least one.
    let ada = &fx.ada;
    let org = fx.scope.organization_id();
    for (table, expected_rows) in [
        (
            "people",
            format!("SELECT count(*) AS n FROM people WHERE id = '{ada}'"),
        ),
        (
            "events",
            format!(r#"SELECT count(*) AS n FROM events WHERE "personId" = '{ada}'"#),
        ),
        (
            "mem_embeddings",
            format!(r#"SELECT count(*) AS n FROM mem_embeddings WHERE "personId" = '{ada}'"#),
        ),
        (
            "budget_ledger",
            format!(r#"SELECT count(*) AS n FROM budget_ledger WHERE "personId" = '{ada}'"#),
        ),
        (
            "marketing_leads",
            format!(
                r#"SELECT count(*) AS n FROM marketing_leads WHERE "organizationId" = '{org}' AND lower(btrim(email)) = 'ada@example.com'"#
            ),
        ),
    ] {
        let n = count(&mut fx.owner, &expected_rows).await;
        assert!(n > 0, "{table}");
        assert_eq!(tables[table].as_array().unwrap().len() as i64, n, "{table}");
    }
    for table in &expected {
        assert!(
            !tables[table.as_str()].as_array().unwrap().is_empty(),
            "{table}: the fixture left it empty, so the export of it is untested"
        );
    }
    // Bob's memory cites her event but is his: not in her export.
    let memories = tables["mem_embeddings"].as_array().unwrap();
    assert!(memories.iter().all(|m| m["personId"] == fx.ada.as_str()));
    assert!(!export.to_string().contains(fx.bob.as_str()));
    // Another organization learns nothing.
    assert!(matches!(
        Person::export(&mut fx.app, &fx.other, &fx.ada).await,
        Err(CrmError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_table_added_later_is_exported_and_erased_without_a_code_change() {
    let mut fx = fixture().await;
    fx.owner
        .batch_execute(&format!(
            r#"CREATE TABLE loyalty_cards (
                   id text PRIMARY KEY,
                   "organizationId" text NOT NULL REFERENCES organizations (id),
                   "personId" text NOT NULL REFERENCES people (id) ON DELETE CASCADE,
                   number text NOT NULL);
               CREATE INDEX ON loyalty_cards ("personId");
               GRANT ALL ON loyalty_cards TO {APP_ROLE};
               INSERT INTO loyalty_cards VALUES ('lc-1', '{}', '{}', 'card of {HANDLE}');"#,
            fx.scope.organization_id(),
            fx.ada
        ))
        .await
        .unwrap();
    let export = Person::export(&mut fx.app, &fx.scope, &fx.ada)
        .await
        .unwrap();
    assert_eq!(
        export["tables"]["loyalty_cards"][0]["number"],
        format!("card of {HANDLE}")
    );
    let report = Person::erase(&mut fx.app, &fx.scope, &fx.ada, "request")
        .await
        .unwrap();
    assert_eq!(report.deleted.get("loyalty_cards"), Some(&1));
    assert_eq!(
        count(&mut fx.owner, "SELECT count(*) AS n FROM loyalty_cards").await,
        0
    );
}

#[tokio::test]
async fn a_key_that_would_block_the_erasure_refuses_it_before_any_write() {
    let mut fx = fixture().await;
    fx.owner
        .batch_execute(&format!(
            r#"CREATE TABLE invoices_sent (id text PRIMARY KEY,
                   "personId" text REFERENCES people (id));
               GRANT ALL ON invoices_sent TO {APP_ROLE};
               INSERT INTO invoices_sent VALUES ('inv-1', '{}');"#,
            fx.ada
        ))
        .await
        .unwrap();
    let org = fx.scope.organization_id().clone();
    let before = snapshot(&mut fx.owner).await;
    let err = Person::erase(&mut fx.app, &fx.scope, &fx.ada, "request")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CrmError::ErasureBlocked { table, column, rows: 1 } if table == "invoices_sent" && column == "personId"),
        "{err}"
    );
    assert_eq!(snapshot(&mut fx.owner).await, before);
    assert!(
        !traces(&mut fx.owner, &org, &needles(&fx.ada))
            .await
            .is_empty()
    );
}

/// A fingerprint of every row of every table of the database.
async fn snapshot(owner: &mut AsyncPgConnection) -> String {
    #[derive(QueryableByName)]
    struct Digest {
        #[diesel(sql_type = Text)]
        digest: String,
    }
    let tables: Vec<Table> = sql_query(
        r#"SELECT table_name::text AS table_name, 0::bigint AS scoped
           FROM information_schema.tables
           WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"#,
    )
    .load(owner)
    .await
    .unwrap();
    let union: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                r#"SELECT '{0}' || x::text AS r FROM public."{0}" x"#,
                t.table_name
            )
        })
        .collect();
    sql_query(format!(
        "SELECT md5(string_agg(r, '|' ORDER BY r)) AS digest FROM ({}) rows",
        union.join(" UNION ALL ")
    ))
    .get_result::<Digest>(owner)
    .await
    .unwrap()
    .digest
}

#[tokio::test]
async fn an_erasure_that_fails_halfway_leaves_everything_as_it_was() {
    let mut fx = fixture().await;
    // The last statement of an erasure (the person's own row) fails: every step before it
    // has run (leads, events, memories, the ledger detached) when it does.
    fx.owner
        .batch_execute(
            r#"CREATE FUNCTION fail_here() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN RAISE EXCEPTION 'forced failure'; END $$;
               CREATE TRIGGER fail_here BEFORE DELETE ON people
                   FOR EACH ROW EXECUTE FUNCTION fail_here();"#,
        )
        .await
        .unwrap();
    let before = snapshot(&mut fx.owner).await;
    let err = Person::erase(&mut fx.app, &fx.scope, &fx.ada, "request")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("forced failure"), "{err}");
    assert_eq!(
        snapshot(&mut fx.owner).await,
        before,
        "a failed erasure changed rows"
    );
    // The connection is usable and the person still there.
    Person::get(&mut fx.app, &fx.scope, &fx.ada).await.unwrap();
}

#[tokio::test]
async fn a_suppressed_reimport_is_flagged_and_never_contacted() {
    let mut fx = fixture().await;
    let (app, s) = (&mut fx.app, &fx.scope);
    Person::erase(app, s, &fx.ada, "data subject request")
        .await
        .unwrap();

    // The list comes back: her address in another case and spacing, on a new person.
    let again = Person::create(
        app,
        s,
        &NewPerson {
            primary_email: Some("  ADA@example.COM"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let Screened::Suppressed { row, matches } = again else {
        panic!("a suppressed address was not flagged: {again:?}");
    };
    assert_eq!(matches.len(), 1);
    assert_eq!(
        (matches[0].kind.as_str(), matches[0].source.as_str()),
        ("email", "erasure")
    );
    // Her phone in a third spelling, added to an existing person: flagged; `clear()` refuses.
    let err = PersonIdentity::add(
        app,
        s,
        &fx.bob,
        &NewPersonIdentity {
            kind: "mobile",
            value: "+44-20-7946-0000",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap_err();
    assert!(
        matches!(&err, CrmError::Suppressed { kinds } if kinds == &["phone"]),
        "{err}"
    );
    assert!(!err.to_string().contains("7946"), "{err}");
    // An update that sets her external id: flagged.
    let update = Person::update(
        app,
        s,
        &fx.bob,
        &NewPerson {
            external_id: Some(EXTERNAL_ID),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(update.is_suppressed());

    // Consent granted after the re-import: contact is still refused, on every channel.
    for channel in ["email", "sms"] {
        Consent::record(
            app,
            s,
            &row.id,
            &NewConsent {
                channel,
                campaign: None,
                status: ConsentStatus::Granted,
                source: Some("import"),
                collected_at: None,
                expires_at: None,
                evidence: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
        let d = Consent::may_contact(app, s, &row.id, channel, None)
            .await
            .unwrap();
        assert_eq!(
            (d.allowed, d.reason),
            (false, ContactReason::Suppressed),
            "{channel}"
        );
    }
    assert!(
        Suppression::is_suppressed(app, s, "email", "ada@example.com")
            .await
            .unwrap()
    );
    assert!(
        !Suppression::is_suppressed(app, s, "email", "bob@example.com")
            .await
            .unwrap()
    );

    // Suppression is per organization: the other one's list is its own.
    let other = Person::create(
        app,
        &fx.other,
        &NewPerson {
            primary_email: Some("ada@example.com"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!other.is_suppressed());
    assert!(
        !Suppression::is_suppressed(app, &fx.other, "email", "ada@example.com")
            .await
            .unwrap()
    );

    // A request not to be contacted (no erasure) suppresses too.
    assert!(
        Suppression::add(app, s, "email", "Sam@Else.example")
            .await
            .unwrap()
    );
    assert!(
        !Suppression::add(app, s, "email", "sam@else.example ")
            .await
            .unwrap()
    );
    let sam = Person::create(
        app,
        s,
        &NewPerson {
            primary_email: Some("sam@else.example"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(sam.is_suppressed());
}

#[tokio::test]
async fn erasing_a_person_of_another_organization_is_refused() {
    let mut fx = fixture().await;
    let org = fx.scope.organization_id().clone();
    let before = snapshot(&mut fx.owner).await;
    for (id, scope) in [(&fx.ada, &fx.other), (&fx.twin, &fx.scope)] {
        assert!(matches!(
            Person::erase(&mut fx.app, scope, id, "request").await,
            Err(CrmError::NotFound { .. })
        ));
    }
    assert_eq!(snapshot(&mut fx.owner).await, before);
    assert!(
        !traces(&mut fx.owner, &org, &needles(&fx.ada))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_missing_suppression_key_is_a_clear_error_and_nothing_is_written() {
    let mut fx = fixture().await;
    let before = snapshot(&mut fx.owner).await;
    let (app, s, ada) = (&mut fx.app, &fx.scope, &fx.ada);
    let outcomes = with_hash_keys(None, async {
        vec![
            Person::erase(app, s, ada, "request").await.map(|_| ()),
            Consent::may_contact(app, s, ada, "email", None)
                .await
                .map(|_| ()),
            Suppression::add(app, s, "email", "x@example.com")
                .await
                .map(|_| ()),
            PersonIdentity::add(
                app,
                s,
                ada,
                &NewPersonIdentity {
                    kind: "email",
                    value: "new@example.com",
                    ..Default::default()
                },
            )
            .await
            .map(|_| ()),
        ]
    })
    .await;
    for outcome in outcomes {
        let err = outcome.unwrap_err();
        assert!(
            matches!(&err, CrmError::SuppressionKey(KeyError::Missing { var }) if *var == SUPPRESSION_KEY_ENV),
            "{err}"
        );
        assert!(err.to_string().contains(SUPPRESSION_KEY_ENV), "{err}");
    }
    assert_eq!(snapshot(&mut fx.owner).await, before);
    // A malformed key names the variable, never the key.
    let err = CrmError::from(neonhub_schema::seal::HashKeys::parse("k:short").unwrap_err());
    assert!(err.to_string().contains(SUPPRESSION_KEY_ENV), "{err}");
    // Hashes made under another key do not match: a key is part of what is compared.
    let foreign = with_hash_keys(Some(suppression_keys()), async {
        Suppression::is_suppressed(&mut fx.app, &fx.scope, "email", "anyone@example.com").await
    })
    .await
    .unwrap();
    assert!(!foreign);
    drop(fx.db);
}

#[tokio::test]
async fn a_reason_naming_the_person_is_refused() {
    let mut fx = fixture().await;
    for reason in [
        "",
        "asked by ADA@example.com",
        &format!("ticket for {}", fx.ada),
    ] {
        let err = Person::erase(&mut fx.app, &fx.scope, &fx.ada, reason)
            .await
            .unwrap_err();
        assert!(matches!(err, CrmError::Invalid(_)), "{reason:?}: {err}");
    }
    Person::get(&mut fx.app, &fx.scope, &fx.ada).await.unwrap();
}

#[tokio::test]
async fn every_foreign_key_the_erasure_walks_has_an_index() {
    let mut fx = fixture().await;
    #[derive(QueryableByName)]
    struct Unindexed {
        #[diesel(sql_type = Text)]
        key: String,
    }
    let unindexed: Vec<Unindexed> = sql_query(
        r#"WITH RECURSIVE tree(rel) AS (
               SELECT 'public.people'::regclass::oid
               UNION SELECT 'public.marketing_leads'::regclass::oid
               UNION
               SELECT c.conrelid FROM pg_constraint c JOIN tree ON c.confrelid = tree.rel
               WHERE c.contype = 'f' AND c.confdeltype = 'c'
           )
           SELECT c.conrelid::regclass::text || '.' || a.attname AS key
           FROM pg_constraint c
           JOIN tree ON c.confrelid = tree.rel
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
           WHERE c.contype = 'f'
             AND NOT EXISTS (SELECT 1 FROM pg_index i
                             WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
           ORDER BY 1"#,
    )
    .load(&mut fx.owner)
    .await
    .unwrap();
    let unindexed: Vec<String> = unindexed.into_iter().map(|u| u.key).collect();
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:?}"
    );
}
