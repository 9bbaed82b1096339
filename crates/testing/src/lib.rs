#![doc = include_str!("../README.md")]

mod cluster;
pub mod fixtures;
mod pgbouncer;
pub mod source;
pub use cluster::{CLUSTER_PASSWORD, TestCa, TestCluster, TestStandby};
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

/// The environment variable naming a transaction-mode pooler (pgbouncer) in front of the
/// test server, for running a suite the way a service on Neon runs: when it is set,
/// [`test_connection`] and [`TestDatabase::connect_as_app`] log in to the pooler as
/// [`APP_ROLE`] (no `SET ROLE`), every repository transaction commits, and owner-side work
/// ([`owner_do`], [`as_owner`]) goes over a direct connection of its own. Only the host,
/// port and TLS settings of its URL are used. `scripts/test.sh` sets it for its pooled run.
pub const TEST_POOLER_URL_VAR: &str = "NEONHUB_TEST_POOLER_URL";

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

/// The pooler the tests run through ([`TEST_POOLER_URL_VAR`]), if any.
///
/// # Panics
/// When the variable is set but malformed.
pub fn pooler_url() -> Option<DatabaseUrl> {
    let url = std::env::var(TEST_POOLER_URL_VAR).ok()?;
    Some(DatabaseUrl::parse(&url).unwrap_or_else(|e| panic!("{TEST_POOLER_URL_VAR}: {e}")))
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
        Self::create("nh_t", &format!("TEMPLATE \"{}\"", template_name())).await
    }

    /// An empty database (from `template0`: no extensions, no tables).
    pub async fn empty() -> Self {
        Self::create("nh_t", "TEMPLATE template0").await
    }

    /// Creates a database named `{prefix}_{hash}_{pid}_{n}`: the process id in the name lets
    /// a later run drop what a killed one left behind ([`sweep_abandoned`]).
    async fn create(prefix: &str, template_clause: &str) -> Self {
        let admin = server_url();
        let name = format!(
            "{prefix}_{}_{}_{}",
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

    /// The URL the application role ([`APP_ROLE`]) logs in to this database with: through
    /// the pooler when the tests run through one ([`TEST_POOLER_URL_VAR`]), else directly.
    pub fn app_url(&self) -> DatabaseUrl {
        let password = neonhub_schema::Secret::new(APP_ROLE_PASSWORD.to_owned());
        pooler_url()
            .unwrap_or_else(server_url)
            .with_user(APP_ROLE, Some(&password))
            .with_dbname(&self.name)
    }

    /// A connection acting as the application role ([`APP_ROLE`]), subject to row-level
    /// security: what repository tests that need their own database and several
    /// connections (races, locks) use. It logs in as that role through the pooler when the
    /// tests run through one, else it is an owner's session that did `SET ROLE`.
    pub async fn connect_as_app(&self) -> AsyncPgConnection {
        if pooler_url().is_some() {
            return self
                .app_url()
                .connect()
                .await
                .unwrap_or_else(|e| panic!("connecting to {} as {APP_ROLE}: {e}", self.name));
        }
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
///
/// Through a pooler ([`TEST_POOLER_URL_VAR`]) one transaction held for the whole test
/// would pin a server connection and prove nothing about pooling, so there the test gets a
/// database of its own instead (a clone of the template, dropped by a later run's sweep),
/// logs in to the pooler as the application role, and every repository call commits.
pub async fn test_connection() -> AsyncPgConnection {
    ensure_template().await;
    install_test_suppression_key();
    if pooler_url().is_some() {
        let db = TestDatabase::create("nh_p", &format!("TEMPLATE \"{}\"", template_name())).await;
        let conn = db.connect_as_app().await;
        // Dropping it here would drop the database under the connection; the name carries
        // this process's id, so the next run's sweep drops it.
        std::mem::forget(db);
        return conn;
    }
    let mut conn = owner_test_connection().await;
    conn.batch_execute(&format!("SET LOCAL ROLE {APP_ROLE}"))
        .await
        .expect("act as the application role");
    conn
}

/// A connection to the shared migrated database as the owner, inside a transaction that is
/// never committed, in every mode (direct, as system work runs in production): for tests of
/// system code that the application role may not run (metric events, session cleanup).
pub async fn owner_test_connection() -> AsyncPgConnection {
    ensure_template().await;
    install_test_suppression_key();
    let mut conn = shared_url()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("shared test database: {e}"));
    conn.begin_test_transaction()
        .await
        .expect("begin test transaction");
    conn
}

/// Runs `work` as the session's own role (the owner: system work, inspection of rows the
/// application role cannot see), then goes back to the role the connection acted as.
pub async fn owner_do<R>(
    conn: &mut AsyncPgConnection,
    work: impl AsyncFnOnce(&mut AsyncPgConnection) -> R,
) -> R {
    let acting = acting_role(conn).await;
    if let Some(mut owner) = acting.owner_side().await {
        return work(&mut owner).await;
    }
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
    let acting = acting_role(conn).await;
    if let Some(mut owner) = acting.owner_side().await {
        if let Err(e) = owner.batch_execute(sql).await {
            panic!("{sql}: {e}");
        }
        return;
    }
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

/// Who a test connection is: acting as another role than it logged in as (`n` > 0), and
/// whether it logged in as the application role (then it cannot become the owner, and
/// owner work needs a connection of its own to the same database).
#[derive(QueryableByName)]
struct Acting {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    app_login: bool,
    #[diesel(sql_type = Text)]
    database: String,
}

impl Acting {
    /// A direct owner connection to the same database when the connection logged in as the
    /// application role.
    async fn owner_side(&self) -> Option<AsyncPgConnection> {
        if !self.app_login {
            return None;
        }
        Some(
            server_url()
                .with_dbname(&self.database)
                .connect()
                .await
                .unwrap_or_else(|e| panic!("owner connection to {}: {e}", self.database)),
        )
    }
}

async fn acting_role(conn: &mut AsyncPgConnection) -> Acting {
    sql_query(
        "SELECT (current_user <> session_user)::int::int8 AS n, session_user = $1 AS app_login, \
                current_database()::text AS database",
    )
    .bind::<Text, _>(APP_ROLE)
    .get_result(conn)
    .await
    .expect("current role")
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
            sweep_abandoned(&mut conn).await;
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

/// Drops the test databases of processes that no longer run: a killed test leaves its
/// [`TestDatabase`] behind, and [`test_connection`] through a pooler leaves its own on
/// purpose. Linux only (it asks `/proc` whether the process lives); elsewhere it keeps all.
async fn sweep_abandoned(conn: &mut AsyncPgConnection) {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let names: Vec<Name> = sql_query(
        r"SELECT datname::text AS datname FROM pg_database
          WHERE datname LIKE 'nh\_t\_%' OR datname LIKE 'nh\_p\_%'",
    )
    .load(conn)
    .await
    .expect("list test databases");
    for Name { datname } in names {
        // nh_{t|p}_{hash}_{pid}_{n}
        let Some(pid) = datname
            .split('_')
            .nth(3)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = conn
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)"
                ))
                .await;
        }
    }
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
