//! The application role: the login a service connects as, subject to row-level security.
//!
//! The schema's owner (who runs migrations) and superusers bypass row-level security, so a
//! service connecting as either would be isolated by the library's discipline alone.
//! [`ensure_app_role`] makes a role that cannot bypass it and grants it exactly what the
//! repositories need; [`RlsStatus`] says whether a connection is subject to it.

use diesel::sql_types::{Bool, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::Secret;

/// Why the application role could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppRoleError {
    /// A role name that is not a plain lower-case identifier.
    #[error(
        "invalid role name {0:?}: 1 to 63 lower-case letters, digits and _, not starting with a digit"
    )]
    InvalidName(String),
    /// The role exists with a privilege that defeats row-level security.
    #[error(
        "role {role} exists and {reason}: it would bypass row-level security; choose another name or remove that first"
    )]
    Unsafe {
        /// The role.
        role: String,
        /// What it has (superuser, BYPASSRLS, ownership of tables).
        reason: String,
    },
    /// A statement failed.
    #[error("creating the application role failed: {0}")]
    Database(#[from] diesel::result::Error),
}

/// What [`ensure_app_role`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppRoleReport {
    /// The role.
    pub role: String,
    /// Whether this run created it (a second run finds it).
    pub created: bool,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[derive(QueryableByName)]
struct Existing {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = Bool)]
    owns_tables: bool,
}

/// Creates the LOGIN role `name` if missing (no SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE,
/// no ownership) and grants it DML on the schema's tables, sequences, and the same on what
/// later migrations create; the migration table is read-only to it. Run as the schema's
/// owner on the direct URL. Idempotent: a second run grants nothing new. A `password`
/// is set (again) when given; it is never printed.
pub async fn ensure_app_role(
    conn: &mut AsyncPgConnection,
    name: &str,
    password: Option<&Secret>,
) -> Result<AppRoleReport, AppRoleError> {
    if !valid_name(name) {
        return Err(AppRoleError::InvalidName(name.to_owned()));
    }
    let existing: Option<Existing> = sql_query(
        "SELECT r.rolsuper, r.rolbypassrls,
                EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'public' AND t.tableowner = r.rolname) AS owns_tables
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind::<Text, _>(name)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(|e| match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    })?;
    if let Some(role) = &existing {
        let reason = [
            (role.rolsuper, "is a superuser"),
            (role.rolbypassrls, "has BYPASSRLS"),
            (role.owns_tables, "owns tables of the schema"),
        ]
        .iter()
        .filter(|(has, _)| *has)
        .map(|(_, what)| *what)
        .collect::<Vec<_>>()
        .join(", ");
        if !reason.is_empty() {
            return Err(AppRoleError::Unsafe {
                role: name.to_owned(),
                reason,
            });
        }
    }
    // The name is a checked plain identifier, so quoting it is enough.
    let role = format!("\"{name}\"");
    if existing.is_none() {
        conn.batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION"
        ))
        .await?;
    }
    if let Some(password) = password {
        // A literal, not a parameter: utility statements take none. Quotes are doubled.
        let literal = password.expose().replace('\'', "''");
        conn.batch_execute(&format!("ALTER ROLE {role} PASSWORD '{literal}'"))
            .await?;
    }
    conn.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
         DO $$ BEGIN
           IF to_regclass('public.__diesel_schema_migrations') IS NOT NULL THEN
             REVOKE INSERT, UPDATE, DELETE ON public.__diesel_schema_migrations FROM \"{name}\";
           END IF;
           -- Derived from chunks by their triggers (owner's rights), never written directly.
           IF to_regclass('public.chunk_search_vectors') IS NOT NULL THEN
             REVOKE INSERT, UPDATE, DELETE ON public.chunk_search_vectors FROM \"{name}\";
           END IF;
         END $$;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};"
    ))
    .await?;
    // The narrow lookups that come before a scope (`nh_*`, SECURITY DEFINER): each by name,
    // so no other function of the schema is granted beyond what PUBLIC has.
    conn.batch_execute(&format!(
        "DO $$ DECLARE f regprocedure; BEGIN
           FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'public' AND p.proname LIKE 'nh\\_%' LOOP
             EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, '{name}');
           END LOOP;
         END $$;"
    ))
    .await?;
    Ok(AppRoleReport {
        role: name.to_owned(),
        created: existing.is_none(),
    })
}

/// Whether the connected role is subject to row-level security, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RlsStatus {
    /// The connected role.
    pub role: String,
    /// `None` when the role is subject to row-level security; otherwise why it bypasses it
    /// (superuser, BYPASSRLS, owner of the schema's tables).
    pub bypass: Option<String>,
}

#[derive(QueryableByName)]
struct Current {
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = Bool)]
    owns_tables: bool,
}

impl RlsStatus {
    /// Reads it for the role `conn` is connected as.
    pub async fn read(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Self> {
        let c: Current = sql_query(
            "SELECT r.rolname::text AS role, r.rolsuper, r.rolbypassrls,
                    EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'public' AND t.tableowner = r.rolname) AS owns_tables
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .get_result(conn)
        .await?;
        let reasons: Vec<&str> = [
            (c.rolsuper, "superuser"),
            (c.rolbypassrls, "BYPASSRLS"),
            (c.owns_tables, "owner of the schema's tables"),
        ]
        .iter()
        .filter(|(has, _)| *has)
        .map(|(_, what)| *what)
        .collect();
        Ok(Self {
            role: c.role,
            bypass: (!reasons.is_empty()).then(|| reasons.join(", ")),
        })
    }

    /// Whether the role is subject to row-level security.
    pub fn enforced(&self) -> bool {
        self.bypass.is_none()
    }
}
