//! Usage records: what a subscription used, one row per event, inserted in bulk and summed
//! per period and resource.

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName};
use diesel::sql_types::{Array, BigInt, Int4, Jsonb, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{SubscriptionId, UsageRecordId};
use neonhub_schema::schema::subscriptions;
use neonhub_schema::{UserScope, time};
use serde_json::Value;

use crate::{BillingError, limits};

/// The most records one [`UsageRecord::record_many`] call inserts.
pub const MAX_BATCH: usize = 10_000;

/// One use of a resource to record.
#[derive(Debug, Clone)]
pub struct NewUsageRecord<'a> {
    /// What was used (`email`, `agent_call`, `llm_tokens`, ...; 1 to 200 bytes).
    pub resource_type: &'a str,
    /// Which one.
    pub resource_id: Option<&'a str>,
    /// How many (at least 1).
    pub quantity: i32,
    /// What it cost, in minor units of the plan's currency (not negative).
    pub cost: Option<i32>,
    /// When (UTC).
    pub at: NaiveDateTime,
    /// Free-form (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

/// The recorded usage of one resource over a period.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct UsageTotal {
    /// The resource.
    #[diesel(sql_type = Text, column_name = resource_type)]
    pub resource_type: String,
    /// Records summed.
    #[diesel(sql_type = BigInt)]
    pub records: i64,
    /// The quantities' sum.
    #[diesel(sql_type = BigInt)]
    pub quantity: i64,
    /// The costs' sum (minor units; records without a cost count zero).
    #[diesel(sql_type = BigInt)]
    pub cost: i64,
}

/// Usage records of a user's subscription.
pub struct UsageRecord;

impl UsageRecord {
    /// Inserts `records` for the user's subscription in one statement (arrays bound once,
    /// unnested by the server); all or none. Returns how many were inserted.
    #[tracing::instrument(skip_all, fields(entity = "usage record", op = "record_many", rows = records.len()))]
    pub async fn record_many(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        subscription: &SubscriptionId,
        records: &[NewUsageRecord<'_>],
    ) -> Result<usize, BillingError> {
        if records.len() > MAX_BATCH {
            return Err(BillingError::bad_input(
                "records",
                format!("{} records: at most {MAX_BATCH} per call", records.len()),
            ));
        }
        let mut ids = Vec::with_capacity(records.len());
        let (mut types, mut resources, mut quantities, mut costs, mut ats, mut metas) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (position, r) in records.iter().enumerate() {
            let row = |e: BillingError| {
                BillingError::bad_input("records", format!("record {position}: {e}"))
            };
            limits::name("resource_type", r.resource_type).map_err(|e| row(e.into()))?;
            limits::text("resource_id", r.resource_id).map_err(|e| row(e.into()))?;
            limits::json("metadata", r.metadata).map_err(|e| row(e.into()))?;
            if r.quantity < 1 || r.cost.is_some_and(|c| c < 0) {
                return Err(row(BillingError::bad_input(
                    "quantity",
                    "quantity must be at least 1 and cost not negative",
                )));
            }
            ids.push(UsageRecordId::generate());
            types.push(r.resource_type);
            resources.push(r.resource_id);
            quantities.push(r.quantity);
            costs.push(r.cost);
            ats.push(time::truncate(r.at));
            metas.push(r.metadata);
        }
        scope
            .transaction(conn, async |tx| {
                owned(tx, scope, subscription).await?;
                let inserted = diesel::sql_query(
                    r#"INSERT INTO public.usage_records (id, "subscriptionId", "resourceType", "resourceId", quantity, cost, "timestamp", metadata)
                       SELECT u.id, $2, u.t, u.r, u.q, u.c, u.at, u.m
                       FROM unnest($1::text[], $3::text[], $4::text[], $5::int4[], $6::int4[], $7::timestamp[], $8::jsonb[])
                            AS u(id, t, r, q, c, at, m)"#,
                )
                .bind::<Array<Text>, _>(&ids)
                .bind::<Text, _>(subscription)
                .bind::<Array<Text>, _>(&types)
                .bind::<Array<Nullable<Text>>, _>(&resources)
                .bind::<Array<Int4>, _>(&quantities)
                .bind::<Array<Nullable<Int4>>, _>(&costs)
                .bind::<Array<Timestamp>, _>(&ats)
                .bind::<Array<Nullable<Jsonb>>, _>(&metas)
                .execute(tx)
                .await?;
                Ok(inserted)
            })
            .await
    }

    /// The usage of each resource in `[from, to)`, summed in integers, by resource.
    #[tracing::instrument(skip_all, fields(entity = "usage record", op = "totals"))]
    pub async fn totals(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        subscription: &SubscriptionId,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<UsageTotal>, BillingError> {
        scope
            .transaction(conn, async |tx| {
                owned(tx, scope, subscription).await?;
                Ok(diesel::sql_query(
                    r#"SELECT "resourceType" AS resource_type, count(*)::bigint AS records,
                              coalesce(sum(quantity), 0)::bigint AS quantity, coalesce(sum(cost), 0)::bigint AS cost
                       FROM public.usage_records
                       WHERE "subscriptionId" = $1 AND "timestamp" >= $2 AND "timestamp" < $3
                       GROUP BY "resourceType" ORDER BY "resourceType""#,
                )
                .bind::<Text, _>(subscription)
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .load(tx)
                .await?)
            })
            .await
    }
}

/// Refuses a subscription that is not the scope's user's.
async fn owned(
    tx: &mut AsyncPgConnection,
    scope: &UserScope,
    subscription: &SubscriptionId,
) -> Result<(), BillingError> {
    let found: Option<SubscriptionId> = subscriptions::table
        .filter(subscriptions::id.eq(subscription))
        .filter(subscriptions::userId.eq(scope.user_id()))
        .select(subscriptions::id)
        .first(tx)
        .await
        .optional()?;
    found
        .map(|_| ())
        .ok_or_else(|| BillingError::not_found("subscription", subscription))
}
