//! Every public operation of `neonhub-identity` that takes a scope names one permission
//! key and checks it before it touches the database: a scope lacking the key is refused
//! with `Denied` naming it, and nothing is written. The list below is checked against the
//! source, so an operation added without an entry (or without its check) fails this test.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use chrono::NaiveDate;
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_identity::seed::{ensure_access, ensure_member};
use neonhub_identity::*;
use neonhub_schema::ids::{ApiKeyId, FeedbackId, OrganizationRoleId, TaskId, UserId};
use neonhub_schema::{Denied, PermissionSet, TenantScope};
use neonhub_testing::fixtures::identity::*;
use neonhub_testing::test_connection;

/// The rows the operations work on.
struct Fx {
    o: Org,
    member: UserId,
    role: OrganizationRoleId,
    task: TaskId,
    feedback: FeedbackId,
    key: ApiKeyId,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<(), IdentityError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

fn op<F>(f: F) -> Op
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Box::new(f)
}

/// Every public operation that takes a scope, with the key it needs (the organization's
/// deletion last: what follows it would find nothing).
fn operations() -> Vec<(&'static str, &'static str, Op)> {
    use keys::*;
    vec![
        (
            "ApiKey::issue",
            API_KEYS_MANAGE,
            op(|c, s, _| {
                Box::pin(async move {
                    ApiKey::issue(
                        c,
                        s,
                        &NewApiKey {
                            name: "k",
                            scopes: &[],
                            expires_at: None,
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "ApiKey::list",
            API_KEYS_MANAGE,
            op(|c, s, _| Box::pin(async move { ApiKey::list(c, s).await.map(drop) })),
        ),
        (
            "ApiKey::revoke",
            API_KEYS_MANAGE,
            op(|c, s, f| Box::pin(async move { ApiKey::revoke(c, s, &f.key).await.map(drop) })),
        ),
        (
            "AuditEntry::append",
            AUDIT_WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    AuditEntry::append(c, s, &NewAuditEntry::new("report.exported", "report", "r1"))
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "AuditEntry::list",
            AUDIT_READ,
            op(|c, s, _| {
                Box::pin(async move {
                    AuditEntry::list(c, s, &AuditFilter::default(), &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Feedback::open",
            FEEDBACK_WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    Feedback::open(
                        c,
                        s,
                        &NewFeedback {
                            kind: "bug",
                            title: "t",
                            description: "d",
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Feedback::list",
            FEEDBACK_MANAGE,
            op(|c, s, _| Box::pin(async move { Feedback::list(c, s, None).await.map(drop) })),
        ),
        (
            "Feedback::respond",
            FEEDBACK_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    Feedback::respond(c, s, &f.feedback, "on it")
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Feedback::resolve",
            FEEDBACK_MANAGE,
            op(|c, s, f| {
                Box::pin(async move { Feedback::resolve(c, s, &f.feedback).await.map(drop) })
            }),
        ),
        (
            "Membership::get",
            MEMBERS_READ,
            op(|c, s, f| Box::pin(async move { Membership::get(c, s, &f.member).await.map(drop) })),
        ),
        (
            "Membership::list",
            MEMBERS_READ,
            op(|c, s, _| {
                Box::pin(async move {
                    Membership::list(c, s, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Membership::invite",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let user = neonhub_testing::fixtures::user(c).await;
                    Membership::invite(c, s, &user, &f.o.role(DefaultRole::Viewer).id)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Membership::change_role",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    Membership::change_role(c, s, &f.member, &f.o.role(DefaultRole::Viewer).id)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Membership::suspend",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move { Membership::suspend(c, s, &f.member).await.map(drop) })
            }),
        ),
        (
            "Membership::reactivate",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move { Membership::reactivate(c, s, &f.member).await.map(drop) })
            }),
        ),
        (
            "Organization::get",
            ORGANIZATION_READ,
            op(|c, s, _| Box::pin(async move { Organization::get(c, s).await.map(drop) })),
        ),
        (
            "Organization::update",
            ORGANIZATION_MANAGE,
            op(|c, s, _| {
                Box::pin(async move {
                    Organization::update(
                        c,
                        s,
                        &OrganizationChanges {
                            name: Some("Renamed"),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Organization::install_defaults",
            ROLES_MANAGE,
            op(|c, s, _| {
                Box::pin(async move { Organization::install_defaults(c, s).await.map(drop) })
            }),
        ),
        (
            "Role::list",
            ROLES_READ,
            op(|c, s, _| Box::pin(async move { Role::list(c, s).await.map(drop) })),
        ),
        (
            "Role::by_slug",
            ROLES_READ,
            op(|c, s, _| Box::pin(async move { Role::by_slug(c, s, "member").await.map(drop) })),
        ),
        (
            "Role::permissions",
            ROLES_READ,
            op(|c, s, f| Box::pin(async move { Role::permissions(c, s, &f.role).await.map(drop) })),
        ),
        (
            "Role::create",
            ROLES_MANAGE,
            op(|c, s, _| {
                Box::pin(async move {
                    Role::create(
                        c,
                        s,
                        &NewRole {
                            name: "Analyst",
                            slug: "analyst",
                            description: None,
                            permissions: &[],
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        // Granting needs the key granted too: roles:manage itself, held by both scopes.
        (
            "Role::grant",
            ROLES_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    Role::grant(c, s, &f.role, keys::ROLES_MANAGE)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Role::revoke",
            ROLES_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    Role::revoke(c, s, &f.role, keys::ROLES_MANAGE)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Role::delete",
            ROLES_MANAGE,
            op(|c, s, f| Box::pin(async move { Role::delete(c, s, &f.role).await.map(drop) })),
        ),
        (
            "Permission::list",
            ROLES_READ,
            op(|c, s, _| Box::pin(async move { Permission::list(c, s).await.map(drop) })),
        ),
        (
            "Permission::create",
            ROLES_MANAGE,
            op(|c, s, _| {
                Box::pin(async move {
                    Permission::create(c, s, "reports:export", None)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "ensure_member",
            MEMBERS_MANAGE,
            op(|c, s, f| Box::pin(async move { ensure_member(c, s, &f.member).await.map(drop) })),
        ),
        (
            "ensure_access",
            ROLES_MANAGE,
            op(|c, s, f| Box::pin(async move { ensure_access(c, s, &f.o.owner).await.map(drop) })),
        ),
        (
            "Task::create",
            TASKS_WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    Task::create(
                        c,
                        s,
                        &NewTask {
                            title: "Another",
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Task::get",
            TASKS_READ,
            op(|c, s, f| Box::pin(async move { Task::get(c, s, &f.task).await.map(drop) })),
        ),
        (
            "Task::assign",
            TASKS_WRITE,
            op(|c, s, f| {
                Box::pin(
                    async move { Task::assign(c, s, &f.task, Some(&f.member)).await.map(drop) },
                )
            }),
        ),
        (
            "Task::complete",
            TASKS_WRITE,
            op(|c, s, f| Box::pin(async move { Task::complete(c, s, &f.task).await.map(drop) })),
        ),
        (
            "Task::for_assignee",
            TASKS_READ,
            op(|c, s, f| {
                Box::pin(async move { Task::for_assignee(c, s, &f.member, None).await.map(drop) })
            }),
        ),
        (
            "Task::due_before",
            TASKS_READ,
            op(|c, s, _| {
                Box::pin(async move {
                    let at = NaiveDate::from_ymd_opt(2030, 1, 1)
                        .unwrap()
                        .and_hms_opt(0, 0, 0)
                        .unwrap();
                    Task::due_before(c, s, at).await.map(drop)
                })
            }),
        ),
        (
            "TeamMember::add",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    TeamMember::add(c, s, &f.member, Some("Writer"), None)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "TeamMember::list",
            MEMBERS_READ,
            op(|c, s, _| Box::pin(async move { TeamMember::list(c, s).await.map(drop) })),
        ),
        (
            "TeamMember::update",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    TeamMember::update(
                        c,
                        s,
                        &f.member,
                        &TeamMemberChanges {
                            role: Some("Editor"),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "TeamMember::remove",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move { TeamMember::remove(c, s, &f.member).await.map(drop) })
            }),
        ),
        (
            "Membership::remove",
            MEMBERS_MANAGE,
            op(|c, s, f| {
                Box::pin(async move { Membership::remove(c, s, &f.member).await.map(drop) })
            }),
        ),
        (
            "Organization::delete",
            ORGANIZATION_DELETE,
            op(|c, s, _| Box::pin(async move { Organization::delete(c, s).await.map(drop) })),
        ),
    ]
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    md5: String,
}

/// A digest of every row of identity's organization tables: any write changes it.
async fn digest(conn: &mut AsyncPgConnection) -> String {
    let tables = [
        "organizations",
        "organization_roles",
        "organization_permissions",
        "role_permissions",
        "organization_members",
        "api_keys",
        "audit_logs",
        "tasks",
        "feedback",
        "team_members",
    ];
    let rows: Vec<String> = tables
        .iter()
        .map(|t| format!("SELECT to_jsonb(t)::text AS x FROM {t} t"))
        .collect();
    sql_query(format!(
        "SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) AS md5 FROM ({}) rows",
        rows.join(" UNION ALL ")
    ))
    .get_result::<Digest>(conn)
    .await
    .unwrap()
    .md5
}

async fn fixture(conn: &mut AsyncPgConnection) -> Fx {
    let o = Org::builder().member(DefaultRole::Member).build(conn).await;
    let member = o.member(DefaultRole::Member).clone();
    let owner = authorize(conn, &o.org.id, &o.owner, keys::ROLES_MANAGE)
        .await
        .unwrap();
    let role = Role::create(
        conn,
        &owner,
        &NewRole {
            name: "Editor",
            slug: "editor",
            description: None,
            permissions: &[],
        },
    )
    .await
    .unwrap()
    .id;
    let task = Task::create(
        conn,
        &owner,
        &NewTask {
            title: "Write",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let feedback = Feedback::open(
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
    .unwrap()
    .id;
    let key = ApiKey::issue(
        conn,
        &owner,
        &NewApiKey {
            name: "ci",
            scopes: &[],
            expires_at: None,
        },
    )
    .await
    .unwrap()
    .key
    .id;
    TeamMember::add(conn, &owner, &member, Some("Writer"), None)
        .await
        .unwrap();
    Fx {
        o,
        member,
        role,
        task,
        feedback,
        key,
    }
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|(name, key, _)| (name.to_owned(), key.to_owned()))
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
    let before = digest(&mut conn).await;
    for (name, key, run) in operations() {
        // The owner, holding every key of the catalogue but this one.
        let scope = TenantScope::for_member(
            fx.o.org.id.clone(),
            fx.o.owner.clone(),
            PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != key)),
        );
        let err = run(&mut conn, &scope, &fx).await.unwrap_err();
        assert!(
            matches!(&err, IdentityError::Denied(Denied::MissingPermission { key: k, .. }) if k == key),
            "{name} without {key}: {err}"
        );
        assert_eq!(
            digest(&mut conn).await,
            before,
            "{name} wrote although refused"
        );
    }
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    for (name, key, run) in operations() {
        let scope = TenantScope::for_member(
            fx.o.org.id.clone(),
            fx.o.owner.clone(),
            PermissionSet::of([key]),
        );
        if let Err(IdentityError::Denied(denied)) = run(&mut conn, &scope, &fx).await {
            panic!("{name} with {key} alone: {denied}");
        }
    }
}
