//! Shared setup for the identity tests: organizations made through the repository, and
//! members of a given default role.

#![allow(dead_code)]

use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_identity::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::UserId;
use neonhub_schema::schema::audit_logs;
use neonhub_testing::fixtures;

/// An organization created by a fresh user, who is its owner.
pub struct Org {
    pub org: Organization,
    pub owner: UserId,
    /// The owner's scope, obtained through `authorize`.
    pub scope: TenantScope,
    pub roles: Vec<Role>,
}

impl Org {
    pub fn role(&self, role: DefaultRole) -> &Role {
        self.roles.iter().find(|r| r.slug == role.slug()).unwrap()
    }
}

pub fn unique_slug() -> String {
    format!("org-{}", UserId::generate())
}

pub async fn org(conn: &mut AsyncPgConnection) -> Org {
    let owner = fixtures::user(conn).await;
    let slug = unique_slug();
    let org = Organization::create(
        conn,
        &owner,
        &NewOrganization {
            slug: &slug,
            name: "Acme",
            plan: None,
            settings: None,
        },
    )
    .await
    .unwrap();
    let scope = authorize(conn, &org.id, &owner, keys::MEMBERS_MANAGE)
        .await
        .unwrap();
    let roles = Role::list(conn, &scope).await.unwrap();
    Org {
        org,
        owner,
        scope,
        roles,
    }
}

/// A new user invited with `role` by the owner, and (if `accept`) active.
pub async fn member(
    conn: &mut AsyncPgConnection,
    org: &Org,
    role: DefaultRole,
    accept: bool,
) -> UserId {
    let user = fixtures::user(conn).await;
    Membership::invite(conn, &org.scope, &user, &org.role(role).id)
        .await
        .unwrap();
    if accept {
        Membership::accept(conn, &org.org.id, &user).await.unwrap();
    }
    user
}

/// The scope of an active `user` of `org`, authorized for `permission`.
pub async fn scope_of(
    conn: &mut AsyncPgConnection,
    org: &Org,
    user: &UserId,
    permission: &str,
) -> TenantScope {
    authorize(conn, &org.org.id, user, permission)
        .await
        .unwrap()
}

/// The organization's audit actions, oldest first.
pub async fn audit_actions(conn: &mut AsyncPgConnection, org: &Org) -> Vec<String> {
    audit_logs::table
        .filter(audit_logs::organizationId.eq(&org.org.id))
        .order((audit_logs::createdAt.asc(), audit_logs::id.asc()))
        .select(audit_logs::action)
        .load(conn)
        .await
        .unwrap()
}
