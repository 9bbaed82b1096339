//! A/B tests: variants with their exposure and conversion counts, counted atomically, and
//! a winner declared only when a two-proportion z-test reaches the test's confidence.
//!
//! Storage (the reference's columns): `variants` is the JSON array of variant names;
//! `metrics` is `{"confidence": 0.95, "counts": {"A": {"exposures": n, "conversions": m}}}`.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{AbTestId, CampaignId};
use neonhub_schema::schema::{ab_tests, campaigns};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::{Value, json};

use crate::{Campaign, CampaignError, limits};

/// The most variants a test may have.
pub const MAX_VARIANTS: usize = 20;

/// An A/B test of a campaign.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = ab_tests, check_for_backend(diesel::pg::Pg))]
pub struct AbTest {
    /// Primary key.
    pub id: AbTestId,
    /// The campaign.
    #[diesel(column_name = campaignId)]
    pub campaign_id: CampaignId,
    /// Name shown.
    pub name: String,
    /// The variants' names (a JSON array).
    pub variants: Value,
    /// The winner, once declared (never changed after).
    pub winner: Option<String>,
    /// The confidence and the counts (see the module's documentation).
    pub metrics: Value,
    /// When it started.
    #[diesel(column_name = startedAt)]
    pub started_at: NaiveDateTime,
    /// When a winner was declared.
    #[diesel(column_name = completedAt)]
    pub completed_at: Option<NaiveDateTime>,
}

/// One variant's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VariantResult {
    /// Its name.
    pub name: String,
    /// How many saw it.
    pub exposures: i64,
    /// How many of those converted.
    pub conversions: i64,
    /// `conversions / exposures` (0 with no exposure).
    pub rate: f64,
}

/// What [`AbTest::evaluate`] found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// The winner: declared now or before (`None`: not yet).
    pub winner: Option<String>,
    /// Whether this call declared it.
    pub declared_now: bool,
    /// The variants, best rate first.
    pub variants: Vec<VariantResult>,
    /// The z-score of the best variant against the runner-up (pooled two-proportion test).
    pub z: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
    /// The p-value a winner needs: `(1 - confidence) / (variants - 1)` (Bonferroni over the
    /// comparisons the best variant has to win).
    pub threshold: f64,
    /// Why there is no winner yet, if there is none.
    pub not_yet: Option<String>,
}

/// The smallest sample per variant the z-test is judged on (below it the normal
/// approximation is not trusted).
pub const MIN_EXPOSURES: i64 = 30;

/// Φ, the standard normal distribution function (Abramowitz and Stegun 7.1.26 for erf,
/// absolute error below 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The pooled two-proportion z-score of `a` over `b` (positive when `a` converts better)
/// and its two-sided p-value. With no variance (both rates 0 or 1) there is no evidence:
/// z 0, p 1.
pub fn two_proportion_z(a: &VariantResult, b: &VariantResult) -> (f64, f64) {
    let (na, nb) = (a.exposures as f64, b.exposures as f64);
    if na == 0.0 || nb == 0.0 {
        return (0.0, 1.0);
    }
    let pooled = (a.conversions + b.conversions) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return (0.0, 1.0);
    }
    let z = (a.rate - b.rate) / se;
    (z, 2.0 * (1.0 - normal_cdf(z.abs())))
}

