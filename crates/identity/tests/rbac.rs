//! Organizations, memberships, roles and `authorize`, against a real database.

use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use neonhub_identity::*;
use neonhub_schema::ids::{OrganizationId, UserId};
use neonhub_schema::schema::{organization_members, organization_roles, organizations};
use neonhub_testing::fixtures::identity::*;
use neonhub_testing::{TestDatabase, fixtures, test_connection};

#[tokio::test]
async fn creating_an_organization_installs_default_roles_and_makes_the_creator_owner() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;

    let slugs: Vec<_> = o.roles.iter().map(|r| r.slug.as_str()).collect();
    assert_eq!(slugs, ["admin", "member", "owner", "viewer"]);
    let keys_defined: Vec<String> = Permission::list(&mut conn, &o.scope)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.key)
        .collect();
    let mut catalogue: Vec<String> = PERMISSIONS.iter().map(|p| p.key.to_owned()).collect();
    catalogue.sort();
    assert_eq!(keys_defined, catalogue);

    for role in DefaultRole::ALL {
        let held = Role::permissions(&mut conn, &o.scope, &o.role(role).id)
            .await
            .unwrap();
        let mut expected: Vec<String> = PERMISSIONS
            .iter()
            .filter(|p| role == DefaultRole::Owner || p.granted_to.contains(&role))
            .map(|p| p.key.to_owned())
            .collect();
        expected.sort();
        assert_eq!(held, expected, "{role:?}");
    }
    assert_eq!(
        Role::permissions(&mut conn, &o.scope, &o.role(DefaultRole::Owner).id)
            .await
            .unwrap()
            .len(),
        PERMISSIONS.len()
    );

    let me = Membership::get(&mut conn, &o.scope, &o.owner)
        .await
        .unwrap();
    assert_eq!(me.status, MemberStatus::Active);
    assert_eq!(me.role_id.as_ref(), Some(&o.role(DefaultRole::Owner).id));
    for p in PERMISSIONS {
        authorize(&mut conn, &o.org.id, &o.owner, p.key)
            .await
            .unwrap();
    }
    assert_eq!(
        audit_actions(&mut conn, &o).await,
        [actions::ORGANIZATION_CREATED]
    );
    assert_eq!(Organization::get(&mut conn, &o.scope).await.unwrap(), o.org);
    assert_eq!(
        Organization::id_for_slug(&mut conn, &o.org.slug)
            .await
            .unwrap(),
        o.org.id
    );
    assert_eq!(o.org.plan, "starter");
}

#[tokio::test]
async fn organization_creation_errors_are_named_and_write_nothing() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let user = fixtures::user(&mut conn).await;
    let new = |slug| NewOrganization {
        slug,
        name: "X",
        plan: None,
        settings: None,
    };
    let long = "x".repeat(65);

    let err = Organization::create(&mut conn, &user, &new(&o.org.slug))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::DuplicateOrganizationSlug(ref s) if *s == o.org.slug),
        "{err}"
    );
    for bad in ["", "Upper", "-lead", "trail-", "sp ace", &long] {
        let err = Organization::create(&mut conn, &user, &new(bad))
            .await
            .unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidSlug { .. }),
            "{bad:?}: {err}"
        );
    }
    let ghost = UserId::generate();
    let slug = unique_slug();
    let err = Organization::create(&mut conn, &ghost, &new(&slug))
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::UserNotFound(ref u) if *u == ghost.to_string()),
        "{err}"
    );
    let left: i64 = organizations::table
        .filter(organizations::slug.eq(&slug))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "a failed create leaves no organization behind");
}

