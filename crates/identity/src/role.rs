//! Roles and permissions of one organization, and the grants between them.

use chrono::NaiveDateTime;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{OrganizationId, OrganizationPermissionId, OrganizationRoleId};
use neonhub_schema::schema::{
    organization_permissions as op, organization_roles as orole, role_permissions as rp,
};
use neonhub_schema::{TenantScope, time, unique_violation};
use serde_json::json;

use crate::audit::{NewAuditEntry, actions, record};
use crate::authorize::require_now;
use crate::catalogue::{DefaultRole, is_valid_key, keys};
use crate::error::{IdentityError, check_slug};
use crate::organization::locked;

/// A role.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = orole, check_for_backend(diesel::pg::Pg))]
pub struct Role {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: OrganizationRoleId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Display name.
    pub name: String,
    /// Slug, unique in the organization (`owner`, `admin`, `member`, `viewer`, or custom).
    pub slug: String,
    /// What the role is for.
    pub description: Option<String>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// A permission key defined in an organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = op, check_for_backend(diesel::pg::Pg))]
pub struct Permission {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: OrganizationPermissionId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The key, `area:action`.
    pub key: String,
    /// What it allows.
    pub description: Option<String>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

/// A custom role to create.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = orole)]
pub struct NewRole<'a> {
    /// Display name.
    pub name: &'a str,
    /// Slug, unique in the organization.
    pub slug: &'a str,
    /// What the role is for.
    pub description: Option<&'a str>,
    /// Permission keys granted at creation (each must exist, and the actor must hold it).
    #[diesel(skip_insertion)]
    pub permissions: &'a [&'a str],
}

