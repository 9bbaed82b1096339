//! `neonhub verify` with read replicas: a real streaming standby of a throwaway primary is
//! listed with its position and lag, an address where nothing listens as unreachable (a
//! report, not a failure), and a malformed replica URL stops the command naming its entry.

use std::process::{Command, Output};
use std::time::Duration;

use neonhub_testing::{CLUSTER_PASSWORD, TestCluster};

fn neonhub(args: &[&str], replicas: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .env("DATABASE_REPLICA_URLS", replicas)
        .output()
        .expect("run neonhub")
}

#[test]
fn verify_lists_a_standby_with_its_lag_and_an_unreachable_replica_as_skipped() {
    let primary = TestCluster::start(false);
    let standby = primary.start_standby(Duration::ZERO);
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let replicas = format!(
        "{},postgres://postgres:{CLUSTER_PASSWORD}@127.0.0.1:{nowhere}/postgres",
        standby.url(CLUSTER_PASSWORD, "")
    );
    let url = primary.url(CLUSTER_PASSWORD, "");
    let out = neonhub(&["up", "--no-seed", "--database-url", &url], &replicas);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}"); // shown with --nocapture: the README's example
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("replicas                    2"), "{stdout}");
    let standby_line = format!(
        "  127.0.0.1:{}/postgres: standby, replayed ",
        standby.port()
    );
    assert!(stdout.contains(&standby_line), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "  127.0.0.1:{nowhere}/postgres: unreachable (reads skip it): "
        )),
        "{stdout}"
    );
    assert!(!stdout.contains(CLUSTER_PASSWORD) && !stderr.contains(CLUSTER_PASSWORD));

    // The same as JSON, for monitoring: the standby's lag in milliseconds.
    let out = neonhub(&["verify", "--json", "--database-url", &url], &replicas);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = report["replicas"].as_array().unwrap();
    assert_eq!(listed[0]["state"], "standby", "{report}");
    assert!(listed[0]["lag_ms"].is_u64(), "{report}");
    assert!(listed[0]["bytes_behind"].is_u64(), "{report}");
    assert_eq!(listed[1]["state"], "unreachable", "{report}");
}

#[test]
fn a_malformed_replica_url_stops_the_command_naming_its_entry() {
    let out = neonhub(
        &[
            "verify",
            "--database-url",
            "postgres://app@127.0.0.1:1/neonhub",
        ],
        "postgres://app:s3cret@127.0.0.1:5433/neonhub,postgres://app:s3cret@127.0.0.1:nope/neonhub",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_REPLICA_URLS entry 2"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