#[tokio::test]
async fn invitation_lifecycle() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let user = fixtures::user(&mut conn).await;
    let member_role = &o.role(DefaultRole::Member).id;

    let invited = Membership::invite(&mut conn, &o.scope, &user, member_role)
        .await
        .unwrap();
    assert_eq!(invited.status, MemberStatus::Invited);
    assert_eq!(invited.invited_by_id.as_ref(), Some(&o.owner));
    let denied = authorize(&mut conn, &o.org.id, &user, keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(
        matches!(
            denied,
            Denied::Inactive {
                status: MemberStatus::Invited,
                ..
            }
        ),
        "{denied}"
    );
    let again = Membership::invite(&mut conn, &o.scope, &user, member_role)
        .await
        .unwrap_err();
    assert!(matches!(again, IdentityError::AlreadyMember(_)), "{again}");
    let ghost = Membership::invite(&mut conn, &o.scope, &UserId::generate(), member_role)
        .await
        .unwrap_err();
    assert!(matches!(ghost, IdentityError::UserNotFound(_)), "{ghost}");

    let joined = Membership::accept(&mut conn, &o.org.id, &user)
        .await
        .unwrap();
    assert_eq!(joined.status, MemberStatus::Active);
    assert!(joined.joined_at >= invited.joined_at);
    let scope = authorize(&mut conn, &o.org.id, &user, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap();
    assert_eq!(scope.organization_id(), &o.org.id);
    assert_eq!(scope.actor().user_id(), Some(&user));
    let missing = authorize(&mut conn, &o.org.id, &user, keys::BILLING_MANAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, Denied::MissingPermission { ref key, .. } if key == "billing:manage"),
        "{missing}"
    );
    let twice = Membership::accept(&mut conn, &o.org.id, &user)
        .await
        .unwrap_err();
    assert!(
        matches!(
            twice,
            IdentityError::InvalidTransition {
                action: "accept",
                status: MemberStatus::Active
            }
        ),
        "{twice}"
    );
    let decline_active = Membership::decline(&mut conn, &o.org.id, &user)
        .await
        .unwrap_err();
    assert!(
        matches!(
            decline_active,
            IdentityError::InvalidTransition {
                action: "decline",
                ..
            }
        ),
        "{decline_active}"
    );

    let other = fixtures::user(&mut conn).await;
    Membership::invite(&mut conn, &o.scope, &other, member_role)
        .await
        .unwrap();
    Membership::decline(&mut conn, &o.org.id, &other)
        .await
        .unwrap();
    let gone = Membership::get(&mut conn, &o.scope, &other)
        .await
        .unwrap_err();
    assert!(
        matches!(
            gone,
            IdentityError::NotFound {
                entity: "membership",
                ..
            }
        ),
        "{gone}"
    );
    let denied = authorize(&mut conn, &o.org.id, &other, keys::CAMPAIGNS_READ)
        .await
        .unwrap_err();
    assert!(matches!(denied, Denied::NotMember { .. }), "{denied}");
    Membership::invite(&mut conn, &o.scope, &other, member_role)
        .await
        .unwrap();
    let stranger = fixtures::user(&mut conn).await;
    let never = Membership::accept(&mut conn, &o.org.id, &stranger)
        .await
        .unwrap_err();
    assert!(matches!(never, IdentityError::NotFound { .. }), "{never}");

    assert_eq!(
        audit_actions(&mut conn, &o).await,
        [
            actions::ORGANIZATION_CREATED,
            actions::MEMBER_INVITED,
            actions::MEMBER_JOINED,
            actions::MEMBER_INVITED,
            actions::MEMBER_DECLINED,
            actions::MEMBER_INVITED,
        ]
    );
}

#[tokio::test]
async fn suspended_members_are_denied_until_reactivated() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let user = member(&mut conn, &o, DefaultRole::Member, true).await;
    authorize(&mut conn, &o.org.id, &user, keys::CONTENT_WRITE)
        .await
        .unwrap();

    Membership::suspend(&mut conn, &o.scope, &user)
        .await
        .unwrap();
    let denied = authorize(&mut conn, &o.org.id, &user, keys::CONTENT_WRITE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            denied,
            Denied::Inactive {
                status: MemberStatus::Suspended,
                ..
            }
        ),
        "{denied}"
    );
    let twice = Membership::suspend(&mut conn, &o.scope, &user)
        .await
        .unwrap_err();
    assert!(
        matches!(
            twice,
            IdentityError::InvalidTransition {
                action: "suspend",
                ..
            }
        ),
        "{twice}"
    );

    Membership::reactivate(&mut conn, &o.scope, &user)
        .await
        .unwrap();
    authorize(&mut conn, &o.org.id, &user, keys::CONTENT_WRITE)
        .await
        .unwrap();
    Membership::remove(&mut conn, &o.scope, &user)
        .await
        .unwrap();
    let gone = authorize(&mut conn, &o.org.id, &user, keys::CONTENT_READ)
        .await
        .unwrap_err();
    assert!(matches!(gone, Denied::NotMember { .. }), "{gone}");
    let tail: Vec<_> = audit_actions(&mut conn, &o).await.split_off(3);
    assert_eq!(
        tail,
        [
            actions::MEMBER_SUSPENDED,
            actions::MEMBER_REACTIVATED,
            actions::MEMBER_REMOVED
        ]
    );
}

