//! `neonhub secrets status`: secret columns counted by sealing key and plain-text leftovers.

use std::process::Command;

use diesel_async::SimpleAsyncConnection;
use neonhub_schema::Secret;
use neonhub_schema::seal::SecretKeys;
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::user;

#[tokio::test(flavor = "multi_thread")]
async fn status_counts_values_by_key_and_plain_text_leftovers() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let u = user(&mut conn).await;
    let (k1, k2) = (
        SecretKeys::parse(&format!("k1:{}", SecretKeys::generate_key())).unwrap(),
        SecretKeys::parse(&format!("k2:{}", SecretKeys::generate_key())).unwrap(),
    );
    let refresh = k1
        .seal(&Secret::new("1//refresh"), "acc-1", "refresh_token")
        .unwrap();
    let api_key = k2
        .seal(&Secret::new("sk_live_123"), "auth-1", "apiKey")
        .unwrap();
    let secret = k2
        .seal(&Secret::new("whsec_456"), "auth-1", "apiSecret")
        .unwrap();
    // An account adopted with a plain-text access token, one sealed refresh token; a
    // connector auth with two sealed values.
    conn.batch_execute(&format!(
        r#"INSERT INTO accounts (id, "userId", type, provider, "providerAccountId", access_token, refresh_token)
             VALUES ('acc-1', '{u}', 'oauth', 'google', 'g-1', 'ya29.plain', '{refresh}');
           INSERT INTO connectors (id, name, "displayName", description, category, "authType", "authConfig", triggers, actions, "updatedAt")
             SELECT 'c-1', 'stripe-test', 'Stripe', 'd', (enum_range(NULL::"ConnectorKind"))[1], 'api_key', '{{}}', '[]', '[]', now();
           INSERT INTO connector_auths (id, "userId", "connectorId", "apiKey", "apiSecret", "updatedAt")
             VALUES ('auth-1', '{u}', 'c-1', '{api_key}', '{secret}', now());"#
    ))
    .await
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args([
            "secrets",
            "status",
            "--json",
            "--database-url",
            &db.url_string(),
        ])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["plaintext"], 1);
    assert_eq!(json["by_key"], serde_json::json!({"k1": 1, "k2": 2}));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        !printed.contains("ya29") && !printed.contains("sk_live"),
        "{printed}"
    );
    // The table form names each column.
    let out = Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(["secrets", "status", "--database-url", &db.url_string()])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("accounts.access_token")
            && table.contains("plain text 1; sealed k1 1, k2 2"),
        "{table}"
    );
}

/// `neonhub secrets rotate` with `keys` in the environment.
fn rotate_command(db: &TestDatabase, keys: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neonhub"));
    c.args([
        "secrets",
        "rotate",
        "--json",
        "--batch",
        "100",
        "--database-url",
        &db.url_string(),
    ])
    .env_remove("DATABASE_URL")
    .env_remove("DIRECT_DATABASE_URL")
    .env("NEONHUB_SECRET_KEYS", keys);
    c
}

