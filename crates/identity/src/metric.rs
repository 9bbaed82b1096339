//! Metric events: global product telemetry (no organization), written in bulk.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::{ExpressionMethods, Insertable, QueryDsl};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::InvalidData;
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
    /// Inserts all `events`, stamped now, in one transaction (all or none); returns how
    /// many. Statements of at most [`MetricEvent::ROWS_PER_STATEMENT`] rows, since a
    /// statement binds at most 65,535 parameters: the batch is bounded by memory only.
    #[tracing::instrument(skip_all, fields(entity = "metric event", op = "insert_many"))]
    pub async fn insert_many(
        conn: &mut AsyncPgConnection,
        events: &[NewMetricEvent<'_>],
    ) -> Result<usize, IdentityError> {
        if events.is_empty() {
            return Ok(0);
        }
        for (position, event) in events.iter().enumerate() {
            InvalidData::check_text("type", event.kind)
                .and_then(|()| InvalidData::check_json("meta", event.meta))
                .map_err(|e| IdentityError::BatchRow {
                    position,
                    source: Box::new(e.into()),
                })?;
        }
        let now = time::now();
        conn.transaction(async |tx| {
            let mut written = 0;
            for chunk in events.chunks(Self::ROWS_PER_STATEMENT) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|e| {
                        (
                            e,
                            metric_events::id.eq(MetricEventId::generate()),
                            metric_events::createdAt.eq(now),
                        )
                    })
                    .collect();
                written += diesel::insert_into(metric_events::table)
                    .values(rows)
                    .execute(tx)
                    .await?;
            }
            Ok(written)
        })
        .await
    }

    /// Rows per INSERT: 4 parameters a row, under the protocol's 65,535 per statement.
    pub const ROWS_PER_STATEMENT: usize = 10_000;

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