/// The figures of `metrics`, in `names` order.
fn results(names: &[String], metrics: &Value) -> Vec<VariantResult> {
    names
        .iter()
        .map(|name| {
            let counts = &metrics["counts"][name];
            let exposures = counts["exposures"].as_i64().unwrap_or(0);
            let conversions = counts["conversions"].as_i64().unwrap_or(0);
            VariantResult {
                name: name.clone(),
                exposures,
                conversions,
                rate: if exposures > 0 {
                    conversions as f64 / exposures as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

fn names_of(variants: &Value) -> Vec<String> {
    variants
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Judges figures at `confidence`: [`Evaluation::winner`] is the variant that would win
/// (not recorded: [`AbTest::evaluate`] records it), or `not_yet` says why not.
fn judge(mut variants: Vec<VariantResult>, confidence: f64) -> Evaluation {
    variants.sort_by(|a, b| b.rate.total_cmp(&a.rate).then(a.name.cmp(&b.name)));
    let threshold = (1.0 - confidence) / (variants.len().max(2) - 1) as f64;
    let (z, p_value) = two_proportion_z(&variants[0], &variants[1]);
    let not_yet = if let Some(small) = variants.iter().find(|v| v.exposures < MIN_EXPOSURES) {
        Some(format!(
            "variant {} has {} exposures; each needs at least {MIN_EXPOSURES}",
            small.name, small.exposures
        ))
    } else if p_value > threshold {
        Some(format!(
            "{} leads {} at z = {z:.3}, p = {p_value:.4}; a winner needs p <= {threshold:.4}",
            variants[0].name, variants[1].name
        ))
    } else {
        None
    };
    Evaluation {
        winner: not_yet.is_none().then(|| variants[0].name.clone()),
        declared_now: false,
        variants,
        z,
        p_value,
        threshold,
        not_yet,
    }
}

impl AbTest {
    /// Starts an A/B test on a campaign of this organization: 2 to [`MAX_VARIANTS`]
    /// variants with distinct, non-empty names, and the confidence a winner needs (above
    /// 0.5 and below 1; 0.95 is usual).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "ab_test", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
        name: &str,
        variants: &[&str],
        confidence: f64,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("name", name)?;
        if !(2..=MAX_VARIANTS).contains(&variants.len()) {
            return Err(InvalidData::OutOfRange(format!(
                "an A/B test has 2 to {MAX_VARIANTS} variants, not {}",
                variants.len()
            ))
            .into());
        }
        let mut seen = BTreeSet::new();
        for v in variants {
            limits::name("variant", v)?;
            if !seen.insert(*v) {
                return Err(InvalidData::OutOfRange(format!("variant {v:?} appears twice")).into());
            }
        }
        if !(confidence > 0.5 && confidence < 1.0) {
            return Err(InvalidData::OutOfRange(format!(
                "confidence {confidence}: above 0.5 and below 1"
            ))
            .into());
        }
        let counts: serde_json::Map<String, Value> = variants
            .iter()
            .map(|v| (v.to_string(), json!({"exposures": 0, "conversions": 0})))
            .collect();
        let metrics = json!({"confidence": confidence, "counts": counts});
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(diesel::insert_into(ab_tests::table)
                    .values((
                        ab_tests::id.eq(AbTestId::generate()),
                        ab_tests::campaignId.eq(campaign),
                        ab_tests::name.eq(name),
                        ab_tests::variants.eq(json!(variants)),
                        ab_tests::metrics.eq(&metrics),
                        ab_tests::startedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The test with `id` (of a campaign of this organization).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "ab_test", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AbTestId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id, false).await)
            .await
    }

    /// The campaign's tests, oldest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "ab_test", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
    ) -> Result<Vec<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(ab_tests::table
                    .filter(ab_tests::campaignId.eq(campaign))
                    .order((ab_tests::startedAt, ab_tests::id))
                    .select(Self::as_select())
                    .load(tx)
                    .await?)
            })
            .await
    }

    /// Adds `exposures` and `conversions` (each 0 or more) to a variant's counts, in one
    /// statement: concurrent callers never lose an increment. Refused for an unknown
    /// variant, and when conversions would exceed exposures.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "ab_test", op = "record"))]
    pub async fn record(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AbTestId,
        variant: &str,
        exposures: i64,
        conversions: i64,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("variant", variant)?;
        if exposures < 0
            || conversions < 0
            || exposures > 1_000_000_000
            || conversions > 1_000_000_000
        {
            return Err(InvalidData::OutOfRange(format!(
                "exposures {exposures} and conversions {conversions}: from 0 to 1,000,000,000"
            ))
            .into());
        }
        scope
            .transaction(conn, async |tx| {
                let test = Self::find(tx, scope, id, false).await?;
                if !names_of(&test.variants).iter().any(|n| n == variant) {
                    return Err(InvalidData::OutOfRange(format!(
                        "A/B test {id} has no variant {variant:?}"
                    ))
                    .into());
                }
                let updated: Option<Self> = diesel::sql_query(
                    r#"UPDATE public.ab_tests SET metrics = jsonb_set(jsonb_set(metrics,
                           ARRAY['counts', $2, 'exposures'],
                           to_jsonb(coalesce((metrics #>> ARRAY['counts', $2, 'exposures'])::bigint, 0) + $3)),
                           ARRAY['counts', $2, 'conversions'],
                           to_jsonb(coalesce((metrics #>> ARRAY['counts', $2, 'conversions'])::bigint, 0) + $4))
                       WHERE id = $1
                         AND coalesce((metrics #>> ARRAY['counts', $2, 'conversions'])::bigint, 0) + $4
                             <= coalesce((metrics #>> ARRAY['counts', $2, 'exposures'])::bigint, 0) + $3
                       RETURNING *"#,
                )
                .bind::<Text, _>(id)
                .bind::<Text, _>(variant)
                .bind::<BigInt, _>(exposures)
                .bind::<BigInt, _>(conversions)
                .get_result::<Self>(tx)
                .await
                .optional()?;
                updated.ok_or_else(|| {
                    InvalidData::OutOfRange(format!(
                        "variant {variant:?} would have more conversions than exposures"
                    ))
                    .into()
                })
            })
            .await
    }

    /// Judges the test: the variants by conversion rate, the pooled two-proportion z-test
    /// of the best against the runner-up, and a winner only when every variant has at least
    /// [`MIN_EXPOSURES`] exposures and the two-sided p-value is at most
    /// `(1 - confidence) / (variants - 1)`. The winner is recorded once: a later evaluation
    /// reports it and never changes it. Otherwise "not yet", with the numbers.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "ab_test", op = "evaluate"))]
    pub async fn evaluate(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AbTestId,
    ) -> Result<Evaluation, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let test = Self::find(tx, scope, id, true).await?;
                let confidence = test.metrics["confidence"].as_f64().unwrap_or(0.95);
                let names = names_of(&test.variants);
                if names.len() < 2 {
                    return Err(InvalidData::OutOfRange(format!(
                        "A/B test {id} has fewer than two variants"
                    ))
                    .into());
                }
                let judged = judge(results(&names, &test.metrics), confidence);
                if let Some(winner) = test.winner {
                    // Recorded once: reported as it was, whatever the counts say now.
                    return Ok(Evaluation {
                        winner: Some(winner),
                        not_yet: None,
                        ..judged
                    });
                }
                let Some(winner) = &judged.winner else {
                    return Ok(judged);
                };
                diesel::update(ab_tests::table.find(id))
                    .set((
                        ab_tests::winner.eq(winner),
                        ab_tests::completedAt.eq(time::now()),
                    ))
                    .execute(tx)
                    .await?;
                Ok(Evaluation {
                    declared_now: true,
                    ..judged
                })
            })
            .await
    }

    /// The row if it belongs to a campaign of this organization (locked with `lock`).
    async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &AbTestId,
        lock: bool,
    ) -> Result<Self, CampaignError> {
        let of_org = campaigns::table
            .filter(campaigns::organizationId.eq(scope.organization_id()))
            .select(campaigns::id);
        let query = ab_tests::table
            .find(id)
            .filter(ab_tests::campaignId.eq_any(of_org))
            .select(Self::as_select());
        let row = if lock {
            query.for_update().get_result(tx).await
        } else {
            query.get_result(tx).await
        };
        row.optional()?
            .ok_or_else(|| CampaignError::not_found("A/B test", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_distribution_function_matches_tables() {
        for (x, phi) in [
            (0.0, 0.5),
            (1.0, 0.841_344_7),
            (1.959_964, 0.975),
            (-2.575_829, 0.005),
        ] {
            assert!((normal_cdf(x) - phi).abs() < 2e-7, "{x}: {}", normal_cdf(x));
        }
    }
}
