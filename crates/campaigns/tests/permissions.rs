//! Every public operation of `neonhub-campaigns` that takes a `TenantScope`, in one table
//! with the permission key it needs: a scope lacking the key is refused with `Denied` naming
//! it and nothing is written; the key alone is enough; and another organization's scope
//! (holding every key) reads, changes and links to none of this organization's rows. The
//! table is checked against the source, so an operation added without an entry fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_campaigns::*;
use neonhub_rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub_schema::Vector;
use neonhub_schema::ids::{
    AbTestId, BrandAssetId, BrandId, BrandVoiceId, CampaignId, ContentDraftId, ContentId,
    EmailSequenceId, EmbeddingSpaceId, MarketingCampaignId, MarketingLeadId, OrganizationId,
    SnippetId, SocialPostId, UserId,
};
use neonhub_schema::{Denied, PERMISSIONS, PermissionSet, TenantScope, keys, time};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{owner_do, test_connection};

struct Fx {
    scope: TenantScope,
    brand: BrandId,
    asset: BrandAssetId,
    voice: BrandVoiceId,
    space: EmbeddingSpaceId,
    campaign: CampaignId,
    email: EmailSequenceId,
    post: SocialPostId,
    ab: AbTestId,
    content: ContentId,
    draft: ContentDraftId,
    snippet: SnippetId,
    mcampaign: MarketingCampaignId,
    other_content: ContentId,
    lead: MarketingLeadId,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<usize, CampaignError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

struct Case {
    name: &'static str,
    key: &'static str,
    names_a_row: bool,
    run: Op,
}

fn case<F>(name: &'static str, key: &'static str, names_a_row: bool, f: F) -> Case
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Case {
        name,
        key,
        names_a_row,
        run: Box::new(f),
    }
}

fn one<T>(r: Result<T, CampaignError>) -> Result<usize, CampaignError> {
    r.map(|_| 1)
}

fn v() -> Vector {
    Vector::from(vec![1.0, 0.0, 0.0])
}

