//! What campaigns send and post: email sequences and social posts, scheduled, listed when
//! due, and marked sent or published once (a retried publish never records two posts).

use chrono::NaiveDateTime;
use diesel::PgSortExpressionMethods;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::CampaignStatus;
use neonhub_schema::ids::{CampaignId, EmailSequenceId, SocialPostId};
use neonhub_schema::schema::{campaigns, email_sequences, social_posts};
use neonhub_schema::{InvalidData, TenantScope, keys, time, unique_violation};
use serde_json::Value;

use crate::{Campaign, CampaignError, limits};

/// The most rows a `due` call returns.
pub const MAX_DUE: i64 = 1_000;

fn check_limit(limit: i64) -> Result<(), InvalidData> {
    if !(1..=MAX_DUE).contains(&limit) {
        return Err(InvalidData::OutOfRange(format!(
            "limit {limit}: from 1 to {MAX_DUE}"
        )));
    }
    Ok(())
}

/// One email of a campaign's sequence.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = email_sequences, check_for_backend(diesel::pg::Pg))]
pub struct EmailSequence {
    /// Primary key.
    pub id: EmailSequenceId,
    /// The campaign.
    #[diesel(column_name = campaignId)]
    pub campaign_id: CampaignId,
    /// Subject line.
    pub subject: String,
    /// Body.
    pub body: String,
    /// The A/B variant it belongs to.
    pub variant: Option<String>,
    /// When it is to be sent (UTC; `None`: not scheduled).
    #[diesel(column_name = scheduledFor)]
    pub scheduled_for: Option<NaiveDateTime>,
    /// When it was sent (set once).
    #[diesel(column_name = sentAt)]
    pub sent_at: Option<NaiveDateTime>,
    /// Its metrics.
    pub metrics: Option<Value>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

/// An email to add to a campaign's sequence.
#[derive(Debug, Clone, Default)]
pub struct NewEmail<'a> {
    /// Subject (1 to 200 bytes).
    pub subject: &'a str,
    /// Body (1 byte to 100 KB).
    pub body: &'a str,
    /// A/B variant.
    pub variant: Option<&'a str>,
    /// When to send it.
    pub scheduled_for: Option<NaiveDateTime>,
}

