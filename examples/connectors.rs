//! Connectors end to end, with every token sealed at rest: a user connects Gmail with an
//! OAuth token, reads it back (and the database holds only ciphertext), the key is rotated
//! online and the old one dropped, then eight request handlers refresh the token at once
//! and the provider is asked once.
//!
//! ```sh
//! NEONHUB_SECRET_KEYS=demo:$(neonhub secrets new-key --id demo | cut -d: -f2) \
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example connectors
//! ```
//!
//! `DATABASE_URL` may be the application role (as `scripts/up.sh` runs it); the rotation is
//! system work and runs on `DIRECT_DATABASE_URL` (falling back to `DATABASE_URL`). Needs the
//! connector catalog (`neonhub seed`). Repeatable: the example's organization
//! (`connectors-example`) and its owner are deleted and made again on every run, and the
//! database is left sealed under the key it was given.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use neonhub::connectors::*;
use neonhub::identity::{NewOrganization, NewUser, Organization, User, authorize, keys};
use neonhub::schema::seal::{SecretKeys, current_keys, rotate, with_keys};
use neonhub::schema::{DatabaseUrl, time};

const SLUG: &str = "connectors-example";
const OWNER: &str = "grace@connectors.example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let app_url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let direct_url = std::env::var("DIRECT_DATABASE_URL").unwrap_or_else(|_| app_url.clone());
    let (app_url, direct_url) = (
        DatabaseUrl::parse(&app_url)?,
        DatabaseUrl::parse(&direct_url)?,
    );
    // The keys of NEONHUB_SECRET_KEYS; a clear error here if there is none.
    let configured = current_keys()?;
    let configured_spec = std::env::var("NEONHUB_SECRET_KEYS")?;
    println!("sealing under key {:?}", configured.sealing_id());

    let mut conn = app_url.connect().await?;
    let conn = &mut conn;
    start_over(conn).await?;
    let grace = User::create(
        conn,
        &NewUser {
            email: OWNER,
            name: Some("Grace Hopper"),
            ..Default::default()
        },
    )
    .await?;
    let new = NewOrganization {
        slug: SLUG,
        name: "Connectors Example",
        plan: None,
        settings: None,
    };
    let org = Organization::create(conn, &grace.id, &new).await?;
    let scope = authorize(conn, &org.id, &grace.id, keys::CONNECTORS_MANAGE).await?;

    // Connect Gmail for the whole organization.
    let gmail = Connector::by_name(conn, &scope, "gmail").await?;
    let auth = ConnectorAuth::connect(
        conn,
        &scope,
        &NewConnectorAuth {
            connector: &gmail.id,
            shared: true,
            account_id: Some("marketing@connectors.example"),
            account_name: Some("Marketing mailbox"),
            tokens: AuthTokens {
                access_token: Some(Secret::new("ya29.example-access-token")),
                refresh_token: Some(Secret::new("1//example-refresh-token")),
                // Already expired, so the handlers below must refresh it.
                expires_at: Some(time::now() - chrono::Duration::minutes(1)),
                ..AuthTokens::default()
            },
            scope: Some("https://www.googleapis.com/auth/gmail.send"),
            token_type: Some("Bearer"),
            status: AuthStatus::Active,
            metadata: None,
        },
    )
    .await?;
    println!(
        "connected {} ({}): access token {:?}",
        gmail.display_name, auth.id, auth.access_token
    );
    let read = ConnectorAuth::get(conn, &scope, &auth.id).await?;
    assert_eq!(
        read.access_token.as_ref().map(Secret::expose),
        Some("ya29.example-access-token")
    );
    println!("read back: the token opens (the caller sees it through Secret::expose only)");

    // Rotate: a new key first, re-seal everything online, then drop the old key.
    let next = format!("next:{}", SecretKeys::generate_key());
    let both = SecretKeys::parse(&format!("{next},{configured_spec}"))?;
    let mut direct = direct_url.connect().await?;
    let report = rotate(&mut direct, &both, 1000).await?;
    println!(
        "rotated to key {:?}: {} value(s) re-sealed, {} plain-text sealed",
        report.key_id, report.resealed, report.sealed_plaintext
    );
    let next_only = Arc::new(SecretKeys::parse(&next)?);
    let after = with_keys(
        Some(next_only.clone()),
        ConnectorAuth::get(conn, &scope, &auth.id),
    )
    .await?;
    assert_eq!(after.access_token, read.access_token);
    println!("read with the new key alone: the old key can be removed");

    // Eight handlers need the token at once. Each reads the connection and, finding the token
    // expired, refreshes what it read (`refresh_from`): the first makes the provider call,
    // those queued behind its lock take its token, and one that reads after it finds the
    // token fresh. Through a transaction pooler some handlers wait for a server connection
    // and so read late; one provider call either way.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut handlers = Vec::new();
    for _ in 0..8 {
        let mut conn = app_url.connect().await?;
        let (scope, id, calls) = (scope.clone(), auth.id.clone(), calls.clone());
        handlers.push(tokio::spawn(with_keys(
            Some(next_only.clone()),
            async move {
                let seen = ConnectorAuth::get(&mut conn, &scope, &id).await?;
                if seen.expires_at.is_some_and(|at| at > time::now()) {
                    return Ok(seen);
                }
                ConnectorAuth::refresh_from(&mut conn, &scope, &seen, async |_current| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await; // the provider's round trip
                    Ok::<_, std::io::Error>(RefreshedTokens {
                        access_token: Secret::new("ya29.refreshed-access-token"),
                        refresh_token: None,
                        expires_at: Some(time::now() + chrono::Duration::hours(1)),
                    })
                })
                .await
            },
        )));
    }
    for h in handlers {
        let refreshed: ConnectorAuth = h.await??;
        assert_eq!(
            refreshed.access_token.as_ref().map(Secret::expose),
            Some("ya29.refreshed-access-token")
        );
    }
    println!(
        "8 handlers needing the expired token at once: {} provider call, all 8 got the new token",
        calls.load(Ordering::SeqCst)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Back under the configured key, so the demo database stays readable with it.
    let back = SecretKeys::parse(&format!("{configured_spec},{next}"))?;
    rotate(&mut direct, &back, 1000).await?;
    println!("sealed again under key {:?}", configured.sealing_id());
    Ok(())
}

/// Deletes the example's organization and owner from an earlier run.
async fn start_over(conn: &mut AsyncPgConnection) -> Result<(), Box<dyn Error>> {
    if let Ok(grace) = User::by_email(conn, OWNER).await {
        if let Some(org) = Organization::by_slug(conn, &grace.id, SLUG).await? {
            let owner = authorize(conn, &org.id, &grace.id, keys::ORGANIZATION_DELETE).await?;
            Organization::delete(conn, &owner).await?;
        }
        User::delete(conn, &grace.id).await?;
    }
    Ok(())
}