fn status_json(db: &TestDatabase) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args([
            "secrets",
            "status",
            "--json",
            "--database-url",
            &db.url_string(),
        ])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_under_load_reseals_everything_without_failing_a_reader_or_losing_a_write() {
    use neonhub_connectors::{Credential, CredentialTokens};
    use neonhub_schema::seal::with_keys;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const N: usize = 2_000;
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = neonhub_testing::fixtures::identity::org(&mut owner).await;
    let (old_key, new_key) = (SecretKeys::generate_key(), SecretKeys::generate_key());
    let old_only = format!("old:{old_key}");
    let both_spec = format!("new:{new_key},old:{old_key}");
    let old = Arc::new(SecretKeys::parse(&old_only).unwrap());
    let both = Arc::new(SecretKeys::parse(&both_spec).unwrap());
    let new_only = Arc::new(SecretKeys::parse(&format!("new:{new_key}")).unwrap());

    // 2,000 credentials sealed under the old key (written in one statement for speed), and
    // one adopted from NeonHub's own tooling in plain text.
    let mut rows = Vec::with_capacity(N);
    for i in 0..N {
        let id = format!("cred-{i:05}");
        let token = old
            .seal(&Secret::new(format!("tok-{i}")), &id, "accessToken")
            .unwrap();
        rows.push(format!(
            "('{id}', '{}', 'prov', 'acct-{i}', '{token}', now())",
            acme.owner
        ));
    }
    conn_exec(
        &mut owner,
        &format!(
            r#"INSERT INTO credentials (id, "userId", provider, "accountId", "accessToken", "updatedAt") VALUES {};
               INSERT INTO credentials (id, "userId", provider, "accountId", "accessToken", "updatedAt")
                 VALUES ('legacy-1', '{}', 'legacy', 'l', 'ya29.legacy-plain', now());"#,
            rows.join(","),
            acme.owner
        ),
    )
    .await;
    let before = status_json(&db);
    assert_eq!(before["plaintext"], 1);
    assert_eq!(before["by_key"], serde_json::json!({"old": N}));

    // Readers with both keys read every sealed credential in a loop; a writer replaces some
    // tokens (sealing under the new key) while the rotation runs.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut conn = db.connect_as_app().await;
        let (scope, stop, reads, keys) = (
            acme.scope.clone(),
            stop.clone(),
            reads.clone(),
            both.clone(),
        );
        readers.push(tokio::spawn(with_keys(Some(keys), async move {
            while !stop.load(Ordering::SeqCst) {
                let all = Credential::list(&mut conn, &scope, Some("prov")).await?;
                assert_eq!(all.len(), N);
                reads.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, neonhub_connectors::ConnectorError>(())
        })));
    }
    let writer = {
        let mut conn = db.connect_as_app().await;
        let (scope, stop, keys) = (acme.scope.clone(), stop.clone(), both.clone());
        tokio::spawn(with_keys(Some(keys), async move {
            let mut written = Vec::new();
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                for i in (0..N).step_by(97) {
                    let id = neonhub_schema::ids::CredentialId::from_string(format!("cred-{i:05}"));
                    let token = format!("rewritten-{i}-{round}");
                    let tokens = CredentialTokens {
                        access_token: Some(Secret::new(token.clone())),
                        ..CredentialTokens::default()
                    };
                    Credential::set_tokens(&mut conn, &scope, &id, &tokens).await?;
                    written.push((i, token));
                }
                round += 1;
            }
            Ok::<_, neonhub_connectors::ConnectorError>(written)
        }))
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let reads_before = reads.load(Ordering::SeqCst);
    let mut command = rotate_command(&db, &both_spec);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let reads_during = reads.load(Ordering::SeqCst) - reads_before;
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.await
            .unwrap()
            .expect("a reader failed during the rotation");
    }
    let written = writer
        .await
        .unwrap()
        .expect("the writer failed during the rotation");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["key_id"], "new");
    assert_eq!(report["sealed_plaintext"], 1);
    assert_eq!(report["unreadable"], 0);
    let moved =
        report["resealed"].as_i64().unwrap() + report["changed_concurrently"].as_i64().unwrap();
    assert!(
        moved <= N as i64 && report["resealed"].as_i64().unwrap() > 0,
        "{report}"
    );
    assert!(reads_during > 0, "readers ran during the rotation");
    assert!(!written.is_empty(), "the writer ran");

    // Everything is under the new key; the old key can go.
    let after = status_json(&db);
    assert_eq!(after["plaintext"], 0, "{after}");
    assert_eq!(
        after["by_key"],
        serde_json::json!({"new": N + 1}),
        "{after}"
    );
    let mut app = db.connect_as_app().await;
    let all = with_keys(Some(new_only), async {
        Credential::list(&mut app, &acme.scope, None).await
    })
    .await
    .unwrap();
    assert_eq!(all.len(), N + 1);
    // The writer's last token of each row it rewrote stands; the others are the originals.
    let mut expected: std::collections::BTreeMap<usize, String> =
        (0..N).map(|i| (i, format!("tok-{i}"))).collect();
    for (i, token) in written {
        expected.insert(i, token);
    }
    for c in &all {
        let token = c.access_token.as_ref().unwrap().expose();
        match c.id.as_str().strip_prefix("cred-") {
            Some(i) => assert_eq!(token, expected[&i.parse::<usize>().unwrap()], "{}", c.id),
            None => assert_eq!(token, "ya29.legacy-plain"),
        }
    }
    // A second rotation finds nothing to do.
    let again = rotate_command(&db, &format!("new:{new_key}"))
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["resealed"], 0, "{again}");
}

async fn conn_exec(conn: &mut diesel_async::AsyncPgConnection, sql: &str) {
    conn.batch_execute(sql).await.unwrap();
}

#[test]
fn rotate_refuses_a_bad_key_list_at_startup() {
    for (keys, says) in [
        ("", "no key is configured: set NEONHUB_SECRET_KEYS"),
        ("k1:", "is not id:base64key"),
        ("k1:not*base64", "is not base64"),
        ("k1:AAAA", "is 3 bytes; 32 are needed"),
        (
            "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "appears twice",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_neonhub"))
            .args([
                "secrets",
                "rotate",
                "--database-url",
                "postgres://nobody@127.0.0.1:1/none",
            ])
            .env("NEONHUB_SECRET_KEYS", keys)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{keys:?}: {stderr}");
        assert!(stderr.contains(says), "{keys:?}: {stderr}");
        assert!(
            !stderr.contains("AAAA"),
            "the key is never printed: {stderr}"
        );
    }
}
