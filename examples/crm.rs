//! A CRM end to end: people found by any identity (case-insensitively), consent that decides
//! contact (a campaign's grant over a channel-wide revocation, an expired grant), an event
//! batch read back a page at a time, a merge of two records of one person, a memory
//! search that never returns an expired memory; then the person's data on request (the
//! export), their erasure, and the list imported again: their address is flagged and nobody
//! may contact them.
//!
//! ```sh
//! NEONHUB_SUPPRESSION_KEY=$(neonhub secrets new-key --id demo) \
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example crm
//! ```
//!
//! Repeatable: the example's organization (`crm-example`) and its owner are deleted and made
//! again on every run.

use std::error::Error;

use chrono::Duration;
use diesel_async::AsyncPgConnection;
use neonhub::crm::*;
use neonhub::identity::{NewOrganization, NewUser, Organization, User, authorize, keys};
use neonhub::rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub::schema::Vector;
use neonhub::schema::ids::MarketingCampaignId;
use neonhub::schema::{DatabaseUrl, TenantScope, time};

const SLUG: &str = "crm-example";
const OWNER: &str = "ida@crm.example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let mut conn = DatabaseUrl::parse(&url)?.connect().await?;
    let conn = &mut conn;
    start_over(conn).await?;
    let ida = User::create(
        conn,
        &NewUser {
            email: OWNER,
            name: Some("Ida"),
            ..Default::default()
        },
    )
    .await?;
    let new = NewOrganization {
        slug: SLUG,
        name: "CRM Example",
        plan: None,
        settings: None,
    };
    let org = Organization::create(conn, &ida.id, &new).await?;
    let scope = authorize(conn, &org.id, &ida.id, keys::CRM_WRITE).await?;

    // Two records of one person, arriving from two systems.
    // A new organization has nobody on its suppression list: `clear()` turns a flagged
    // import into an error instead of a person nobody may contact.
    let ada = Person::create(
        conn,
        &scope,
        &NewPerson {
            display_name: Some("Ada Lovelace"),
            ..Default::default()
        },
    )
    .await?
    .clear()?;
    let import = Person::create(
        conn,
        &scope,
        &NewPerson {
            external_id: Some("shop-1815"),
            ..Default::default()
        },
    )
    .await?
    .clear()?;
    let email = |value| NewPersonIdentity {
        kind: "email",
        value,
        channel: Some("email"),
        ..Default::default()
    };
    PersonIdentity::add(conn, &scope, &ada.id, &email("Ada@Example.com"))
        .await?
        .clear()?;
    PersonIdentity::add(
        conn,
        &scope,
        &import.id,
        &email("ada.lovelace@shop.example"),
    )
    .await?
    .clear()?;
    match PersonIdentity::add(conn, &scope, &import.id, &email("ADA@example.COM")).await {
        Err(CrmError::IdentityTaken { person, .. }) => {
            println!("ADA@example.COM is already {person}'s: one address, one person")
        }
        other => return Err(format!("expected IdentityTaken, got {other:?}").into()),
    }
    let report = Person::merge(conn, &scope, &ada.id, &import.id).await?;
    println!(
        "merged the shop's record into Ada's: moved {:?}",
        report.moved
    );
    let found = Person::by_identity(conn, &scope, "email", "ada.lovelace@SHOP.example")
        .await?
        .ok_or("not found")?;
    println!(
        "found by the shop's address: {} (external id {:?})",
        found.display_name.as_deref().unwrap_or("?"),
        found.external_id
    );

    // Consent: a newsletter grant, a later channel-wide revocation, a grant for one campaign.
    let spring = campaign(conn, &scope, &org.id).await?;
    let consent = |status, campaign, minutes_ago: i64| NewConsent {
        channel: "email",
        campaign,
        status,
        source: Some("preference centre"),
        collected_at: Some(time::now() - Duration::minutes(minutes_ago)),
        expires_at: None,
        evidence: None,
        metadata: None,
    };
    Consent::record(
        conn,
        &scope,
        &ada.id,
        &consent(ConsentStatus::Granted, None, 30),
    )
    .await?;
    Consent::record(
        conn,
        &scope,
        &ada.id,
        &consent(ConsentStatus::Revoked, None, 20),
    )
    .await?;
    Consent::record(
        conn,
        &scope,
        &ada.id,
        &consent(ConsentStatus::Granted, Some(&spring), 10),
    )
    .await?;
    for (what, campaign) in [("any email", None), ("the spring campaign", Some(&spring))] {
        let d = Consent::may_contact(conn, &scope, &ada.id, "email", campaign).await?;
        println!(
            "may we email Ada about {what}? {} ({:?})",
            if d.allowed { "yes" } else { "no" },
            d.reason
        );
    }

    // Events: a batch of 1,000, then the newest page of one type.
    let events: Vec<NewEvent> = (0..1000_i64)
        .map(|i| NewEvent {
            person_id: ada.id.clone(),
            campaign_id: Some(spring.clone()),
            objective_id: None,
            channel: "email".into(),
            kind: if i % 10 == 0 {
                "email.clicked".into()
            } else {
                "email.opened".into()
            },
            source: Some("esp".into()),
            provider_id: Some(format!("msg-{i}")),
            topic: None,
            intent: None,
            sentiment: None,
            payload: None,
            metadata: None,
            occurred_at: time::now() - Duration::seconds(i),
        })
        .collect();
    let n = Event::insert_many(conn, &scope, &events).await?;
    let filter = EventFilter {
        channel: Some("email"),
        kind: Some("email.clicked"),
        ..Default::default()
    };
    let page = Event::list(conn, &scope, &filter, &PageRequest::first(5)).await?;
    println!(
        "{n} events stored; the 5 newest clicks: {:?}",
        page.items
            .iter()
            .map(|e| e.provider_id.as_deref().unwrap_or(""))
            .collect::<Vec<_>>()
    );

    // Memories: one expired, searched by meaning.
    let space = EmbeddingSpace::create(
        conn,
        &scope,
        &NewEmbeddingSpace {
            name: "crm-memories",
            provider: "local",
            model: "toy-3d",
            dimension: 3,
            metadata: None,
        },
    )
    .await?;
    for (label, v, expires) in [
        ("prefers evening emails", [0.9_f32, 0.1, 0.0], None),
        ("asked about analytical engines", [0.1, 0.9, 0.0], None),
        (
            "was on holiday in May",
            [0.95, 0.05, 0.0],
            Some(time::now() - Duration::days(1)),
        ),
    ] {
        let v = Vector::from(v.to_vec());
        Memory::remember(
            conn,
            &scope,
            &ada.id,
            &NewMemory {
                space: &space.id,
                embedding: &v,
                label: Some(label),
                source_event: None,
                expires_at: expires,
                metadata: None,
            },
        )
        .await?;
    }
    let hits = Memory::search(
        conn,
        &scope,
        &space.id,
        &Vector::from(vec![1.0, 0.0, 0.0]),
        Some(&ada.id),
        &SearchOptions::default(),
    )
    .await?;
    for h in &hits {
        println!(
            "memory {:?} at distance {:.3}",
            h.row.label.as_deref().unwrap_or(""),
            h.distance
        );
    }
    if hits
        .iter()
        .any(|h| h.row.label.as_deref() == Some("was on holiday in May"))
    {
        return Err("an expired memory was returned".into());
    }

    // Ada asks what is held about her: one JSON document, every table that references her.
    lead(conn, &scope, &org.id, " ada@EXAMPLE.com").await?;
    let export = Person::export(conn, &scope, &ada.id).await?;
    let held: Vec<String> = export["tables"]
        .as_object()
        .ok_or("an export has tables")?
        .iter()
        .filter_map(|(table, rows)| {
            let n = rows.as_array().map_or(0, Vec::len);
            (n > 0).then(|| format!("{table}: {n}"))
        })
        .collect();
    println!("Ada's export holds {}", held.join(", "));

    // Then she asks to be forgotten.
    let erased = Person::erase(conn, &scope, &ada.id, "data subject request 42").await?;
    println!(
        "erased: deleted {:?}; {} identities suppressed (as keyed hashes); audit entry {}",
        erased.deleted, erased.suppressed, erased.audit_entry
    );

    // Months later the shop's list is imported again, Ada's address with it.
    let again = Person::create(
        conn,
        &scope,
        &NewPerson {
            display_name: Some("A. Lovelace"),
            primary_email: Some("ADA@example.com "),
            ..Default::default()
        },
    )
    .await?;
    let again = match again {
        Screened::Suppressed { row, matches } => {
            println!(
                "re-import flagged: {} is suppressed since {}",
                matches[0].kind, matches[0].suppressed_at
            );
            row
        }
        Screened::Clear(_) => return Err("a suppressed address was not flagged".into()),
    };
    Consent::record(
        conn,
        &scope,
        &again.id,
        &consent(ConsentStatus::Granted, None, 0),
    )
    .await?;
    let d = Consent::may_contact(conn, &scope, &again.id, "email", None).await?;
    println!(
        "may we email the re-imported record? {} ({:?})",
        if d.allowed { "yes" } else { "no" },
        d.reason
    );
    if d.allowed {
        return Err("a suppressed person may be contacted".into());
    }
    Ok(())
}

