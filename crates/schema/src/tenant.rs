//! The tenant scope: the one way repository code touches tenant-owned rows.

use diesel::sql_types::{Bool, Text};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};

use crate::ids::{OrganizationId, UserId};

diesel::define_sql_function! {
    /// PostgreSQL's `set_config(name, value, is_local)`.
    fn set_config(name: Text, value: Text, is_local: Bool) -> Text;
}

/// The name of the transaction-local setting that carries the current organization
/// (what row-level security policies read).
pub const CURRENT_ORG_SETTING: &str = "app.current_org";

/// Proof that the holder may act for one organization.
///
/// There is no constructor from a bare id except [`TenantScope::trusted_system`], which
/// is meant for jobs, the seed and the CLI and is easy to find in review; applications
/// obtain a scope from `neonhub_identity::authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    org: OrganizationId,
    actor: Actor,
}

/// Who acts through a scope: recorded in the audit log, and what identity's privileged
/// operations re-check permissions for inside their own transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// Trusted system code (jobs, seed, CLI): no user, every permission.
    System,
    /// A user whose membership was checked (by `neonhub_identity::authorize`).
    User(UserId),
}

impl Actor {
    /// The user, if a user acts.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            Actor::System => None,
            Actor::User(user) => Some(user),
        }
    }

    /// `"system"` or `"user"`, as the audit log's `actorType` records it.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::System => "system",
            Actor::User(_) => "user",
        }
    }
}

impl TenantScope {
    /// A scope for trusted system code (jobs, seed, CLI) that has no user to authorize.
    pub fn trusted_system(org: OrganizationId) -> Self {
        Self {
            org,
            actor: Actor::System,
        }
    }

    /// A scope for `user` in `org`, for code that has just checked the user's active
    /// membership and permission itself (`neonhub_identity::authorize` and the identity
    /// operations a user performs on their own membership). As greppable as
    /// [`TenantScope::trusted_system`]; applications call `authorize` instead.
    pub fn trusted_user(org: OrganizationId, user: UserId) -> Self {
        Self {
            org,
            actor: Actor::User(user),
        }
    }

    /// Who acts through this scope.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The organization this scope acts for.
    pub fn organization_id(&self) -> &OrganizationId {
        &self.org
    }

    /// Runs `work` in a transaction with `app.current_org` set to this organization
    /// (`set_config(..., true)`: gone when the transaction ends). Commits when `work`
    /// returns `Ok`, rolls back when it returns `Err`. Nested inside another transaction it
    /// becomes a savepoint.
    pub async fn transaction<R, E, F>(&self, conn: &mut AsyncPgConnection, work: F) -> Result<R, E>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<R, E>,
        E: From<diesel::result::Error>,
    {
        AnsiTransactionManager::begin_transaction(conn).await?;
        let outcome = match self.apply(conn).await {
            Ok(()) => work(conn).await,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(value) => match AnsiTransactionManager::commit_transaction(conn).await {
                Ok(()) => Ok(value),
                Err(commit_error) => {
                    // A failed COMMIT leaves the transaction to roll back; report the commit error.
                    let _ = AnsiTransactionManager::rollback_transaction(conn).await;
                    Err(commit_error.into())
                }
            },
            Err(e) => {
                AnsiTransactionManager::rollback_transaction(conn).await?;
                Err(e)
            }
        }
    }

    async fn apply(&self, conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
        // A typed query, so diesel-async keeps it prepared: one round trip per scope.
        diesel::select(set_config(CURRENT_ORG_SETTING, self.org.as_str(), true))
            .execute(conn)
            .await
            .map(drop)
    }
}
