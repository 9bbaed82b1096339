//! Row-level security, driven by the catalog so a table added later is covered without
//! editing this file: every table has it enabled with a policy, and, for the application
//! role, organization A's scope sees and changes only A's rows in every table the crates
//! fill today (two organizations with the same fixtures, compared through the owner).

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub::identity::{
    ApiKey, DefaultRole, Feedback, NewApiKey, NewFeedback, NewTask, Task, TeamMember, authorize,
    keys,
};
use neonhub::rag::{Chunk, Conversation, Message, NewConversation, NewMessage};
use neonhub::schema::catalog::Catalog;
use neonhub::schema::enums::{ConversationKind, MessageRole};
use neonhub::schema::roles::{RlsStatus, ensure_app_role};
use neonhub::schema::{Secret, TenantScope};
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::identity::Org;
use neonhub_testing::fixtures::rag::{Tenant, v};
use serde_json::json;

/// The test server's URL for the same database with `role` as the user.
fn url_as(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}:{APP_PASSWORD}@{host}")
}

/// The test role's password (servers with password auth on loopback need it).
const APP_PASSWORD: &str = "nh-rls-test";

/// The application role the test switches to (`SET ROLE`): created once per server.
const APP_ROLE: &str = "nh_rls_test_app";

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

/// The role (created, with its password, once per process: `ALTER ROLE` of one role from
/// two sessions at once fails) and its grants in this test's database.
async fn app_role(conn: &mut AsyncPgConnection) {
    // Grants that name one role from two sessions at once can collide on its shared
    // catalog rows ("tuple concurrently updated"): one at a time in this process.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    static CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let _one_at_a_time = SERIAL.lock().await;
    CREATED
        .get_or_init(async || {
            let mut admin = neonhub_testing::server_url().connect().await.unwrap();
            let password = Secret::new(APP_PASSWORD.to_owned());
            ensure_app_role(&mut admin, APP_ROLE, Some(&password))
                .await
                .unwrap();
        })
        .await;
    ensure_app_role(conn, APP_ROLE, None).await.unwrap();
}

