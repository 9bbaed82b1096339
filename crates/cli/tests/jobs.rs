//! `neonhub jobs stats | retry | discard | cancel` end to end.

use std::process::{Command, Output};

use diesel_async::SimpleAsyncConnection;
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::organization;

fn neonhub(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_commands_count_retry_discard_and_cancel() {
    let db = TestDatabase::migrated().await;
    let url = db.url_string();
    let mut conn = db.connect().await;
    let org = organization(&mut conn).await;
    // Rows as an earlier worker left them: one dead, one queued, one orphaned.
    conn.batch_execute(&format!(
        r#"INSERT INTO agent_jobs (id, "organizationId", agent, input, status, error, "createdAt", "updatedAt", attempt)
           VALUES ('dead-1', '{org}', 'mailer', '{{}}', 'dead', 'SMTP 550', now(), now(), 5),
                  ('queued-1', '{org}', 'mailer', '{{}}', 'queued', NULL, now(), now(), 0),
                  ('orphan-1', NULL, 'mailer', '{{}}', 'queued', NULL, now(), now(), 0)"#
    ))
    .await
    .unwrap();

    let stats = neonhub(&url, &["jobs", "stats", "--json"]);
    assert_eq!(stats.status.code(), Some(0), "{}", text(&stats));
    let json: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(
        (json["dead"].as_i64(), json["orphaned"].as_i64()),
        (Some(1), Some(1))
    );
    let human = neonhub(&url, &["jobs", "stats"]);
    assert!(
        text(&human).contains("dead 1, orphaned (organization deleted) 1"),
        "{}",
        text(&human)
    );

    let retry = neonhub(&url, &["jobs", "retry", "dead-1"]);
    assert_eq!(retry.status.code(), Some(0), "{}", text(&retry));
    let again = neonhub(&url, &["jobs", "retry", "dead-1"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again).contains("job dead-1 is queued: cannot retry"),
        "{}",
        text(&again)
    );

    let cancel = neonhub(&url, &["jobs", "cancel", "queued-1"]);
    assert_eq!(cancel.status.code(), Some(0), "{}", text(&cancel));
    let discard = neonhub(&url, &["jobs", "discard", "queued-1"]);
    assert_eq!(discard.status.code(), Some(0), "{}", text(&discard));
    let orphan = neonhub(&url, &["jobs", "discard", "orphan-1"]);
    assert_eq!(orphan.status.code(), Some(0), "{}", text(&orphan));
    let missing = neonhub(&url, &["jobs", "discard", "no-such-job"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing).contains("agent job no-such-job not found"),
        "{}",
        text(&missing)
    );

    let end = neonhub(&url, &["jobs", "stats", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&end.stdout).unwrap();
    assert_eq!(
        (json["dead"].as_i64(), json["orphaned"].as_i64()),
        (Some(0), Some(0))
    );
}
