//! Campaigns through their life (the [`CampaignStatus`] machine) and their metrics,
//! appended in bulk and rolled up per kind and day.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName,
    Selectable, SelectableHelper,
};
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::CampaignStatus;
use neonhub_schema::ids::{CampaignId, CampaignMetricId, OrganizationId, UserId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{campaign_metrics, campaigns};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{CampaignError, limits};

/// A campaign of the organization.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = campaigns, check_for_backend(diesel::pg::Pg))]
pub struct Campaign {
    /// Primary key.
    pub id: CampaignId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: OrganizationId,
    /// The member who owns it.
    #[diesel(column_name = ownerId)]
    pub owner_id: UserId,
    /// Name shown.
    pub name: String,
    /// Where it is in its life (see [`Campaign::transition`]).
    pub status: CampaignStatus,
    /// What kind of campaign (`email`, `social`, ...).
    #[diesel(column_name = type_)]
    pub kind: String,
    /// Configuration.
    pub config: Option<Value>,
    /// Schedule.
    pub schedule: Option<Value>,
    /// Budget (informational; money is `neonhub-billing`'s).
    pub budget: Option<Value>,
    /// When it was created (UTC).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

impl Keyed for Campaign {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// A campaign to create (it starts as a draft).
#[derive(Debug, Clone, Default)]
pub struct NewCampaign<'a> {
    /// Name shown (1 to 200 bytes).
    pub name: &'a str,
    /// Kind (1 to 200 bytes).
    pub kind: &'a str,
    /// The owner: a member of the organization (`None`: the acting user).
    pub owner: Option<&'a UserId>,
    /// Configuration.
    pub config: Option<&'a Value>,
    /// Schedule.
    pub schedule: Option<&'a Value>,
    /// Budget.
    pub budget: Option<&'a Value>,
}

/// Fields to change (`None` leaves a column alone); the status changes only through
/// [`Campaign::transition`].
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = campaigns)]
pub struct CampaignChanges<'a> {
    /// Name shown.
    pub name: Option<&'a str>,
    /// Configuration.
    pub config: Option<&'a Value>,
    /// Schedule.
    pub schedule: Option<&'a Value>,
    /// Budget.
    pub budget: Option<&'a Value>,
}

/// Whether the life cycle allows `from` → `to`: draft → scheduled → active ⇄ paused;
/// active or paused → completed → archived. Nothing else (no way back to draft, nothing
/// after archived).
pub fn transition_allowed(from: CampaignStatus, to: CampaignStatus) -> bool {
    use CampaignStatus::*;
    matches!(
        (from, to),
        (Draft, Scheduled)
            | (Scheduled, Active)
            | (Active, Paused)
            | (Paused, Active)
            | (Active, Completed)
            | (Paused, Completed)
            | (Completed, Archived)
    )
}

