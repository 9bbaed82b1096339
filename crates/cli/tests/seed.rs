//! `neonhub seed`: exactly the reference's rows, idempotent, completing, atomic.

use diesel::sql_types::{BigInt, Jsonb, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_cli::seed::{AccessReport, seed};
use neonhub_cli::seed_data::seed_counts;
use neonhub_identity::{Organization, PERMISSIONS, authorize};
use neonhub_schema::ids::UserId;
use neonhub_testing::TestDatabase;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = Jsonb)]
    rows: serde_json::Value,
}

#[derive(QueryableByName)]
struct Text1 {
    #[diesel(sql_type = Text)]
    v: String,
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    sql_query(sql).get_result::<Count>(conn).await.unwrap().n
}

async fn counts(conn: &mut AsyncPgConnection) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (table, _) in seed_counts() {
        out.push((
            (*table).to_owned(),
            count(conn, &format!("SELECT count(*) AS n FROM {table}")).await,
        ));
    }
    out
}

/// Every row of every seeded table, as JSON, in a stable order: ids and timestamps included.
async fn snapshot(conn: &mut AsyncPgConnection) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (table, _) in seed_counts() {
        let sql = format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id::text), '[]') AS rows FROM {table} t"
        );
        out.push(
            sql_query(sql)
                .get_result::<Snapshot>(conn)
                .await
                .unwrap()
                .rows,
        );
    }
    out
}

