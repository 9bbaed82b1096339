//! Organizations: the tenants. Creating one installs its default roles and permissions
//! and makes the creator its owner, in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{
    OrganizationId, OrganizationMemberId, OrganizationPermissionId, OrganizationRoleId, UserId,
};
use neonhub_schema::schema::{
    organization_members, organization_permissions, organization_roles, organizations,
    role_permissions,
};
use neonhub_schema::{
    PermissionSet, TenantScope, TransactionWork, foreign_key_violation, time, unique_violation,
};
use serde_json::{Value, json};

use crate::audit::{NewAuditEntry, actions, record};
use crate::authorize::require_now;
use crate::catalogue::{DefaultRole, PERMISSIONS, default_grant, keys};
use crate::error::{IdentityError, check_slug};
use neonhub_schema::enums::MemberStatus;

/// An organization.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = organizations, check_for_backend(diesel::pg::Pg))]
pub struct Organization {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: OrganizationId,
    /// Slug, globally unique.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Plan (`starter` by default).
    pub plan: String,
    /// Settings JSON (the application defines its keys).
    pub settings: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// An organization to create; the id and timestamps are added by [`Organization::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    /// Slug: 1 to 64 lower-case letters, digits and inner hyphens; globally unique.
    pub slug: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Plan; `None` takes the column default (`starter`).
    pub plan: Option<&'a str>,
    /// Settings JSON (the application defines its keys).
    pub settings: Option<&'a Value>,
}

/// What may change on an organization (`Some(None)` clears `settings`).
#[derive(Debug, Clone, Default, AsChangeset, serde::Serialize)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges<'a> {
    /// New slug.
    pub slug: Option<&'a str>,
    /// New name.
    pub name: Option<&'a str>,
    /// New plan.
    pub plan: Option<&'a str>,
    /// New settings.
    pub settings: Option<Option<&'a Value>>,
}

/// The ids of an organization's four default roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoles {
    /// `owner`.
    pub owner: OrganizationRoleId,
    /// `admin`.
    pub admin: OrganizationRoleId,
    /// `member`.
    pub member: OrganizationRoleId,
    /// `viewer`.
    pub viewer: OrganizationRoleId,
}

impl DefaultRoles {
    /// The id of `role`.
    pub fn id(&self, role: DefaultRole) -> &OrganizationRoleId {
        match role {
            DefaultRole::Owner => &self.owner,
            DefaultRole::Admin => &self.admin,
            DefaultRole::Member => &self.member,
            DefaultRole::Viewer => &self.viewer,
        }
    }
}

/// What [`Organization::install_defaults`] added (all zero when nothing was missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledDefaults {
    /// The default roles' ids, whether new or already there.
    pub roles: DefaultRoles,
    /// Roles created.
    pub roles_added: usize,
    /// Permission keys created.
    pub permissions_added: usize,
    /// Role-permission grants created.
    pub grants_added: usize,
}

