//! A `tracing` capture, at TRACE with every span's fields, of every operation that handles
//! a secret (connect, read, refresh, refresh refused, tokens replaced, credentials, triggers
//! and actions, a linked sign-in account, a key rotation): it names the operations and
//! holds none of the tokens.

use std::io::Write;
use std::sync::{Arc, Mutex};

use neonhub_connectors::*;
use neonhub_identity::{Account, NewAccount};
use neonhub_schema::seal::{SecretKeys, rotate, with_keys};
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::identity::org;
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const TOKENS: &[&str] = &[
    "ya29.trace-access",
    "1//trace-refresh",
    "sk_live_trace-key",
    "whsec_trace-secret",
    "ya29.trace-refreshed",
    "x-trace-access",
    "x-trace-oauth1",
    "gh-trace-signin",
    "ya29.trace-replaced",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_trace_of_every_secret_handling_operation_holds_no_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let (gmail, _) = Connector::upsert_all(&mut owner, CATALOG)
        .await
        .unwrap()
        .remove(0);
    let mut app = db.connect_as_app().await;
    let old = SecretKeys::generate_key();
    let keys = Arc::new(SecretKeys::parse(&format!("old:{old}")).unwrap());
    with_keys(Some(keys), async {
        let scope = &acme.scope;
        let auth = ConnectorAuth::connect(
            &mut app,
            scope,
            &NewConnectorAuth {
                connector: &gmail.id,
                shared: false,
                account_id: Some("trace"),
                account_name: None,
                tokens: AuthTokens {
                    access_token: Some(Secret::new(TOKENS[0])),
                    refresh_token: Some(Secret::new(TOKENS[1])),
                    api_key: Some(Secret::new(TOKENS[2])),
                    api_secret: Some(Secret::new(TOKENS[3])),
                    expires_at: None,
                },
                scope: None,
                token_type: None,
                status: AuthStatus::Active,
                metadata: None,
            },
        )
        .await
        .unwrap();
        tracing::info!(?auth, "connected");
        ConnectorAuth::get(&mut app, scope, &auth.id).await.unwrap();
        ConnectorAuth::list(&mut app, scope).await.unwrap();
        ConnectorAuth::record_use(&mut app, scope, &auth.id)
            .await
            .unwrap();
        let refreshed = ConnectorAuth::refresh(&mut app, scope, &auth.id, async |_| {
            Ok::<_, std::io::Error>(RefreshedTokens {
                access_token: Secret::new(TOKENS[4]),
                refresh_token: None,
                expires_at: None,
            })
        })
        .await
        .unwrap();
        tracing::debug!(?refreshed, "refreshed");
        let refused = ConnectorAuth::refresh(&mut app, scope, &auth.id, async |_| {
            Err::<RefreshedTokens, _>("invalid_grant")
        })
        .await
        .unwrap_err();
        tracing::warn!(%refused, "refused");
        ConnectorAuth::set_tokens(
            &mut app,
            scope,
            &auth.id,
            &AuthTokens {
                access_token: Some(Secret::new(TOKENS[8])),
                ..AuthTokens::default()
            },
        )
        .await
        .unwrap();
        let trigger = TriggerConfig::create(
            &mut app,
            scope,
            &auth.id,
            &NewTriggerConfig {
                name: "replies",
                trigger_type: "email.replied",
                config: &json!({}),
                metadata: None,
            },
        )
        .await
        .unwrap();
        TriggerConfig::record_fired(&mut app, scope, &trigger.id, neonhub_schema::time::now())
            .await
            .unwrap();
        let credential = Credential::store(
            &mut app,
            scope,
            &NewCredential {
                provider: "x",
                account_id: Some("trace"),
                tokens: CredentialTokens {
                    access_token: Some(Secret::new(TOKENS[5])),
                    access_secret: Some(Secret::new(TOKENS[6])),
                    ..CredentialTokens::default()
                },
                scope: None,
                token_type: None,
            },
        )
        .await
        .unwrap();
        tracing::info!(?credential, "stored");
        Credential::list(&mut app, scope, None).await.unwrap();
        let signin = Secret::new(TOKENS[7]);
        let account = Account::link(
            &mut app,
            &acme.owner,
            &NewAccount {
                kind: "oauth",
                provider: "github",
                provider_account_id: "trace",
                access_token: Some(&signin),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tracing::info!(?account, "linked");
        ConnectorAuth::disconnect(&mut app, scope, &auth.id)
            .await
            .unwrap();
    })
    .await;
    // A key rotation, as the CLI runs it.
    let both = SecretKeys::parse(&format!("new:{},old:{old}", SecretKeys::generate_key())).unwrap();
    let report = rotate(&mut owner, &both, 100).await.unwrap();
    tracing::info!(?report, "rotated");
    assert_eq!(report.resealed, 3, "credential (2) and account (1) values");

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    for op in [
        "op=\"connect\"",
        "op=\"refresh\"",
        "op=\"set_tokens\"",
        "op=\"store\"",
        "op=\"link\"",
        "op=\"record_fired\"",
        "redacted",
    ] {
        assert!(text.contains(op), "the capture names {op}:\n{text}");
    }
    for token in TOKENS {
        assert!(!text.contains(token), "{token} is in the trace");
    }
}
