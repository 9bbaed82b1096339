//! A throwaway pgbouncer in transaction mode in front of the test server.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{as_server_user, chown_to_server_user};

/// The environment variable naming the pgbouncer binary (1.21+); `scripts/test.sh` sets it.
pub const PGBOUNCER_VAR: &str = "NEONHUB_PGBOUNCER";

/// A pgbouncer (transaction pooling) on a free port, forwarding every database to the
/// test server; stopped on drop.
pub struct TestPgBouncer {
    dir: PathBuf,
    port: u16,
}

impl TestPgBouncer {
    /// Starts one with the given `max_prepared_statements` (0: no prepared-statement support).
    ///
    /// # Panics
    /// When no pgbouncer is available (`NEONHUB_PGBOUNCER` unset and none on PATH) or it
    /// does not start.
    pub fn start(max_prepared_statements: u32) -> Self {
        let binary = std::env::var(PGBOUNCER_VAR).unwrap_or_else(|_| "pgbouncer".to_owned());
        Self::start_binary(std::path::Path::new(&binary), max_prepared_statements)
    }

    /// [`TestPgBouncer::start`] with this pgbouncer binary. When the tests run as root,
    /// pgbouncer runs as the `postgres` user (it refuses root), from a copy in its own
    /// directory: the original may lie in a checkout that user cannot enter (a 0700 home).
    ///
    /// # Panics
    /// As [`TestPgBouncer::start`].
    pub fn start_binary(binary: &std::path::Path, max_prepared_statements: u32) -> Self {
        Self::start_with(binary, max_prepared_statements, 4)
    }

    /// [`TestPgBouncer::start`] with at most `pool_size` server connections per database
    /// and user (`default_pool_size`): 2 makes every client share two sessions.
    ///
    /// # Panics
    /// As [`TestPgBouncer::start`].
    pub fn start_with_pool(max_prepared_statements: u32, pool_size: u32) -> Self {
        let binary = std::env::var(PGBOUNCER_VAR).unwrap_or_else(|_| "pgbouncer".to_owned());
        Self::start_with(
            std::path::Path::new(&binary),
            max_prepared_statements,
            pool_size,
        )
    }

    fn start_with(binary: &std::path::Path, max_prepared_statements: u32, pool_size: u32) -> Self {
        let server = crate::server_url();
        let config = server.config();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let server_port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres").to_owned();
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("nh-pgbouncer-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Without a password (trust), each client's user logs in to the server as itself,
        // so the application role stays the application role behind the pooler; with one,
        // every client is the URL's user.
        let user_part = if password.is_empty() {
            String::new()
        } else {
            format!(" user={user} password={password}")
        };
        let ini = format!(
            "[databases]\n* = host={host} port={server_port}{user_part}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\n\
             auth_file = {dir}/userlist.txt\npool_mode = transaction\nmax_prepared_statements = {max_prepared_statements}\n\
             default_pool_size = {pool_size}\nmin_pool_size = 0\nserver_round_robin = 0\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {dir}/pgbouncer.log\npidfile = {dir}/pgbouncer.pid\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
        std::fs::write(
            dir.join("userlist.txt"),
            format!("\"{user}\" \"\"\n\"{}\" \"\"\n", crate::APP_ROLE),
        )
        .unwrap();
        let binary = if crate::cluster::is_root() && binary.components().count() > 1 {
            let copy = dir.join("pgbouncer");
            std::fs::copy(binary, &copy).unwrap_or_else(|e| {
                panic!(
                    "cannot copy {} ({e}): run the tests through scripts/test.sh",
                    binary.display()
                )
            });
            copy
        } else {
            binary.to_path_buf()
        };
        chown_to_server_user(&dir);
        let out = as_server_user(
            Command::new(&binary)
                .arg("-d")
                .arg(dir.join("pgbouncer.ini")),
        )
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run the tests through scripts/test.sh",
                binary.display()
            )
        });
        assert!(
            out.status.success(),
            "pgbouncer did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pgbouncer is not listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { dir, port }
    }

    /// A URL through this pooler to database `dbname` of the test server.
    pub fn url(&self, dbname: &str) -> String {
        let user = crate::server_url()
            .config()
            .get_user()
            .unwrap_or("postgres")
            .to_owned();
        format!("postgres://{user}@127.0.0.1:{}/{dbname}", self.port)
    }
}

impl Drop for TestPgBouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
