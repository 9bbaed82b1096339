//! Daily marketing metrics (one row per organization and day: a second report of a day
//! adds to it) and SEO metrics imported in bulk from search-console exports (one row per
//! organization, url, keyword and day: a re-import replaces the figures).

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::{ExpressionMethods, QueryDsl, Queryable, QueryableByName, Selectable};
use diesel::sql_types::{Array, Double, Integer, Jsonb, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{ContentId, MarketingMetricId, OrganizationId, SeoMetricId};
use neonhub_schema::schema::{content, marketing_metrics, seo_metrics};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{CampaignError, limits};

/// One organization's marketing figures for one day.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = marketing_metrics, check_for_backend(diesel::pg::Pg))]
pub struct MarketingMetric {
    /// Primary key.
    pub id: MarketingMetricId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The day (midnight UTC).
    pub date: NaiveDateTime,
    /// Impressions.
    pub impressions: i32,
    /// Clicks.
    pub clicks: i32,
    /// Conversions.
    pub conversions: i32,
    /// Revenue.
    pub revenue: f64,
    /// Cost.
    pub cost: f64,
    /// Leads generated.
    #[diesel(column_name = leadsGenerated)]
    pub leads_generated: i32,
    /// What the leads cost.
    #[diesel(column_name = leadsCost)]
    pub leads_cost: f64,
    /// Figures per channel (`{"email": 12, "search": 30}`), added up per key.
    #[diesel(column_name = channelBreakdown)]
    pub channel_breakdown: Option<Value>,
    /// When the day's row was first written.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

/// A day's figures to add.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailyFigures<'a> {
    /// Impressions (0 or more).
    pub impressions: i32,
    /// Clicks (0 or more).
    pub clicks: i32,
    /// Conversions (0 or more).
    pub conversions: i32,
    /// Revenue (finite, 0 or more).
    pub revenue: f64,
    /// Cost (finite, 0 or more).
    pub cost: f64,
    /// Leads generated (0 or more).
    pub leads_generated: i32,
    /// Leads' cost (finite, 0 or more).
    pub leads_cost: f64,
    /// Per channel: a flat JSON object of numbers, added key by key.
    pub channel_breakdown: Option<&'a Value>,
}

impl DailyFigures<'_> {
    fn check(&self) -> Result<(), InvalidData> {
        for (field, v) in [
            ("impressions", self.impressions),
            ("clicks", self.clicks),
            ("conversions", self.conversions),
            ("leadsGenerated", self.leads_generated),
        ] {
            if v < 0 {
                return Err(InvalidData::OutOfRange(format!("{field} {v}: 0 or more")));
            }
        }
        for (field, v) in [
            ("revenue", self.revenue),
            ("cost", self.cost),
            ("leadsCost", self.leads_cost),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(InvalidData::OutOfRange(format!(
                    "{field} {v}: finite, 0 or more"
                )));
            }
        }
        if let Some(b) = self.channel_breakdown {
            limits::json("channelBreakdown", Some(b))?;
            let flat = b
                .as_object()
                .is_some_and(|m| m.values().all(|v| v.as_f64().is_some_and(f64::is_finite)));
            if !flat {
                return Err(InvalidData::OutOfRange(
                    "channelBreakdown must be an object of numbers by channel".into(),
                ));
            }
        }
        Ok(())
    }
}

