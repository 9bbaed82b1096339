//! Marketing campaigns with their results, leads (one per organization and email) and
//! their touchpoints.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
};
use diesel::sql_types::{Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::{
    MarketingCampaignStatus, MarketingCampaignType, MarketingLeadGrade, MarketingLeadStatus,
    MarketingTouchpointType,
};
use neonhub_schema::ids::{
    BrandId, MarketingCampaignId, MarketingLeadId, MarketingTouchpointId, OrganizationId,
};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{marketing_campaigns, marketing_leads, marketing_touchpoints};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{Brand, CampaignError, limits};

/// A marketing campaign with its budget and results.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = marketing_campaigns, check_for_backend(diesel::pg::Pg))]
pub struct MarketingCampaign {
    /// Primary key.
    pub id: MarketingCampaignId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The brand it promotes.
    #[diesel(column_name = brandId)]
    pub brand_id: Option<BrandId>,
    /// Name shown.
    pub name: String,
    /// What it says.
    pub description: Option<String>,
    /// Its kind.
    #[diesel(column_name = type_)]
    pub kind: MarketingCampaignType,
    /// Where it is in its life (the campaign life cycle).
    pub status: MarketingCampaignStatus,
    /// Budget (in the organization's currency).
    pub budget: Option<f64>,
    /// Spent so far.
    pub spent: f64,
    /// When it starts.
    #[diesel(column_name = startDate)]
    pub start_date: NaiveDateTime,
    /// When it ends.
    #[diesel(column_name = endDate)]
    pub end_date: Option<NaiveDateTime>,
    /// Impressions counted.
    pub impressions: i32,
    /// Clicks counted.
    pub clicks: i32,
    /// Conversions counted.
    pub conversions: i32,
    /// Revenue counted.
    pub revenue: f64,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for MarketingCampaign {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A marketing campaign to create (a draft).
#[derive(Debug, Clone)]
pub struct NewMarketingCampaign<'a> {
    /// Name (1 to 200 bytes).
    pub name: &'a str,
    /// Kind.
    pub kind: MarketingCampaignType,
    /// A brand of this organization.
    pub brand: Option<&'a BrandId>,
    /// Description.
    pub description: Option<&'a str>,
    /// Budget (finite, 0 or more).
    pub budget: Option<f64>,
    /// Start.
    pub start_date: NaiveDateTime,
    /// End (after the start).
    pub end_date: Option<NaiveDateTime>,
}

/// Results to add to a marketing campaign's counters (each 0 or more).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Results {
    /// Impressions.
    pub impressions: i32,
    /// Clicks.
    pub clicks: i32,
    /// Conversions.
    pub conversions: i32,
    /// Revenue.
    pub revenue: f64,
    /// Money spent.
    pub spent: f64,
}

fn non_negative(field: &str, v: f64) -> Result<(), InvalidData> {
    if !v.is_finite() || v < 0.0 {
        return Err(InvalidData::OutOfRange(format!(
            "{field} {v}: a finite amount, 0 or more"
        )));
    }
    Ok(())
}

impl MarketingCampaign {
    /// Creates a draft marketing campaign.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_campaign", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewMarketingCampaign<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("name", new.name)?;
        limits::text_opt("description", new.description)?;
        if let Some(b) = new.budget {
            non_negative("budget", b)?;
        }
        InvalidData::check_timestamp("startDate", new.start_date)?;
        if let Some(end) = new.end_date {
            InvalidData::check_timestamp("endDate", end)?;
            if end < new.start_date {
                return Err(InvalidData::OutOfRange(format!(
                    "endDate {end} is before startDate {}",
                    new.start_date
                ))
                .into());
            }
        }
        scope
            .transaction(conn, async |tx| {
                if let Some(brand) = new.brand {
                    Brand::parent(tx, scope, brand).await?;
                }
                let now = time::now();
                Ok(diesel::insert_into(marketing_campaigns::table)
                    .values((
                        marketing_campaigns::id.eq(MarketingCampaignId::generate()),
                        marketing_campaigns::organizationId.eq(scope.organization_id()),
                        marketing_campaigns::brandId.eq(new.brand),
                        marketing_campaigns::name.eq(new.name),
                        marketing_campaigns::description.eq(new.description),
                        marketing_campaigns::type_.eq(new.kind),
                        marketing_campaigns::status.eq(MarketingCampaignStatus::Draft),
                        marketing_campaigns::budget.eq(new.budget),
                        marketing_campaigns::startDate.eq(new.start_date),
                        marketing_campaigns::endDate.eq(new.end_date),
                        marketing_campaigns::createdAt.eq(now),
                        marketing_campaigns::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The marketing campaign with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_campaign", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingCampaignId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                marketing_campaigns::table
                    .find(id)
                    .filter(marketing_campaigns::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("marketing campaign", id))
            })
            .await
    }

    /// The organization's marketing campaigns (in one status, or all), newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_campaign", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<MarketingCampaignStatus>,
        page: &PageRequest,
    ) -> Result<Page<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = marketing_campaigns::table
                    .filter(marketing_campaigns::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(marketing_campaigns::status.eq(status));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Moves the campaign to `to` if the campaign life cycle allows it (the same as
    /// [`crate::transition_allowed`]), else [`CampaignError::IllegalTransition`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_campaign", op = "transition"))]
    pub async fn transition(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingCampaignId,
        to: MarketingCampaignStatus,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let from: MarketingCampaignStatus = marketing_campaigns::table
                    .find(id)
                    .filter(marketing_campaigns::organizationId.eq(scope.organization_id()))
                    .select(marketing_campaigns::status)
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("marketing campaign", id))?;
                if !marketing_transition_allowed(from, to) {
                    return Err(CampaignError::IllegalTransition {
                        entity: "marketing campaign",
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                }
                Ok(diesel::update(marketing_campaigns::table.find(id))
                    .set((
                        marketing_campaigns::status.eq(to),
                        marketing_campaigns::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Adds `results` to the campaign's counters in one statement (concurrent reporters
    /// never lose one).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_campaign", op = "record_results"))]
    pub async fn record_results(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingCampaignId,
        results: &Results,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        if results.impressions < 0 || results.clicks < 0 || results.conversions < 0 {
            return Err(
                InvalidData::OutOfRange(format!("counts are 0 or more: {results:?}")).into(),
            );
        }
        non_negative("revenue", results.revenue)?;
        non_negative("spent", results.spent)?;
        scope
            .transaction(conn, async |tx| {
                diesel::update(marketing_campaigns::table.find(id))
                    .filter(marketing_campaigns::organizationId.eq(scope.organization_id()))
                    .set((
                        marketing_campaigns::impressions
                            .eq(marketing_campaigns::impressions + results.impressions),
                        marketing_campaigns::clicks
                            .eq(marketing_campaigns::clicks + results.clicks),
                        marketing_campaigns::conversions
                            .eq(marketing_campaigns::conversions + results.conversions),
                        marketing_campaigns::revenue
                            .eq(marketing_campaigns::revenue + results.revenue),
                        marketing_campaigns::spent.eq(marketing_campaigns::spent + results.spent),
                        marketing_campaigns::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("marketing campaign", id))
            })
            .await
    }
}

/// The campaign life cycle for marketing campaigns (see [`crate::transition_allowed`]).
pub fn marketing_transition_allowed(
    from: MarketingCampaignStatus,
    to: MarketingCampaignStatus,
) -> bool {
    use neonhub_schema::enums::CampaignStatus;
    let as_campaign = |s: MarketingCampaignStatus| {
        CampaignStatus::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s.as_str())
    };
    match (as_campaign(from), as_campaign(to)) {
        (Some(f), Some(t)) => crate::transition_allowed(f, t),
        _ => false,
    }
}

/// A lead: someone who showed interest, one per organization and email.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = marketing_leads, check_for_backend(diesel::pg::Pg))]
pub struct MarketingLead {
    /// Primary key.
    pub id: MarketingLeadId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// Email (unique per organization, trimmed and case-insensitively).
    pub email: String,
    /// First name.
    #[diesel(column_name = firstName)]
    pub first_name: Option<String>,
    /// Last name.
    #[diesel(column_name = lastName)]
    pub last_name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Where it came from.
    pub source: String,
    /// The medium.
    pub medium: Option<String>,
    /// The campaign name it came in with (free text, from UTM).
    pub campaign: Option<String>,
    /// The marketing campaign it is attributed to.
    #[diesel(column_name = campaignId)]
    pub campaign_id: Option<MarketingCampaignId>,
    /// UTM parameters.
    #[diesel(column_name = utmParams)]
    pub utm_params: Option<Value>,
    /// Score, 0 to 100.
    pub score: i32,
    /// Grade from the score (A at 80 and above, B 60, C 40, D 20, F below).
    pub grade: Option<MarketingLeadGrade>,
    /// Where it is in its life ([`lead_transition_allowed`]).
    pub status: MarketingLeadStatus,
    /// First touch.
    #[diesel(column_name = firstTouch)]
    pub first_touch: NaiveDateTime,
    /// Latest touch.
    #[diesel(column_name = lastTouch)]
    pub last_touch: NaiveDateTime,
    /// Touches counted.
    #[diesel(column_name = touchCount)]
    pub touch_count: i32,
    /// Page views.
    #[diesel(column_name = pageViews)]
    pub page_views: i32,
    /// Engagement score.
    #[diesel(column_name = engagementScore)]
    pub engagement_score: i32,
    /// When it converted (set once, by [`MarketingLead::convert`]).
    #[diesel(column_name = convertedAt)]
    pub converted_at: Option<NaiveDateTime>,
    /// What the conversion was worth.
    #[diesel(column_name = convertedValue)]
    pub converted_value: Option<f64>,
    /// When it was created.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for MarketingLead {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A lead to add.
#[derive(Debug, Clone, Default)]
pub struct NewLead<'a> {
    /// Email (an `@`, 3 to 320 bytes; trimmed).
    pub email: &'a str,
    /// Where it came from (1 to 200 bytes).
    pub source: &'a str,
    /// First name.
    pub first_name: Option<&'a str>,
    /// Last name.
    pub last_name: Option<&'a str>,
    /// Company.
    pub company: Option<&'a str>,
    /// Phone.
    pub phone: Option<&'a str>,
    /// Medium.
    pub medium: Option<&'a str>,
    /// A marketing campaign of this organization.
    pub campaign: Option<&'a MarketingCampaignId>,
    /// UTM parameters.
    pub utm_params: Option<&'a Value>,
}

/// Whether a lead may go `from` → `to` by [`MarketingLead::set_status`]: new → contacted;
/// contacted → qualified or nurturing; qualified ⇄ nurturing; any of those → lost or
/// unqualified; lost → nurturing (re-engaged). `converted` is reached only through
/// [`MarketingLead::convert`], and nothing leaves it.
pub fn lead_transition_allowed(from: MarketingLeadStatus, to: MarketingLeadStatus) -> bool {
    use MarketingLeadStatus::*;
    matches!(
        (from, to),
        (New, Contacted)
            | (Contacted, Qualified)
            | (Contacted, Nurturing)
            | (Qualified, Nurturing)
            | (Nurturing, Qualified)
            | (New | Contacted | Qualified | Nurturing, Lost | Unqualified)
            | (Lost, Nurturing)
    )
}

impl MarketingLead {
    /// Adds a lead. One lead per organization and email (trimmed, case-insensitively): a
    /// second is [`CampaignError::Duplicate`], also when two arrive at once (the check and
    /// the insert run under a transaction lock on the organization and email).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_lead", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewLead<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        let email = new.email.trim();
        InvalidData::check_length("email", email, 3, 320)?;
        if !email.contains('@') {
            return Err(InvalidData::OutOfRange(format!("email {email:?} has no @")).into());
        }
        limits::name("source", new.source)?;
        for (field, v) in [
            ("firstName", new.first_name),
            ("lastName", new.last_name),
            ("company", new.company),
            ("phone", new.phone),
            ("medium", new.medium),
        ] {
            limits::short(field, v)?;
        }
        limits::json("utmParams", new.utm_params)?;
        scope
            .transaction(conn, async |tx| {
                if let Some(c) = new.campaign {
                    marketing_campaign_parent(tx, scope, c).await?;
                }
                // The reference has no unique index (adopted databases may hold duplicates
                // until `neonhub leads dedupe`): serialize writers of one email instead.
                diesel::sql_query(
                    "SELECT pg_advisory_xact_lock(1855, hashtext($1 || '/' || lower($2)))",
                )
                .bind::<Text, _>(scope.organization_id())
                .bind::<Text, _>(email)
                .execute(tx)
                .await?;
                let taken: i64 = marketing_leads::table
                    .filter(marketing_leads::organizationId.eq(scope.organization_id()))
                    .filter(
                        diesel::dsl::sql::<Text>("lower(btrim(email))").eq(email.to_lowercase()),
                    )
                    .count()
                    .get_result(tx)
                    .await?;
                if taken > 0 {
                    return Err(CampaignError::Duplicate {
                        entity: "lead",
                        key: email.to_owned(),
                    });
                }
                let now = time::now();
                diesel::insert_into(marketing_leads::table)
                    .values((
                        marketing_leads::id.eq(MarketingLeadId::generate()),
                        marketing_leads::organizationId.eq(scope.organization_id()),
                        marketing_leads::email.eq(email),
                        marketing_leads::firstName.eq(new.first_name),
                        marketing_leads::lastName.eq(new.last_name),
                        marketing_leads::company.eq(new.company),
                        marketing_leads::phone.eq(new.phone),
                        marketing_leads::source.eq(new.source),
                        marketing_leads::medium.eq(new.medium),
                        marketing_leads::campaignId.eq(new.campaign),
                        marketing_leads::utmParams.eq(new.utm_params),
                        marketing_leads::firstTouch.eq(now),
                        marketing_leads::lastTouch.eq(now),
                        marketing_leads::touchCount.eq(0),
                        marketing_leads::createdAt.eq(now),
                        marketing_leads::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    // Once `neonhub leads dedupe --apply` has made the unique index, a writer
                    // that bypassed this repository is caught there too.
                    .map_err(|e| match neonhub_schema::unique_violation(&e) {
                        Some(crate::LEADS_EMAIL_KEY) => CampaignError::Duplicate {
                            entity: "lead",
                            key: email.to_owned(),
                        },
                        _ => e.into(),
                    })
            })
            .await
    }

    /// The lead with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_lead", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingLeadId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await)
            .await
    }

    /// The organization's leads (in one status, or all), newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_lead", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<MarketingLeadStatus>,
        page: &PageRequest,
    ) -> Result<Page<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = marketing_leads::table
                    .filter(marketing_leads::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(marketing_leads::status.eq(status));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Adds `delta` to the lead's score (kept within 0 to 100) and sets its grade, in one
    /// statement.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_lead", op = "add_score"))]
    pub async fn add_score(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingLeadId,
        delta: i32,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        if !(-100..=100).contains(&delta) {
            return Err(
                InvalidData::OutOfRange(format!("score delta {delta}: -100 to 100")).into(),
            );
        }
        scope
            .transaction(conn, async |tx| {
                diesel::sql_query(
                    r#"UPDATE public.marketing_leads SET
                           score = greatest(0, least(100, score + $3)),
                           grade = (CASE WHEN greatest(0, least(100, score + $3)) >= 80 THEN 'A'
                                         WHEN greatest(0, least(100, score + $3)) >= 60 THEN 'B'
                                         WHEN greatest(0, least(100, score + $3)) >= 40 THEN 'C'
                                         WHEN greatest(0, least(100, score + $3)) >= 20 THEN 'D'
                                         ELSE 'F' END)::"MarketingLeadGrade",
                           "updatedAt" = $4
                       WHERE id = $1 AND "organizationId" = $2
                       RETURNING *"#,
                )
                .bind::<Text, _>(id)
                .bind::<Text, _>(scope.organization_id())
                .bind::<diesel::sql_types::Integer, _>(delta)
                .bind::<diesel::sql_types::Timestamp, _>(time::now())
                .get_result::<Self>(tx)
                .await
                .optional()?
                .ok_or_else(|| CampaignError::not_found("lead", id))
            })
            .await
    }

    /// Moves the lead to `to` if [`lead_transition_allowed`], else
    /// [`CampaignError::IllegalTransition`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_lead", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingLeadId,
        to: MarketingLeadStatus,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let from = Self::lock_status(tx, scope, id).await?;
                if !lead_transition_allowed(from, to) {
                    return Err(CampaignError::IllegalTransition {
                        entity: "lead",
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                }
                Ok(diesel::update(marketing_leads::table.find(id))
                    .set((
                        marketing_leads::status.eq(to),
                        marketing_leads::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Converts the lead, once: status `converted`, `convertedAt` = `at`, `convertedValue`
    /// = `value` (finite, 0 or more). A lead already converted is
    /// [`CampaignError::IllegalTransition`] from `converted`, and keeps its first values; a
    /// lost or unqualified lead cannot convert.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_lead", op = "convert"))]
    pub async fn convert(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingLeadId,
        value: f64,
        at: NaiveDateTime,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        non_negative("convertedValue", value)?;
        InvalidData::check_timestamp("convertedAt", at)?;
        scope
            .transaction(conn, async |tx| {
                use MarketingLeadStatus::*;
                let from = Self::lock_status(tx, scope, id).await?;
                if matches!(from, Converted | Lost | Unqualified) {
                    return Err(CampaignError::IllegalTransition {
                        entity: "lead",
                        from: from.to_string(),
                        to: Converted.to_string(),
                    });
                }
                Ok(diesel::update(marketing_leads::table.find(id))
                    .set((
                        marketing_leads::status.eq(Converted),
                        marketing_leads::convertedAt.eq(at),
                        marketing_leads::convertedValue.eq(value),
                        marketing_leads::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    async fn lock_status(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingLeadId,
    ) -> Result<MarketingLeadStatus, CampaignError> {
        marketing_leads::table
            .find(id)
            .filter(marketing_leads::organizationId.eq(scope.organization_id()))
            .select(marketing_leads::status)
            .for_update()
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| CampaignError::not_found("lead", id))
    }

    async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &MarketingLeadId,
    ) -> Result<Self, CampaignError> {
        marketing_leads::table
            .find(id)
            .filter(marketing_leads::organizationId.eq(scope.organization_id()))
            .select(Self::as_select())
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| CampaignError::not_found("lead", id))
    }
}

/// Fails unless `id` is a marketing campaign of this organization.
async fn marketing_campaign_parent(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    id: &MarketingCampaignId,
) -> Result<(), CampaignError> {
    let n: i64 = marketing_campaigns::table
        .find(id)
        .filter(marketing_campaigns::organizationId.eq(scope.organization_id()))
        .count()
        .get_result(tx)
        .await?;
    if n == 0 {
        return Err(CampaignError::foreign_parent("marketing campaign", id));
    }
    Ok(())
}

/// One touch of a lead: a view, an open, a click, a call.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = marketing_touchpoints, check_for_backend(diesel::pg::Pg))]
pub struct MarketingTouchpoint {
    /// Primary key.
    pub id: MarketingTouchpointId,
    /// The lead.
    #[diesel(column_name = leadId)]
    pub lead_id: MarketingLeadId,
    /// The marketing campaign it came through.
    #[diesel(column_name = campaignId)]
    pub campaign_id: Option<MarketingCampaignId>,
    /// What happened.
    #[diesel(column_name = type_)]
    pub kind: MarketingTouchpointType,
    /// The channel (`email`, `search`, `social`, ...).
    pub channel: String,
    /// The page.
    pub url: Option<String>,
    /// The referrer.
    pub referrer: Option<String>,
    /// The device.
    pub device: Option<String>,
    /// Where.
    pub location: Option<String>,
    /// The session.
    #[diesel(column_name = sessionId)]
    pub session_id: Option<String>,
    /// Details.
    #[diesel(column_name = eventData)]
    pub event_data: Option<Value>,
    /// Its share of the lead's conversion (see [`crate::Attribution`]).
    #[diesel(column_name = attributionWeight)]
    pub attribution_weight: f64,
    /// When (UTC).
    pub timestamp: NaiveDateTime,
}

/// A touchpoint to record.
#[derive(Debug, Clone)]
pub struct NewTouchpoint<'a> {
    /// What happened.
    pub kind: MarketingTouchpointType,
    /// The channel (1 to 200 bytes).
    pub channel: &'a str,
    /// A marketing campaign of this organization.
    pub campaign: Option<&'a MarketingCampaignId>,
    /// The page.
    pub url: Option<&'a str>,
    /// The referrer.
    pub referrer: Option<&'a str>,
    /// Details.
    pub event_data: Option<&'a Value>,
    /// When (`None`: now).
    pub at: Option<NaiveDateTime>,
}

impl MarketingTouchpoint {
    /// Records a touch of a lead of this organization (and of a campaign of it, if
    /// given), and counts it on the lead (`touchCount`, `firstTouch`, `lastTouch`).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_touchpoint", op = "add"))]
    pub async fn add(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        lead: &MarketingLeadId,
        new: &NewTouchpoint<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("channel", new.channel)?;
        limits::text_opt("url", new.url)?;
        limits::text_opt("referrer", new.referrer)?;
        limits::json("eventData", new.event_data)?;
        let at = new.at.unwrap_or_else(time::now);
        InvalidData::check_timestamp("timestamp", at)?;
        scope
            .transaction(conn, async |tx| {
                let counted = diesel::update(marketing_leads::table.find(lead))
                    .filter(marketing_leads::organizationId.eq(scope.organization_id()))
                    .set((
                        marketing_leads::touchCount.eq(marketing_leads::touchCount + 1),
                        marketing_leads::firstTouch.eq(diesel::dsl::sql::<Timestamp>(
                            r#"CASE WHEN "touchCount" = 0 THEN "#,
                        )
                        .bind::<Timestamp, _>(at)
                        .sql(r#" ELSE least("firstTouch", "#)
                        .bind::<Timestamp, _>(at)
                        .sql(") END")),
                        marketing_leads::lastTouch.eq(diesel::dsl::sql::<Timestamp>(
                            r#"greatest("lastTouch", "#,
                        )
                        .bind::<Timestamp, _>(at)
                        .sql(")")),
                    ))
                    .execute(tx)
                    .await?;
                if counted == 0 {
                    return Err(CampaignError::foreign_parent("lead", lead));
                }
                if let Some(c) = new.campaign {
                    marketing_campaign_parent(tx, scope, c).await?;
                }
                Ok(diesel::insert_into(marketing_touchpoints::table)
                    .values((
                        marketing_touchpoints::id.eq(MarketingTouchpointId::generate()),
                        marketing_touchpoints::leadId.eq(lead),
                        marketing_touchpoints::campaignId.eq(new.campaign),
                        marketing_touchpoints::type_.eq(new.kind),
                        marketing_touchpoints::channel.eq(new.channel),
                        marketing_touchpoints::url.eq(new.url),
                        marketing_touchpoints::referrer.eq(new.referrer),
                        marketing_touchpoints::eventData.eq(new.event_data),
                        marketing_touchpoints::timestamp.eq(at),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The lead's touchpoints, oldest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_touchpoint", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        lead: &MarketingLeadId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                MarketingLead::find(tx, scope, lead).await?;
                Ok(marketing_touchpoints::table
                    .filter(marketing_touchpoints::leadId.eq(lead))
                    .order((marketing_touchpoints::timestamp, marketing_touchpoints::id))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }
}
