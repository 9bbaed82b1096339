//! The tenant scope: the one way repository code touches tenant-owned rows.

use diesel::sql_types::{Bool, Text};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};

use crate::ids::{OrganizationId, UserId};
use crate::permissions::{Denied, PermissionSet};

diesel::define_sql_function! {
    /// PostgreSQL's `set_config(name, value, is_local)`.
    fn set_config(name: Text, value: Text, is_local: Bool) -> Text;
}

diesel::define_sql_function! {
    /// PostgreSQL's `current_setting(name, missing_ok)`.
    fn current_setting(name: Text, missing_ok: Bool) -> Nullable<Text>;
}

/// The name of the transaction-local setting that carries the current organization
/// (what row-level security policies read).
pub const CURRENT_ORG_SETTING: &str = "app.current_org";

/// The name of the transaction-local setting that carries the acting user (empty for
/// system scopes): what the policies of user-owned rows read.
pub const CURRENT_USER_SETTING: &str = "app.current_user";

/// The work a scope's transaction runs: an async closure taking the connection, whose
/// future this trait names (`Fut`) so that bounds can ask it to be `Send`.
///
/// Implemented for every `async |conn| { ... }` closure (and every function returning a
/// future); callers never implement it. It exists because `AsyncFnOnce` gives no way to
/// bound its future on stable Rust, which made a generic helper around
/// [`TenantScope::transaction`] impossible to spawn on tokio.
pub trait TransactionWork<T, R>:
    AsyncFnOnce(T) -> R + FnOnce(T) -> <Self as TransactionWork<T, R>>::Fut
{
    /// The future `work(conn)` returns.
    type Fut: Future<Output = R>;
}

impl<F, T, Fut, R> TransactionWork<T, R> for F
where
    F: AsyncFnOnce(T) -> R + FnOnce(T) -> Fut,
    Fut: Future<Output = R>,
{
    type Fut = Fut;
}

