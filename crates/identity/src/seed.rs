//! The identity rows of a demo or bootstrap seed: an organization, a user and an active
//! membership, each found by its natural key before anything is written, so running the
//! seed again changes nothing. Trusted system code only (the CLI's `neonhub seed`): these
//! functions take no scope because the organization may not exist yet.

use diesel::prelude::{ExpressionMethods, Insertable, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{OrganizationId, OrganizationMemberId, OrganizationRoleId, UserId};
use neonhub_schema::schema::{organization_members, organizations, users};
use neonhub_schema::{TenantScope, keys, time};
use serde_json::Value;

use crate::error::IdentityError;
use crate::{InstalledDefaults, Membership, Organization};
use neonhub_schema::enums::MemberStatus;

/// An organization the seed makes sure exists (found by its slug).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = organizations)]
pub struct SeedOrganization<'a> {
    /// Globally unique slug: the natural key.
    pub slug: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Plan label.
    pub plan: &'a str,
    /// Settings JSON.
    pub settings: Option<&'a Value>,
}

/// A user the seed makes sure exists (found by email).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct SeedUser<'a> {
    /// Email: the natural key (stored as given; seed emails are already normalized).
    pub email: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// Whether the user joined the beta.
    #[diesel(column_name = isBetaUser)]
    pub is_beta_user: bool,
}

/// Makes sure `org` exists; returns its id and whether this call inserted it.
#[tracing::instrument(skip_all, fields(entity = "organization", op = "seed"))]
pub async fn ensure_organization(
    conn: &mut AsyncPgConnection,
    org: &SeedOrganization<'_>,
) -> Result<(OrganizationId, bool), IdentityError> {
    let now = time::now();
    let inserted = diesel::insert_into(organizations::table)
        .values((
            org,
            organizations::id.eq(OrganizationId::generate()),
            organizations::createdAt.eq(now),
            organizations::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let id = organizations::table
        .filter(organizations::slug.eq(org.slug))
        .select(organizations::id)
        .get_result(conn)
        .await?;
    Ok((id, inserted == 1))
}

/// Makes sure `user` exists (email verified at first insert); returns its id and whether
/// this call inserted it.
#[tracing::instrument(skip_all, fields(entity = "user", op = "seed"))]
pub async fn ensure_user(
    conn: &mut AsyncPgConnection,
    user: &SeedUser<'_>,
) -> Result<(UserId, bool), IdentityError> {
    let now = time::now();
    let inserted = diesel::insert_into(users::table)
        .values((
            user,
            users::id.eq(UserId::generate()),
            users::emailVerified.eq(now),
            users::createdAt.eq(now),
            users::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let id = users::table
        .filter(users::email.eq(user.email))
        .select(users::id)
        .get_result(conn)
        .await?;
    Ok((id, inserted == 1))
}

/// Makes sure `user` is an active member of the scope's organization (with no role: see
/// [`ensure_owner_if_roleless`]); returns whether this call inserted the membership.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "seed"))]
pub async fn ensure_member(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    user: &UserId,
) -> Result<bool, IdentityError> {
    scope.require(keys::MEMBERS_MANAGE)?;
    let now = time::now();
    let inserted = diesel::insert_into(organization_members::table)
        .values((
            organization_members::id.eq(OrganizationMemberId::generate()),
            organization_members::organizationId.eq(scope.organization_id()),
            organization_members::userId.eq(user),
            organization_members::status.eq(MemberStatus::Active),
            organization_members::joinedAt.eq(now),
            organization_members::createdAt.eq(now),
            organization_members::updatedAt.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// What [`ensure_access`] did: the defaults it installed, and whether it made the user owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededAccess {
    /// What [`Organization::install_defaults`] added.
    pub installed: InstalledDefaults,
    /// Whether `user`, who had no role, was given the owner role.
    pub made_owner: bool,
}

/// Installs the organization's default roles and permissions, then makes `user` its owner
/// when the user has no role yet (a role someone chose is left alone). Both are audited
/// like any other change, and only when something changes.
#[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "organization", op = "seed_access"))]
pub async fn ensure_access(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    user: &UserId,
) -> Result<SeededAccess, IdentityError> {
    scope.require(keys::ROLES_MANAGE)?;
    let installed = Organization::install_defaults(conn, scope).await?;
    let role: Option<Option<OrganizationRoleId>> = organization_members::table
        .filter(organization_members::organizationId.eq(scope.organization_id()))
        .filter(organization_members::userId.eq(user))
        .select(organization_members::roleId)
        .first(conn)
        .await
        .optional()?;
    let made_owner = matches!(role, Some(None));
    if made_owner {
        Membership::change_role(conn, scope, user, &installed.roles.owner).await?;
    }
    Ok(SeededAccess {
        installed,
        made_owner,
    })
}
