//! Attribution: how much of each converted lead's conversion each of its touchpoints
//! earned, by a chosen model, computed set-wise in one SQL statement (one lead, one
//! campaign's leads, or the whole organization), and a report of attributed conversions
//! and revenue per channel and campaign.
//!
//! The touchpoints that count are the lead's touchpoints at or before its conversion; the
//! later ones (and those of leads not converted) get weight 0. The weights of one
//! conversion sum to 1. Touchpoints at the same instant are treated alike: first and last
//! touch split their credit among the touchpoints tied at the first (last) instant, and so
//! does position-based at both ends.

use chrono::{Duration, NaiveDateTime};
use diesel::QueryableByName;
use diesel::sql_types::{Double, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{MarketingCampaignId, MarketingLeadId};
use neonhub_schema::{InvalidData, TenantScope, keys};

use crate::CampaignError;

/// An attribution model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// All credit to the first touch (split among touches tied at the first instant).
    FirstTouch,
    /// All credit to the last touch before the conversion (split among ties).
    LastTouch,
    /// Equal credit to every touch.
    Linear,
    /// Credit halving every `half_life` before the conversion: weight ∝ 2^(−age / half_life),
    /// normalized. The half-life must be positive.
    TimeDecay {
        /// How long it takes a touch's credit to halve.
        half_life: Duration,
    },
    /// 40 % to the first touch, 40 % to the last, 20 % shared by those between; with no
    /// touch between, 50 % each; with one instant only, equal shares.
    PositionBased,
}