#[tokio::test]
async fn the_last_active_owner_cannot_be_removed_suspended_or_demoted() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let admin = &o.role(DefaultRole::Admin).id;
    let before = audit_actions(&mut conn, &o).await.len();

    for result in [
        Membership::remove(&mut conn, &o.scope, &o.owner)
            .await
            .map(drop),
        Membership::suspend(&mut conn, &o.scope, &o.owner)
            .await
            .map(drop),
        Membership::change_role(&mut conn, &o.scope, &o.owner, admin)
            .await
            .map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, IdentityError::LastOwner { .. }), "{err}");
    }
    assert_eq!(
        audit_actions(&mut conn, &o).await.len(),
        before,
        "refused changes write no audit row"
    );

    // An invited or suspended owner does not count as the remaining owner.
    let second = member(&mut conn, &o, DefaultRole::Owner, false).await;
    let err = Membership::change_role(&mut conn, &o.scope, &o.owner, admin)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::LastOwner { .. }), "{err}");
    Membership::accept(&mut conn, &o.org.id, &second)
        .await
        .unwrap();
    Membership::suspend(&mut conn, &o.scope, &second)
        .await
        .unwrap();
    let err = Membership::remove(&mut conn, &o.scope, &o.owner)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::LastOwner { .. }), "{err}");

    Membership::reactivate(&mut conn, &o.scope, &second)
        .await
        .unwrap();
    let demoted = Membership::change_role(&mut conn, &o.scope, &o.owner, admin)
        .await
        .unwrap();
    assert_eq!(demoted.role_id.as_ref(), Some(admin));
    // The demoted user lost owners:manage; even trusted system code cannot remove the last owner.
    let err = Membership::remove(&mut conn, &o.scope, &second)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Denied(_)), "{err}");
    let system = neonhub_schema::TenantScope::trusted_system(o.org.id.clone());
    let err = Membership::remove(&mut conn, &system, &second)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::LastOwner { .. }), "{err}");
}

#[tokio::test]
async fn admins_cannot_touch_owners_or_grant_what_they_lack() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let admin_user = member(&mut conn, &o, DefaultRole::Admin, true).await;
    let admin = scope_of(&mut conn, &o, &admin_user, keys::MEMBERS_MANAGE).await;
    let viewer_user = member(&mut conn, &o, DefaultRole::Viewer, true).await;

    // Admins manage ordinary members...
    Membership::change_role(
        &mut conn,
        &admin,
        &viewer_user,
        &o.role(DefaultRole::Member).id,
    )
    .await
    .unwrap();
    // ...but not owners, and cannot make anyone an owner.
    let newcomer = fixtures::user(&mut conn).await;
    for result in [
        Membership::change_role(
            &mut conn,
            &admin,
            &viewer_user,
            &o.role(DefaultRole::Owner).id,
        )
        .await
        .map(drop),
        Membership::suspend(&mut conn, &admin, &o.owner)
            .await
            .map(drop),
        Membership::remove(&mut conn, &admin, &o.owner)
            .await
            .map(drop),
        Membership::invite(&mut conn, &admin, &newcomer, &o.role(DefaultRole::Owner).id)
            .await
            .map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(err, IdentityError::Denied(Denied::MissingPermission { ref key, .. }) if key == keys::OWNERS_MANAGE),
            "{err}"
        );
    }
    // A scope does not outlive the permission: a viewer's scope cannot manage members.
    let viewer = scope_of(&mut conn, &o, &viewer_user, keys::MEMBERS_READ).await;
    let err = Membership::suspend(&mut conn, &viewer, &admin_user)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Denied(Denied::MissingPermission { .. })),
        "{err}"
    );
    // Demoting the admin takes effect on its next operation, though its scope was issued before.
    Membership::change_role(
        &mut conn,
        &o.scope,
        &admin_user,
        &o.role(DefaultRole::Viewer).id,
    )
    .await
    .unwrap();
    let err = Membership::suspend(&mut conn, &admin, &viewer_user)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Denied(_)), "{err}");
}

