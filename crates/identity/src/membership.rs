//! Memberships: a user's place in an organization, from invitation to removal.
//!
//! Every change holds the organization's row lock, re-checks the actor's permissions
//! after taking it, and writes its audit row in the same transaction. Changes that would
//! leave no active owner are refused under that lock, so two concurrent demotions of the
//! last two owners cannot both succeed.

use chrono::NaiveDateTime;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::PermissionSet;
use neonhub_schema::enums::MemberStatus;
use neonhub_schema::ids::{OrganizationId, OrganizationMemberId, OrganizationRoleId, UserId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{organization_members as om, organization_roles};
use neonhub_schema::{TenantScope, foreign_key_violation, time, unique_violation};
use serde_json::json;

use crate::audit::{NewAuditEntry, actions, record};
use crate::authorize::require_now;
use crate::catalogue::{DefaultRole, keys};
use crate::error::IdentityError;
use crate::organization::locked;

/// A membership.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = om, check_for_backend(diesel::pg::Pg))]
pub struct Membership {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: OrganizationMemberId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The member.
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// The member's role (NULL: no permissions, e.g. after its role was deleted).
    #[diesel(column_name = roleId)]
    pub role_id: Option<OrganizationRoleId>,
    /// Invited, active or suspended: only active members are authorized.
    pub status: MemberStatus,
    /// Who invited the member.
    #[diesel(column_name = invitedById)]
    pub invited_by_id: Option<UserId>,
    /// When the member joined (when invited, for a pending invitation).
    #[diesel(column_name = joinedAt)]
    pub joined_at: NaiveDateTime,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Membership {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

impl Membership {
    /// The membership of `user` in the scope's organization (needs `members:read`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
    ) -> Result<Membership, IdentityError> {
        scope.require(keys::MEMBERS_READ)?;
        scope
            .transaction(conn, async |tx| {
                find(tx, scope.organization_id(), user, false).await
            })
            .await
    }

    /// The organization's memberships of every status, newest first (needs `members:read`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Membership>, IdentityError> {
        scope.require(keys::MEMBERS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = om::table
                    .filter(om::organizationId.eq(scope.organization_id()))
                    .select(Membership::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Invites an existing user with `role` (needs `members:manage`, and `owners:manage`
    /// for the owner role). The invitation is a membership with status `invited` that
    /// carries the inviting user.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "invite"))]
    pub async fn invite(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
        role: &OrganizationRoleId,
    ) -> Result<Membership, IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        let org = scope.organization_id();
        locked(conn, scope, Some(keys::MEMBERS_MANAGE), async |tx| {
            let owner = owner_role(tx, org).await?;
            role_in_organization(tx, org, role).await?;
            if owner.as_ref() == Some(role) {
                require_now(tx, scope, keys::OWNERS_MANAGE).await?;
            }
            let now = time::now();
            let member = diesel::insert_into(om::table)
                .values((
                    om::id.eq(OrganizationMemberId::generate()),
                    om::organizationId.eq(org),
                    om::userId.eq(user),
                    om::roleId.eq(role),
                    om::status.eq(MemberStatus::Invited),
                    om::invitedById.eq(scope.actor().user_id()),
                    om::joinedAt.eq(now),
                    om::createdAt.eq(now),
                    om::updatedAt.eq(now),
                ))
                .returning(Membership::as_returning())
                .get_result(tx)
                .await
                .map_err(|e| {
                    if unique_violation(&e)
                        == Some("organization_members_organizationId_userId_key")
                    {
                        IdentityError::AlreadyMember(user.to_string())
                    } else if foreign_key_violation(&e) == Some("organization_members_userId_fkey")
                    {
                        IdentityError::UserNotFound(user.to_string())
                    } else {
                        e.into()
                    }
                })?;
            audit(
                tx,
                scope,
                actions::MEMBER_INVITED,
                &member,
                json!({ "role": role }),
            )
            .await?;
            Ok(member)
        })
        .await
    }

    /// `user` accepts their invitation to `org`: the membership becomes active and
    /// `joinedAt` is now. The caller has authenticated `user`; no permission is needed.
    #[tracing::instrument(skip_all, fields(org = %org, entity = "membership", op = "accept"))]
    pub async fn accept(
        conn: &mut AsyncPgConnection,
        org: &OrganizationId,
        user: &UserId,
    ) -> Result<Membership, IdentityError> {
        // The user acts on their own invitation: the scope records who acts, and holds no key.
        let scope = TenantScope::for_member(org.clone(), user.clone(), PermissionSet::none());
        locked(conn, &scope, None, async |tx| {
            let member = find(tx, org, user, true).await?;
            expect_status(&member, MemberStatus::Invited, "accept")?;
            let now = time::now();
            let member = diesel::update(om::table.find(&member.id))
                .set((
                    om::status.eq(MemberStatus::Active),
                    om::joinedAt.eq(now),
                    om::updatedAt.eq(now),
                ))
                .returning(Membership::as_returning())
                .get_result(tx)
                .await?;
            audit(tx, &scope, actions::MEMBER_JOINED, &member, json!({})).await?;
            Ok(member)
        })
        .await
    }

    /// `user` declines their invitation to `org`: the membership row is deleted (so the
    /// user can be invited again); the audit row remains.
    #[tracing::instrument(skip_all, fields(org = %org, entity = "membership", op = "decline"))]
    pub async fn decline(
        conn: &mut AsyncPgConnection,
        org: &OrganizationId,
        user: &UserId,
    ) -> Result<(), IdentityError> {
        // The user acts on their own invitation: the scope records who acts, and holds no key.
        let scope = TenantScope::for_member(org.clone(), user.clone(), PermissionSet::none());
        locked(conn, &scope, None, async |tx| {
            let member = find(tx, org, user, true).await?;
            expect_status(&member, MemberStatus::Invited, "decline")?;
            diesel::delete(om::table.find(&member.id))
                .execute(tx)
                .await?;
            audit(tx, &scope, actions::MEMBER_DECLINED, &member, json!({})).await?;
            Ok(())
        })
        .await
    }

    /// Gives `user` another role (needs `members:manage`; `owners:manage` when the owner
    /// role is given or taken). Refused if it would demote the last active owner.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "change_role"))]
    pub async fn change_role(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
        role: &OrganizationRoleId,
    ) -> Result<Membership, IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        let org = scope.organization_id();
        locked(conn, scope, Some(keys::MEMBERS_MANAGE), async |tx| {
            let member = find(tx, org, user, true).await?;
            role_in_organization(tx, org, role).await?;
            let owner = owner_role(tx, org).await?;
            let was_owner = member.role_id.is_some() && member.role_id == owner;
            if was_owner || owner.as_ref() == Some(role) {
                require_now(tx, scope, keys::OWNERS_MANAGE).await?;
            }
            if was_owner && owner.as_ref() != Some(role) && member.status == MemberStatus::Active {
                another_owner(tx, org, user).await?;
            }
            let updated = diesel::update(om::table.find(&member.id))
                .set((om::roleId.eq(role), om::updatedAt.eq(time::now())))
                .returning(Membership::as_returning())
                .get_result(tx)
                .await?;
            let details = json!({ "from": member.role_id, "to": role });
            audit(tx, scope, actions::MEMBER_ROLE_CHANGED, &updated, details).await?;
            Ok(updated)
        })
        .await
    }

    /// Suspends an active member (needs `members:manage`; `owners:manage` for an owner).
    /// Refused for the last active owner.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "suspend"))]
    pub async fn suspend(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
    ) -> Result<Membership, IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        transition(
            conn,
            scope,
            user,
            MemberStatus::Active,
            MemberStatus::Suspended,
        )
        .await
    }

    /// Reactivates a suspended member (needs `members:manage`; `owners:manage` for an owner).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "reactivate"))]
    pub async fn reactivate(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
    ) -> Result<Membership, IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        transition(
            conn,
            scope,
            user,
            MemberStatus::Suspended,
            MemberStatus::Active,
        )
        .await
    }

    /// Removes a membership of any status (needs `members:manage`; `owners:manage` for an
    /// owner). Refused for the last active owner.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "membership", op = "remove"))]
    pub async fn remove(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
    ) -> Result<(), IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        let org = scope.organization_id();
        locked(conn, scope, Some(keys::MEMBERS_MANAGE), async |tx| {
            let member = find(tx, org, user, true).await?;
            guard_owner(tx, scope, &member).await?;
            diesel::delete(om::table.find(&member.id))
                .execute(tx)
                .await?;
            audit(
                tx,
                scope,
                actions::MEMBER_REMOVED,
                &member,
                json!({ "status": member.status }),
            )
            .await?;
            Ok(())
        })
        .await
    }
}

