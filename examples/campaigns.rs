//! Campaigns end to end: a brand with a voice that drafts are matched against, a campaign
//! taken from draft to active, an email sequence and posts scheduled, found due and
//! published once (a retried publish records nothing twice), an A/B test evaluated, and
//! leads with their touchpoints attributed to channels by two models.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example campaigns
//! ```
//!
//! Repeatable: the example's organization (`campaigns-example`) and its owner are deleted
//! and made again on every run.

use std::error::Error;

use chrono::Duration;
use diesel_async::AsyncPgConnection;
use neonhub::campaigns::*;
use neonhub::identity::{NewOrganization, NewUser, Organization, User, authorize, keys};
use neonhub::rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub::schema::Vector;
use neonhub::schema::{DatabaseUrl, time};
use serde_json::json;

const SLUG: &str = "campaigns-example";
const OWNER: &str = "cleo@campaigns.example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let mut conn = DatabaseUrl::parse(&url)?.connect().await?;
    let conn = &mut conn;
    start_over(conn).await?;
    let cleo = User::create(
        conn,
        &NewUser {
            email: OWNER,
            name: Some("Cleo"),
            ..Default::default()
        },
    )
    .await?;
    let new = NewOrganization {
        slug: SLUG,
        name: "Campaigns Example",
        plan: None,
        settings: None,
    };
    let org = Organization::create(conn, &cleo.id, &new).await?;
    let scope = authorize(conn, &org.id, &cleo.id, keys::CAMPAIGNS_WRITE).await?;

    // A brand with two voices in a toy 3-d space: which one does a draft sound like?
    let brand = Brand::create(
        conn,
        &scope,
        &NewBrand {
            name: Some("Northwind"),
            slug: Some("northwind"),
            slogan: Some("Fresh air, every day"),
            ..Default::default()
        },
    )
    .await?;
    let space = EmbeddingSpace::create(
        conn,
        &scope,
        &NewEmbeddingSpace {
            name: "voices",
            provider: "local",
            model: "toy-3d",
            dimension: 3,
            metadata: None,
        },
    )
    .await?;
    for (template, v) in [
        (
            "Warm and plain: short sentences, no jargon.",
            [0.9_f32, 0.1, 0.0],
        ),
        ("Expert and precise: figures first.", [0.1, 0.9, 0.1]),
    ] {
        let v = Vector::from(v.to_vec());
        BrandVoice::create(
            conn,
            &scope,
            &brand.id,
            &NewBrandVoice {
                space: &space.id,
                prompt_template: template,
                style_rules: &json!({"max_sentence_words": 20}),
                embedding: Some(&v),
                metrics: None,
            },
        )
        .await?;
    }
    let draft = Vector::from(vec![0.8, 0.2, 0.0]);
    let hits = BrandVoice::closest(conn, &scope, &brand.id, &space.id, &draft, 1).await?;
    println!(
        "the draft sounds like {:?} (distance {:.3})",
        hits[0].row.prompt_template, hits[0].distance
    );

    // A campaign through its life; an illegal step is refused, naming both states.
    let spring = Campaign::create(
        conn,
        &scope,
        &NewCampaign {
            name: "Spring launch",
            kind: "social",
            ..Default::default()
        },
    )
    .await?;
    match Campaign::transition(conn, &scope, &spring.id, CampaignStatus::Completed).await {
        Err(e @ CampaignError::IllegalTransition { .. }) => println!("refused: {e}"),
        other => return Err(format!("expected an illegal transition, got {other:?}").into()),
    }
    for to in [CampaignStatus::Scheduled, CampaignStatus::Active] {
        let c = Campaign::transition(conn, &scope, &spring.id, to).await?;
        println!("campaign {:?} is {}", c.name, c.status);
    }

    // What is due now: two emails and a post; each sent or published once.
    let now = time::now();
    for (subject, minutes) in [("Welcome", 30), ("Spring is here", 5), ("Next week", -60)] {
        EmailSequence::create(
            conn,
            &scope,
            &spring.id,
            &NewEmail {
                subject,
                body: "Hello from Northwind",
                variant: None,
                scheduled_for: Some(now - Duration::minutes(minutes)),
            },
        )
        .await?;
    }
    let post = SocialPost::create(
        conn,
        &scope,
        &spring.id,
        &NewPost {
            platform: "linkedin",
            content: "Fresh air, every day: our spring range is out.",
            scheduled_for: Some(now - Duration::minutes(1)),
            ..Default::default()
        },
    )
    .await?;
    for email in EmailSequence::due(conn, &scope, now, 10).await? {
        EmailSequence::mark_sent(conn, &scope, &email.id, now).await?;
        println!("sent {:?}", email.subject);
    }
    for attempt in 1..=2 {
        let published =
            SocialPost::publish(conn, &scope, &post.id, "urn:li:share:7001", time::now()).await?;
        println!(
            "publish attempt {attempt}: {}",
            if published.first {
                "recorded"
            } else {
                "already recorded, nothing changed"
            }
        );
    }

    // An A/B test on the subject line: not yet, then a winner.
    let test = AbTest::create(conn, &scope, &spring.id, "subject line", &["A", "B"], 0.95).await?;
    AbTest::record(conn, &scope, &test.id, "A", 400, 40).await?;
    AbTest::record(conn, &scope, &test.id, "B", 400, 52).await?;
    let e = AbTest::evaluate(conn, &scope, &test.id).await?;
    println!("after 800 sends: {}", e.not_yet.as_deref().unwrap_or("?"));
    AbTest::record(conn, &scope, &test.id, "A", 1600, 160).await?;
    AbTest::record(conn, &scope, &test.id, "B", 1600, 208).await?;
    let e = AbTest::evaluate(conn, &scope, &test.id).await?;
    println!(
        "after 4,000 sends: winner {:?} (z = {:.2}, p = {:.4})",
        e.winner, e.z, e.p_value
    );
    if e.winner.as_deref() != Some("B") {
        return Err("B should have won".into());
    }

    // Leads, their touches and an attribution report.
    let autumn = MarketingCampaign::create(
        conn,
        &scope,
        &NewMarketingCampaign {
            name: "Autumn search",
            kind: MarketingCampaignType::Ppc,
            brand: Some(&brand.id),
            description: None,
            budget: Some(5_000.0),
            start_date: now - Duration::days(30),
            end_date: None,
        },
    )
    .await?;
    let journeys: [Journey<'_>; 3] = [
        (
            "ana@example.com",
            &[(72, "search"), (48, "email"), (2, "social")],
            300.0,
        ),
        ("ben@example.com", &[(10, "email")], 120.0),
        ("cai@example.com", &[(30, "search"), (5, "search")], 80.0),
    ];
    for (email, touches, value) in journeys {
        let lead = MarketingLead::create(
            conn,
            &scope,
            &NewLead {
                email,
                source: "ads",
                campaign: Some(&autumn.id),
                ..Default::default()
            },
        )
        .await?;
        for (hours_ago, channel) in touches {
            MarketingTouchpoint::add(
                conn,
                &scope,
                &lead.id,
                &NewTouchpoint {
                    kind: MarketingTouchpointType::AdClick,
                    channel,
                    campaign: Some(&autumn.id),
                    url: None,
                    referrer: None,
                    event_data: None,
                    at: Some(now - Duration::hours(*hours_ago)),
                },
            )
            .await?;
        }
        MarketingLead::convert(conn, &scope, &lead.id, value, now - Duration::hours(1)).await?;
    }
    match MarketingLead::create(
        conn,
        &scope,
        &NewLead {
            email: " ANA@Example.com",
            source: "form",
            ..Default::default()
        },
    )
    .await
    {
        Err(e @ CampaignError::Duplicate { .. }) => println!("refused: {e}"),
        other => return Err(format!("expected a duplicate lead, got {other:?}").into()),
    }
    for (name, model) in [
        ("last touch", Model::LastTouch),
        ("position-based", Model::PositionBased),
    ] {
        Attribution::run(conn, &scope, Target::Campaign(&autumn.id), model).await?;
        let report = Attribution::report(
            conn,
            &scope,
            now - Duration::days(1),
            now + Duration::days(1),
        )
        .await?;
        let line: Vec<String> = report
            .iter()
            .map(|r| format!("{} {:.2} conv / {:.2}", r.channel, r.conversions, r.revenue))
            .collect();
        println!("attribution, {name}: {}", line.join("; "));
    }
    Ok(())
}

/// A lead's email, its touches (hours before now, channel) and what its conversion is worth.
type Journey<'a> = (&'a str, &'a [(i64, &'a str)], f64);

/// Deletes the example's organization and owner from an earlier run.
async fn start_over(conn: &mut AsyncPgConnection) -> Result<(), Box<dyn Error>> {
    if let Ok(cleo) = User::by_email(conn, OWNER).await {
        if let Some(org) = Organization::by_slug(conn, &cleo.id, SLUG).await? {
            let owner = authorize(conn, &org.id, &cleo.id, keys::ORGANIZATION_DELETE).await?;
            Organization::delete(conn, &owner).await?;
        }
        User::delete(conn, &cleo.id).await?;
    }
    Ok(())
}
