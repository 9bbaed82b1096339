//! Metric events: global product telemetry (no organization), written in bulk.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::{ExpressionMethods, Insertable, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::MetricEventId;
use neonhub_schema::schema::metric_events;
use neonhub_schema::time;
use serde_json::Value;

use crate::error::IdentityError;

/// A metric event to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = metric_events)]
pub struct NewMetricEvent<'a> {
    /// Event type (`page_view`, `agent_run`, ...).
    #[diesel(column_name = type_)]
    pub kind: &'a str,
    /// What the event carries (JSON).
    pub meta: &'a Value,
}

/// Metric events.
#[derive(Debug, Clone, Copy)]
pub struct MetricEvent;

impl MetricEvent {
    /// Inserts all `events` in one statement, stamped now; returns how many.
    #[tracing::instrument(skip_all, fields(entity = "metric event", op = "insert_many"))]
    pub async fn insert_many(
        conn: &mut AsyncPgConnection,
        events: &[NewMetricEvent<'_>],
    ) -> Result<usize, IdentityError> {
        if events.is_empty() {
            return Ok(0);
        }
        let now = time::now();
        let rows: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e,
                    metric_events::id.eq(MetricEventId::generate()),
                    metric_events::createdAt.eq(now),
                )
            })
            .collect();
        Ok(diesel::insert_into(metric_events::table)
            .values(rows)
            .execute(conn)
            .await?)
    }

    /// Events per type with `since <= createdAt < until`, most frequent first.
    #[tracing::instrument(skip_all, fields(entity = "metric event", op = "count_by_type"))]
    pub async fn count_by_type(
        conn: &mut AsyncPgConnection,
        since: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<Vec<(String, i64)>, IdentityError> {
        Ok(metric_events::table
            .filter(metric_events::createdAt.ge(since))
            .filter(metric_events::createdAt.lt(until))
            .group_by(metric_events::type_)
            .select((metric_events::type_, count_star()))
            .order((count_star().desc(), metric_events::type_))
            .load(conn)
            .await?)
    }
}
