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