/// One organization's rows in every table the crates write today.
async fn fill(conn: &mut AsyncPgConnection) -> (Org, Tenant) {
    let org = Org::builder().member(DefaultRole::Member).build(conn).await;
    let owner = authorize(conn, &org.org.id, &org.owner, keys::TASKS_WRITE)
        .await
        .unwrap();
    let member = org.member(DefaultRole::Member).clone();
    ApiKey::issue(
        conn,
        &owner,
        &NewApiKey {
            name: "ci",
            scopes: &[],
            expires_at: None,
        },
    )
    .await
    .unwrap();
    Feedback::open(
        conn,
        &owner,
        &NewFeedback {
            kind: "bug",
            title: "t",
            description: "d",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    TeamMember::add(conn, &owner, &member, Some("Writer"), None)
        .await
        .unwrap();
    Task::create(
        conn,
        &owner,
        &NewTask {
            title: "t",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The knowledge base of the same organization, made through its own scope.
    let t = Tenant::builder()
        .within(
            TenantScope::trusted_system(org.org.id.clone()),
            org.owner.clone(),
        )
        .build(conn)
        .await;
    Chunk::create(conn, &t.scope, &t.chunk(0, Some(&v(&[1.0, 0.0, 0.0]))))
        .await
        .unwrap();
    let conversation = Conversation::create(
        conn,
        &t.scope,
        &NewConversation {
            kind: ConversationKind::Planning,
            title: None,
            created_by_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let body = json!({"text": "hi"});
    Message::create(
        conn,
        &t.scope,
        &conversation.id,
        &NewMessage {
            author_id: None,
            role: MessageRole::User,
            content_json: &body,
            embedding: None,
            embedding_space_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    // A budget with a campaign chain, a reservation, an allocation, a payment and a payout.
    fill_billing(conn, &t.scope).await;
    fill_connectors(conn, &org).await;
    fill_crm(conn, &t.scope, &t.space.id).await;
    (org, t)
}

/// A person with an identity, a consent, a note, a topic, an objective, an event and a
/// memory.
async fn fill_crm(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    space: &neonhub::schema::ids::EmbeddingSpaceId,
) {
    use neonhub::crm::*;
    let p = Person::create(conn, scope, &NewPerson::default())
        .await
        .unwrap()
        .clear()
        .unwrap()
        .id;
    PersonIdentity::add(
        conn,
        scope,
        &p,
        &NewPersonIdentity {
            kind: "email",
            value: "rls@example.com",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .clear()
    .unwrap();
    Consent::record(
        conn,
        scope,
        &p,
        &NewConsent {
            channel: "email",
            campaign: None,
            status: ConsentStatus::Granted,
            source: None,
            collected_at: None,
            expires_at: None,
            evidence: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    PersonNote::add(conn, scope, &p, "n", "team").await.unwrap();
    PersonTopic::set(conn, scope, &p, "t", 1.0, None)
        .await
        .unwrap();
    PersonObjective::create(
        conn,
        scope,
        &p,
        &NewPersonObjective {
            title: "o",
            status: "open",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Event::insert_many(
        conn,
        scope,
        &[NewEvent {
            person_id: p.clone(),
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
            occurred_at: neonhub::schema::time::now(),
        }],
    )
    .await
    .unwrap();
    Memory::remember(
        conn,
        scope,
        &p,
        &NewMemory {
            space,
            embedding: &v(&[1.0, 0.0, 0.0]),
            label: None,
            source_event: None,
            expires_at: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
}

/// A connection shared with the organization (its token sealed), with a trigger and an
/// action, and the owner's own credential.
async fn fill_connectors(conn: &mut AsyncPgConnection, org: &Org) {
    use neonhub::connectors::*;
    let scope = authorize(conn, &org.org.id, &org.owner, keys::CONNECTORS_MANAGE)
        .await
        .unwrap();
    let (gmail, _) = Connector::upsert_all(conn, CATALOG)
        .await
        .unwrap()
        .remove(0);
    neonhub::schema::seal::with_keys(Some(neonhub_testing::secret_keys()), async {
        let auth = ConnectorAuth::connect(
            conn,
            &scope,
            &NewConnectorAuth {
                connector: &gmail.id,
                shared: true,
                account_id: Some("shared"),
                account_name: None,
                tokens: AuthTokens {
                    access_token: Some(Secret::new("ya29.rls")),
                    ..AuthTokens::default()
                },
                scope: None,
                token_type: None,
                status: AuthStatus::Active,
                metadata: None,
            },
        )
        .await
        .unwrap();
        let config = json!({});
        TriggerConfig::create(
            conn,
            &scope,
            &auth.id,
            &NewTriggerConfig {
                name: "t",
                trigger_type: "email.received",
                config: &config,
                metadata: None,
            },
        )
        .await
        .unwrap();
        ActionConfig::create(
            conn,
            &scope,
            &auth.id,
            &NewActionConfig {
                name: "a",
                action_type: "email.send",
                config: &config,
                metadata: None,
            },
        )
        .await
        .unwrap();
        Credential::store(
            conn,
            &scope,
            &NewCredential {
                provider: "x",
                account_id: Some("own"),
                tokens: CredentialTokens::default(),
                scope: None,
                token_type: None,
            },
        )
        .await
        .unwrap();
    })
    .await;
}

async fn fill_billing(conn: &mut AsyncPgConnection, scope: &TenantScope) {
    use neonhub::billing::stripe::{StripePayment, StripePayout};
    use neonhub::billing::*;
    let usd = |minor| Money::new(minor, Currency::USD).unwrap();
    let campaign = neonhub_testing::fixtures::campaign(conn, scope.organization_id()).await;
    let profile = BudgetProfile::create(
        conn,
        scope,
        &NewBudgetProfile {
            name: "media",
            currency: Currency::USD,
            total: Some(usd(10_000)),
            brand: None,
            constraints: None,
            settings: None,
        },
    )
    .await
    .unwrap();
    let on_campaign = LedgerRequest {
        campaign: Some(&campaign),
        ..LedgerRequest::key("rls-reserve")
    };
    BudgetProfile::reserve(conn, scope, &profile.id, usd(500), &on_campaign)
        .await
        .unwrap();
    BudgetAllocation::create(
        conn,
        scope,
        &NewBudgetAllocation {
            profile: &profile.id,
            channel: "email",
            amount: usd(1_000),
            campaign: None,
            chain_campaign: None,
            objective: None,
            window_start: None,
            window_end: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let at = neonhub::schema::time::now();
    let tag = scope.organization_id().to_string();
    Payment::sync(
        conn,
        scope,
        &StripePayment {
            event_at: at,
            payment_intent_id: &format!("pi_{tag}"),
            status: "succeeded",
            amount: usd(500),
            customer_id: None,
            budget_profile: Some(&profile.id),
            metadata: None,
        },
    )
    .await
    .unwrap();
    Payout::sync(
        conn,
        scope,
        &StripePayout {
            event_at: at,
            transfer_id: &format!("tr_{tag}"),
            partner_id: "partner",
            status: "paid",
            amount: usd(100),
            processed_at: None,
            budget_profile: Some(&profile.id),
            metadata: None,
        },
    )
    .await
    .unwrap();
}

/// Runs `sql` as the application role inside a transaction scoped to `org` (or to no
/// organization), rolled back afterwards; returns the count it yields.
async fn as_app(conn: &mut AsyncPgConnection, org: Option<&str>, sql: &str) -> Result<i64, String> {
    conn.batch_execute("BEGIN").await.unwrap();
    if let Some(org) = org {
        conn.batch_execute(&format!(
            "SELECT set_config('app.current_org', '{org}', true)"
        ))
        .await
        .unwrap();
    }
    conn.batch_execute(&format!("SET LOCAL ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let result = sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .map(|c| c.n)
        .map_err(|e| e.to_string());
    conn.batch_execute("ROLLBACK").await.unwrap();
    result
}

#[tokio::test(flavor = "multi_thread")]
async fn every_table_has_row_level_security_and_one_organization_never_reaches_anothers_rows() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    // Created once per server; concurrent test processes serialize on the lock.
    app_role(&mut conn).await;

    // Structure: every table of the catalog the migrations build has RLS and a policy.
    let without: Vec<Name> = sql_query(
        "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '__diesel_schema_migrations'
            AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
                 AND c.relname <> 'verification_tokens')",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(
        without.is_empty(),
        "tables without row-level security: {:?}",
        without.iter().map(|n| &n.name).collect::<Vec<_>>()
    );
    let tables: Vec<String> = Catalog::expected().tables.keys().cloned().collect();

    let (a, _) = fill(&mut conn).await;
    let (b, _) = fill(&mut conn).await;
    let (a, b) = (a.org.id.to_string(), b.org.id.to_string());

    // The role really is subject to it.
    conn.batch_execute(&format!("BEGIN; SET LOCAL ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let status = RlsStatus::read(&mut conn).await.unwrap();
    conn.batch_execute("ROLLBACK").await.unwrap();
    assert!(status.enforced(), "{status:?}");

    let mut checked = 0;
    for table in &tables {
        let total = count(
            &mut conn,
            &format!(r#"SELECT count(*) AS n FROM public."{table}""#),
        )
        .await;
        let select = format!(r#"SELECT count(*) AS n FROM public."{table}""#);
        let seen_a = as_app(&mut conn, Some(&a), &select).await.unwrap();
        let seen_b = as_app(&mut conn, Some(&b), &select).await.unwrap();
        let seen_none = as_app(&mut conn, None, &select).await.unwrap();
        let global = [
            "connectors",
            "personas",
            "keywords",
            "editorial_calendar",
            "metric_events",
        ]
        .contains(&table.as_str());
        if global {
            assert_eq!(
                (seen_a, seen_none),
                (total, total),
                "{table}: readable by all"
            );
            let changed = as_app(&mut conn, Some(&a), &format!(r#"WITH d AS (DELETE FROM public."{table}" RETURNING 1) SELECT count(*) AS n FROM d"#)).await.unwrap();
            assert_eq!(changed, 0, "{table}: no writes for the application role");
            continue;
        }
        assert_eq!(seen_none, 0, "{table}: rows visible without a scope");
        assert_eq!(
            seen_a, seen_b,
            "{table}: the two organizations' identical fixtures"
        );
        assert!(
            seen_a + seen_b <= total,
            "{table}: {seen_a} + {seen_b} > {total}"
        );
        if total == 0 {
            continue;
        }
        checked += 1;
        // Deleting everything as A deletes at most what A sees (users: nothing; no policy
        // lets the application delete a user).
        let deleted = as_app(&mut conn, Some(&a), &format!(r#"WITH d AS (DELETE FROM public."{table}" RETURNING 1) SELECT count(*) AS n FROM d"#)).await;
        if let Ok(deleted) = deleted {
            assert!(
                deleted <= seen_a,
                "{table}: A deleted {deleted} rows, sees {seen_a}"
            );
        }
        // Moving A's rows to B is refused.
        let columns = &Catalog::expected().tables[table].columns;
        if columns.iter().any(|c| c.name == "organizationId") {
            let moved = as_app(
                &mut conn,
                Some(&a),
                &format!(r#"WITH u AS (UPDATE public."{table}" SET "organizationId" = '{b}' WHERE "organizationId" = '{a}' RETURNING 1) SELECT count(*) AS n FROM u"#),
            )
            .await;
            assert!(
                // audit_logs' append-only trigger refuses the update before the policy would.
                moved
                    .as_ref()
                    .is_err_and(|e| e.contains("row-level security") || e.contains("append-only"))
                    || seen_a == 0,
                "{table}: moved to B: {moved:?}"
            );
        }
    }
    // A chunk of A moved under B's dataset: refused (foreign keys alone would allow it).
    let b_dataset: Name = sql_query(format!(
        r#"SELECT id AS name FROM datasets WHERE "organizationId" = '{b}' LIMIT 1"#
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    let moved = as_app(
        &mut conn,
        Some(&a),
        &format!(
            r#"WITH u AS (UPDATE chunks SET "datasetId" = '{}' RETURNING 1) SELECT count(*) AS n FROM u"#,
            b_dataset.name
        ),
    )
    .await;
    assert!(
        moved
            .as_ref()
            .is_err_and(|e| e.contains("row-level security")),
        "{moved:?}"
    );
    // After a committed scope the setting reads '' (not NULL): still nothing is visible.
    conn.batch_execute(&format!(
        "BEGIN; SELECT set_config('app.current_org', '{a}', true); COMMIT"
    ))
    .await
    .unwrap();
    let after_commit = as_app(&mut conn, None, "SELECT count(*) AS n FROM datasets")
        .await
        .unwrap();
    assert_eq!(after_commit, 0);

    // The tables the crates fill today (rag, identity, billing: budget_profiles,
    // budget_ledger, budget_reservations, budget_requests, budget_transactions,
    // budget_allocations, payments, payouts, campaigns; connectors: connector_auths,
    // credentials, trigger_configs, action_configs; crm: people, person_identities,
    // person_consents, person_notes, person_topics, person_objectives, events,
    // mem_embeddings); later crates' fixtures add theirs.
    assert!(checked >= 38, "only {checked} tables had rows to check");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lookups_before_a_scope_and_the_repositories_work_as_the_application_role() {
    use chrono::Duration;
    use neonhub::identity::{
        Account, NewAccount, NewUser, Organization, Session, User, UserSettings, VerificationToken,
    };
    use neonhub::rag::{SearchFilter, SearchOptions};
    use neonhub::schema::time;

    let db = TestDatabase::migrated().await;
    let mut owner_conn = db.connect().await;
    app_role(&mut owner_conn).await;
    let (a, tenant) = fill(&mut owner_conn).await;
    let (b, other) = fill(&mut owner_conn).await;
    let owner_scope = authorize(&mut owner_conn, &a.org.id, &a.owner, keys::API_KEYS_MANAGE)
        .await
        .unwrap();
    let key = ApiKey::issue(
        &mut owner_conn,
        &owner_scope,
        &NewApiKey {
            name: "svc",
            scopes: &[keys::KNOWLEDGE_READ],
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let session = Session::create(&mut owner_conn, &a.owner, time::now() + Duration::hours(1))
        .await
        .unwrap();
    let email: Name = sql_query(format!(
        "SELECT email::text AS name FROM users WHERE id = '{}'",
        a.owner
    ))
    .get_result(&mut owner_conn)
    .await
    .unwrap();
    let token = VerificationToken::issue(
        &mut owner_conn,
        &email.name,
        time::now() + Duration::hours(1),
    )
    .await
    .unwrap();
    // A chunk of B's dataset carrying A's space id (the API refuses it; an adopted database
    // or a hand-written row can hold it).
    owner_conn
        .batch_execute(&format!(
            r#"INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, "createdAt")
               VALUES ('smuggled', '{}', '{}', '{}', 99, 'b''s secret', '[1,0,0]', now())"#,
            other.dataset.id, other.document.id, tenant.space.id
        ))
        .await
        .unwrap();

    // Everything below runs as the application role.
    let mut conn = db.connect().await;
    conn.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    assert!(RlsStatus::read(&mut conn).await.unwrap().enforced());
    let scope = authorize(&mut conn, &a.org.id, &a.owner, keys::KNOWLEDGE_READ)
        .await
        .unwrap();
    assert_eq!(
        Organization::id_for_slug(&mut conn, &a.org.slug)
            .await
            .unwrap(),
        a.org.id
    );
    assert!(
        Organization::by_slug(&mut conn, &a.owner, &a.org.slug)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Organization::by_slug(&mut conn, &a.owner, &b.org.slug)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        User::by_email(&mut conn, &email.name).await.unwrap().id,
        a.owner
    );
    let verified = ApiKey::verify(&mut conn, key.token.expose(), keys::KNOWLEDGE_READ)
        .await
        .unwrap();
    assert_eq!(verified.scope.organization_id(), &a.org.id);
    assert_eq!(
        Session::by_token(&mut conn, session.token.expose())
            .await
            .unwrap()
            .map(|s| s.id),
        Some(session.id)
    );
    assert!(
        VerificationToken::consume(&mut conn, &email.name, token.token.expose())
            .await
            .unwrap()
            .is_ok()
    );

    let again = VerificationToken::issue(&mut conn, &email.name, time::now() + Duration::hours(1))
        .await
        .unwrap();
    assert!(
        VerificationToken::consume(&mut conn, &email.name, again.token.expose())
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        Session::extend(
            &mut conn,
            session.token.expose(),
            time::now() + Duration::hours(2)
        )
        .await
        .unwrap()
    );
    let orgs = Organization::for_user(&mut conn, &a.owner).await.unwrap();
    assert_eq!(orgs.iter().map(|o| &o.id).collect::<Vec<_>>(), [&a.org.id]);
    // The user's own rows, as that user (a UserScope inside each call).
    let account = Account::link(
        &mut conn,
        &a.owner,
        &NewAccount {
            kind: "oauth",
            provider: "github",
            provider_account_id: "a-123",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        Account::by_provider(&mut conn, "github", "a-123")
            .await
            .unwrap()
            .map(|x| x.id),
        Some(account.id)
    );
    assert_eq!(
        Account::for_user(&mut conn, &a.owner).await.unwrap().len(),
        1
    );
    UserSettings::get(&mut conn, &a.owner).await.unwrap();
    let second = Session::create(&mut conn, &a.owner, time::now() + Duration::hours(1))
        .await
        .unwrap();
    assert!(
        Session::delete(&mut conn, second.token.expose())
            .await
            .unwrap()
    );
    let user = User::create(
        &mut conn,
        &NewUser {
            email: "signed-up@example.test",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    User::delete(&mut conn, &user.id).await.unwrap();

    // The repositories under the policies: A's search never returns B's smuggled chunk.
    let hits = Chunk::search(
        &mut conn,
        &scope,
        &tenant.space,
        &v(&[1.0, 0.0, 0.0]),
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|h| h.row.id.as_str() != "smuggled"),
        "B's row leaked into A's search"
    );
    let task_scope = authorize(&mut conn, &a.org.id, &a.owner, keys::TASKS_WRITE)
        .await
        .unwrap();
    Task::create(
        &mut conn,
        &task_scope,
        &NewTask {
            title: "as the app",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Bulk ingest as the application role: COPY goes through a staging table, so the
    // policies judge every row; a dataset of B's is refused.
    let app_url = neonhub::schema::DatabaseUrl::parse(&url_as(&db.url_string(), APP_ROLE)).unwrap();
    let write = authorize(&mut conn, &a.org.id, &a.owner, keys::KNOWLEDGE_WRITE)
        .await
        .unwrap();
    let rows: Vec<neonhub::rag::ChunkRow> = (10..110)
        .map(|idx| neonhub::rag::ChunkRow {
            document_id: tenant.document.id.clone(),
            idx: Some(idx),
            text: "copied as the application role".into(),
            embedding: Some(v(&[0.0, 1.0, 0.0])),
            metadata: None,
        })
        .collect();
    let target = neonhub::rag::IngestTarget {
        dataset: &tenant.dataset.id,
        space: &tenant.space.id,
    };
    // The caller's own client, as from its pool, used for both imports.
    let mut client = app_url.connect_raw(&Default::default()).await.unwrap();
    assert_eq!(
        Chunk::copy_in(&mut client, &write, target, &rows)
            .await
            .unwrap(),
        100
    );
    let foreign = neonhub::rag::IngestTarget {
        dataset: &other.dataset.id,
        space: &tenant.space.id,
    };
    assert!(
        Chunk::copy_in(&mut client, &write, foreign, &rows)
            .await
            .is_err()
    );
    assert_eq!(
        count(
            &mut owner_conn,
            &format!(
                r#"SELECT count(*) AS n FROM chunks WHERE "datasetId" = '{}'"#,
                tenant.dataset.id
            )
        )
        .await,
        101
    );

    // Raw SQL without a scope sees nothing owned.
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM api_keys").await,
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM sessions").await,
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM verification_tokens").await,
        0
    );
}