impl Role {
    /// The organization's roles, by slug.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<Role>, IdentityError> {
        scope.require(keys::ROLES_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(orole::table
                    .filter(orole::organizationId.eq(scope.organization_id()))
                    .order(orole::slug)
                    .select(Role::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// The role with `slug` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        slug: &str,
    ) -> Result<Role, IdentityError> {
        scope.require(keys::ROLES_READ)?;
        scope
            .transaction(conn, async |tx| {
                orole::table
                    .filter(
                        orole::organizationId
                            .eq(scope.organization_id())
                            .and(orole::slug.eq(slug)),
                    )
                    .select(Role::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("role", slug))
            })
            .await
    }

    /// The permission keys `role` holds, sorted.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "permissions"))]
    pub async fn permissions(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        role: &OrganizationRoleId,
    ) -> Result<Vec<String>, IdentityError> {
        scope.require(keys::ROLES_READ)?;
        scope
            .transaction(conn, async |tx| {
                find(tx, scope, role).await?;
                Ok(rp::table
                    .inner_join(op::table)
                    .filter(
                        rp::roleId
                            .eq(role)
                            .and(op::organizationId.eq(scope.organization_id())),
                    )
                    .order(op::key)
                    .select(op::key)
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Creates a custom role with some permissions (needs `roles:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewRole<'_>,
    ) -> Result<Role, IdentityError> {
        scope.require(keys::ROLES_MANAGE)?;
        InvalidData::check_fields([
            ("name", Some(new.name)),
            ("slug", Some(new.slug)),
            ("description", new.description),
        ])?;
        check_slug(new.slug)?;
        let org = scope.organization_id();
        locked(conn, scope, Some(keys::ROLES_MANAGE), async |tx| {
            let now = time::now();
            let role = diesel::insert_into(orole::table)
                .values((
                    new,
                    orole::id.eq(OrganizationRoleId::generate()),
                    orole::organizationId.eq(org),
                    orole::createdAt.eq(now),
                    orole::updatedAt.eq(now),
                ))
                .returning(Role::as_returning())
                .get_result(tx)
                .await
                .map_err(|e| match unique_violation(&e) {
                    Some("organization_roles_organizationId_slug_key") => {
                        IdentityError::DuplicateRoleSlug(new.slug.to_owned())
                    }
                    _ => e.into(),
                })?;
            let entry = NewAuditEntry::new(actions::ROLE_CREATED, "role", role.id.as_str())
                .with_metadata(json!({ "slug": new.slug }));
            record(tx, scope, &entry).await?;
            for key in new.permissions {
                grant_in(tx, scope, &role, key).await?;
            }
            Ok(role)
        })
        .await
    }

    /// Deletes a custom role (needs `roles:manage`); its members keep their membership
    /// with no role (the foreign key sets NULL), so they lose its permissions. The four
    /// default roles cannot be deleted.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        role: &OrganizationRoleId,
    ) -> Result<(), IdentityError> {
        scope.require(keys::ROLES_MANAGE)?;
        locked(conn, scope, Some(keys::ROLES_MANAGE), async |tx| {
            let found = find(tx, scope, role).await?;
            if DefaultRole::from_slug(&found.slug).is_some() {
                return Err(IdentityError::ProtectedRole {
                    slug: found.slug,
                    reason: "the default roles cannot be deleted",
                });
            }
            diesel::delete(orole::table.find(role)).execute(tx).await?;
            let entry = NewAuditEntry::new(actions::ROLE_DELETED, "role", role.as_str())
                .with_metadata(json!({ "slug": found.slug }));
            record(tx, scope, &entry).await?;
            Ok(())
        })
        .await
    }

    /// Grants the permission `key` to `role` (needs `roles:manage`, and the actor must hold
    /// `key` itself: nobody grants more than they have). Granting a held key is a no-op
    /// and writes no audit row.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "grant"))]
    pub async fn grant(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        role: &OrganizationRoleId,
        key: &str,
    ) -> Result<(), IdentityError> {
        scope.require(keys::ROLES_MANAGE)?;
        locked(conn, scope, Some(keys::ROLES_MANAGE), async |tx| {
            let found = find(tx, scope, role).await?;
            fixed_owner(&found)?;
            grant_in(tx, scope, &found, key).await
        })
        .await
    }

    /// Revokes the permission `key` from `role` (needs `roles:manage` and `key` itself).
    /// Revoking a key the role lacks is a no-op and writes no audit row.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "role", op = "revoke"))]
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        role: &OrganizationRoleId,
        key: &str,
    ) -> Result<(), IdentityError> {
        scope.require(keys::ROLES_MANAGE)?;
        let org = scope.organization_id();
        locked(conn, scope, Some(keys::ROLES_MANAGE), async |tx| {
            let found = find(tx, scope, role).await?;
            fixed_owner(&found)?;
            let permission = permission_id(tx, org, key).await?;
            require_now(tx, scope, key).await?;
            let n = diesel::delete(rp::table.find((role, &permission)))
                .execute(tx)
                .await?;
            if n > 0 {
                let entry = NewAuditEntry::new(actions::PERMISSION_REVOKED, "role", role.as_str())
                    .with_metadata(json!({ "slug": found.slug, "permission": key }));
                record(tx, scope, &entry).await?;
            }
            Ok(())
        })
        .await
    }
}

impl Permission {
    /// The organization's permission keys, sorted.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "permission", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<Permission>, IdentityError> {
        scope.require(keys::ROLES_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(op::table
                    .filter(op::organizationId.eq(scope.organization_id()))
                    .order(op::key)
                    .select(Permission::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Defines a custom permission key (needs `roles:manage`); the owner role is granted it
    /// at once, since owners hold every permission.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "permission", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        key: &str,
        description: Option<&str>,
    ) -> Result<Permission, IdentityError> {
        scope.require(keys::ROLES_MANAGE)?;
        if !is_valid_key(key) {
            return Err(IdentityError::InvalidPermissionKey(key.to_owned()));
        }
        let org = scope.organization_id();
        locked(conn, scope, Some(keys::ROLES_MANAGE), async |tx| {
            let permission = diesel::insert_into(op::table)
                .values((
                    op::id.eq(OrganizationPermissionId::generate()),
                    op::organizationId.eq(org),
                    op::key.eq(key),
                    op::description.eq(description),
                    op::createdAt.eq(time::now()),
                ))
                .returning(Permission::as_returning())
                .get_result(tx)
                .await
                .map_err(|e| match unique_violation(&e) {
                    Some("organization_permissions_organizationId_key_key") => {
                        IdentityError::DuplicatePermission(key.to_owned())
                    }
                    _ => e.into(),
                })?;
            let owner = orole::table
                .filter(
                    orole::organizationId
                        .eq(org)
                        .and(orole::slug.eq(DefaultRole::Owner.slug())),
                )
                .select(orole::id)
                .first::<OrganizationRoleId>(tx)
                .await
                .optional()?;
            if let Some(owner) = owner {
                diesel::insert_into(rp::table)
                    .values((rp::roleId.eq(owner), rp::permissionId.eq(&permission.id)))
                    .execute(tx)
                    .await?;
            }
            let entry = NewAuditEntry::new(
                actions::PERMISSION_CREATED,
                "permission",
                permission.id.as_str(),
            )
            .with_metadata(json!({ "key": key }));
            record(tx, scope, &entry).await?;
            Ok(permission)
        })
        .await
    }
}

/// Grants inside the caller's transaction (roles:manage already checked).
async fn grant_in(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    role: &Role,
    key: &str,
) -> Result<(), IdentityError> {
    let permission = permission_id(tx, scope.organization_id(), key).await?;
    require_now(tx, scope, key).await?;
    let n = diesel::insert_into(rp::table)
        .values((rp::roleId.eq(&role.id), rp::permissionId.eq(&permission)))
        .on_conflict_do_nothing()
        .execute(tx)
        .await?;
    if n > 0 {
        let entry = NewAuditEntry::new(actions::PERMISSION_GRANTED, "role", role.id.as_str())
            .with_metadata(json!({ "slug": role.slug, "permission": key }));
        record(tx, scope, &entry).await?;
    }
    Ok(())
}

fn fixed_owner(role: &Role) -> Result<(), IdentityError> {
    if role.slug == DefaultRole::Owner.slug() {
        Err(IdentityError::ProtectedRole {
            slug: role.slug.clone(),
            reason: "the owner role holds every permission",
        })
    } else {
        Ok(())
    }
}

async fn find(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    role: &OrganizationRoleId,
) -> Result<Role, IdentityError> {
    orole::table
        .filter(
            orole::id
                .eq(role)
                .and(orole::organizationId.eq(scope.organization_id())),
        )
        .select(Role::as_select())
        .first(tx)
        .await
        .optional()?
        .ok_or_else(|| IdentityError::not_found("role", role))
}

async fn permission_id(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    key: &str,
) -> Result<OrganizationPermissionId, IdentityError> {
    op::table
        .filter(op::organizationId.eq(org).and(op::key.eq(key)))
        .select(op::id)
        .first(tx)
        .await
        .optional()?
        .ok_or_else(|| IdentityError::UnknownPermission(key.to_owned()))
}