impl EmailSequence {
    /// Adds an email to a campaign of this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "email_sequence", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
        new: &NewEmail<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("subject", new.subject)?;
        limits::text("body", new.body)?;
        limits::short("variant", new.variant)?;
        if let Some(at) = new.scheduled_for {
            InvalidData::check_timestamp("scheduledFor", at)?;
        }
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(diesel::insert_into(email_sequences::table)
                    .values((
                        email_sequences::id.eq(EmailSequenceId::generate()),
                        email_sequences::campaignId.eq(campaign),
                        email_sequences::subject.eq(new.subject),
                        email_sequences::body.eq(new.body),
                        email_sequences::variant.eq(new.variant),
                        email_sequences::scheduledFor.eq(new.scheduled_for),
                        email_sequences::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The campaign's emails, by schedule.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "email_sequence", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(email_sequences::table
                    .filter(email_sequences::campaignId.eq(campaign))
                    .order((
                        email_sequences::scheduledFor.asc().nulls_last(),
                        email_sequences::id,
                    ))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Up to `limit` (1 to [`MAX_DUE`]) unsent emails scheduled at or before `now`, of the
    /// organization's active campaigns (a paused campaign sends nothing), earliest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "email_sequence", op = "due"))]
    pub async fn due(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        check_limit(limit)?;
        scope
            .transaction(conn, async |tx| {
                Ok(email_sequences::table
                    .inner_join(campaigns::table)
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .filter(campaigns::status.eq(CampaignStatus::Active))
                    .filter(email_sequences::sentAt.is_null())
                    .filter(email_sequences::scheduledFor.le(now))
                    .order((email_sequences::scheduledFor, email_sequences::id))
                    .limit(limit)
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Marks the email sent at `at`, once: a second call returns the row as the first left
    /// it (its `sentAt` unchanged).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "email_sequence", op = "mark_sent"))]
    pub async fn mark_sent(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &EmailSequenceId,
        at: NaiveDateTime,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        InvalidData::check_timestamp("sentAt", at)?;
        scope
            .transaction(conn, async |tx| {
                let of_org = campaigns::table
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .select(campaigns::id);
                let row: Self = email_sequences::table
                    .find(id)
                    .filter(email_sequences::campaignId.eq_any(of_org))
                    .select(Self::as_select())
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("email", id))?;
                if row.sent_at.is_some() {
                    return Ok(row);
                }
                Ok(diesel::update(email_sequences::table.find(id))
                    .set(email_sequences::sentAt.eq(at))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }
}

/// One social post of a campaign.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = social_posts, check_for_backend(diesel::pg::Pg))]
pub struct SocialPost {
    /// Primary key.
    pub id: SocialPostId,
    /// The campaign.
    #[diesel(column_name = campaignId)]
    pub campaign_id: CampaignId,
    /// Where it goes (`linkedin`, `x`, `instagram`, ...).
    pub platform: String,
    /// Its text.
    pub content: String,
    /// Media to attach.
    #[diesel(column_name = mediaUrls)]
    pub media_urls: Option<Value>,
    /// The A/B variant it belongs to.
    pub variant: Option<String>,
    /// When it is to be published (UTC).
    #[diesel(column_name = scheduledFor)]
    pub scheduled_for: Option<NaiveDateTime>,
    /// When it was published (set once).
    #[diesel(column_name = publishedAt)]
    pub published_at: Option<NaiveDateTime>,
    /// The platform's id of the published post (unique per platform).
    #[diesel(column_name = externalId)]
    pub external_id: Option<String>,
    /// Its metrics.
    pub metrics: Option<Value>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

/// A post to schedule.
#[derive(Debug, Clone, Default)]
pub struct NewPost<'a> {
    /// Platform (1 to 200 bytes).
    pub platform: &'a str,
    /// Text (1 byte to 100 KB).
    pub content: &'a str,
    /// Media URLs.
    pub media_urls: Option<&'a Value>,
    /// A/B variant.
    pub variant: Option<&'a str>,
    /// When to publish it.
    pub scheduled_for: Option<NaiveDateTime>,
}

/// What [`SocialPost::publish`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Published {
    /// The post as published.
    pub post: SocialPost,
    /// `true` when this call recorded the publication; `false` when it was already
    /// recorded with the same external id (a retry: nothing changed).
    pub first: bool,
}

impl SocialPost {
    /// Schedules a post for a campaign of this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "social_post", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
        new: &NewPost<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("platform", new.platform)?;
        limits::text("content", new.content)?;
        limits::json("mediaUrls", new.media_urls)?;
        limits::short("variant", new.variant)?;
        if let Some(at) = new.scheduled_for {
            InvalidData::check_timestamp("scheduledFor", at)?;
        }
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(diesel::insert_into(social_posts::table)
                    .values((
                        social_posts::id.eq(SocialPostId::generate()),
                        social_posts::campaignId.eq(campaign),
                        social_posts::platform.eq(new.platform),
                        social_posts::content.eq(new.content),
                        social_posts::mediaUrls.eq(new.media_urls),
                        social_posts::variant.eq(new.variant),
                        social_posts::scheduledFor.eq(new.scheduled_for),
                        social_posts::createdAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The campaign's posts, by schedule.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "social_post", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(social_posts::table
                    .filter(social_posts::campaignId.eq(campaign))
                    .order((
                        social_posts::scheduledFor.asc().nulls_last(),
                        social_posts::id,
                    ))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Up to `limit` (1 to [`MAX_DUE`]) unpublished posts scheduled at or before `now`, of
    /// the organization's active campaigns, earliest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "social_post", op = "due"))]
    pub async fn due(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        now: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        check_limit(limit)?;
        scope
            .transaction(conn, async |tx| {
                Ok(social_posts::table
                    .inner_join(campaigns::table)
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .filter(campaigns::status.eq(CampaignStatus::Active))
                    .filter(social_posts::publishedAt.is_null())
                    .filter(social_posts::scheduledFor.le(now))
                    .order((social_posts::scheduledFor, social_posts::id))
                    .limit(limit)
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Records that the post went out as `external_id` on its platform, at `at`. Idempotent
    /// by external id: a retry with the same id (also concurrently: the row is locked)
    /// changes nothing and says so (`first: false`); another id for a published post is
    /// [`CampaignError::PublishedElsewhere`]; an id another post of the platform holds is
    /// [`CampaignError::ExternalIdTaken`] (a unique index in the database).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "social_post", op = "publish"))]
    pub async fn publish(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &SocialPostId,
        external_id: &str,
        at: NaiveDateTime,
    ) -> Result<Published, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("externalId", external_id)?;
        InvalidData::check_timestamp("publishedAt", at)?;
        scope
            .transaction(conn, async |tx| {
                let of_org = campaigns::table
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .select(campaigns::id);
                let post: Self = social_posts::table
                    .find(id)
                    .filter(social_posts::campaignId.eq_any(of_org))
                    .select(Self::as_select())
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("social post", id))?;
                match &post.external_id {
                    Some(existing) if post.published_at.is_some() => {
                        if existing == external_id {
                            return Ok(Published { post, first: false });
                        }
                        return Err(CampaignError::PublishedElsewhere {
                            post: id.to_string(),
                            existing: existing.clone(),
                            attempted: external_id.to_owned(),
                        });
                    }
                    _ => {}
                }
                let platform = post.platform.clone();
                let post = tx
                    .transaction(async |tx| {
                        diesel::update(social_posts::table.find(id))
                            .set((
                                social_posts::publishedAt.eq(at),
                                social_posts::externalId.eq(external_id),
                            ))
                            .returning(Self::as_returning())
                            .get_result(tx)
                            .await
                    })
                    .await
                    .map_err(|e| match unique_violation(&e) {
                        Some("social_posts_platform_externalId_key") => {
                            CampaignError::ExternalIdTaken {
                                platform,
                                external_id: external_id.to_owned(),
                            }
                        }
                        _ => e.into(),
                    })?;
                Ok(Published { post, first: true })
            })
            .await
    }
}