/// Proof that the holder may act for one organization, and what it may do there.
///
/// A scope carries the organization, who acts (the [`Actor`]) and the actor's
/// [`PermissionSet`], captured when the scope was made. Every repository operation checks
/// its key against that set first ([`TenantScope::require`]), so a permission revoked later
/// takes effect at the next `authorize`.
///
/// There are two constructors, both easy to find in review: [`TenantScope::trusted_system`]
/// (every key; for jobs, the seed and the CLI) and [`TenantScope::for_member`] (an explicit
/// set; what `neonhub_identity::authorize` and `ApiKey::verify` build after their checks).
/// Applications obtain scopes from those two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    org: OrganizationId,
    actor: Actor,
    permissions: PermissionSet,
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
    /// A scope for trusted system code (jobs, seed, CLI) that has no user to authorize:
    /// it holds every key.
    pub fn trusted_system(org: OrganizationId) -> Self {
        Self {
            org,
            actor: Actor::System,
            permissions: PermissionSet::all(),
        }
    }

    /// A scope for `user` in `org` holding exactly `permissions`, for code that has just
    /// established them: `neonhub_identity::authorize` (the member's role),
    /// `ApiKey::verify` (the key's scopes within the member's role) and identity's flows on
    /// one's own membership (no key). Applications call those instead.
    pub fn for_member(org: OrganizationId, user: UserId, permissions: PermissionSet) -> Self {
        Self {
            org,
            actor: Actor::User(user),
            permissions,
        }
    }

    /// What this scope may do.
    pub fn permissions(&self) -> &PermissionSet {
        &self.permissions
    }

    /// `Ok` when the scope holds `key`, else [`Denied::MissingPermission`] naming it. Every
    /// public repository operation calls this before it touches the database.
    pub fn require(&self, key: &str) -> Result<(), Denied> {
        if self.permissions.contains(key) {
            return Ok(());
        }
        Err(Denied::MissingPermission {
            organization: self.org.clone(),
            // Only `trusted_system` scopes have no user, and they hold every key.
            user: self
                .actor
                .user_id()
                .cloned()
                .unwrap_or_else(|| UserId::from_string("system")),
            key: key.to_owned(),
        })
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
    /// returns `Ok`, rolls back when it returns `Err`.
    ///
    /// Nested inside another transaction it becomes a savepoint, and the enclosing
    /// transaction's `app.current_org` is restored when it ends (a transaction-local setting
    /// would otherwise survive `RELEASE SAVEPOINT` and leave the rest of an outer scope's
    /// transaction pointing at this organization).
    ///
    /// The returned future is `Send` (so it can be spawned on tokio) whenever `work`'s is,
    /// also in generic code: the [`TransactionWork`] bound names `work`'s future and asks
    /// it to be `Send`, as diesel-async's own `AsyncConnection::transaction` does.
    pub fn transaction<'a, 'conn, R, E, F>(
        &'a self,
        conn: &'conn mut AsyncPgConnection,
        work: F,
    ) -> impl Future<Output = Result<R, E>> + Send + use<'a, 'conn, R, E, F>
    where
        for<'r> F: TransactionWork<&'r mut AsyncPgConnection, Result<R, E>, Fut: Send> + Send + 'a,
        E: From<diesel::result::Error> + Send + 'a,
        R: Send + 'a,
    {
        self.run(conn, work)
    }

    async fn run<'a, R, E, F>(&'a self, conn: &mut AsyncPgConnection, work: F) -> Result<R, E>
    where
        for<'r> F: TransactionWork<&'r mut AsyncPgConnection, Result<R, E>, Fut: Send> + Send + 'a,
        E: From<diesel::result::Error> + Send + 'a,
        R: Send + 'a,
    {
        let nested = AnsiTransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()?
            .is_some();
        AnsiTransactionManager::begin_transaction(conn).await?;
        let (outcome, outer) = match self.apply(conn, nested).await {
            Ok(outer) => (work(conn).await, outer),
            Err(e) => (Err(e.into()), None),
        };
        let outcome = match (outcome, outer) {
            (Ok(value), Some(outer)) => Self::restore(conn, &outer).await.map(|()| value),
            (outcome, _) => outcome,
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
                // Rolling back to the savepoint also undoes this scope's setting.
                AnsiTransactionManager::rollback_transaction(conn).await?;
                Err(e)
            }
        }
    }

    /// Puts the enclosing transaction's organization back (inside the savepoint, so the
    /// value survives its release).
    async fn restore<E: From<diesel::result::Error>>(
        conn: &mut AsyncPgConnection,
        (org, user): &(String, String),
    ) -> Result<(), E> {
        diesel::select((
            set_config(CURRENT_ORG_SETTING, org.as_str(), true),
            set_config(CURRENT_USER_SETTING, user.as_str(), true),
        ))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Sets `app.current_org` and `app.current_user`; when nested, also returns the values
    /// they replaced (so they can be restored), read in the same statement.
    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        nested: bool,
    ) -> diesel::QueryResult<Option<(String, String)>> {
        let user = self.actor.user_id().map_or("", UserId::as_str);
        // Typed queries, so diesel-async keeps them prepared: one round trip per scope.
        if !nested {
            diesel::select((
                set_config(CURRENT_ORG_SETTING, self.org.as_str(), true),
                set_config(CURRENT_USER_SETTING, user, true),
            ))
            .execute(conn)
            .await?;
            return Ok(None);
        }
        // The target list is evaluated left to right: the old values, then the new ones set.
        let (org, old_user, _, _): (Option<String>, Option<String>, String, String) =
            diesel::select((
                current_setting(CURRENT_ORG_SETTING, true),
                current_setting(CURRENT_USER_SETTING, true),
                set_config(CURRENT_ORG_SETTING, self.org.as_str(), true),
                set_config(CURRENT_USER_SETTING, user, true),
            ))
            .get_result(conn)
            .await?;
        Ok(Some((
            org.unwrap_or_default(),
            old_user.unwrap_or_default(),
        )))
    }
}

/// Acting as one user outside any organization: what a user's own rows (their user row,
/// accounts, sessions, settings, personal feedback) need under row-level security.
///
/// Made with [`UserScope::trusted`] by code that has authenticated the user (a session
/// looked up by its token, a password or OAuth check): as easy to find in review as
/// [`TenantScope::trusted_system`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserScope {
    user: UserId,
}

impl UserScope {
    /// A scope acting as `user`, for code that has authenticated them.
    pub fn trusted(user: UserId) -> Self {
        Self { user }
    }

    /// The user this scope acts as.
    pub fn user_id(&self) -> &UserId {
        &self.user
    }

    /// Runs `work` in a transaction with `app.current_user` set to this user and no
    /// organization (`app.current_org` empty); nested in another transaction it becomes a
    /// savepoint and restores the enclosing settings when it ends, as
    /// [`TenantScope::transaction`] does.
    // Not an `async fn`: the declared `+ Send` is what generic callers rely on.
    #[allow(clippy::manual_async_fn)]
    pub fn transaction<'a, 'conn, R, E, F>(
        &'a self,
        conn: &'conn mut AsyncPgConnection,
        work: F,
    ) -> impl Future<Output = Result<R, E>> + Send + use<'a, 'conn, R, E, F>
    where
        for<'r> F: TransactionWork<&'r mut AsyncPgConnection, Result<R, E>, Fut: Send> + Send + 'a,
        E: From<diesel::result::Error> + Send + 'a,
        R: Send + 'a,
    {
        async move {
            // The same machinery as a tenant scope of no organization acting as this user;
            // it holds no permission key, so no organization's repository accepts it.
            let as_tenant = TenantScope {
                org: OrganizationId::from_string(""),
                actor: Actor::User(self.user.clone()),
                permissions: PermissionSet::none(),
            };
            as_tenant.run(conn, work).await
        }
    }
}
