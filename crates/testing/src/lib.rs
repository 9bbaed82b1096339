#![doc = include_str!("../README.md")]

mod cluster;
pub mod fixtures;
mod pgbouncer;
pub mod source;
pub use cluster::{CLUSTER_PASSWORD, TestCa, TestCluster};
pub use pgbouncer::{PGBOUNCER_VAR, TestPgBouncer};

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_schema::DatabaseUrl;
use neonhub_schema::migrate::{self, MIGRATIONS_HASH};
use tokio::sync::OnceCell;

/// The environment variable naming the test server (an admin URL: it creates databases).
pub const TEST_DATABASE_URL_VAR: &str = "NEONHUB_TEST_DATABASE_URL";

/// What the template holds beyond the migrations (2: the application role's grants);
/// part of its name, so a template built by an older harness is never reused.
const TEMPLATE_VERSION: u32 = 2;

/// Advisory lock key under which templates are built (distinct from the migration lock).
const TEMPLATE_LOCK_KEY: i64 = 0x4e48_5f54_4d50_4c54; // "NH_TMPLT"

static TEMPLATE: OnceCell<()> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The test server's URL, from [`TEST_DATABASE_URL_VAR`].
///
/// # Panics
/// When the variable is unset or malformed: tests must fail, not skip, without a server.
pub fn server_url() -> DatabaseUrl {
    let url = std::env::var(TEST_DATABASE_URL_VAR).unwrap_or_else(|_| {
        panic!("{TEST_DATABASE_URL_VAR} is not set: run the tests through scripts/test.sh, which provisions PostgreSQL with pgvector")
    });
    DatabaseUrl::parse(&url).unwrap_or_else(|e| panic!("{TEST_DATABASE_URL_VAR}: {e}"))
}

/// The test server's URL as text with another database name (for child processes).
pub fn url_for_database(dbname: &str) -> String {
    let url = std::env::var(TEST_DATABASE_URL_VAR).unwrap_or_default();
    let Some(scheme_end) = url.find("://") else {
        // key=value form: append, later keys win.
        return format!("{url} dbname={dbname}");
    };
    let after = scheme_end + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url.as_str(), ""),
    };
    let authority_end = base[after..].find('/').map_or(base.len(), |i| after + i);
    format!("{}/{dbname}{query}", &base[..authority_end])
}

/// Name of the migrated template for this build's migrations.
pub fn template_name() -> String {
    format!("nh_tpl_{MIGRATIONS_HASH}_{TEMPLATE_VERSION}")
}

/// The URL of the shared database [`test_connection`] works in (as the server's admin):
/// for operations that open connections of their own (a COPY import). What a test wrote in
/// its rolled-back transaction is not visible there.
pub fn shared_url() -> DatabaseUrl {
    server_url().with_dbname(&shared_name())
}

/// Name of the shared database used by [`test_connection`].
fn shared_name() -> String {
    format!("nh_shared_{MIGRATIONS_HASH}_{TEMPLATE_VERSION}")
}

/// A database that belongs to one test and is dropped when the value is dropped.
pub struct TestDatabase {
    name: String,
    url: DatabaseUrl,
    admin: DatabaseUrl,
}

impl TestDatabase {
    /// A fresh clone of the migrated template.
    pub async fn migrated() -> Self {
        ensure_template().await;
        install_test_suppression_key();
        Self::create(&format!("TEMPLATE \"{}\"", template_name())).await
    }

    /// An empty database (from `template0`: no extensions, no tables).
    pub async fn empty() -> Self {
        Self::create("TEMPLATE template0").await
    }

    async fn create(template_clause: &str) -> Self {
        let admin = server_url();
        let name = format!(
            "nh_t_{}_{}_{}",
            &MIGRATIONS_HASH[..8],
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = admin
            .connect()
            .await
            .unwrap_or_else(|e| panic!("test server: {e}"));
        create_database(&mut conn, &name, template_clause).await;
        let url = admin.with_dbname(&name);
        Self { name, url, admin }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL as text, for child processes such as the `neonhub` binary.
    pub fn url_string(&self) -> String {
        url_for_database(&self.name)
    }

    /// The database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A new connection to the database.
    pub async fn connect(&self) -> AsyncPgConnection {
        self.url
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.name))
    }