#[tokio::test]
async fn a_role_of_another_organization_is_refused() {
    let mut conn = test_connection().await;
    let a = org(&mut conn).await;
    let b = org(&mut conn).await;
    let foreign = &b.role(DefaultRole::Admin).id;
    let user = fixtures::user(&mut conn).await;
    let err = Membership::invite(&mut conn, &a.scope, &user, foreign)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::RoleNotInOrganization(ref r) if *r == foreign.to_string()),
        "{err}"
    );
    let member_a = member(&mut conn, &a, DefaultRole::Member, true).await;
    let err = Membership::change_role(&mut conn, &a.scope, &member_a, foreign)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::RoleNotInOrganization(_)),
        "{err}"
    );

    // Even a row linked behind the repository's back grants nothing: authorize joins roles
    // and permissions of the same organization only.
    // (Written as the owner: around the repositories and their policies.)
    neonhub_testing::owner_do(&mut conn, async |conn| {
        diesel::update(organization_members::table)
            .filter(organization_members::userId.eq(&member_a))
            .set(organization_members::roleId.eq(foreign))
            .execute(conn)
            .await
            .unwrap()
    })
    .await;
    let err = authorize(&mut conn, &a.org.id, &member_a, keys::MEMBERS_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, Denied::MissingPermission { .. }), "{err}");
}