fn expected_counts() -> Vec<(String, i64)> {
    seed_counts()
        .iter()
        .map(|(t, n)| ((*t).to_owned(), *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn seeds_exactly_52_rows_and_a_second_run_changes_nothing() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let first = seed(&mut conn).await.unwrap();
    assert_eq!((first.created(), first.existing()), (52, 0));
    assert_eq!(counts(&mut conn).await, expected_counts());
    assert_eq!(seed_counts().iter().map(|(_, n)| n).sum::<i64>(), 52);
    let before = snapshot(&mut conn).await;

    // Beyond the 52: the organization's default roles and permissions, the admin as owner.
    let access = &first.access;
    assert_eq!(
        (
            access.roles_added,
            access.permissions_added,
            access.admin_made_owner
        ),
        (4, PERMISSIONS.len(), true)
    );
    // What `neonhub seed` prints: 35 keys since CRM II added crm:export and crm:erase
    // (owner and admin), 33 after Billing added budget:spend (granted to owner, admin and
    // member), 32 after Tenancy II added organization:read, roles:read, tasks:read,
    // audit:write and feedback:write (27 before); 101 grants (97, 94, 74 before).
    assert_eq!(
        (access.permissions_added, access.grants_added),
        (35, 101),
        "the catalogue's size and its default grants"
    );
    let org = Organization::id_for_slug(&mut conn, "primary")
        .await
        .unwrap();
    let admin: Text1 = sql_query("SELECT id AS v FROM users WHERE email = 'admin@neonhub.ai'")
        .get_result(&mut conn)
        .await
        .unwrap();
    let admin = UserId::from_string(admin.v);
    for p in PERMISSIONS {
        authorize(&mut conn, &org, &admin, p.key).await.unwrap();
    }
    let identity_rows = "SELECT (SELECT count(*) FROM organization_roles) + (SELECT count(*) FROM organization_permissions)
                       + (SELECT count(*) FROM role_permissions) + (SELECT count(*) FROM audit_logs) AS n";
    let identity_before = count(&mut conn, identity_rows).await;
    assert_eq!(
        identity_before,
        4 + PERMISSIONS.len() as i64 + access.grants_added as i64 + 2,
        "roles, permissions, grants and two audit rows (defaults installed, admin made owner)"
    );

    let second = seed(&mut conn).await.unwrap();
    assert_eq!((second.created(), second.existing()), (0, 52));
    assert_eq!(second.access, AccessReport::default());
    assert_eq!(count(&mut conn, identity_rows).await, identity_before);
    assert_eq!(
        snapshot(&mut conn).await,
        before,
        "a second seed changed rows (ids, updatedAt, values)"
    );

    // No secret is stored anywhere a connector could hold one.
    let secrets = "SELECT count(*) AS n FROM connector_auths WHERE \"accessToken\" IS NOT NULL
                   OR \"refreshToken\" IS NOT NULL OR \"apiKey\" IS NOT NULL OR \"apiSecret\" IS NOT NULL";
    assert_eq!(count(&mut conn, secrets).await, 0);
    // Serial sequences are ahead of every id: a plain insert still works.
    conn.batch_execute(r#"INSERT INTO personas (name, "updatedAt") VALUES ('Another', now())"#)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partial_seed_is_completed() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    seed(&mut conn).await.unwrap();
    conn.batch_execute(
        r#"DELETE FROM connectors WHERE name IN ('discord', 'linkedin');
           DELETE FROM keywords WHERE term = 'venue neon signage';
           DELETE FROM editorial_calendar WHERE title LIKE '25 Wedding%';
           DELETE FROM agent_capabilities WHERE name = 'social-scheduling';"#,
    )
    .await
    .unwrap();
    let report = seed(&mut conn).await.unwrap();
    assert_eq!(report.created(), 5, "{report:?}");
    assert_eq!(counts(&mut conn).await, expected_counts());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_database_with_other_ids_is_completed_not_duplicated() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    conn.batch_execute(
        r#"INSERT INTO organizations (id, slug, name, plan, "updatedAt") VALUES ('ckorg000000001', 'primary', 'NeonHub', 'scale', now());
           INSERT INTO users (id, email, name, "updatedAt") VALUES ('ckusr000000001', 'admin@neonhub.ai', 'NeonHub Admin', now());
           INSERT INTO personas (id, name, "updatedAt") VALUES (1, 'Creator Pro', now());
           SELECT setval('personas_id_seq', 1);
           INSERT INTO agents (id, "organizationId", name, slug, kind, "updatedAt")
               VALUES ('ckagt000000001', 'ckorg000000001', 'Email Campaign Agent', 'email-campaign-agent', 'WORKFLOW', now());
           INSERT INTO editorial_calendar (title, "publishAt", "updatedAt")
               VALUES ('How to Design a Neon Logo Sign (Step-by-Step)', now(), now());"#,
    )
    .await
    .unwrap();
    let report = seed(&mut conn).await.unwrap();
    assert_eq!((report.created(), report.existing()), (47, 5), "{report:?}");
    assert_eq!(counts(&mut conn).await, expected_counts());
    let org_of_brand: Text1 =
        sql_query(r#"SELECT "organizationId" AS v FROM brands WHERE slug = 'neonhub'"#)
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(org_of_brand.v, "ckorg000000001");
    let tool_agent: Text1 =
        sql_query(r#"SELECT "agentId" AS v FROM tools WHERE slug = 'email-delivery'"#)
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(tool_agent.v, "ckagt000000001");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_seed_writes_nothing() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    // The very last row the seed writes breaks a rule: everything before it must vanish.
    conn.batch_execute(
        r#"ALTER TABLE tools ADD CONSTRAINT no_social CHECK (slug <> 'social-publish')"#,
    )
    .await
    .unwrap();
    let err = seed(&mut conn).await.unwrap_err();
    assert!(err.to_string().contains("no_social"), "{err}");
    let total: i64 = counts(&mut conn).await.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 0, "a failed seed left rows behind");
    let roles = count(&mut conn, "SELECT count(*) AS n FROM organization_roles").await;
    assert_eq!(roles, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_seeds_at_once_create_one_set() {
    let db = TestDatabase::migrated().await;
    let (mut a, mut b) = (db.connect().await, db.connect().await);
    let (ra, rb) = tokio::join!(seed(&mut a), seed(&mut b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.created() + rb.created(), 52, "{ra:?} {rb:?}");
    assert_eq!(counts(&mut a).await, expected_counts());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_added_to_the_catalogue_reach_a_seeded_organization_without_undoing_revocations() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    seed(&mut conn).await.unwrap();
    // The organization as an older catalogue left it: without tasks:read, and with an
    // admin's revocation of knowledge:write from members.
    conn.batch_execute(
        r#"DELETE FROM organization_permissions WHERE key = 'tasks:read';
           DELETE FROM role_permissions rp USING organization_roles r, organization_permissions p
            WHERE rp."roleId" = r.id AND rp."permissionId" = p.id
              AND r.slug = 'member' AND p.key = 'knowledge:write';"#,
    )
    .await
    .unwrap();
    let again = seed(&mut conn).await.unwrap();
    assert_eq!(
        (
            again.access.roles_added,
            again.access.permissions_added,
            again.access.grants_added
        ),
        (0, 1, 4),
        "tasks:read comes back with its four default grants, and nothing else"
    );
    let member_holds = |key: &str| {
        format!(
            r#"SELECT count(*) AS n FROM role_permissions rp
                 JOIN organization_roles r ON r.id = rp."roleId"
                 JOIN organization_permissions p ON p.id = rp."permissionId"
                WHERE r.slug = 'member' AND p.key = '{key}'"#
        )
    };
    assert_eq!(count(&mut conn, &member_holds("tasks:read")).await, 1);
    assert_eq!(
        count(&mut conn, &member_holds("knowledge:write")).await,
        0,
        "the revocation survives"
    );
}