/// A marketing lead with `email` (written as the owner would: leads belong to
/// `neonhub-campaigns`, still to come).
async fn lead(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    org: &neonhub::schema::ids::OrganizationId,
    email: &str,
) -> Result<(), Box<dyn Error>> {
    use diesel::ExpressionMethods;
    use diesel_async::RunQueryDsl;
    use neonhub::schema::ids::MarketingLeadId;
    use neonhub::schema::schema::marketing_leads as ml;
    let now = time::now();
    scope
        .transaction(conn, async |tx| {
            diesel::insert_into(ml::table)
                .values((
                    ml::id.eq(MarketingLeadId::generate()),
                    ml::organizationId.eq(org),
                    ml::email.eq(email),
                    ml::source.eq("webinar"),
                    ml::createdAt.eq(now),
                    ml::updatedAt.eq(now),
                ))
                .execute(tx)
                .await
        })
        .await?;
    Ok(())
}

/// A marketing campaign of the organization (written as the owner would: campaigns belong to
/// `neonhub-campaigns`, still to come).
async fn campaign(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    org: &neonhub::schema::ids::OrganizationId,
) -> Result<MarketingCampaignId, Box<dyn Error>> {
    use diesel::ExpressionMethods;
    use diesel_async::RunQueryDsl;
    use neonhub::schema::enums::MarketingCampaignType;
    use neonhub::schema::schema::marketing_campaigns as mc;
    let id = MarketingCampaignId::generate();
    let now = time::now();
    scope
        .transaction(conn, async |tx| {
            diesel::insert_into(mc::table)
                .values((
                    mc::id.eq(&id),
                    mc::organizationId.eq(org),
                    mc::name.eq("Spring launch"),
                    mc::type_.eq(MarketingCampaignType::Email),
                    mc::startDate.eq(now),
                    mc::createdAt.eq(now),
                    mc::updatedAt.eq(now),
                ))
                .execute(tx)
                .await
        })
        .await?;
    Ok(id)
}

/// Deletes the example's organization and owner from an earlier run.
async fn start_over(conn: &mut AsyncPgConnection) -> Result<(), Box<dyn Error>> {
    if let Ok(ida) = User::by_email(conn, OWNER).await {
        if let Some(org) = Organization::by_slug(conn, &ida.id, SLUG).await? {
            let owner = authorize(conn, &org.id, &ida.id, keys::ORGANIZATION_DELETE).await?;
            Organization::delete(conn, &owner).await?;
        }
        User::delete(conn, &ida.id).await?;
    }
    Ok(())
}