fn operations() -> Vec<Case> {
    use keys::{
        BRANDS_READ as BREAD, BRANDS_WRITE as BWRITE, CAMPAIGNS_READ as READ,
        CAMPAIGNS_WRITE as WRITE, CONTENT_READ as CREAD, CONTENT_WRITE as CWRITE,
    };
    let page = || PageRequest::first(50);
    vec![
        case("Brand::create", BWRITE, false, |c, s, _| {
            Box::pin(async move {
                one(Brand::create(
                    c,
                    s,
                    &NewBrand {
                        name: Some("Other"),
                        slug: Some("other-brand"),
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("Brand::get", BREAD, true, |c, s, f| {
            Box::pin(async move { one(Brand::get(c, s, &f.brand).await) })
        }),
        case("Brand::by_slug", BREAD, true, |c, s, _| {
            Box::pin(async move {
                Brand::by_slug(c, s, "acme-brand")
                    .await
                    .map(|b| usize::from(b.is_some()))
            })
        }),
        case("Brand::list", BREAD, true, move |c, s, f| {
            Box::pin(async move {
                Brand::list(c, s, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.brand).count())
            })
        }),
        case("Brand::update", BWRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Brand::update(
                    c,
                    s,
                    &f.brand,
                    &NewBrand {
                        slogan: Some("changed"),
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("BrandAsset::add", BWRITE, true, |c, s, f| {
            Box::pin(async move {
                one(BrandAsset::add(c, s, &f.brand, "logo", "second", None, None).await)
            })
        }),
        case("BrandAsset::list", BREAD, true, |c, s, f| {
            Box::pin(async move { one(BrandAsset::list(c, s, &f.brand).await) })
        }),
        case("BrandVoice::create", BWRITE, true, |c, s, f| {
            Box::pin(async move {
                let v = v();
                one(BrandVoice::create(
                    c,
                    s,
                    &f.brand,
                    &NewBrandVoice {
                        space: &f.space,
                        prompt_template: "Write warmly",
                        style_rules: &serde_json::json!({}),
                        embedding: Some(&v),
                        metrics: None,
                    },
                )
                .await)
            })
        }),
        case("BrandVoice::get", BREAD, true, |c, s, f| {
            Box::pin(async move { one(BrandVoice::get(c, s, &f.voice).await) })
        }),
        case("BrandVoice::list", BREAD, true, |c, s, f| {
            Box::pin(async move { one(BrandVoice::list(c, s, &f.brand).await) })
        }),
        case("BrandVoice::closest", BREAD, true, |c, s, f| {
            Box::pin(async move {
                BrandVoice::closest(c, s, &f.brand, &f.space, &v(), 5)
                    .await
                    .map(|h| h.len())
            })
        }),
        case("BrandVoice::sounds_like", BREAD, true, |c, s, f| {
            Box::pin(async move {
                BrandVoice::sounds_like(c, s, &f.space, &v(), 5)
                    .await
                    .map(|h| h.len())
            })
        }),
        case("Campaign::create", WRITE, false, |c, s, _| {
            Box::pin(async move {
                one(Campaign::create(
                    c,
                    s,
                    &NewCampaign {
                        name: "Another",
                        kind: "email",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("Campaign::get", READ, true, |c, s, f| {
            Box::pin(async move { one(Campaign::get(c, s, &f.campaign).await) })
        }),
        case("Campaign::list", READ, true, move |c, s, f| {
            Box::pin(async move {
                Campaign::list(c, s, None, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.campaign).count())
            })
        }),
        case("Campaign::update", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Campaign::update(
                    c,
                    s,
                    &f.campaign,
                    &CampaignChanges {
                        name: Some("Renamed"),
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("Campaign::transition", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Campaign::transition(c, s, &f.campaign, CampaignStatus::Paused).await)
            })
        }),
        case("CampaignMetric::append_many", WRITE, true, |c, s, f| {
            Box::pin(async move {
                CampaignMetric::append_many(
                    c,
                    s,
                    &f.campaign,
                    &[NewMetric {
                        kind: "sent",
                        value: Some(1.0),
                        payload: None,
                        at: None,
                    }],
                )
                .await
            })
        }),
        case("CampaignMetric::rollup", READ, true, |c, s, f| {
            Box::pin(async move {
                let now = time::now();
                CampaignMetric::rollup(
                    c,
                    s,
                    &f.campaign,
                    now - chrono::Duration::days(1),
                    now + chrono::Duration::days(1),
                )
                .await
                .map(|r| r.len())
            })
        }),
        case("EmailSequence::create", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(EmailSequence::create(
                    c,
                    s,
                    &f.campaign,
                    &NewEmail {
                        subject: "Hi",
                        body: "Hello",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("EmailSequence::list", READ, true, |c, s, f| {
            Box::pin(async move { one(EmailSequence::list(c, s, &f.campaign).await) })
        }),
        case("EmailSequence::due", READ, true, |c, s, f| {
            Box::pin(async move {
                EmailSequence::due(c, s, time::now(), 100)
                    .await
                    .map(|d| d.iter().filter(|e| e.id == f.email).count())
            })
        }),
        case("EmailSequence::mark_sent", WRITE, true, |c, s, f| {
            Box::pin(
                async move { one(EmailSequence::mark_sent(c, s, &f.email, time::now()).await) },
            )
        }),
        case("SocialPost::create", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(SocialPost::create(
                    c,
                    s,
                    &f.campaign,
                    &NewPost {
                        platform: "x",
                        content: "Hello",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("SocialPost::list", READ, true, |c, s, f| {
            Box::pin(async move { one(SocialPost::list(c, s, &f.campaign).await) })
        }),
        case("SocialPost::due", READ, true, |c, s, f| {
            Box::pin(async move {
                SocialPost::due(c, s, time::now(), 100)
                    .await
                    .map(|d| d.iter().filter(|p| p.id == f.post).count())
            })
        }),
        case("SocialPost::publish", WRITE, true, |c, s, f| {
            Box::pin(
                async move { one(SocialPost::publish(c, s, &f.post, "ext-1", time::now()).await) },
            )
        }),
        case("AbTest::create", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(AbTest::create(c, s, &f.campaign, "second", &["A", "B"], 0.95).await)
            })
        }),
        case("AbTest::get", READ, true, |c, s, f| {
            Box::pin(async move { one(AbTest::get(c, s, &f.ab).await) })
        }),
        case("AbTest::list", READ, true, |c, s, f| {
            Box::pin(async move { one(AbTest::list(c, s, &f.campaign).await) })
        }),
        case("AbTest::record", WRITE, true, |c, s, f| {
            Box::pin(async move { one(AbTest::record(c, s, &f.ab, "A", 10, 1).await) })
        }),
        case("AbTest::evaluate", WRITE, true, |c, s, f| {
            Box::pin(async move { one(AbTest::evaluate(c, s, &f.ab).await) })
        }),
        case("Content::create", CWRITE, false, |c, s, _| {
            Box::pin(async move {
                one(Content::create(
                    c,
                    s,
                    ContentKind::Article,
                    None,
                    &NewContent {
                        title: Some("Another"),
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("Content::get", CREAD, true, |c, s, f| {
            Box::pin(async move { one(Content::get(c, s, &f.content).await) })
        }),
        case("Content::list", CREAD, true, move |c, s, f| {
            Box::pin(async move {
                Content::list(c, s, None, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.content).count())
            })
        }),
        case("Content::update", CWRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Content::update(
                    c,
                    s,
                    &f.content,
                    &NewContent {
                        body: Some("changed"),
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("Content::set_status", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(Content::set_status(c, s, &f.content, "review").await) })
        }),
        case("ContentDraft::create", CWRITE, false, |c, s, _| {
            Box::pin(async move {
                one(ContentDraft::create(
                    c,
                    s,
                    &NewDraft {
                        title: "Another",
                        topic: "spring",
                        body: "text",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("ContentDraft::get", CREAD, true, |c, s, f| {
            Box::pin(async move { one(ContentDraft::get(c, s, &f.draft).await) })
        }),
        case("ContentDraft::list", CREAD, true, move |c, s, f| {
            Box::pin(async move {
                ContentDraft::list(c, s, None, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.draft).count())
            })
        }),
        case("Snippet::get", CREAD, true, |c, s, f| {
            Box::pin(async move { one(Snippet::get(c, s, &f.snippet).await) })
        }),
        case("ContentDraft::set_status", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(ContentDraft::set_status(c, s, &f.draft, "review").await) })
        }),
        case("Snippet::create", CWRITE, false, |c, s, _| {
            Box::pin(async move {
                one(Snippet::create(
                    c,
                    s,
                    &NewSnippet {
                        channel: "email",
                        name: "another",
                        content: "Hi",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("Snippet::list", CREAD, true, |c, s, f| {
            Box::pin(async move {
                Snippet::list(c, s, None)
                    .await
                    .map(|l| l.iter().filter(|x| x.id == f.snippet).count())
            })
        }),
        case("Snippet::record_use", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(Snippet::record_use(c, s, &f.snippet).await) })
        }),
        case("Snippet::record_win", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(Snippet::record_win(c, s, &f.snippet).await) })
        }),
        case("MarketingCampaign::create", WRITE, false, |c, s, _| {
            Box::pin(async move {
                one(MarketingCampaign::create(
                    c,
                    s,
                    &NewMarketingCampaign {
                        name: "Other",
                        kind: MarketingCampaignType::Social,
                        brand: None,
                        description: None,
                        budget: None,
                        start_date: time::now(),
                        end_date: None,
                    },
                )
                .await)
            })
        }),
        case("MarketingCampaign::get", READ, true, |c, s, f| {
            Box::pin(async move { one(MarketingCampaign::get(c, s, &f.mcampaign).await) })
        }),
        case("MarketingCampaign::transition", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(MarketingCampaign::transition(
                    c,
                    s,
                    &f.mcampaign,
                    MarketingCampaignStatus::Scheduled,
                )
                .await)
            })
        }),
        case(
            "MarketingCampaign::record_results",
            WRITE,
            true,
            |c, s, f| {
                Box::pin(async move {
                    one(MarketingCampaign::record_results(
                        c,
                        s,
                        &f.mcampaign,
                        &Results {
                            clicks: 1,
                            ..Default::default()
                        },
                    )
                    .await)
                })
            },
        ),
        case("MarketingLead::create", WRITE, false, |c, s, _| {
            Box::pin(async move {
                one(MarketingLead::create(
                    c,
                    s,
                    &NewLead {
                        email: "new@example.com",
                        source: "form",
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("MarketingLead::get", READ, true, |c, s, f| {
            Box::pin(async move { one(MarketingLead::get(c, s, &f.lead).await) })
        }),
        case("MarketingCampaign::list", READ, true, move |c, s, f| {
            Box::pin(async move {
                MarketingCampaign::list(c, s, None, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.mcampaign).count())
            })
        }),
        case("MarketingLead::list", READ, true, move |c, s, f| {
            Box::pin(async move {
                MarketingLead::list(c, s, None, &page())
                    .await
                    .map(|p| p.items.iter().filter(|x| x.id == f.lead).count())
            })
        }),
        case("MarketingLead::add_score", WRITE, true, |c, s, f| {
            Box::pin(async move { one(MarketingLead::add_score(c, s, &f.lead, 10).await) })
        }),
        case("MarketingLead::set_status", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(MarketingLead::set_status(c, s, &f.lead, MarketingLeadStatus::Contacted).await)
            })
        }),
        case("MarketingTouchpoint::add", WRITE, true, |c, s, f| {
            Box::pin(async move {
                one(MarketingTouchpoint::add(
                    c,
                    s,
                    &f.lead,
                    &NewTouchpoint {
                        kind: MarketingTouchpointType::PageView,
                        channel: "web",
                        campaign: None,
                        url: None,
                        referrer: None,
                        event_data: None,
                        at: None,
                    },
                )
                .await)
            })
        }),
        case("MarketingTouchpoint::list", READ, true, |c, s, f| {
            Box::pin(async move { one(MarketingTouchpoint::list(c, s, &f.lead).await) })
        }),
        case("MarketingLead::convert", WRITE, true, |c, s, f| {
            Box::pin(
                async move { one(MarketingLead::convert(c, s, &f.lead, 10.0, time::now()).await) },
            )
        }),
        case("Attribution::run", WRITE, true, |c, s, f| {
            Box::pin(
                async move { Attribution::run(c, s, Target::Lead(&f.lead), Model::Linear).await },
            )
        }),
        case("Attribution::report", READ, true, |c, s, f| {
            Box::pin(async move {
                let now = time::now();
                Attribution::report(
                    c,
                    s,
                    now - chrono::Duration::days(1),
                    now + chrono::Duration::days(1),
                )
                .await
                .map(|r| {
                    usize::from(
                        r.iter()
                            .any(|x| x.campaign_id.as_ref() == Some(&f.mcampaign)),
                    )
                })
            })
        }),
        case("MarketingMetric::report_day", WRITE, false, |c, s, _| {
            Box::pin(async move {
                one(MarketingMetric::report_day(
                    c,
                    s,
                    time::now().date(),
                    &DailyFigures {
                        clicks: 1,
                        ..Default::default()
                    },
                )
                .await)
            })
        }),
        case("MarketingMetric::range", READ, false, |c, s, _| {
            Box::pin(async move {
                let today = time::now().date();
                MarketingMetric::range(c, s, today, today)
                    .await
                    .map(|r| r.len())
            })
        }),
        case("SeoMetric::import", CWRITE, false, |c, s, _| {
            Box::pin(async move {
                SeoMetric::import(
                    c,
                    s,
                    &[NewSeoMetric {
                        url: "https://example.com/",
                        keyword: "spring",
                        content: None,
                        impressions: 10,
                        clicks: 1,
                        ctr: 0.1,
                        avg_position: 2.0,
                        date: time::now().date(),
                    }],
                )
                .await
            })
        }),
        case("SeoMetric::list", CREAD, false, |c, s, _| {
            Box::pin(async move {
                let today = time::now().date();
                SeoMetric::list(c, s, None, today, today)
                    .await
                    .map(|r| r.len())
            })
        }),
        case("Persona::list", CREAD, false, |c, s, _| {
            Box::pin(async move { Persona::list(c, s).await.map(|l| l.len()) })
        }),
        case("Keyword::list", CREAD, false, |c, s, _| {
            Box::pin(async move { Keyword::list(c, s, None).await.map(|l| l.len()) })
        }),
        case("CalendarEntry::due", CREAD, false, |c, s, _| {
            Box::pin(async move {
                let now = time::now();
                CalendarEntry::due(c, s, now, now + chrono::Duration::days(30), None)
                    .await
                    .map(|l| l.len())
            })
        }),
        case("Link::link", CWRITE, true, |c, s, f| {
            Box::pin(async move {
                one(Link::link(c, s, &f.content, &f.other_content, "spring", None).await)
            })
        }),
        case("Link::links_from", CREAD, true, |c, s, f| {
            Box::pin(async move { one(Link::links_from(c, s, &f.content).await) })
        }),
        case("Link::suggest", CREAD, true, |c, s, f| {
            Box::pin(async move { one(Link::suggest(c, s, &f.content, 5).await) })
        }),
        // Deletions last: the cases before them need the rows.
        case("Snippet::delete", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(Snippet::delete(c, s, &f.snippet).await) })
        }),
        case("ContentDraft::delete", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(ContentDraft::delete(c, s, &f.draft).await) })
        }),
        case("Content::delete", CWRITE, true, |c, s, f| {
            Box::pin(async move { one(Content::delete(c, s, &f.content).await) })
        }),
        case("BrandAsset::remove", BWRITE, true, |c, s, f| {
            Box::pin(async move { one(BrandAsset::remove(c, s, &f.asset).await) })
        }),
        case("BrandVoice::delete", BWRITE, true, |c, s, f| {
            Box::pin(async move { one(BrandVoice::delete(c, s, &f.voice).await) })
        }),
        case("Campaign::delete", WRITE, true, |c, s, f| {
            Box::pin(async move { one(Campaign::delete(c, s, &f.campaign).await) })
        }),
        case("Brand::delete", BWRITE, true, |c, s, f| {
            Box::pin(async move { one(Brand::delete(c, s, &f.brand).await) })
        }),
    ]
}

async fn fixture(conn: &mut AsyncPgConnection) -> Fx {
    let acme = org(conn).await;
    let s = acme.scope.clone();
    let brand = Brand::create(
        conn,
        &s,
        &NewBrand {
            name: Some("Acme"),
            slug: Some("acme-brand"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let asset = BrandAsset::add(conn, &s, &brand, "logo", "main", None, None)
        .await
        .unwrap()
        .id;
    let space = EmbeddingSpace::create(
        conn,
        &s,
        &NewEmbeddingSpace {
            name: "voices",
            provider: "local",
            model: "toy",
            dimension: 3,
            metadata: None,
        },
    )
    .await
    .unwrap()
    .id;
    let v = v();
    let voice = BrandVoice::create(
        conn,
        &s,
        &brand,
        &NewBrandVoice {
            space: &space,
            prompt_template: "Write plainly",
            style_rules: &serde_json::json!({"tone": "plain"}),
            embedding: Some(&v),
            metrics: None,
        },
    )
    .await
    .unwrap()
    .id;
    let campaign = Campaign::create(
        conn,
        &s,
        &NewCampaign {
            name: "Spring",
            kind: "social",
            owner: Some(&acme.owner),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    for to in [CampaignStatus::Scheduled, CampaignStatus::Active] {
        Campaign::transition(conn, &s, &campaign, to).await.unwrap();
    }
    let due = Some(time::now() - chrono::Duration::minutes(1));
    let email = EmailSequence::create(
        conn,
        &s,
        &campaign,
        &NewEmail {
            subject: "Welcome",
            body: "Hello",
            scheduled_for: due,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let post = SocialPost::create(
        conn,
        &s,
        &campaign,
        &NewPost {
            platform: "linkedin",
            content: "Spring",
            scheduled_for: due,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let ab = AbTest::create(conn, &s, &campaign, "subject", &["A", "B"], 0.95)
        .await
        .unwrap()
        .id;
    let content = Content::create(
        conn,
        &s,
        ContentKind::Article,
        None,
        &NewContent {
            title: Some("Spring"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let draft = ContentDraft::create(
        conn,
        &s,
        &NewDraft {
            title: "Spring",
            topic: "spring",
            body: "text",
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let snippet = Snippet::create(
        conn,
        &s,
        &NewSnippet {
            channel: "email",
            name: "hook",
            content: "Hi",
            brand: Some(&brand),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    Snippet::record_use(conn, &s, &snippet).await.unwrap();
    let mcampaign = MarketingCampaign::create(
        conn,
        &s,
        &NewMarketingCampaign {
            name: "Autumn",
            kind: MarketingCampaignType::Email,
            brand: Some(&brand),
            description: None,
            budget: Some(100.0),
            start_date: time::now(),
            end_date: None,
        },
    )
    .await
    .unwrap()
    .id;
    let lead = MarketingLead::create(
        conn,
        &s,
        &NewLead {
            email: "lead@example.com",
            source: "ads",
            campaign: Some(&mcampaign),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    MarketingTouchpoint::add(
        conn,
        &s,
        &lead,
        &NewTouchpoint {
            kind: MarketingTouchpointType::AdClick,
            channel: "search",
            campaign: Some(&mcampaign),
            url: None,
            referrer: None,
            event_data: None,
            at: None,
        },
    )
    .await
    .unwrap();
    let other_content = Content::create(
        conn,
        &s,
        ContentKind::Article,
        None,
        &NewContent {
            title: Some("Spring sale"),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    Fx {
        other_content,
        mcampaign,
        lead,
        ab,
        content,
        draft,
        snippet,
        scope: s,
        brand,
        asset,
        voice,
        space,
        campaign,
        email,
        post,
    }
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A fingerprint of every campaigns row of `org` (children through their parents).
async fn digest(conn: &mut AsyncPgConnection, org: &OrganizationId) -> String {
    let selects = [
        format!(r#"SELECT x::text AS r FROM brands x WHERE x."organizationId" = '{org}'"#),
        format!(r#"SELECT x::text AS r FROM campaigns x WHERE x."organizationId" = '{org}'"#),
        format!(r#"SELECT x::text AS r FROM content x WHERE x."organizationId" = '{org}'"#),
        format!(
            r#"SELECT x::text AS r FROM marketing_campaigns x WHERE x."organizationId" = '{org}'"#
        ),
        format!(r#"SELECT x::text AS r FROM marketing_leads x WHERE x."organizationId" = '{org}'"#),
        format!(
            r#"SELECT x::text AS r FROM marketing_touchpoints x JOIN marketing_leads l ON l.id = x."leadId" WHERE l."organizationId" = '{org}'"#
        ),
        format!(r#"SELECT x::text AS r FROM content_drafts x WHERE x."organizationId" = '{org}'"#),
        format!(r#"SELECT x::text AS r FROM snippet_library x WHERE x."organizationId" = '{org}'"#),
        format!(
            r#"SELECT x::text AS r FROM ab_tests x JOIN campaigns c ON c.id = x."campaignId" WHERE c."organizationId" = '{org}'"#
        ),
        format!(
            r#"SELECT x::text AS r FROM brand_assets x JOIN brands b ON b.id = x."brandId" WHERE b."organizationId" = '{org}'"#
        ),
        format!(
            r#"SELECT x::text AS r FROM brand_voices x JOIN brands b ON b.id = x."brandId" WHERE b."organizationId" = '{org}'"#
        ),
        format!(
            r#"SELECT x::text AS r FROM campaign_metrics x JOIN campaigns c ON c.id = x."campaignId" WHERE c."organizationId" = '{org}'"#
        ),
        format!(
            r#"SELECT x::text AS r FROM email_sequences x JOIN campaigns c ON c.id = x."campaignId" WHERE c."organizationId" = '{org}'"#
        ),
        format!(
            r#"SELECT x::text AS r FROM social_posts x JOIN campaigns c ON c.id = x."campaignId" WHERE c."organizationId" = '{org}'"#
        ),
    ];
    let sql = format!(
        "SELECT coalesce(md5(string_agg(r, '|' ORDER BY r)), '') AS digest FROM ({}) rows",
        selects.join(" UNION ALL ")
    );
    owner_do(conn, async |c| {
        sql_query(sql).get_result::<Digest>(c).await.unwrap().digest
    })
    .await
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|c| (c.name.to_owned(), c.key.to_owned()))
        .collect();
    assert_eq!(
        listed,
        neonhub_testing::source::keys_required_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
    );
}

#[tokio::test]
async fn a_scope_lacking_the_key_is_refused_and_writes_nothing() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let org = fx.scope.organization_id().clone();
    let before = digest(&mut conn, &org).await;
    for case in operations() {
        let scope = TenantScope::for_member(
            org.clone(),
            UserId::generate(),
            PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != case.key)),
        );
        let err = (case.run)(&mut conn, &scope, &fx).await.unwrap_err();
        assert!(
            matches!(&err, CampaignError::Denied(Denied::MissingPermission { key: k, .. }) if k == case.key),
            "{} without {}: {err}",
            case.name,
            case.key
        );
        assert_eq!(
            digest(&mut conn, &org).await,
            before,
            "{} wrote although refused",
            case.name
        );
    }
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    for case in operations() {
        let scope = TenantScope::for_member(
            fx.scope.organization_id().clone(),
            UserId::generate(),
            PermissionSet::of([case.key]),
        );
        if let Err(CampaignError::Denied(denied)) = (case.run)(&mut conn, &scope, &fx).await {
            panic!("{} with {} alone: {denied}", case.name, case.key);
        }
    }
}

#[tokio::test]
async fn another_organization_reads_changes_and_links_to_none_of_its_rows() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let org = fx.scope.organization_id().clone();
    let other = org_scope(&mut conn).await;
    let before = digest(&mut conn, &org).await;
    let mut refused = 0;
    for case in operations() {
        let outcome = (case.run)(&mut conn, &other, &fx).await;
        if case.names_a_row {
            match outcome {
                Err(CampaignError::NotFound { .. } | CampaignError::ForeignParent { .. }) => {
                    refused += 1
                }
                Ok(0) => {}
                other => panic!("{} from another organization: {other:?}", case.name),
            }
        } else {
            outcome.unwrap_or_else(|e| panic!("{} in its own organization: {e}", case.name));
        }
        assert_eq!(
            digest(&mut conn, &org).await,
            before,
            "{} from another organization changed this one's rows",
            case.name
        );
    }
    assert!(refused >= 50, "only {refused} operations were refused");
}

async fn org_scope(conn: &mut AsyncPgConnection) -> TenantScope {
    org(conn).await.scope
}
