//! `authorize`: the normal way to obtain a [`TenantScope`].

use diesel_async::AsyncPgConnection;
use neonhub_schema::ids::{OrganizationId, UserId};
pub(crate) use neonhub_schema::permissions::member_permissions;
use neonhub_schema::{Actor, Denied, TenantScope};

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