#[tokio::test]
async fn custom_roles_grant_and_revoke() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let editor = Role::create(
        &mut conn,
        &o.scope,
        &NewRole {
            name: "Editor",
            slug: "editor",
            description: Some("Edits content"),
            permissions: &[keys::CONTENT_WRITE],
        },
    )
    .await
    .unwrap();
    let user = fixtures::user(&mut conn).await;
    Membership::invite(&mut conn, &o.scope, &user, &editor.id)
        .await
        .unwrap();
    Membership::accept(&mut conn, &o.org.id, &user)
        .await
        .unwrap();
    authorize(&mut conn, &o.org.id, &user, keys::CONTENT_WRITE)
        .await
        .unwrap();
    authorize(&mut conn, &o.org.id, &user, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap_err();

    Role::grant(&mut conn, &o.scope, &editor.id, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap();
    Role::grant(&mut conn, &o.scope, &editor.id, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap(); // no-op
    authorize(&mut conn, &o.org.id, &user, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap();
    Role::revoke(&mut conn, &o.scope, &editor.id, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap();
    let err = authorize(&mut conn, &o.org.id, &user, keys::CAMPAIGNS_WRITE)
        .await
        .unwrap_err();
    assert!(matches!(err, Denied::MissingPermission { .. }), "{err}");

    // A custom key: defined, held by owners at once, grantable.
    Permission::create(
        &mut conn,
        &o.scope,
        "reports:export",
        Some("Export reports"),
    )
    .await
    .unwrap();
    // A scope carries the keys held when it was authorized: the new key needs a new one.
    let owner = authorize(&mut conn, &o.org.id, &o.owner, "reports:export")
        .await
        .unwrap();
    Role::grant(&mut conn, &o.scope, &editor.id, "reports:export")
        .await
        .unwrap_err();
    Role::grant(&mut conn, &owner, &editor.id, "reports:export")
        .await
        .unwrap();
    authorize(&mut conn, &o.org.id, &user, "reports:export")
        .await
        .unwrap();
    let dup = Permission::create(&mut conn, &o.scope, "reports:export", None)
        .await
        .unwrap_err();
    assert!(
        matches!(dup, IdentityError::DuplicatePermission(_)),
        "{dup}"
    );
    for bad in ["reports", "Reports:export", "a:b:c", ":x", "x:"] {
        let err = Permission::create(&mut conn, &o.scope, bad, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidPermissionKey(_)),
            "{bad}: {err}"
        );
    }
    let unknown = Role::grant(&mut conn, &o.scope, &editor.id, "nope:never")
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, IdentityError::UnknownPermission(_)),
        "{unknown}"
    );
    let dup = Role::create(
        &mut conn,
        &o.scope,
        &NewRole {
            name: "E",
            slug: "editor",
            description: None,
            permissions: &[],
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(dup, IdentityError::DuplicateRoleSlug(_)), "{dup}");

    // Protected roles.
    let owner_role = &o.role(DefaultRole::Owner).id;
    let err = Role::revoke(&mut conn, &o.scope, owner_role, keys::AUDIT_READ)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::ProtectedRole { .. }), "{err}");
    let err = Role::delete(&mut conn, &o.scope, &o.role(DefaultRole::Viewer).id)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::ProtectedRole { .. }), "{err}");

    // An admin holds roles:manage but not billing:manage: it cannot hand that out.
    let admin_user = member(&mut conn, &o, DefaultRole::Admin, true).await;
    let admin = scope_of(&mut conn, &o, &admin_user, keys::ROLES_MANAGE).await;
    let err = Role::grant(&mut conn, &admin, &editor.id, keys::BILLING_MANAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Denied(Denied::MissingPermission { ref key, .. }) if key == keys::BILLING_MANAGE),
        "{err}"
    );
    Role::grant(&mut conn, &admin, &editor.id, keys::AGENTS_RUN)
        .await
        .unwrap();

    // Deleting the role leaves its members without permissions.
    Role::delete(&mut conn, &o.scope, &editor.id).await.unwrap();
    let m = Membership::get(&mut conn, &o.scope, &user).await.unwrap();
    assert_eq!(m.role_id, None);
    let err = authorize(&mut conn, &o.org.id, &user, keys::CONTENT_WRITE)
        .await
        .unwrap_err();
    assert!(matches!(err, Denied::MissingPermission { .. }), "{err}");

    let tail: Vec<_> = audit_actions(&mut conn, &o).await.split_off(1);
    assert_eq!(
        tail,
        [
            actions::ROLE_CREATED,
            actions::PERMISSION_GRANTED, // content:write at creation
            actions::MEMBER_INVITED,
            actions::MEMBER_JOINED,
            actions::PERMISSION_GRANTED,
            actions::PERMISSION_REVOKED,
            actions::PERMISSION_CREATED,
            actions::PERMISSION_GRANTED,
            actions::MEMBER_INVITED, // the admin
            actions::MEMBER_JOINED,
            actions::PERMISSION_GRANTED,
            actions::ROLE_DELETED,
        ]
    );
}

#[tokio::test]
async fn update_and_delete_need_their_permissions_and_delete_cascades() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let member_user = member(&mut conn, &o, DefaultRole::Member, true).await;
    let admin_user = member(&mut conn, &o, DefaultRole::Admin, true).await;
    let as_member = scope_of(&mut conn, &o, &member_user, keys::CONTENT_READ).await;
    let as_admin = scope_of(&mut conn, &o, &admin_user, keys::ORGANIZATION_MANAGE).await;
    let changes = OrganizationChanges {
        name: Some("Acme Inc"),
        plan: Some("scale"),
        ..Default::default()
    };

    let err = Organization::update(&mut conn, &as_member, &changes)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Denied(_)), "{err}");
    let updated = Organization::update(&mut conn, &as_admin, &changes)
        .await
        .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.plan.as_str()),
        ("Acme Inc", "scale")
    );
    assert!(updated.updated_at >= o.org.updated_at);
    let other = org(&mut conn).await;
    let err = Organization::update(
        &mut conn,
        &as_admin,
        &OrganizationChanges {
            slug: Some(&other.org.slug),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, IdentityError::DuplicateOrganizationSlug(_)),
        "{err}"
    );

    let err = Organization::delete(&mut conn, &as_admin)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Denied(Denied::MissingPermission { .. })),
        "{err}"
    );
    Organization::delete(&mut conn, &o.scope).await.unwrap();
    let roles: i64 = organization_roles::table
        .filter(organization_roles::organizationId.eq(&o.org.id))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(roles, 0);
    let err = Organization::get(&mut conn, &o.scope).await.unwrap_err();
    assert!(matches!(err, IdentityError::NotFound { .. }), "{err}");
    assert!(
        Role::list(&mut conn, &other.scope).await.unwrap().len() == 4,
        "the other organization is untouched"
    );
}