/// Suspend and reactivate: `from` must be the current status.
async fn transition(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    user: &UserId,
    from: MemberStatus,
    to: MemberStatus,
) -> Result<Membership, IdentityError> {
    let (verb, action) = match to {
        MemberStatus::Suspended => ("suspend", actions::MEMBER_SUSPENDED),
        _ => ("reactivate", actions::MEMBER_REACTIVATED),
    };
    let org = scope.organization_id();
    locked(conn, scope, Some(keys::MEMBERS_MANAGE), async |tx| {
        let member = find(tx, org, user, true).await?;
        expect_status(&member, from, verb)?;
        guard_owner(tx, scope, &member).await?;
        let updated = diesel::update(om::table.find(&member.id))
            .set((om::status.eq(to), om::updatedAt.eq(time::now())))
            .returning(Membership::as_returning())
            .get_result(tx)
            .await?;
        audit(tx, scope, action, &updated, json!({ "from": from })).await?;
        Ok(updated)
    })
    .await
}

/// For a change that takes a member's access away: an owner needs `owners:manage`, and an
/// active owner must leave another active owner behind.
async fn guard_owner(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    member: &Membership,
) -> Result<(), IdentityError> {
    let owner = owner_role(tx, scope.organization_id()).await?;
    if member.role_id.is_none() || member.role_id != owner {
        return Ok(());
    }
    require_now(tx, scope, keys::OWNERS_MANAGE).await?;
    if member.status == MemberStatus::Active {
        another_owner(tx, scope.organization_id(), &member.user_id).await?;
    }
    Ok(())
}