    /// A connection acting as the application role ([`APP_ROLE`], `SET ROLE` for the whole
    /// session), subject to row-level security: what repository tests that need their own
    /// database and several connections (races, locks) use.
    pub async fn connect_as_app(&self) -> AsyncPgConnection {
        let mut conn = self.connect().await;
        conn.batch_execute(&format!("SET ROLE {APP_ROLE}"))
            .await
            .expect("act as the application role");
        conn
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await; a short-lived thread with its own runtime does the DROP, so it
        // works whichever runtime (or none) the test used.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = admin.connect().await.ok()?;
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// The application role repository tests run as: LOGIN, subject to row-level security
/// (made with `neonhub_schema::roles::ensure_app_role` in every template).
pub const APP_ROLE: &str = "nh_test_app";
/// Its password (for servers with password auth; trust auth ignores it).
pub const APP_ROLE_PASSWORD: &str = "nh-test-app";

/// A connection to the shared migrated database inside a transaction that is never
/// committed: everything the test writes vanishes with the connection. It acts as the
/// application role ([`APP_ROLE`], `SET LOCAL ROLE`), so row-level security judges every
/// query; fixtures and raw setup that must bypass it go through [`as_owner`].
pub async fn test_connection() -> AsyncPgConnection {
    ensure_template().await;
    install_test_suppression_key();
    let mut conn = server_url()
        .with_dbname(&shared_name())
        .connect()
        .await
        .unwrap_or_else(|e| panic!("shared test database: {e}"));
    conn.begin_test_transaction()
        .await
        .expect("begin test transaction");
    conn.batch_execute(&format!("SET LOCAL ROLE {APP_ROLE}"))
        .await
        .expect("act as the application role");
    conn
}

/// Runs `work` as the session's own role (the owner: system work, inspection of rows the
/// application role cannot see), then goes back to the role the connection acted as.
pub async fn owner_do<R>(
    conn: &mut AsyncPgConnection,
    work: impl AsyncFnOnce(&mut AsyncPgConnection) -> R,
) -> R {
    let acting: Exists = sql_query("SELECT (current_user <> session_user)::int::int8 AS n")
        .get_result(conn)
        .await
        .expect("current role");
    conn.batch_execute("RESET ROLE").await.expect("reset role");
    let result = work(conn).await;
    if acting.n > 0 {
        // After a failed statement the transaction is aborted and SET would fail too; the
        // test's transaction is rolled back either way.
        let _ = act_as_app_again(conn).await;
    }
    result
}

/// Goes back to the application role: for the transaction in a test transaction
/// ([`test_connection`]), for the session outside one ([`TestDatabase::connect_as_app`]),
/// where `SET LOCAL` would be a no-op that left the connection acting as the owner.
async fn act_as_app_again(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    use diesel_async::TransactionManager;
    let in_transaction =
        <AsyncPgConnection as diesel_async::AsyncConnection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()?
            .is_some();
    let set = if in_transaction {
        "SET LOCAL ROLE"
    } else {
        "SET ROLE"
    };
    conn.batch_execute(&format!("{set} {APP_ROLE}")).await
}

/// Runs raw `sql` as the session's own role (the owner), then goes back to the role the
/// connection acted as: for test setup that writes around the repositories.
pub async fn as_owner(conn: &mut AsyncPgConnection, sql: &str) {
    let acting: Exists = sql_query("SELECT (current_user <> session_user)::int::int8 AS n")
        .get_result(conn)
        .await
        .expect("current role");
    conn.batch_execute("RESET ROLE").await.expect("reset role");
    if let Err(e) = conn.batch_execute(sql).await {
        panic!("{sql}: {e}");
    }
    if acting.n > 0 {
        act_as_app_again(conn)
            .await
            .expect("act as the application role again");
    }
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Builds the template (and the shared database) once per migration set, whichever
/// process gets there first; the others wait on the advisory lock and find it built.
async fn ensure_template() {
    TEMPLATE
        .get_or_init(|| async {
            let admin = server_url();
            let mut conn = admin
                .connect()
                .await
                .unwrap_or_else(|e| panic!("test server: {e}"));
            sql_query("SELECT pg_advisory_lock($1)")
                .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
                .execute(&mut conn)
                .await
                .expect("template lock");
            let template = template_name();
            if !database_exists(&mut conn, &template).await {
                // Build under a scratch name and rename when complete, so a crash midway
                // never leaves a half-migrated template under the real name.
                let building = format!("{template}_building");
                conn.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
                ))
                .await
                .unwrap();
                create_database(&mut conn, &building, "TEMPLATE template0").await;
                migrate::run_pending(&admin.with_dbname(&building))
                    .await
                    .unwrap_or_else(|e| panic!("migrating the test template: {e}"));
                // The application role and its grants, inherited by every clone.
                let mut template_conn = admin
                    .with_dbname(&building)
                    .connect()
                    .await
                    .unwrap_or_else(|e| panic!("test template: {e}"));
                let password = neonhub_schema::Secret::new(APP_ROLE_PASSWORD.to_owned());
                neonhub_schema::roles::ensure_app_role(
                    &mut template_conn,
                    APP_ROLE,
                    Some(&password),
                )
                .await
                .unwrap_or_else(|e| panic!("test application role: {e}"));
                drop(template_conn);
                retry_busy(
                    &mut conn,
                    &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
                )
                .await;
                conn.batch_execute(&format!(
                    "ALTER DATABASE \"{template}\" WITH IS_TEMPLATE true"
                ))
                .await
                .unwrap();
            }
            let shared = shared_name();
            if !database_exists(&mut conn, &shared).await {
                create_database(&mut conn, &shared, &format!("TEMPLATE \"{template}\"")).await;
            }
            sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
                .execute(&mut conn)
                .await
                .expect("template unlock");
        })
        .await;
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    let row: Exists = sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result(conn)
        .await
        .expect("pg_database");
    row.n > 0
}

async fn create_database(conn: &mut AsyncPgConnection, name: &str, template_clause: &str) {
    retry_busy(
        conn,
        &format!("CREATE DATABASE \"{name}\" {template_clause}"),
    )
    .await;
}

/// Runs DDL that fails while another session is briefly connected to the database involved
/// (a connection that is closing, a concurrent clone of the same template).
async fn retry_busy(conn: &mut AsyncPgConnection, sql: &str) {
    let mut attempt = 0;
    loop {
        match conn.batch_execute(sql).await {
            Ok(()) => return,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// A fresh hashing key set of one random key (id `test`), for running suppression code
/// under [`neonhub_schema::seal::with_hash_keys`] (a key other than the process's).
pub fn suppression_keys() -> std::sync::Arc<neonhub_schema::seal::HashKeys> {
    let spec = format!("test:{}", neonhub_schema::seal::SecretKeys::generate_key());
    std::sync::Arc::new(neonhub_schema::seal::HashKeys::parse(&spec).expect("a generated key"))
}

/// Installs a random process-wide suppression key once (unless `NEONHUB_SUPPRESSION_KEY`
/// is set), so CRM code that hashes identities works in any test that has a test database
/// or connection; a test of the missing key runs its code under `with_hash_keys(None, ..)`.
pub fn install_test_suppression_key() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(neonhub_schema::seal::SUPPRESSION_KEY_ENV).is_none() {
            let spec = format!("test:{}", neonhub_schema::seal::SecretKeys::generate_key());
            neonhub_schema::seal::install_hash_keys(
                neonhub_schema::seal::HashKeys::parse(&spec).expect("a generated key"),
            );
        }
    });
}

/// A fresh key set of one random key (id `test`), for running sealing code under
/// [`neonhub_schema::seal::with_keys`] without touching the environment.
pub fn secret_keys() -> std::sync::Arc<neonhub_schema::seal::SecretKeys> {
    let spec = format!("test:{}", neonhub_schema::seal::SecretKeys::generate_key());
    std::sync::Arc::new(neonhub_schema::seal::SecretKeys::parse(&spec).expect("a generated key"))
}