impl Organization {
    /// Creates an organization with its default roles and permission catalogue, and makes
    /// `creator` its active owner; all in one transaction, audited as the creator.
    #[tracing::instrument(skip_all, fields(entity = "organization", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        creator: &UserId,
        new: &NewOrganization<'_>,
    ) -> Result<Organization, IdentityError> {
        InvalidData::check_fields([
            ("slug", Some(new.slug)),
            ("name", Some(new.name)),
            ("plan", new.plan),
        ])?;
        if let Some(settings) = new.settings {
            InvalidData::check_json("settings", settings)?;
        }
        check_slug(new.slug)?;
        let id = OrganizationId::generate();
        // The creator becomes the owner, who holds every key of the catalogue.
        let scope = TenantScope::for_member(
            id.clone(),
            creator.clone(),
            PermissionSet::of(PERMISSIONS.iter().map(|p| p.key)),
        );
        scope
            .transaction(conn, async |tx| {
                let now = time::now();
                let org = diesel::insert_into(organizations::table)
                    .values((
                        new,
                        organizations::id.eq(&id),
                        organizations::createdAt.eq(now),
                        organizations::updatedAt.eq(now),
                    ))
                    .returning(Organization::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| duplicate_slug(e, new.slug))?;
                let defaults = install(tx, &id).await?;
                diesel::insert_into(organization_members::table)
                    .values((
                        organization_members::id.eq(OrganizationMemberId::generate()),
                        organization_members::organizationId.eq(&id),
                        organization_members::userId.eq(creator),
                        organization_members::roleId.eq(&defaults.roles.owner),
                        organization_members::status.eq(MemberStatus::Active),
                        organization_members::joinedAt.eq(now),
                        organization_members::createdAt.eq(now),
                        organization_members::updatedAt.eq(now),
                    ))
                    .execute(tx)
                    .await
                    .map_err(|e| match foreign_key_violation(&e) {
                        Some("organization_members_userId_fkey") => {
                            IdentityError::UserNotFound(creator.to_string())
                        }
                        _ => e.into(),
                    })?;
                let entry =
                    NewAuditEntry::new(actions::ORGANIZATION_CREATED, "organization", id.as_str())
                        .with_metadata(json!({
                            "slug": new.slug,
                            "owner": creator,
                            "roles": defaults.roles_added,
                            "permissions": defaults.permissions_added,
                        }));
                record(tx, &scope, &entry).await?;
                Ok(org)
            })
            .await
    }

    /// The scope's organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "organization", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Organization, IdentityError> {
        scope.require(keys::ORGANIZATION_READ)?;
        let id = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                organizations::table
                    .find(id)
                    .select(Organization::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("organization", id))
            })
            .await
    }

    /// The organization with `slug`, if `user` is an active member of it: what a signed-in
    /// user's route (`/orgs/{slug}`) needs. `None` both when no such organization exists and
    /// when the user is not an active member, so a slug reveals nothing to outsiders.
    #[tracing::instrument(skip_all, fields(entity = "organization", op = "by_slug"))]
    pub async fn by_slug(
        conn: &mut AsyncPgConnection,
        user: &UserId,
        slug: &str,
    ) -> Result<Option<Organization>, IdentityError> {
        // Before any scope: through the narrow lookup function (row-level security).
        Ok(
            diesel::sql_query("SELECT * FROM public.nh_member_organization($1, $2)")
                .bind::<diesel::sql_types::Text, _>(user)
                .bind::<diesel::sql_types::Text, _>(slug)
                .get_result::<Organization>(conn)
                .await
                .optional()?,
        )
    }

    /// The organizations `user` is an active member of, by slug: what a sign-in page lists
    /// before the user picks one (and before any scope).
    #[tracing::instrument(skip_all, fields(entity = "organization", op = "for_user"))]
    pub async fn for_user(
        conn: &mut AsyncPgConnection,
        user: &UserId,
    ) -> Result<Vec<Organization>, IdentityError> {
        Ok(
            diesel::sql_query("SELECT * FROM public.nh_user_organizations($1)")
                .bind::<diesel::sql_types::Text, _>(user)
                .load::<Organization>(conn)
                .await?,
        )
    }

    /// The id of the organization with `slug`, to resolve a route before [`crate::authorize`];
    /// reveals nothing else about it.
    #[tracing::instrument(skip_all, fields(entity = "organization", op = "id_for_slug"))]
    pub async fn id_for_slug(
        conn: &mut AsyncPgConnection,
        slug: &str,
    ) -> Result<OrganizationId, IdentityError> {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            id: Option<OrganizationId>,
        }
        // Before any scope: through the narrow lookup function (row-level security).
        diesel::sql_query("SELECT public.nh_organization_id($1) AS id")
            .bind::<diesel::sql_types::Text, _>(slug)
            .get_result::<Id>(conn)
            .await?
            .id
            .ok_or_else(|| IdentityError::not_found("organization", slug))
    }

    /// Applies `changes` (needs `organization:manage`), sets `updatedAt`, audits it.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "organization", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        changes: &OrganizationChanges<'_>,
    ) -> Result<Organization, IdentityError> {
        scope.require(keys::ORGANIZATION_MANAGE)?;
        InvalidData::check_fields([
            ("slug", changes.slug),
            ("name", changes.name),
            ("plan", changes.plan),
        ])?;
        if let Some(Some(settings)) = changes.settings {
            InvalidData::check_json("settings", settings)?;
        }
        if let Some(slug) = changes.slug {
            check_slug(slug)?;
        }
        let id = scope.organization_id();
        locked(conn, scope, Some(keys::ORGANIZATION_MANAGE), async |tx| {
            let org = diesel::update(organizations::table.find(id))
                .set((changes, organizations::updatedAt.eq(time::now())))
                .returning(Organization::as_returning())
                .get_result(tx)
                .await
                .map_err(|e| duplicate_slug(e, changes.slug.unwrap_or_default()))?;
            let entry =
                NewAuditEntry::new(actions::ORGANIZATION_UPDATED, "organization", id.as_str())
                    .with_metadata(json!({ "changes": changes }));
            record(tx, scope, &entry).await?;
            Ok(org)
        })
        .await
    }

    /// Deletes the organization and, by the schema's cascades, everything it owns (needs
    /// `organization:delete`). The audit row written first outlives it, with
    /// `organizationId` cleared by its foreign key and the id kept in `resourceId`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "organization", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<(), IdentityError> {
        scope.require(keys::ORGANIZATION_DELETE)?;
        let id = scope.organization_id();
        locked(conn, scope, Some(keys::ORGANIZATION_DELETE), async |tx| {
            let entry =
                NewAuditEntry::new(actions::ORGANIZATION_DELETED, "organization", id.as_str());
            record(tx, scope, &entry).await?;
            diesel::delete(organizations::table.find(id))
                .execute(tx)
                .await?;
            Ok(())
        })
        .await
    }

    /// Installs whatever of the default roles, the permission catalogue and their default
    /// grants the organization lacks (for organizations made by other tools, and after the
    /// catalogue grows); needs `roles:manage`. Grants an admin revoked stay revoked: only
    /// pairs of which the role or the permission is new are granted. Audited only when
    /// something was added, so running it again writes nothing.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "organization", op = "install_defaults"))]
    pub async fn install_defaults(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<InstalledDefaults, IdentityError> {
        scope.require(keys::ROLES_MANAGE)?;
        let id = scope.organization_id();
        locked(conn, scope, Some(keys::ROLES_MANAGE), async |tx| {
            let installed = install(tx, id).await?;
            if installed.roles_added + installed.permissions_added + installed.grants_added > 0 {
                let entry =
                    NewAuditEntry::new(actions::DEFAULTS_INSTALLED, "organization", id.as_str())
                        .with_metadata(json!({
                            "roles": installed.roles_added,
                            "permissions": installed.permissions_added,
                            "grants": installed.grants_added,
                        }));
                record(tx, scope, &entry).await?;
            }
            Ok(installed)
        })
        .await
    }
}

