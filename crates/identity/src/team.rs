//! Team members: the organization's people directory (role title, department), beside
//! the access-granting memberships. Only members of the organization can be listed.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{OrganizationId, TeamMemberId, UserId};
use neonhub_schema::schema::{organization_members, team_members};
use neonhub_schema::{TenantScope, time, unique_violation};
use serde_json::Value;

use crate::catalogue::keys;
use crate::error::IdentityError;

/// A directory entry.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = team_members, check_for_backend(diesel::pg::Pg))]
pub struct TeamMember {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: TeamMemberId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: Option<OrganizationId>,
    /// The person.
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// Role title (free text, `Member` by default; access comes from memberships).
    pub role: String,
    /// Department.
    pub department: Option<String>,
    /// `active` by default.
    pub status: String,
    /// Who invited them (free text in this table).
    #[diesel(column_name = invitedBy)]
    pub invited_by: Option<String>,
    /// When invited.
    #[diesel(column_name = invitedAt)]
    pub invited_at: Option<NaiveDateTime>,
    /// When joined.
    #[diesel(column_name = joinedAt)]
    pub joined_at: NaiveDateTime,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// What may change on an entry.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = team_members)]
pub struct TeamMemberChanges<'a> {
    /// Role title.
    pub role: Option<&'a str>,
    /// Department.
    pub department: Option<Option<&'a str>>,
    /// Directory status (free text the team keeps).
    pub status: Option<&'a str>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Option<&'a Value>>,
}

impl TeamMember {
    /// Adds `user`, who must have a membership in this organization, to its directory
    /// (needs `members:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "team member", op = "add"))]
    pub async fn add(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
        role: Option<&str>,
        department: Option<&str>,
    ) -> Result<TeamMember, IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        InvalidData::check_fields([("role", role), ("department", department)])?;
        let org = scope.organization_id();
        scope
            .transaction(conn, async |tx| {
                ensure_member(tx, org, user).await?;
                let now = time::now();
                diesel::insert_into(team_members::table)
                    .values((
                        team_members::id.eq(TeamMemberId::generate()),
                        team_members::organizationId.eq(org),
                        team_members::userId.eq(user),
                        team_members::role.eq(role.unwrap_or("Member")),
                        team_members::department.eq(department),
                        team_members::invitedBy.eq(scope.actor().user_id().map(|u| u.as_str())),
                        team_members::joinedAt.eq(now),
                        team_members::createdAt.eq(now),
                        team_members::updatedAt.eq(now),
                    ))
                    .returning(TeamMember::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| match unique_violation(&e) {
                        Some("team_members_userId_organizationId_key") => {
                            IdentityError::AlreadyMember(user.to_string())
                        }
                        _ => e.into(),
                    })
            })
            .await
    }

    /// The organization's directory, by role and id (needs `members:read`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "team member", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<Vec<TeamMember>, IdentityError> {
        scope.require(keys::MEMBERS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(team_members::table
                    .filter(team_members::organizationId.eq(scope.organization_id()))
                    .order((team_members::role, team_members::id))
                    .select(TeamMember::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Changes `user`'s entry (needs `members:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "team member", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
        changes: &TeamMemberChanges<'_>,
    ) -> Result<TeamMember, IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        InvalidData::check_fields([
            ("role", changes.role),
            ("department", changes.department.flatten()),
            ("status", changes.status),
        ])?;
        if let Some(Some(metadata)) = changes.metadata {
            InvalidData::check_json("metadata", metadata)?;
        }
        scope
            .transaction(conn, async |tx| {
                diesel::update(team_members::table.filter(mine(scope, user)))
                    .set((changes, team_members::updatedAt.eq(time::now())))
                    .returning(TeamMember::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| IdentityError::not_found("team member", user))
            })
            .await
    }

    /// Removes `user`'s entry (needs `members:manage`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "team member", op = "remove"))]
    pub async fn remove(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        user: &UserId,
    ) -> Result<(), IdentityError> {
        scope.require(keys::MEMBERS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(team_members::table.filter(mine(scope, user)))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    Err(IdentityError::not_found("team member", user))
                } else {
                    Ok(())
                }
            })
            .await
    }
}

type Mine<'a> = diesel::dsl::And<
    diesel::dsl::Eq<team_members::userId, &'a UserId>,
    diesel::dsl::Eq<team_members::organizationId, &'a OrganizationId>,
>;

fn mine<'a>(scope: &'a TenantScope, user: &'a UserId) -> Mine<'a> {
    team_members::userId
        .eq(user)
        .and(team_members::organizationId.eq(scope.organization_id()))
}

/// Refuses a user with no membership (of any status) in `org`.
pub(crate) async fn ensure_member(
    tx: &mut AsyncPgConnection,
    org: &OrganizationId,
    user: &UserId,
) -> Result<(), IdentityError> {
    organization_members::table
        .filter(
            organization_members::organizationId
                .eq(org)
                .and(organization_members::userId.eq(user)),
        )
        .select(organization_members::id)
        .first::<neonhub_schema::ids::OrganizationMemberId>(tx)
        .await
        .optional()?
        .map(drop)
        .ok_or_else(|| IdentityError::NotAMember(user.to_string()))
}
