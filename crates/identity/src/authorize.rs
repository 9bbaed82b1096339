//! `authorize`: the normal way to obtain a [`TenantScope`].

use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, NullableExpressionMethods, OptionalExtension,
    QueryDsl,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{OrganizationId, UserId};
use neonhub_schema::schema::{
    organization_members as om, organization_permissions as op, organization_roles as orole,
    role_permissions as rp,
};
use neonhub_schema::{Actor, TenantScope};

use crate::membership::MemberStatus;

/// Why [`authorize`] refused.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// The user has no membership in the organization (or the organization does not exist).
    #[error("user {user} is not a member of organization {organization}")]
    NotMember {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
    },
    /// The membership is invited or suspended, not active.
    #[error("user {user}'s membership in organization {organization} is {status}, not active")]
    Inactive {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
        /// The membership's status.
        status: MemberStatus,
    },
    /// The member's role does not hold the permission.
    #[error("user {user} lacks permission {permission:?} in organization {organization}")]
    MissingPermission {
        /// The organization.
        organization: OrganizationId,
        /// The user.
        user: UserId,
        /// The permission asked for.
        permission: String,
    },
    /// The check itself failed; denied, since nothing could be proven.
    #[error("authorization could not be checked: {0}")]
    Unavailable(#[source] diesel::result::Error),
}

/// Checks that `user` is an active member of `org` whose role holds `permission`, and
/// returns a scope that acts for that user in that organization.
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
    check(conn, org, user, permission).await?;
    Ok(TenantScope::trusted_user(org.clone(), user.clone()))
}

/// Whether `user` may act with `permission` in `org`: `Ok` or the reason why not.
#[tracing::instrument(skip_all, fields(org = %org, entity = "membership", op = "check"))]
pub async fn check(
    conn: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
    permission: &str,
) -> Result<(), Denied> {
    let holders = rp::table
        .inner_join(op::table)
        .inner_join(orole::table)
        .filter(op::organizationId.eq(org).and(op::key.eq(permission)))
        .filter(orole::organizationId.eq(org))
        .select(rp::roleId.nullable());
    let row: Option<(MemberStatus, Option<bool>)> = om::table
        .filter(om::organizationId.eq(org).and(om::userId.eq(user)))
        .select((om::status, om::roleId.eq_any(holders)))
        .first(conn)
        .await
        .optional()
        .map_err(Denied::Unavailable)?;
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
        Some((_, Some(true))) => Ok(()),
        Some(_) => Err(Denied::MissingPermission {
            organization: org.clone(),
            user: user.clone(),
            permission: permission.to_owned(),
        }),
    }
}

/// Re-checks, inside an operation's own transaction, that the scope's actor holds
/// `permission` (system actors hold every permission). Identity operations call this
/// after taking their locks, so a permission revoked a moment ago is honoured.
pub(crate) async fn require(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    permission: &str,
) -> Result<(), Denied> {
    match scope.actor() {
        Actor::System => Ok(()),
        Actor::User(user) => check(tx, scope.organization_id(), user, permission).await,
    }
}