/// Runs an identity change in the scope's transaction, under the organization's row lock,
/// after re-checking that the actor holds `permission` (a permission revoked a moment ago,
/// or a demotion that just committed, is honoured).
pub(crate) async fn locked<R, F>(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    permission: Option<&str>,
    work: F,
) -> Result<R, IdentityError>
where
    for<'r> F:
        TransactionWork<&'r mut AsyncPgConnection, Result<R, IdentityError>, Fut: Send> + Send,
    R: Send,
{
    scope
        .transaction(conn, async |tx| {
            lock(tx, scope.organization_id()).await?;
            if let Some(permission) = permission {
                require_now(tx, scope, permission).await?;
            }
            work(tx).await
        })
        .await
}

/// Takes the organization's row lock (`FOR NO KEY UPDATE`: foreign-key checks of
/// concurrent inserts are not blocked). Every membership, role and permission change holds
/// it, which serializes the last-owner check.
async fn lock(tx: &mut AsyncPgConnection, org: &OrganizationId) -> Result<(), IdentityError> {
    organizations::table
        .find(org)
        .select(organizations::id)
        .for_no_key_update()
        .first::<OrganizationId>(tx)
        .await
        .optional()?
        .map(drop)
        .ok_or_else(|| IdentityError::not_found("organization", org))
}