/// Which conversions to attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target<'a> {
    /// One lead of this organization.
    Lead(&'a MarketingLeadId),
    /// The leads attributed to one marketing campaign (`marketing_leads."campaignId"`).
    Campaign(&'a MarketingCampaignId),
    /// Every lead of the organization.
    Organization,
}

/// One line of [`Attribution::report`].
#[derive(Debug, Clone, PartialEq, QueryableByName, serde::Serialize)]
pub struct ChannelAttribution {
    /// The channel.
    #[diesel(sql_type = Text)]
    pub channel: String,
    /// The marketing campaign the touches came through (`None`: none).
    #[diesel(sql_type = Nullable<Text>)]
    pub campaign_id: Option<MarketingCampaignId>,
    /// Conversions attributed (the sum of weights).
    #[diesel(sql_type = Double)]
    pub conversions: f64,
    /// Revenue attributed (weights times the conversions' values).
    #[diesel(sql_type = Double)]
    pub revenue: f64,
}

/// Attribution runs and reports.
pub struct Attribution;

impl Attribution {
    /// Computes the touchpoints' `attributionWeight` for `target` by `model`, in one
    /// statement; returns how many touchpoints changed (a second run with the same model
    /// changes none).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "attribution", op = "run"))]
    pub async fn run(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        target: Target<'_>,
        model: Model,
    ) -> Result<usize, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        let half_life_s = match model {
            Model::TimeDecay { half_life } => {
                let s = half_life.num_milliseconds() as f64 / 1000.0;
                if s <= 0.0 {
                    return Err(InvalidData::OutOfRange(format!(
                        "half-life {half_life}: it must be positive"
                    ))
                    .into());
                }
                s
            }
            _ => 1.0,
        };
        let (filter, id) = match target {
            Target::Lead(id) => (r#"l.id = $2"#, id.as_str()),
            Target::Campaign(id) => (r#"l."campaignId" = $2"#, id.as_str()),
            Target::Organization => ("$2 = ''", ""),
        };
        let weight = match model {
            Model::FirstTouch => "CASE WHEN ts = first_at THEN 1.0 / n_first ELSE 0 END",
            Model::LastTouch => "CASE WHEN ts = last_at THEN 1.0 / n_last ELSE 0 END",
            Model::Linear => "1.0 / n",
            Model::TimeDecay { .. } => "decay / sum(decay) OVER lead",
            Model::PositionBased => {
                "CASE WHEN first_at = last_at THEN 1.0 / n
                      WHEN n_mid = 0 THEN CASE WHEN ts = first_at THEN 0.5 / n_first ELSE 0.5 / n_last END
                      WHEN ts = first_at THEN 0.4 / n_first
                      WHEN ts = last_at THEN 0.4 / n_last
                      ELSE 0.2 / n_mid END"
            }
        };
        // 2^(-age / half-life), relative to the lead's latest counted touch (whose term is
        // 1, so the sum is at least 1) and floored at e^-700: no underflow, same ratios.
        let decay = match model {
            Model::TimeDecay { .. } => {
                "exp(greatest(-700.0, -ln(2.0) * extract(epoch FROM last_at - ts)::float8 / $3))"
            }
            _ => "0::float8",
        };
        let sql = format!(
            r#"WITH counted AS (
                   SELECT t.id, t."leadId", t."timestamp" AS ts,
                          count(*) OVER lead AS n,
                          min(t."timestamp") OVER lead AS first_at,
                          max(t."timestamp") OVER lead AS last_at
                   FROM public.marketing_touchpoints t
                   JOIN public.marketing_leads l ON l.id = t."leadId"
                   WHERE l."organizationId" = $1 AND {filter}
                     AND l."convertedAt" IS NOT NULL AND t."timestamp" <= l."convertedAt"
                   WINDOW lead AS (PARTITION BY t."leadId")
               ), placed AS (
                   SELECT *,
                          count(*) FILTER (WHERE ts = first_at) OVER lead AS n_first,
                          count(*) FILTER (WHERE ts = last_at) OVER lead AS n_last,
                          count(*) FILTER (WHERE ts > first_at AND ts < last_at) OVER lead AS n_mid,
                          {decay} AS decay
                   FROM counted
                   WINDOW lead AS (PARTITION BY "leadId")
               ), weighted AS (
                   SELECT id, ({weight})::double precision AS w
                   FROM placed
                   WINDOW lead AS (PARTITION BY "leadId")
               ), targets AS (
                   -- Every touchpoint in the target: the counted ones get their weight, the
                   -- others (after the conversion, or of a lead not converted) 0.
                   SELECT t.id, coalesce(w.w, 0) AS w
                   FROM public.marketing_touchpoints t
                   JOIN public.marketing_leads l ON l.id = t."leadId"
                   LEFT JOIN weighted w ON w.id = t.id
                   WHERE l."organizationId" = $1 AND {filter}
               )
               UPDATE public.marketing_touchpoints t SET "attributionWeight" = targets.w
               FROM targets
               WHERE t.id = targets.id AND t."attributionWeight" IS DISTINCT FROM targets.w"#
        );
        scope
            .transaction(conn, async |tx| {
                if let Target::Lead(lead) = target {
                    // A lead of another organization is refused, not silently skipped.
                    use diesel::prelude::{ExpressionMethods, QueryDsl};
                    use neonhub_schema::schema::marketing_leads;
                    let n: i64 = marketing_leads::table
                        .find(lead)
                        .filter(marketing_leads::organizationId.eq(scope.organization_id()))
                        .count()
                        .get_result(tx)
                        .await?;
                    if n == 0 {
                        return Err(CampaignError::not_found("lead", lead));
                    }
                }
                Ok(diesel::sql_query(sql)
                    .bind::<Text, _>(scope.organization_id())
                    .bind::<Text, _>(id)
                    .bind::<Double, _>(half_life_s)
                    .execute(tx)
                    .await?)
            })
            .await
    }

    /// Attributed conversions and revenue per channel and marketing campaign, for the
    /// organization's leads converted in [`from`, `until`), by the weights last computed.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "attribution", op = "report"))]
    pub async fn report(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<ChannelAttribution>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Ok(diesel::sql_query(
                    r#"SELECT t.channel, t."campaignId" AS campaign_id,
                              sum(t."attributionWeight") AS conversions,
                              sum(t."attributionWeight" * coalesce(l."convertedValue", 0)) AS revenue
                       FROM public.marketing_touchpoints t
                       JOIN public.marketing_leads l ON l.id = t."leadId"
                       WHERE l."organizationId" = $1 AND l."convertedAt" >= $2 AND l."convertedAt" < $3
                         AND t."attributionWeight" > 0
                       GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2"#,
                )
                .bind::<Text, _>(scope.organization_id())
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(until)
                .load(tx)
                .await?)
            })
            .await
    }
}