/// Refuses unless an active owner other than `user` remains (call under the org lock).
async fn another_owner(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
) -> Result<(), IdentityError> {
    let others: i64 = om::table
        .inner_join(organization_roles::table)
        .filter(
            om::organizationId
                .eq(org)
                .and(organization_roles::organizationId.eq(org)),
        )
        .filter(organization_roles::slug.eq(DefaultRole::Owner.slug()))
        .filter(om::status.eq(MemberStatus::Active).and(om::userId.ne(user)))
        .count()
        .get_result(tx)
        .await?;
    if others == 0 {
        Err(IdentityError::LastOwner {
            organization: org.to_string(),
        })
    } else {
        Ok(())
    }
}

/// The id of the organization's owner role, if it has one.
async fn owner_role(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
) -> Result<Option<OrganizationRoleId>, IdentityError> {
    Ok(organization_roles::table
        .filter(organization_roles::organizationId.eq(org))
        .filter(organization_roles::slug.eq(DefaultRole::Owner.slug()))
        .select(organization_roles::id)
        .first(tx)
        .await
        .optional()?)
}

/// Refuses a role of another organization (the foreign key alone would accept it).
pub(crate) async fn role_in_organization(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    role: &OrganizationRoleId,
) -> Result<(), IdentityError> {
    organization_roles::table
        .filter(
            organization_roles::id
                .eq(role)
                .and(organization_roles::organizationId.eq(org)),
        )
        .select(organization_roles::id)
        .first::<OrganizationRoleId>(tx)
        .await
        .optional()?
        .map(drop)
        .ok_or_else(|| IdentityError::RoleNotInOrganization(role.to_string()))
}

/// The membership of `user` in `org`, locked `FOR UPDATE` when it is about to change.
async fn find(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
    for_update: bool,
) -> Result<Membership, IdentityError> {
    let query = om::table
        .filter(om::organizationId.eq(org).and(om::userId.eq(user)))
        .select(Membership::as_select());
    let found = if for_update {
        query.for_update().first(tx).await.optional()?
    } else {
        query.first(tx).await.optional()?
    };
    found.ok_or_else(|| IdentityError::not_found("membership", user))
}

fn expect_status(
    member: &Membership,
    expected: MemberStatus,
    action: &'static str,
) -> Result<(), IdentityError> {
    if member.status == expected {
        Ok(())
    } else {
        Err(IdentityError::InvalidTransition {
            action,
            status: member.status,
        })
    }
}

async fn audit(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    action: &str,
    member: &Membership,
    mut details: serde_json::Value,
) -> Result<(), IdentityError> {
    details["user"] = json!(member.user_id);
    let entry = NewAuditEntry::new(action, "organization_member", member.id.as_str())
        .with_metadata(details);
    record(tx, scope, &entry).await.map(drop)
}
