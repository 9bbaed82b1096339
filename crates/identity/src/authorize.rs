//! `authorize`: the normal way to obtain a [`TenantScope`].

use diesel::OptionalExtension;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::MemberStatus;
use neonhub_schema::ids::{OrganizationId, UserId};
use neonhub_schema::{Actor, Denied, PermissionSet, TenantScope};

/// Checks that `user` is an active member of `org` whose role holds `permission`, and
/// returns a scope that acts for that user in that organization, carrying the member's
/// whole permission set (so the repositories can check their own keys without another
/// query).
///
/// One query over memberships, roles and role_permissions: a role or permission row of
/// another organization never counts, and invited or suspended members are denied.
#[tracing::instrument(skip_all, fields(org = %org, entity = "membership", op = "authorize"))]
pub async fn authorize(
    conn: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
    permission: &str,
) -> Result<TenantScope, Denied> {
    let permissions = member_permissions(conn, org, user).await?;
    let scope = TenantScope::for_member(org.clone(), user.clone(), permissions);
    scope.require(permission)?;
    Ok(scope)
}

/// Whether `user` may act with `permission` in `org`: `Ok` or the reason why not.
#[tracing::instrument(skip_all, fields(org = %org, entity = "membership", op = "check"))]
pub async fn check(
    conn: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
    permission: &str,
) -> Result<(), Denied> {
    authorize(conn, org, user, permission).await.map(drop)
}

/// The permission set of an active member, in one query: the keys its role holds (roles
/// and keys of the same organization only), or why the user is not an active member.
pub(crate) async fn member_permissions(
    conn: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
) -> Result<PermissionSet, Denied> {
    #[derive(diesel::QueryableByName)]
    struct Member {
        #[diesel(sql_type = Text)]
        status: MemberStatus,
        #[diesel(sql_type = Array<Text>)]
        keys: Vec<String>,
    }
    // Before any scope, so through the narrow lookup function (the application role cannot
    // read memberships under row-level security): LEFT JOINs there, so a member without a
    // role (or a role without keys) still yields its row.
    let row: Option<(MemberStatus, Vec<String>)> =
        diesel::sql_query("SELECT status, keys FROM public.nh_member_permissions($1, $2)")
            .bind::<Text, _>(org)
            .bind::<Text, _>(user)
            .get_result::<Member>(conn)
            .await
            .optional()
            .map_err(Denied::from_query)?
            .map(|m| (m.status, m.keys));
    match row {
        None => Err(Denied::NotMember {
            organization: org.clone(),
            user: user.clone(),
        }),
        Some((status, _)) if status != MemberStatus::Active => Err(Denied::Inactive {
            organization: org.clone(),
            user: user.clone(),
            status,
        }),
        Some((_, keys)) => Ok(PermissionSet::of(keys)),
    }
}

/// `scope.require(key)` and then [`recheck`]: what identity's member and role changes run
/// under the organization's lock for a key that depends on the row changed (the owner
/// role, the key being granted).
pub(crate) async fn require_now(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    key: &str,
) -> Result<(), Denied> {
    scope.require(key)?;
    recheck(tx, scope, key).await
}

/// Re-checks, inside an operation's own transaction, that the scope's actor holds
/// `permission` in the database right now (system actors hold every permission). Identity's
/// member and role changes call this after taking the organization's lock, so a permission
/// revoked or a demotion committed a moment ago is honoured at once.
pub(crate) async fn recheck(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    permission: &str,
) -> Result<(), Denied> {
    match scope.actor() {
        Actor::System => Ok(()),
        Actor::User(user) => member_permissions(tx, scope.organization_id(), user)
            .await?
            .contains(permission)
            .then_some(())
            .ok_or_else(|| Denied::MissingPermission {
                organization: scope.organization_id().clone(),
                user: user.clone(),
                key: permission.to_owned(),
            }),
    }
}