impl Campaign {
    /// Creates a draft campaign; its owner must be a member of the organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewCampaign<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        limits::name("name", new.name)?;
        limits::name("type", new.kind)?;
        limits::json("config", new.config)?;
        limits::json("schedule", new.schedule)?;
        limits::json("budget", new.budget)?;
        let owner = new
            .owner
            .or(scope.actor().user_id())
            .ok_or_else(|| InvalidData::OutOfRange("a campaign needs an owner".into()))?;
        scope
            .transaction(conn, async |tx| {
                crate::content::member(tx, scope, owner).await?;
                let now = time::now();
                Ok(diesel::insert_into(campaigns::table)
                    .values((
                        campaigns::id.eq(CampaignId::generate()),
                        campaigns::organizationId.eq(scope.organization_id()),
                        campaigns::ownerId.eq(owner),
                        campaigns::name.eq(new.name),
                        campaigns::status.eq(CampaignStatus::Draft),
                        campaigns::type_.eq(new.kind),
                        campaigns::config.eq(new.config),
                        campaigns::schedule.eq(new.schedule),
                        campaigns::budget.eq(new.budget),
                        campaigns::createdAt.eq(now),
                        campaigns::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The campaign with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CampaignId,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| Self::find(tx, scope, id).await)
            .await
    }

    /// The organization's campaigns (in one status, or all), newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        status: Option<CampaignStatus>,
        page: &PageRequest,
    ) -> Result<Page<Self>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = campaigns::table
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(status) = status {
                    query = query.filter(campaigns::status.eq(status));
                }
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }

    /// Changes the campaign's fields.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CampaignId,
        changes: &CampaignChanges<'_>,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        if let Some(name) = changes.name {
            limits::name("name", name)?;
        }
        limits::json("config", changes.config)?;
        limits::json("schedule", changes.schedule)?;
        limits::json("budget", changes.budget)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id).await?;
                Ok(diesel::update(campaigns::table.find(id))
                    .set((changes, campaigns::updatedAt.eq(time::now())))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Moves the campaign to `to`, if the life cycle allows it from where it is
    /// ([`transition_allowed`]); otherwise [`CampaignError::IllegalTransition`] naming
    /// both states, and nothing changes. The row is locked first, so two concurrent
    /// transitions are judged one after the other.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign", op = "transition"))]
    pub async fn transition(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CampaignId,
        to: CampaignStatus,
    ) -> Result<Self, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let from: CampaignStatus = campaigns::table
                    .find(id)
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .select(campaigns::status)
                    .for_update()
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| CampaignError::not_found("campaign", id))?;
                if !transition_allowed(from, to) {
                    return Err(CampaignError::IllegalTransition {
                        entity: "campaign",
                        from: from.to_string(),
                        to: to.to_string(),
                    });
                }
                Ok(diesel::update(campaigns::table.find(id))
                    .set((
                        campaigns::status.eq(to),
                        campaigns::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Deletes the campaign with its metrics, sequences, posts and A/B tests.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CampaignId,
    ) -> Result<(), CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        scope
            .transaction(conn, async |tx| {
                let n = diesel::delete(campaigns::table.find(id))
                    .filter(campaigns::organizationId.eq(scope.organization_id()))
                    .execute(tx)
                    .await?;
                if n == 0 {
                    return Err(CampaignError::not_found("campaign", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CampaignId,
    ) -> Result<Self, CampaignError> {
        campaigns::table
            .find(id)
            .filter(campaigns::organizationId.eq(scope.organization_id()))
            .select(Self::as_select())
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| CampaignError::not_found("campaign", id))
    }

    /// Fails with [`CampaignError::ForeignParent`] unless `id` is a campaign of this
    /// organization (inside a scope transaction).
    pub(crate) async fn parent(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &CampaignId,
    ) -> Result<(), CampaignError> {
        let n: i64 = campaigns::table
            .find(id)
            .filter(campaigns::organizationId.eq(scope.organization_id()))
            .count()
            .get_result(tx)
            .await?;
        if n == 0 {
            return Err(CampaignError::foreign_parent("campaign", id));
        }
        Ok(())
    }
}

/// One measurement of a campaign.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = campaign_metrics, check_for_backend(diesel::pg::Pg))]
pub struct CampaignMetric {
    /// Primary key.
    pub id: CampaignMetricId,
    /// The campaign.
    #[diesel(column_name = campaignId)]
    pub campaign_id: CampaignId,
    /// What was measured (`sent`, `opened`, `clicked`, `cost`, ...).
    pub kind: String,
    /// The value.
    pub value: Option<f64>,
    /// Details.
    pub payload: Option<Value>,
    /// When (UTC).
    pub timestamp: NaiveDateTime,
}

/// A measurement to append.
#[derive(Debug, Clone)]
pub struct NewMetric<'a> {
    /// What was measured (1 to 200 bytes).
    pub kind: &'a str,
    /// The value (finite).
    pub value: Option<f64>,
    /// Details.
    pub payload: Option<&'a Value>,
    /// When (`None`: now).
    pub at: Option<NaiveDateTime>,
}

/// One kind's figures for one day (UTC).
#[derive(Debug, Clone, PartialEq, QueryableByName, serde::Serialize)]
pub struct MetricRollup {
    /// What was measured.
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// The day (midnight UTC).
    #[diesel(sql_type = Timestamp)]
    pub day: NaiveDateTime,
    /// How many measurements.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    /// Their sum (`None` when none had a value).
    #[diesel(sql_type = Nullable<Double>)]
    pub sum: Option<f64>,
    /// The smallest.
    #[diesel(sql_type = Nullable<Double>)]
    pub min: Option<f64>,
    /// The largest.
    #[diesel(sql_type = Nullable<Double>)]
    pub max: Option<f64>,
}

impl CampaignMetric {
    /// Appends measurements to a campaign of this organization in one statement, all or
    /// nothing (at most [`limits::MAX_BATCH`]; a bad row is [`CampaignError::BatchRow`]).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign_metric", op = "append_many"))]
    pub async fn append_many(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
        rows: &[NewMetric<'_>],
    ) -> Result<usize, CampaignError> {
        scope.require(keys::CAMPAIGNS_WRITE)?;
        if rows.len() > limits::MAX_BATCH {
            return Err(InvalidData::OutOfRange(format!(
                "{} metrics in one call: at most {}",
                rows.len(),
                limits::MAX_BATCH
            ))
            .into());
        }
        let now = time::now();
        for (i, row) in rows.iter().enumerate() {
            let check = || -> Result<(), InvalidData> {
                limits::name("kind", row.kind)?;
                limits::json("payload", row.payload)?;
                if let Some(v) = row.value
                    && !v.is_finite()
                {
                    return Err(InvalidData::OutOfRange(format!("value {v} is not finite")));
                }
                if let Some(at) = row.at {
                    InvalidData::check_timestamp("timestamp", at)?;
                }
                Ok(())
            };
            check().map_err(|e| CampaignError::from(e).at(i))?;
        }
        if rows.is_empty() {
            return Ok(0);
        }
        let values: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    campaign_metrics::id.eq(CampaignMetricId::generate()),
                    campaign_metrics::campaignId.eq(campaign),
                    campaign_metrics::kind.eq(r.kind),
                    campaign_metrics::value.eq(r.value),
                    campaign_metrics::payload.eq(r.payload),
                    campaign_metrics::timestamp.eq(r.at.unwrap_or(now)),
                )
            })
            .collect();
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(diesel::insert_into(campaign_metrics::table)
                    .values(&values)
                    .execute(tx)
                    .await?)
            })
            .await
    }

    /// The campaign's measurements from `from` (inclusive) to `until` (exclusive), per kind
    /// and UTC day: count, sum, min and max, by kind then day.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "campaign_metric", op = "rollup"))]
    pub async fn rollup(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
        from: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<MetricRollup>, CampaignError> {
        scope.require(keys::CAMPAIGNS_READ)?;
        scope
            .transaction(conn, async |tx| {
                Campaign::parent(tx, scope, campaign).await?;
                Ok(diesel::sql_query(
                    r#"SELECT kind, date_trunc('day', "timestamp") AS day, count(*) AS count,
                              sum(value) AS sum, min(value) AS min, max(value) AS max
                       FROM public.campaign_metrics
                       WHERE "campaignId" = $1 AND "timestamp" >= $2 AND "timestamp" < $3
                       GROUP BY 1, 2 ORDER BY 1, 2"#,
                )
                .bind::<Text, _>(campaign)
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(until)
                .load(tx)
                .await?)
            })
            .await
    }
}
