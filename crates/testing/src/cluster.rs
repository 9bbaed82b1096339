//! A throwaway PostgreSQL cluster, for tests that need server settings the shared test
//! server does not have (TLS on or off, password authentication).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The password of the `postgres` user in every [`TestCluster`].
pub const CLUSTER_PASSWORD: &str = "nh-cluster-secret";

/// A cluster started from the system's PostgreSQL binaries on a free port, stopped and
/// deleted on drop. TCP connections need the password; TLS is on or off as asked.
pub struct TestCluster {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
}

impl TestCluster {
    /// Starts a cluster; with `ssl`, a self-signed certificate is generated for it.
    ///
    /// # Panics
    /// When no PostgreSQL server binaries are installed or the cluster does not start.
    pub fn start(ssl: bool) -> Self {
        Self::start_inner(ssl.then_some(None))
    }

    /// Starts a cluster serving TLS with this certificate and key (PEM files, e.g. from
    /// [`TestCa::issue`]), copied into its data directory.
    ///
    /// # Panics
    /// As [`TestCluster::start`].
    pub fn start_with_certificate(cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::start_inner(Some(Some((cert.to_path_buf(), key.to_path_buf()))))
    }

    /// `None`: no TLS; `Some(None)`: a self-signed certificate; `Some(Some(..))`: this one.
    fn start_inner(ssl: Option<Option<(PathBuf, PathBuf)>>) -> Self {
        let bindir = server_bindir();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("nh-cluster-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("data");
        std::fs::write(dir.join("pwfile"), CLUSTER_PASSWORD).unwrap();
        chown_to_server_user(&dir);
        run_as_server_user(
            Command::new(bindir.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ])
                .arg(format!("--pwfile={}", dir.join("pwfile").display())),
        );
        let mut conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
            dir.display()
        );
        if let Some(Some((cert, key))) = &ssl {
            std::fs::copy(cert, data.join("server.crt")).unwrap();
            std::fs::copy(key, data.join("server.key")).unwrap();
        }
        if let Some(None) = &ssl {
            let status = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=localhost",
                ])
                .arg("-keyout")
                .arg(data.join("server.key"))
                .arg("-out")
                .arg(data.join("server.crt"))
                .output()
                .expect("openssl must be installed to generate the test certificate");
            assert!(
                status.status.success(),
                "openssl: {}",
                String::from_utf8_lossy(&status.stderr)
            );
        }
        if ssl.is_some() {
            std::fs::set_permissions(
                data.join("server.key"),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        } else {
            conf.push_str("ssl = off\n");
        }
        let mut file = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        file.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), file).unwrap();
        chown_to_server_user(&dir);
        run_as_server_user(
            Command::new(bindir.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "start"]),
        );
        Self { dir, bindir, port }
    }

    /// The cluster's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the `postgres` user with `password`, plus extra query parameters.
    pub fn url(&self, password: &str, query: &str) -> String {
        let sep = if query.is_empty() { "" } else { "?" };
        format!(
            "postgres://postgres:{password}@127.0.0.1:{}/postgres{sep}{query}",
            self.port
        )
    }
}

impl TestCluster {
    /// Starts a hot standby of this cluster on a free port: `pg_basebackup -R` (streaming
    /// replication, as a Neon read replica follows its primary), applying each transaction
    /// no sooner than `apply_delay` after its commit (`recovery_min_apply_delay`; zero: at
    /// once). Same password; stopped and deleted on drop.
    ///
    /// # Panics
    /// When the base backup or the start fails.
    pub fn start_standby(&self, apply_delay: std::time::Duration) -> TestStandby {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("nh-standby-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chown_to_server_user(&dir);
        let data = dir.join("data");
        let mut backup = Command::new(self.bindir.join("pg_basebackup"));
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(&data)
            .args(["-R", "-X", "stream", "--checkpoint=fast"]);
        let out = as_server_user(&mut backup)
            .env("PGPASSWORD", CLUSTER_PASSWORD)
            .output()
            .expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Later settings win: the copied postgresql.conf still names the primary's port.
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str(&format!(
            "port = {port}\nunix_socket_directories = '{}'\nhot_standby = on\nrecovery_min_apply_delay = '{}ms'\n",
            dir.display(),
            apply_delay.as_millis()
        ));
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        chown_to_server_user(&dir);
        run_as_server_user(
            Command::new(self.bindir.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "start"]),
        );
        TestStandby(Self {
            dir,
            bindir: self.bindir.clone(),
            port,
        })
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: as a crash would), keeping its
    /// files; dropping it afterwards still cleans up.
    pub fn stop(&self) {
        let mut stop = Command::new(self.bindir.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = as_server_user(&mut stop).output();
    }
}

/// A streaming standby of a [`TestCluster`] ([`TestCluster::start_standby`]): the same
/// `port`, `url` and `stop` as a cluster.
pub struct TestStandby(TestCluster);

impl std::ops::Deref for TestStandby {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.0
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let mut stop = Command::new(self.bindir.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = as_server_user(&mut stop).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed server binaries (`NEONHUB_PG_BINDIR` overrides).
fn server_bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("NEONHUB_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql (set NEONHUB_PG_BINDIR)")
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// initdb and postgres refuse to run as root; as root, clusters belong to `postgres`.
pub(crate) fn as_server_user(cmd: &mut Command) -> Command {
    if is_root() {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", "postgres", "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        wrapped
    } else {
        let mut same = Command::new(cmd.get_program());
        same.args(cmd.get_args());
        same
    }
}

fn run_as_server_user(cmd: &mut Command) {
    let out = as_server_user(cmd)
        .output()
        .expect("run a PostgreSQL server binary");
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn chown_to_server_user(dir: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .arg("-R")
            .arg("postgres")
            .arg(dir)
            .status()
            .expect("chown");
        assert!(status.success(), "chown -R postgres {}", dir.display());
    }
}

/// A throwaway certificate authority for TLS tests (made with the `openssl` command in a
/// temporary directory, removed on drop).
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// A new CA named `name`.
    ///
    /// # Panics
    /// When `openssl` is missing or fails.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "nh-ca-{name}-{}-{}",
            std::process::id(),
            neonhub_schema::ids::UserId::generate()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", &format!("/CN={name}")])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(dir.join("ca.key"))
                .arg("-out")
                .arg(dir.join("ca.crt")),
        );
        Self { dir }
    }

    /// The CA's certificate (PEM): what `sslrootcert` names.
    pub fn certificate(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A server certificate signed by this CA for the subject alternative names `sans`
    /// (`DNS:localhost`, `IP:127.0.0.1`); returns the certificate and key files.
    ///
    /// # Panics
    /// When `openssl` fails.
    pub fn issue(&self, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        let (csr, cert, key, ext) = (
            self.dir.join(format!("{name}.csr")),
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
            self.dir.join(format!("{name}.ext")),
        );
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
                sans.join(",")
            ),
        )
        .unwrap();
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "rsa:2048", "-nodes"])
                .args(["-subj", &format!("/CN={name}")])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr),
        );
        openssl(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(&csr)
                .arg("-CA")
                .arg(self.certificate())
                .arg("-CAkey")
                .arg(self.dir.join("ca.key"))
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&cert),
        );
        (cert, key)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(command: &mut Command) {
    let out = command
        .output()
        .expect("openssl must be installed to make test certificates");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