/// Inserts the missing defaults of `org` (inside the caller's transaction).
async fn install(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
) -> Result<InstalledDefaults, IdentityError> {
    let now = time::now();
    let permission_rows: Vec<_> = PERMISSIONS
        .iter()
        .map(|p| {
            (
                organization_permissions::id.eq(OrganizationPermissionId::generate()),
                organization_permissions::organizationId.eq(org),
                organization_permissions::key.eq(p.key),
                organization_permissions::description.eq(p.description),
                organization_permissions::createdAt.eq(now),
            )
        })
        .collect();
    let new_keys: HashSet<String> = diesel::insert_into(organization_permissions::table)
        .values(&permission_rows)
        .on_conflict((
            organization_permissions::organizationId,
            organization_permissions::key,
        ))
        .do_nothing()
        .returning(organization_permissions::key)
        .get_results::<String>(tx)
        .await?
        .into_iter()
        .collect();
    let role_rows: Vec<_> = DefaultRole::ALL
        .iter()
        .map(|r| {
            (
                organization_roles::id.eq(OrganizationRoleId::generate()),
                organization_roles::organizationId.eq(org),
                organization_roles::name.eq(r.name()),
                organization_roles::slug.eq(r.slug()),
                organization_roles::description.eq(r.description()),
                organization_roles::createdAt.eq(now),
                organization_roles::updatedAt.eq(now),
            )
        })
        .collect();
    let new_roles: HashSet<String> = diesel::insert_into(organization_roles::table)
        .values(&role_rows)
        .on_conflict((organization_roles::organizationId, organization_roles::slug))
        .do_nothing()
        .returning(organization_roles::slug)
        .get_results::<String>(tx)
        .await?
        .into_iter()
        .collect();

    let role_ids: HashMap<String, OrganizationRoleId> = organization_roles::table
        .filter(organization_roles::organizationId.eq(org))
        .filter(organization_roles::slug.eq_any(DefaultRole::ALL.map(DefaultRole::slug)))
        .select((organization_roles::slug, organization_roles::id))
        .load(tx)
        .await?
        .into_iter()
        .collect();
    let permission_ids: Vec<(String, OrganizationPermissionId)> = organization_permissions::table
        .filter(organization_permissions::organizationId.eq(org))
        .filter(organization_permissions::key.eq_any(PERMISSIONS.iter().map(|p| p.key)))
        .select((organization_permissions::key, organization_permissions::id))
        .load(tx)
        .await?;
    let mut grants = Vec::new();
    for role in DefaultRole::ALL {
        let role_id = &role_ids[role.slug()];
        for (key, permission_id) in &permission_ids {
            let fresh = new_roles.contains(role.slug()) || new_keys.contains(key);
            if fresh && default_grant(role, key) {
                grants.push((
                    role_permissions::roleId.eq(role_id),
                    role_permissions::permissionId.eq(permission_id),
                ));
            }
        }
    }
    let grants_added = if grants.is_empty() {
        0
    } else {
        diesel::insert_into(role_permissions::table)
            .values(&grants)
            .on_conflict((role_permissions::roleId, role_permissions::permissionId))
            .do_nothing()
            .execute(tx)
            .await?
    };
    let role = |r: DefaultRole| role_ids[r.slug()].clone();
    Ok(InstalledDefaults {
        roles: DefaultRoles {
            owner: role(DefaultRole::Owner),
            admin: role(DefaultRole::Admin),
            member: role(DefaultRole::Member),
            viewer: role(DefaultRole::Viewer),
        },
        roles_added: new_roles.len(),
        permissions_added: new_keys.len(),
        grants_added,
    })
}

fn duplicate_slug(e: diesel::result::Error, slug: &str) -> IdentityError {
    match unique_violation(&e) {
        Some("organizations_slug_key") => IdentityError::DuplicateOrganizationSlug(slug.to_owned()),
        _ => e.into(),
    }
}
