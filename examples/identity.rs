//! Identity end to end: an organization and its people, an invitation, roles, an
//! authorization, an API key, and the audit trail all of it left.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example identity
//! ```
//!
//! Repeatable: the example's organization (`identity-example`) and its three users
//! (`@identity.example`) are deleted and made again on every run.

use std::error::Error;

use diesel_async::AsyncPgConnection;
use neonhub::identity::*;
use neonhub::schema::DatabaseUrl;

const SLUG: &str = "identity-example";
const DOMAIN: &str = "identity.example";
const PEOPLE: [&str; 3] = ["grace", "ada", "alan"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .skip_while(|a| a != "--database-url")
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("set DATABASE_URL or pass --database-url")?;
    let mut conn = DatabaseUrl::parse(&url)?.connect().await?;
    start_over(&mut conn).await?;

    // People: users are global; an organization is created by one of them, its owner.
    let user = async |conn: &mut AsyncPgConnection, local: &str, name: &str| {
        let email = format!("{local}@{DOMAIN}");
        User::create(
            conn,
            &NewUser {
                email: &email,
                name: Some(name),
                ..Default::default()
            },
        )
        .await
    };
    let grace = user(&mut conn, "grace", "Grace Hopper").await?;
    let ada = user(&mut conn, "ada", "Ada Lovelace").await?;
    let alan = user(&mut conn, "alan", "Alan Turing").await?;
    let new = NewOrganization {
        slug: SLUG,
        name: "Identity Example",
        plan: None,
        settings: None,
    };
    let org = Organization::create(&mut conn, &grace.id, &new).await?;
    println!(
        "organization {} created by {} (owner)",
        org.slug, grace.email
    );

    // The owner invites Ada as a member and Alan as a viewer; both accept.
    let owner = authorize(&mut conn, &org.id, &grace.id, keys::MEMBERS_MANAGE).await?;
    let member_role = Role::by_slug(&mut conn, &owner, DefaultRole::Member.slug()).await?;
    let viewer_role = Role::by_slug(&mut conn, &owner, DefaultRole::Viewer.slug()).await?;
    Membership::invite(&mut conn, &owner, &ada.id, &member_role.id).await?;
    Membership::invite(&mut conn, &owner, &alan.id, &viewer_role.id).await?;
    match authorize(&mut conn, &org.id, &ada.id, keys::CAMPAIGNS_WRITE).await {
        Err(denied) => println!("before accepting: {denied}"),
        Ok(_) => return Err("an invited member was authorized".into()),
    }
    Membership::accept(&mut conn, &org.id, &ada.id).await?;
    Membership::accept(&mut conn, &org.id, &alan.id).await?;

    // Roles: a custom "editor" role for Alan, who may now write content but not campaigns.
    let editor = Role::create(
        &mut conn,
        &owner,
        &NewRole {
            name: "Editor",
            slug: "editor",
            description: Some("Writes content"),
            permissions: &[keys::CONTENT_WRITE, keys::CONTENT_READ],
        },
    )
    .await?;
    Membership::change_role(&mut conn, &owner, &alan.id, &editor.id).await?;
    for (who, permission) in [
        (&ada, keys::CAMPAIGNS_WRITE),
        (&alan, keys::CONTENT_WRITE),
        (&alan, keys::CAMPAIGNS_WRITE),
    ] {
        match authorize(&mut conn, &org.id, &who.id, permission).await {
            Ok(_scope) => println!("authorize {} {permission}: allowed", who.email),
            Err(denied) => println!("authorize {} {permission}: denied ({denied})", who.email),
        }
    }

    // An API key: shown once, stored as a hash, verified for a scope it lists.
    let issued = ApiKey::issue(
        &mut conn,
        &owner,
        &NewApiKey {
            name: "reporting",
            scopes: &[keys::CAMPAIGNS_READ],
            expires_at: None,
        },
    )
    .await?;
    println!(
        "API key issued: {} (printing it shows {})",
        issued.key.name, issued.token
    );
    let verified = ApiKey::verify(&mut conn, issued.token.expose(), keys::CAMPAIGNS_READ).await?;
    let acting = verified.scope.actor().user_id() == Some(&grace.id);
    println!(
        "API key verified: acts in {} as its issuer: {acting}",
        org.slug
    );
    match ApiKey::verify(&mut conn, issued.token.expose(), keys::BILLING_MANAGE).await {
        Err(rejected) => println!("API key for billing:manage: {rejected}"),
        Ok(_) => return Err("a key was accepted beyond its scopes".into()),
    }

    // The audit trail, newest first.
    let auditor = authorize(&mut conn, &org.id, &grace.id, keys::AUDIT_READ).await?;
    let trail = AuditEntry::list(
        &mut conn,
        &auditor,
        &AuditFilter::default(),
        &PageRequest::first(100),
    )
    .await?;
    println!("audit trail ({} entries, newest first):", trail.items.len());
    for e in &trail.items {
        let people = [&grace, &ada, &alan];
        let actor = match &e.user_id {
            Some(id) => people
                .iter()
                .find(|u| u.id == *id)
                .map_or(id.to_string(), |u| u.email.clone()),
            None => "system".to_owned(),
        };
        println!(
            "  {}  {:<28} {:<20} by {actor}",
            e.created_at,
            e.action,
            e.resource_type.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

/// Deletes what an earlier run made, as its owner Grace (the organization cascades to its
/// roles, memberships, keys; its audit rows stay, detached, as the log is append-only).
async fn start_over(conn: &mut AsyncPgConnection) -> Result<(), Box<dyn Error>> {
    if let Ok(grace) = User::by_email(conn, &format!("grace@{DOMAIN}")).await
        && let Some(org) = Organization::by_slug(conn, &grace.id, SLUG).await?
    {
        let owner = authorize(conn, &org.id, &grace.id, keys::ORGANIZATION_DELETE).await?;
        Organization::delete(conn, &owner).await?;
    }
    for local in PEOPLE {
        if let Ok(user) = User::by_email(conn, &format!("{local}@{DOMAIN}")).await {
            User::delete(conn, &user.id).await?;
        }
    }
    Ok(())
}
