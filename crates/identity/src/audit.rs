//! The audit log: append-only (no update or delete here, and a trigger refuses them in
//! the database), written in the same transaction as the change it records.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, Insertable, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
use neonhub_schema::ids::{AuditLogId, OrganizationId, UserId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::audit_logs;
use neonhub_schema::{TenantScope, time};
use serde_json::Value;

use crate::catalogue::keys;
use crate::error::IdentityError;

/// The actions this crate records (other crates may record their own).
pub mod actions {
    /// An organization was created (with its default roles and its creator as owner).
    pub const ORGANIZATION_CREATED: &str = "organization.created";
    /// An organization's name, slug, plan or settings changed.
    pub const ORGANIZATION_UPDATED: &str = "organization.updated";
    /// An organization was deleted.
    pub const ORGANIZATION_DELETED: &str = "organization.deleted";
    /// Missing default roles or permissions were installed in an existing organization.
    pub const DEFAULTS_INSTALLED: &str = "organization.defaults_installed";
    /// A user was invited.
    pub const MEMBER_INVITED: &str = "member.invited";
    /// An invitation was accepted.
    pub const MEMBER_JOINED: &str = "member.joined";
    /// An invitation was declined (the membership row is gone).
    pub const MEMBER_DECLINED: &str = "member.declined";
    /// A member's role changed.
    pub const MEMBER_ROLE_CHANGED: &str = "member.role_changed";
    /// A member was suspended.
    pub const MEMBER_SUSPENDED: &str = "member.suspended";
    /// A suspended member was reactivated.
    pub const MEMBER_REACTIVATED: &str = "member.reactivated";
    /// A member was removed.
    pub const MEMBER_REMOVED: &str = "member.removed";
    /// A custom role was created.
    pub const ROLE_CREATED: &str = "role.created";
    /// A custom role was deleted.
    pub const ROLE_DELETED: &str = "role.deleted";
    /// A permission was granted to a role.
    pub const PERMISSION_GRANTED: &str = "role.permission_granted";
    /// A permission was revoked from a role.
    pub const PERMISSION_REVOKED: &str = "role.permission_revoked";
    /// A custom permission key was created.
    pub const PERMISSION_CREATED: &str = "permission.created";
    /// An API key was issued.
    pub const API_KEY_ISSUED: &str = "api_key.issued";
    /// An API key was revoked.
    pub const API_KEY_REVOKED: &str = "api_key.revoked";
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_logs, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    /// Id (time-ordered).
    pub id: AuditLogId,
    /// The organization (NULL once the organization is deleted).
    #[diesel(column_name = organizationId)]
    pub organization_id: Option<OrganizationId>,
    /// The acting user, if a user acted (NULL once the user is deleted).
    #[diesel(column_name = userId)]
    pub user_id: Option<UserId>,
    /// `user` or `system`.
    #[diesel(column_name = actorType)]
    pub actor_type: Option<String>,
    /// What happened (see [`actions`]).
    pub action: String,
    /// The id of the row acted on.
    #[diesel(column_name = resourceId)]
    pub resource_id: Option<String>,
    /// The kind of row acted on (`organization`, `member`, `role`, ...).
    #[diesel(column_name = resourceType)]
    pub resource_type: Option<String>,
    /// A hash of the request that caused it, if the application passes one.
    #[diesel(column_name = requestHash)]
    pub request_hash: Option<String>,
    /// Details (before/after values, ids involved).
    pub metadata: Option<Value>,
    /// The client address, if the application passes one.
    pub ip: Option<String>,
    /// When (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for AuditEntry {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// An audit row to append.
#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = audit_logs)]
pub struct NewAuditEntry<'a> {
    /// What happened.
    pub action: &'a str,
    /// The kind of row acted on.
    #[diesel(column_name = resourceType)]
    pub resource_type: Option<&'a str>,
    /// The id of the row acted on.
    #[diesel(column_name = resourceId)]
    pub resource_id: Option<&'a str>,
    /// Details (JSON).
    pub metadata: Option<Value>,
    /// The client address.
    pub ip: Option<&'a str>,
    /// A hash of the request.
    #[diesel(column_name = requestHash)]
    pub request_hash: Option<&'a str>,
}

impl<'a> NewAuditEntry<'a> {
    /// An entry for `action` on the `resource_type` row `resource_id`.
    pub fn new(action: &'a str, resource_type: &'a str, resource_id: &'a str) -> Self {
        Self {
            action,
            resource_type: Some(resource_type),
            resource_id: Some(resource_id),
            ..Self::default()
        }
    }

    /// The same entry with `metadata`.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// Which audit rows to list (besides the organization, which the scope fixes).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    /// Rows at or after this time.
    pub since: Option<NaiveDateTime>,
    /// Rows before this time.
    pub until: Option<NaiveDateTime>,
    /// Only this action.
    pub action: Option<&'a str>,
}

impl AuditEntry {
    /// Appends an entry for the scope's organization and actor, in its own transaction
    /// (a savepoint when the caller is already in one: it commits or rolls back with the
    /// caller's change).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "audit entry", op = "append"))]
    pub async fn append(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        entry: &NewAuditEntry<'_>,
    ) -> Result<AuditEntry, IdentityError> {
        scope.require(keys::AUDIT_WRITE)?;
        InvalidData::check_fields([
            ("action", Some(entry.action)),
            ("resourceType", entry.resource_type),
            ("resourceId", entry.resource_id),
            ("ip", entry.ip),
            ("requestHash", entry.request_hash),
        ])?;
        if let Some(metadata) = &entry.metadata {
            InvalidData::check_json("metadata", metadata)?;
        }
        scope
            .transaction(conn, async |tx| record(tx, scope, entry).await)
            .await
    }

    /// The organization's audit rows, newest first; needs `audit:read`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "audit entry", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        filter: &AuditFilter<'_>,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, IdentityError> {
        scope.require(keys::AUDIT_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = audit_logs::table
                    .filter(audit_logs::organizationId.eq(scope.organization_id()))
                    .select(AuditEntry::as_select())
                    .into_boxed();
                if let Some(since) = filter.since {
                    query = query.filter(audit_logs::createdAt.ge(since));
                }
                if let Some(until) = filter.until {
                    query = query.filter(audit_logs::createdAt.lt(until));
                }
                if let Some(action) = filter.action {
                    query = query.filter(audit_logs::action.eq(action));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }
}

/// Writes one audit row inside the caller's transaction.
pub(crate) async fn record(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    entry: &NewAuditEntry<'_>,
) -> Result<AuditEntry, IdentityError> {
    let actor = scope.actor();
    Ok(diesel::insert_into(audit_logs::table)
        .values((
            audit_logs::id.eq(AuditLogId::generate()),
            audit_logs::organizationId.eq(scope.organization_id()),
            audit_logs::userId.eq(actor.user_id()),
            audit_logs::actorType.eq(actor.kind()),
            entry,
            audit_logs::createdAt.eq(time::now()),
        ))
        .returning(AuditEntry::as_returning())
        .get_result(tx)
        .await?)
}