impl MarketingMetric {
    /// Adds a day's figures to the organization's row for `day` (creating it): reporting
    /// the same day twice adds, never overwrites, also concurrently (one upsert).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_metric", op = "report_day"))]
    pub async fn report_day(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        day: NaiveDate,
        figures: &DailyFigures<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        figures.check()?;
        let date = day.and_hms_opt(0, 0, 0).expect("midnight exists");
        InvalidData::check_timestamp("date", date)?;
        scope
            .transaction(conn, async |tx| {
                Ok(diesel::sql_query(
                    r#"INSERT INTO public.marketing_metrics AS m (id, "organizationId", date,
                           impressions, clicks, conversions, revenue, cost, "leadsGenerated",
                           "leadsCost", "channelBreakdown", "createdAt")
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                       ON CONFLICT ("organizationId", date) DO UPDATE SET
                           impressions = m.impressions + EXCLUDED.impressions,
                           clicks = m.clicks + EXCLUDED.clicks,
                           conversions = m.conversions + EXCLUDED.conversions,
                           revenue = m.revenue + EXCLUDED.revenue,
                           cost = m.cost + EXCLUDED.cost,
                           "leadsGenerated" = m."leadsGenerated" + EXCLUDED."leadsGenerated",
                           "leadsCost" = m."leadsCost" + EXCLUDED."leadsCost",
                           "channelBreakdown" = CASE
                               WHEN m."channelBreakdown" IS NULL THEN EXCLUDED."channelBreakdown"
                               WHEN EXCLUDED."channelBreakdown" IS NULL THEN m."channelBreakdown"
                               ELSE (SELECT jsonb_object_agg(k,
                                         coalesce((m."channelBreakdown" ->> k)::numeric, 0)
                                         + coalesce((EXCLUDED."channelBreakdown" ->> k)::numeric, 0))
                                     FROM (SELECT jsonb_object_keys(m."channelBreakdown")
                                           UNION SELECT jsonb_object_keys(EXCLUDED."channelBreakdown")) keys(k))
                           END
                       RETURNING *"#,
                )
                .bind::<Text, _>(MarketingMetricId::generate())
                .bind::<Text, _>(scope.organization_id())
                .bind::<Timestamp, _>(date)
                .bind::<Integer, _>(figures.impressions)
                .bind::<Integer, _>(figures.clicks)
                .bind::<Integer, _>(figures.conversions)
                .bind::<Double, _>(figures.revenue)
                .bind::<Double, _>(figures.cost)
                .bind::<Integer, _>(figures.leads_generated)
                .bind::<Double, _>(figures.leads_cost)
                .bind::<Nullable<Jsonb>, _>(figures.channel_breakdown)
                .bind::<Timestamp, _>(time::now())
                .get_result(tx)
                .await?)
            })
            .await
    }

    /// The organization's days from `from` to `until` (inclusive), oldest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "marketing_metric", op = "range"))]
    pub async fn range(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        let (from, until) = (
            from.and_hms_opt(0, 0, 0).expect("midnight"),
            until.and_hms_opt(0, 0, 0).expect("midnight"),
        );
        scope
            .transaction(conn, async |tx| {
                use diesel::SelectableHelper;
                Ok(marketing_metrics::table
                    .filter(marketing_metrics::organizationId.eq(scope.organization_id()))
                    .filter(marketing_metrics::date.ge(from))
                    .filter(marketing_metrics::date.le(until))
                    .order(marketing_metrics::date)
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }
}

/// One page's figures for one keyword and day, from a search console.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = seo_metrics, check_for_backend(diesel::pg::Pg))]
pub struct SeoMetric {
    /// Primary key.
    pub id: SeoMetricId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The content the page shows, if known.
    #[diesel(column_name = contentId)]
    pub content_id: Option<ContentId>,
    /// The page.
    pub url: String,
    /// The query.
    pub keyword: String,
    /// Impressions.
    pub impressions: i32,
    /// Clicks.
    pub clicks: i32,
    /// Click-through rate, 0 to 1.
    pub ctr: f64,
    /// Average position (1 is the top).
    #[diesel(column_name = avgPosition)]
    pub avg_position: f64,
    /// The day.
    pub date: NaiveDateTime,
    /// When the row was first imported.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

/// One row of a search-console export.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeoMetric<'a> {
    /// The page (1 byte to 100 KB).
    pub url: &'a str,
    /// The query (1 to 200 bytes).
    pub keyword: &'a str,
    /// Content of this organization the page shows.
    pub content: Option<&'a ContentId>,
    /// Impressions (0 or more).
    pub impressions: i32,
    /// Clicks (0 to impressions).
    pub clicks: i32,
    /// Click-through rate (0 to 1).
    pub ctr: f64,
    /// Average position (0 or more).
    pub avg_position: f64,
    /// The day.
    pub date: NaiveDate,
}

/// The most rows one [`SeoMetric::import`] call takes.
pub const MAX_SEO_BATCH: usize = 10_000;

impl NewSeoMetric<'_> {
    fn check(&self) -> Result<(), InvalidData> {
        limits::text("url", self.url)?;
        limits::name("keyword", self.keyword)?;
        if self.impressions < 0 || self.clicks < 0 || self.clicks > self.impressions {
            return Err(InvalidData::OutOfRange(format!(
                "impressions {} and clicks {}: 0 or more, clicks at most impressions",
                self.impressions, self.clicks
            )));
        }
        if !(0.0..=1.0).contains(&self.ctr) {
            return Err(InvalidData::OutOfRange(format!(
                "ctr {}: from 0 to 1",
                self.ctr
            )));
        }
        if !self.avg_position.is_finite() || self.avg_position < 0.0 {
            return Err(InvalidData::OutOfRange(format!(
                "avgPosition {}: 0 or more",
                self.avg_position
            )));
        }
        InvalidData::check_timestamp("date", self.date.and_hms_opt(0, 0, 0).expect("midnight"))
    }
}

impl SeoMetric {
    /// Imports rows in one statement, all or nothing (at most [`MAX_SEO_BATCH`]): a row
    /// whose (url, keyword, day) the organization already has replaces its figures (a
    /// later export is the truer one). A bad row, or two rows with one key, is
    /// [`CampaignError::BatchRow`] naming it. Concurrent imports of overlapping rows leave
    /// one row per key (the unique key; rows are written in key order, so two imports
    /// cannot deadlock). Returns the rows written.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "seo_metric", op = "import"))]
    pub async fn import(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        rows: &[NewSeoMetric<'_>],
    ) -> Result<usize, CampaignError> {
        scope.require(keys::CONTENT_WRITE)?;
        if rows.len() > MAX_SEO_BATCH {
            return Err(InvalidData::OutOfRange(format!(
                "{} rows in one import: at most {MAX_SEO_BATCH}",
                rows.len()
            ))
            .into());
        }
        let mut by_key = BTreeMap::new();
        for (i, row) in rows.iter().enumerate() {
            row.check().map_err(|e| CampaignError::from(e).at(i))?;
            if let Some(first) = by_key.insert((row.url, row.keyword, row.date), i) {
                return Err(CampaignError::from(InvalidData::OutOfRange(format!(
                    "the same url, keyword and date as row {first}"
                )))
                .at(i));
            }
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let ordered: Vec<&NewSeoMetric<'_>> = by_key.values().map(|&i| &rows[i]).collect();
        let ids: Vec<String> = ordered
            .iter()
            .map(|_| SeoMetricId::generate().to_string())
            .collect();
        let urls: Vec<&str> = ordered.iter().map(|r| r.url).collect();
        let keywords: Vec<&str> = ordered.iter().map(|r| r.keyword).collect();
        let contents: Vec<Option<&str>> = ordered
            .iter()
            .map(|r| r.content.map(|c| c.as_str()))
            .collect();
        let impressions: Vec<i32> = ordered.iter().map(|r| r.impressions).collect();
        let clicks: Vec<i32> = ordered.iter().map(|r| r.clicks).collect();
        let ctrs: Vec<f64> = ordered.iter().map(|r| r.ctr).collect();
        let positions: Vec<f64> = ordered.iter().map(|r| r.avg_position).collect();
        let dates: Vec<NaiveDateTime> = ordered
            .iter()
            .map(|r| r.date.and_hms_opt(0, 0, 0).expect("midnight"))
            .collect();
        let mut content_ids: Vec<&str> = contents.iter().flatten().copied().collect();
        content_ids.sort_unstable();
        content_ids.dedup();
        scope
            .transaction(conn, async |tx| {
                if !content_ids.is_empty() {
                    let found: Vec<ContentId> = content::table
                        .filter(content::organizationId.eq(scope.organization_id()))
                        .filter(content::id.eq_any(&content_ids))
                        .select(content::id)
                        .load(tx)
                        .await?;
                    if let Some(missing) = content_ids
                        .iter()
                        .find(|id| !found.iter().any(|f| f.as_str() == **id))
                    {
                        let position = rows
                            .iter()
                            .position(|r| r.content.is_some_and(|c| c.as_str() == *missing))
                            .unwrap_or(0);
                        return Err(CampaignError::foreign_parent("content", missing).at(position));
                    }
                }
                Ok(diesel::sql_query(
                    r#"INSERT INTO public.seo_metrics AS s (id, "organizationId", "contentId", url, keyword,
                           impressions, clicks, ctr, "avgPosition", date, "createdAt")
                       SELECT r.id, $1, r.content, r.url, r.keyword, r.impressions, r.clicks, r.ctr,
                              r.position, r.date, $11
                       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                                   $7::int[], $8::float8[], $9::float8[], $10::timestamp[])
                            AS r(id, url, keyword, content, impressions, clicks, ctr, position, date)
                       ON CONFLICT ("organizationId", url, keyword, date) DO UPDATE SET
                           "contentId" = coalesce(EXCLUDED."contentId", s."contentId"),
                           impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks,
                           ctr = EXCLUDED.ctr, "avgPosition" = EXCLUDED."avgPosition""#,
                )
                .bind::<Text, _>(scope.organization_id())
                .bind::<Array<Text>, _>(&ids)
                .bind::<Array<Text>, _>(&urls)
                .bind::<Array<Text>, _>(&keywords)
                .bind::<Array<Nullable<Text>>, _>(&contents)
                .bind::<Array<Integer>, _>(&impressions)
                .bind::<Array<Integer>, _>(&clicks)
                .bind::<Array<Double>, _>(&ctrs)
                .bind::<Array<Double>, _>(&positions)
                .bind::<Array<Timestamp>, _>(&dates)
                .bind::<Timestamp, _>(time::now())
                .execute(tx)
                .await?)
            })
            .await
    }

    /// The organization's rows for `url` (or all) from `from` to `until` (inclusive), by
    /// day, url and keyword.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "seo_metric", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        url: Option<&str>,
        from: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CONTENT_READ)?;
        let (from, until) = (
            from.and_hms_opt(0, 0, 0).expect("midnight"),
            until.and_hms_opt(0, 0, 0).expect("midnight"),
        );
        scope
            .transaction(conn, async |tx| {
                use diesel::SelectableHelper;
                let mut query = seo_metrics::table
                    .filter(seo_metrics::organizationId.eq(scope.organization_id()))
                    .filter(seo_metrics::date.ge(from))
                    .filter(seo_metrics::date.le(until))
                    .order((seo_metrics::date, seo_metrics::url, seo_metrics::keyword))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(url) = url {
                    query = query.filter(seo_metrics::url.eq(url.to_owned()));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }
}