#[tokio::test]
async fn install_defaults_completes_an_organization_made_elsewhere_and_is_idempotent() {
    let mut conn = test_connection().await;
    let system = fixtures::scoped_organization(&mut conn).await;
    let first = Organization::install_defaults(&mut conn, &system)
        .await
        .unwrap();
    assert_eq!(
        (first.roles_added, first.permissions_added),
        (4, PERMISSIONS.len())
    );
    // An admin's revocation survives a second run.
    Role::revoke(
        &mut conn,
        &system,
        &first.roles.member,
        keys::CAMPAIGNS_WRITE,
    )
    .await
    .unwrap();
    let second = Organization::install_defaults(&mut conn, &system)
        .await
        .unwrap();
    assert_eq!(
        (
            second.roles_added,
            second.permissions_added,
            second.grants_added
        ),
        (0, 0, 0)
    );
    assert_eq!(second.roles, first.roles);
    let held = Role::permissions(&mut conn, &system, &first.roles.member)
        .await
        .unwrap();
    assert!(!held.iter().any(|k| k == keys::CAMPAIGNS_WRITE));
}

#[tokio::test]
async fn concurrent_demotions_of_the_last_two_owners_let_exactly_one_through() {
    let db = TestDatabase::migrated().await;
    let mut setup = db.connect().await;
    let o = org(&mut setup).await;
    let second = member(&mut setup, &o, DefaultRole::Owner, true).await;
    let admin = o.role(DefaultRole::Admin).id.clone();

    // A third connection holds the organization's row lock, so both demotions queue behind
    // it and start together when it lets go.
    use diesel_async::AsyncConnection;
    let mut holder = db.connect().await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let org_id = o.org.id.clone();
    let holding = tokio::spawn(async move {
        holder
            .transaction::<_, diesel::result::Error, _>(async |tx| {
                organizations::table
                    .find(&org_id)
                    .select(organizations::id)
                    .for_update()
                    .first::<OrganizationId>(tx)
                    .await?;
                released.await.ok();
                Ok(())
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let demote = |user: UserId| {
        // The racing demotions run as the application role, under row-level security.
        let (app_url, org_id, admin) = (db.app_url(), o.org.id.clone(), admin.clone());
        tokio::spawn(async move {
            let mut conn = app_url.connect().await.unwrap();
            let scope = authorize(&mut conn, &org_id, &user, keys::MEMBERS_MANAGE)
                .await
                .unwrap();
            Membership::change_role(&mut conn, &scope, &user, &admin).await
        })
    };
    let a = demote(o.owner.clone());
    let b = demote(second.clone());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    release.send(()).unwrap();
    holding.await.unwrap().unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());

    let ok = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one demotion succeeds: {a:?} / {b:?}");
    let refused = a.err().or(b.err()).unwrap();
    assert!(
        matches!(refused, IdentityError::LastOwner { .. }),
        "{refused}"
    );
    let owners: i64 = organization_members::table
        .inner_join(organization_roles::table)
        .filter(organization_members::organizationId.eq(&o.org.id))
        .filter(organization_roles::slug.eq("owner"))
        .count()
        .get_result(&mut setup)
        .await
        .unwrap();
    assert_eq!(owners, 1);
}
