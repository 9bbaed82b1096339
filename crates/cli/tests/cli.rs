//! The `neonhub` binary end to end: what it prints and how it exits.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use neonhub_testing::TestDatabase;

fn neonhub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .env_remove("DATABASE_REPLICA_URLS")
        .output()
        .expect("run neonhub")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure is exactly one line on stderr, starting with `error: ` and containing `needle`.
fn assert_one_line_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{err:?} lacks {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_applies_once_and_status_shows_it() {
    let db = TestDatabase::empty().await;
    let url = db.url_string();
    let first = neonhub(&["migrate", "--database-url", &url]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("applied 00000000000000_baseline"),
        "{}",
        stdout(&first)
    );

    let second = neonhub(&["migrate", "--database-url", &url]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("nothing to apply"),
        "{}",
        stdout(&second)
    );
    assert!(
        !stdout(&second).contains("applied 0"),
        "{}",
        stdout(&second)
    );

    // The direct URL is what migrations use; the application URL may be a pooler.
    let status = neonhub(&[
        "status",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
        "--direct-database-url",
        &url,
    ]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let out = stdout(&status);
    assert!(
        out.contains("applied  00000000000000  00000000000000_baseline  at "),
        "{out}"
    );
    assert!(out.contains(" 0 pending"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reverting_the_baseline_is_refused_without_the_flag() {
    let db = TestDatabase::empty().await;
    let url = db.url_string();
    assert_eq!(
        neonhub(&["migrate", "--database-url", &url]).status.code(),
        Some(0)
    );
    // The newest migration alone reverts without the flag and comes back as pending.
    let newest = neonhub(&["migrate", "--revert", "1", "--database-url", &url]);
    assert_eq!(newest.status.code(), Some(0), "{}", stderr(&newest));
    assert!(
        !stdout(&newest).contains("reverted 00000000000000_baseline"),
        "{}",
        stdout(&newest)
    );
    assert!(stdout(&neonhub(&["status", "--database-url", &url])).contains(" 1 pending"));
    assert_eq!(
        neonhub(&["migrate", "--database-url", &url]).status.code(),
        Some(0)
    );

    let refused = neonhub(&["migrate", "--revert", "100", "--database-url", &url]);
    assert_one_line_error(&refused, 1, "pass --allow-drop-all-data");
    let status = stdout(&neonhub(&["status", "--database-url", &url]));
    assert!(
        status.contains("0 pending"),
        "the refused revert changed something: {status}"
    );

    let done = neonhub(&[
        "migrate",
        "--revert",
        "100",
        "--allow-drop-all-data",
        "--database-url",
        &url,
    ]);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert!(
        stdout(&done).contains("reverted 00000000000000_baseline"),
        "{}",
        stdout(&done)
    );
    assert!(
        stdout(&neonhub(&["status", "--database-url", &url]))
            .contains("pending  00000000000000_baseline")
    );
}

#[test]
fn a_malformed_url_is_one_line_and_exit_3() {
    assert_one_line_error(
        &neonhub(&["migrate", "--database-url", "postgres://h:notaport/db"]),
        3,
        "invalid database URL",
    );
    assert_one_line_error(&neonhub(&["migrate"]), 3, "no database URL");
}

#[test]
fn an_unreachable_server_fails_within_the_retry_budget() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = neonhub(&[
        "migrate",
        "--database-url",
        &format!("postgres://postgres@127.0.0.1:{port}/neonhub"),
    ]);
    assert_one_line_error(&out, 3, "cannot reach PostgreSQL at 127.0.0.1:");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_port_that_is_not_postgres_fails_clearly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let started = Instant::now();
    let out = neonhub(&[
        "migrate",
        "--database-url",
        &format!("postgres://postgres@127.0.0.1:{port}/neonhub"),
    ]);
    assert_one_line_error(&out, 3, "did not complete a PostgreSQL handshake");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_refused_role_is_one_line_and_exit_3() {
    let url =
        neonhub_testing::url_for_database("postgres").replacen("://", "://no_such_role_nh@", 1);
    // A URL that already carried a user now has two; use the server's host and port directly.
    let url = if url.matches('@').count() > 1 {
        "postgres://no_such_role_nh@127.0.0.1:5432/postgres".to_owned()
    } else {
        url
    };
    assert_one_line_error(
        &neonhub(&["migrate", "--database-url", &url]),
        3,
        "refused the connection",
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["migrate", "--help"],
        vec!["status", "--help"],
        vec!["seed", "--help"],
        vec!["verify", "--help"],
        vec!["up", "--help"],
    ] {
        let out = neonhub(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            stdout(&out).contains("Usage: neonhub"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
    assert_eq!(neonhub(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn requiring_tls_from_a_server_without_it_is_one_line_and_exit_3() {
    let cluster = neonhub_testing::TestCluster::start(false);
    let url = cluster.url(neonhub_testing::CLUSTER_PASSWORD, "sslmode=require");
    let started = Instant::now();
    assert_one_line_error(
        &neonhub(&["status", "--database-url", &url]),
        3,
        "requires TLS (sslmode=require)",
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_direct_url_comes_from_the_environment_and_falls_back_to_database_url() {
    let db = TestDatabase::empty().await;
    let good = db.url_string();
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_neonhub"));
        cmd.arg("status")
            .env_remove("DATABASE_URL")
            .env_remove("DIRECT_DATABASE_URL");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let unreachable = "postgres://postgres@127.0.0.1:1/nowhere";
    let direct = run(&[
        ("DATABASE_URL", unreachable),
        ("DIRECT_DATABASE_URL", &good),
    ]);
    assert_eq!(direct.status.code(), Some(0), "{}", stderr(&direct));
    let fallback = run(&[("DATABASE_URL", &good)]);
    assert_eq!(fallback.status.code(), Some(0), "{}", stderr(&fallback));
    assert!(
        stdout(&fallback).contains("pending  00000000000000_baseline"),
        "{}",
        stdout(&fallback)
    );
}

/// A service on our crates builds and runs without libpq: no package in the lockfile
/// (every feature of every member) is `pq-sys`, and the linked binary does not load it.
#[test]
fn nothing_links_libpq() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .expect("read Cargo.lock");
    assert!(
        !lock.contains("name = \"pq-sys\""),
        "Cargo.lock holds pq-sys: `cargo tree -i pq-sys -e features` shows who enables diesel/postgres"
    );
    let ldd = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_neonhub"))
        .output()
        .expect("run ldd");
    let linked = String::from_utf8_lossy(&ldd.stdout);
    assert!(ldd.status.success(), "ldd failed: {}", stderr(&ldd));
    assert!(
        linked.contains("libc.so"),
        "ldd printed no libraries: {linked}"
    );
    assert!(!linked.contains("libpq"), "the CLI links libpq:\n{linked}");
}

/// `neonhub status` against a server whose certificate nobody trusts (self-signed): under
/// `verify-full` it fails naming the certificate problem; under `require` it connects.
#[test]
fn status_under_verify_full_refuses_a_self_signed_certificate_and_require_connects() {
    let cluster = neonhub_testing::TestCluster::start(true);
    let url = |query: &str| cluster.url(neonhub_testing::CLUSTER_PASSWORD, query);
    let refused = neonhub(&[
        "status",
        "--database-url",
        &url("sslmode=verify-full&sslrootcert=system"),
    ]);
    assert_one_line_error(&refused, 3, "invalid peer certificate");
    assert!(
        stderr(&refused).contains("verify-full"),
        "{}",
        stderr(&refused)
    );
    let connected = neonhub(&["status", "--database-url", &url("sslmode=require")]);
    assert_eq!(connected.status.code(), Some(0), "{}", stderr(&connected));
    assert!(
        stdout(&connected).contains("pending"),
        "{}",
        stdout(&connected)
    );
}
