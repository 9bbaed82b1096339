//! The event stream: what people did and what was done to them, appended in bulk and read
//! by person, channel, type and time, newest first.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::{ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamp};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{EventId, MarketingCampaignId, PersonId, PersonObjectiveId};
use neonhub_schema::page::{Cursor, Keyed, OccurredAt, Page, PageRequest, load_page_on, paged};
use neonhub_schema::schema::events;
use neonhub_schema::{ConnectOptions, DatabaseUrl, InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{CrmError, limits};

/// The columns [`Event::copy_in`] writes, in the binary COPY's order.
const EVENT_COLUMNS: &str = r#"id, "organizationId", "personId", "campaignId", "objectiveId", channel, type, source, "providerId", topic, intent, sentiment, payload, metadata, "occurredAt", "createdAt""#;

/// The most events one [`Event::insert_many`] or [`Event::copy_in`] call takes (a larger
/// import is split by the caller: each call is one transaction).
pub const MAX_BATCH: usize = 50_000;

/// One event.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct Event {
    /// Primary key.
    pub id: EventId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// Whose event.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// The marketing campaign it belongs to.
    #[diesel(column_name = campaignId)]
    pub campaign_id: Option<MarketingCampaignId>,
    /// The objective it advances.
    #[diesel(column_name = objectiveId)]
    pub objective_id: Option<PersonObjectiveId>,
    /// The channel (`email`, `web`, `sms`, ...).
    pub channel: String,
    /// What happened (`email.opened`, `page.viewed`, ...).
    #[diesel(column_name = type_)]
    pub kind: String,
    /// The system that reported it.
    pub source: Option<String>,
    /// The reporting system's id of it.
    #[diesel(column_name = providerId)]
    pub provider_id: Option<String>,
    /// Its topic.
    pub topic: Option<String>,
    /// The intent read from it.
    pub intent: Option<String>,
    /// The sentiment read from it.
    pub sentiment: Option<String>,
    /// What the event carried.
    pub payload: Option<Value>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it happened (UTC).
    #[diesel(column_name = occurredAt)]
    pub occurred_at: NaiveDateTime,
    /// When it was recorded.
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
}

impl Keyed for Event {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.occurred_at, &self.id)
    }
}

/// One event of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Whose event (a person of this organization).
    pub person_id: PersonId,
    /// Its marketing campaign (of this organization).
    pub campaign_id: Option<MarketingCampaignId>,
    /// The objective it advances (of this organization).
    pub objective_id: Option<PersonObjectiveId>,
    /// The channel (1 to 200 bytes).
    pub channel: String,
    /// What happened (1 to 200 bytes).
    pub kind: String,
    /// The reporting system.
    pub source: Option<String>,
    /// The reporting system's id of it.
    pub provider_id: Option<String>,
    /// Its topic.
    pub topic: Option<String>,
    /// The intent read from it.
    pub intent: Option<String>,
    /// The sentiment read from it.
    pub sentiment: Option<String>,
    /// What it carried (at most 1 MiB of JSON).
    pub payload: Option<Value>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it happened (UTC).
    pub occurred_at: NaiveDateTime,
}

impl NewEvent {
    /// Refuses an empty, oversized or NUL-holding field, naming it.
    fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_text("personId", self.person_id.as_str())?;
        limits::name("channel", &self.channel)?;
        limits::name("type", &self.kind)?;
        limits::short("source", self.source.as_deref())?;
        limits::short("providerId", self.provider_id.as_deref())?;
        limits::short("topic", self.topic.as_deref())?;
        limits::short("intent", self.intent.as_deref())?;
        limits::short("sentiment", self.sentiment.as_deref())?;
        limits::json("payload", self.payload.as_ref())?;
        limits::json("metadata", self.metadata.as_ref())?;
        InvalidData::check_timestamp("occurredAt", self.occurred_at)
    }
}

/// Which events [`Event::list`] returns (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter<'a> {
    /// One person's.
    pub person: Option<&'a PersonId>,
    /// On this channel.
    pub channel: Option<&'a str>,
    /// Of this type.
    pub kind: Option<&'a str>,
    /// `occurredAt >= this`.
    pub from: Option<NaiveDateTime>,
    /// `occurredAt < this`.
    pub before: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    id: String,
}

/// The ids among `ids` that are rows of `table` in the organization (one query).
async fn found_in(
    tx: &mut AsyncPgConnection,
    table: &str,
    org: &str,
    ids: &[&str],
) -> Result<HashSet<String>, CrmError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    // `table` is one of three names written below, never input.
    let rows: Vec<Found> = sql_query(format!(
        r#"SELECT id FROM public.{table} WHERE id = ANY($1) AND "organizationId" = $2"#
    ))
    .bind::<Array<Text>, _>(ids)
    .bind::<Text, _>(org)
    .load(tx)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Every person, campaign and objective `rows` name must be the organization's; the first
/// row naming another is [`CrmError::BatchRow`] with its position.
async fn check_parents(
    tx: &mut AsyncPgConnection,
    org: &str,
    rows: &[NewEvent],
) -> Result<(), CrmError> {
    let persons: Vec<&str> = rows.iter().map(|r| r.person_id.as_str()).collect();
    let campaigns: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.campaign_id.as_ref().map(|c| c.as_str()))
        .collect();
    let objectives: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.objective_id.as_ref().map(|o| o.as_str()))
        .collect();
    let known_people = found_in(tx, "people", org, &persons).await?;
    let known_campaigns = found_in(tx, "marketing_campaigns", org, &campaigns).await?;
    let known_objectives = found_in(tx, "person_objectives", org, &objectives).await?;
    for (position, r) in rows.iter().enumerate() {
        let bad = if !known_people.contains(r.person_id.as_str()) {
            Some(CrmError::foreign_parent("person", &r.person_id))
        } else if let Some(c) = r
            .campaign_id
            .as_ref()
            .filter(|c| !known_campaigns.contains(c.as_str()))
        {
            Some(CrmError::foreign_parent("marketing campaign", c))
        } else {
            r.objective_id
                .as_ref()
                .filter(|o| !known_objectives.contains(o.as_str()))
                .map(|o| CrmError::foreign_parent("person objective", o))
        };
        if let Some(e) = bad {
            return Err(e.at(position));
        }
    }
    Ok(())
}

/// Checks every row's fields, naming the first bad row's position.
fn check_rows(rows: &[NewEvent]) -> Result<(), CrmError> {
    if rows.len() > MAX_BATCH {
        return Err(InvalidData::OutOfRange(format!(
            "{} events in one batch: at most {MAX_BATCH}",
            rows.len()
        ))
        .into());
    }
    for (position, row) in rows.iter().enumerate() {
        row.check().map_err(|e| CrmError::from(e).at(position))?;
    }
    Ok(())
}

impl Event {
    /// Appends `rows` in one statement (`INSERT ... SELECT FROM unnest(...)`), all or
    /// nothing: every row is checked first, then every person, campaign and objective it
    /// names must be this organization's; the first bad row is
    /// [`CrmError::BatchRow`] naming its position. At most [`MAX_BATCH`] rows per call.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "event", op = "insert_many", n = rows.len()))]
    pub async fn insert_many(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        rows: &[NewEvent],
    ) -> Result<usize, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        check_rows(rows)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let org = scope.organization_id().as_str();
        scope
            .transaction(conn, async |tx| {
                check_parents(tx, org, rows).await?;
                let persons: Vec<&str> = rows.iter().map(|r| r.person_id.as_str()).collect();
                let ids: Vec<String> =
                    rows.iter().map(|_| EventId::generate().into_string()).collect();
                let text = |f: fn(&NewEvent) -> Option<&str>| -> Vec<Option<&str>> {
                    rows.iter().map(f).collect()
                };
                let n = sql_query(
                    r#"INSERT INTO public.events (id, "organizationId", "personId", "campaignId", "objectiveId",
                           channel, type, source, "providerId", topic, intent, sentiment, payload, metadata,
                           "occurredAt", "createdAt")
                       SELECT u.id, $15, u.person, u.campaign, u.objective, u.channel, u.type, u.source,
                              u.provider, u.topic, u.intent, u.sentiment, u.payload, u.metadata, u.at, $16
                       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                                   $12::jsonb[], $13::jsonb[], $14::timestamp[])
                            AS u(id, person, campaign, objective, channel, type, source, provider,
                                 topic, intent, sentiment, payload, metadata, at)"#,
                )
                .bind::<Array<Text>, _>(&ids)
                .bind::<Array<Text>, _>(&persons)
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.campaign_id.as_ref().map(|c| c.as_str())))
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.objective_id.as_ref().map(|o| o.as_str())))
                .bind::<Array<Text>, _>(rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.source.as_deref()))
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.provider_id.as_deref()))
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.topic.as_deref()))
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.intent.as_deref()))
                .bind::<Array<Nullable<Text>>, _>(text(|r| r.sentiment.as_deref()))
                .bind::<Array<Nullable<Jsonb>>, _>(rows.iter().map(|r| r.payload.as_ref()).collect::<Vec<_>>())
                .bind::<Array<Nullable<Jsonb>>, _>(rows.iter().map(|r| r.metadata.as_ref()).collect::<Vec<_>>())
                .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
                .bind::<Text, _>(org)
                .bind::<Timestamp, _>(time::now())
                .execute(tx)
                .await?;
                Ok(n)
            })
            .await
    }

    /// Imports `rows` with binary COPY on a dedicated connection to `url` (the largest
    /// loads), all or nothing, and returns the rows written. The rows and their parents are
    /// checked first exactly as [`Event::insert_many`] checks them (errors name the row);
    /// then the COPY's own transaction sets the scope, re-checks and locks every parent
    /// (`FOR KEY SHARE`, as a foreign-key check would). For a role under row-level security
    /// (the application role: PostgreSQL refuses it COPY into such a table) the rows go to
    /// a temporary staging table and on with one `INSERT ... SELECT` the policies judge.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "event", op = "copy_in", n = rows.len()))]
    pub async fn copy_in(
        url: &DatabaseUrl,
        scope: &TenantScope,
        rows: &[NewEvent],
    ) -> Result<u64, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        use tokio_postgres::binary_copy::BinaryCopyInWriter;
        use tokio_postgres::types::{ToSql, Type};
        check_rows(rows)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let org = scope.organization_id().as_str();
        let mut check = url.connect().await?;
        scope
            .transaction(&mut check, async |tx| check_parents(tx, org, rows).await)
            .await?;
        let mut client = url
            .connect_raw(&ConnectOptions {
                application_name: "neonhub-copy".to_owned(),
                ..ConnectOptions::default()
            })
            .await?;
        let failed = |e: tokio_postgres::Error| {
            CrmError::Copy(match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            })
        };
        let tx = client.transaction().await.map_err(failed)?;
        // Fully qualified: diesel's RunQueryDsl also has an `execute`.
        tokio_postgres::Transaction::execute(
            &tx,
            "SELECT set_config('app.current_org', $1, true), set_config('app.current_user', $2, true)",
            &[&org, &scope.actor().user_id().map_or("", |u| u.as_str())],
        )
        .await
        .map_err(failed)?;
        fn distinct(ids: Vec<&str>) -> Vec<&str> {
            ids.into_iter()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect()
        }
        let persons = distinct(rows.iter().map(|r| r.person_id.as_str()).collect());
        let campaigns = distinct(
            rows.iter()
                .filter_map(|r| r.campaign_id.as_ref().map(|c| c.as_str()))
                .collect(),
        );
        let objectives = distinct(
            rows.iter()
                .filter_map(|r| r.objective_id.as_ref().map(|o| o.as_str()))
                .collect(),
        );
        let locked: i64 = tx
            .query_one(
                r#"SELECT (SELECT count(*) FROM (SELECT FROM public.people WHERE id = ANY($1) AND "organizationId" = $4 FOR KEY SHARE) p)
                        + (SELECT count(*) FROM (SELECT FROM public.marketing_campaigns WHERE id = ANY($2) AND "organizationId" = $4 FOR KEY SHARE) c)
                        + (SELECT count(*) FROM (SELECT FROM public.person_objectives WHERE id = ANY($3) AND "organizationId" = $4 FOR KEY SHARE) o)"#,
                &[&persons, &campaigns, &objectives, &org],
            )
            .await
            .map_err(failed)?
            .get(0);
        if locked != (persons.len() + campaigns.len() + objectives.len()) as i64 {
            // A parent was deleted or moved since the check: nothing is written.
            return Err(CrmError::foreign_parent(
                "person, campaign or objective",
                &org,
            ));
        }
        let staged: bool = tx
            .query_one("SELECT row_security_active('public.events')", &[])
            .await
            .map_err(failed)?
            .get(0);
        let into = if staged {
            tx.batch_execute(
                "CREATE TEMP TABLE nh_events_stage (LIKE public.events INCLUDING DEFAULTS) ON COMMIT DROP",
            )
            .await
            .map_err(failed)?;
            "nh_events_stage"
        } else {
            "public.events"
        };
        let sink = tx
            .copy_in(&format!(
                "COPY {into} ({EVENT_COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(failed)?;
        let mut types = vec![Type::TEXT; 12];
        types.extend([Type::JSONB, Type::JSONB, Type::TIMESTAMP, Type::TIMESTAMP]);
        let writer = BinaryCopyInWriter::new(sink, &types);
        tokio::pin!(writer);
        let now = time::now();
        for r in rows {
            let id = EventId::generate().into_string();
            let values: [&(dyn ToSql + Sync); 16] = [
                &id,
                &org,
                &r.person_id.as_str(),
                &r.campaign_id.as_ref().map(|c| c.as_str()),
                &r.objective_id.as_ref().map(|o| o.as_str()),
                &r.channel,
                &r.kind,
                &r.source,
                &r.provider_id,
                &r.topic,
                &r.intent,
                &r.sentiment,
                &r.payload,
                &r.metadata,
                &r.occurred_at,
                &now,
            ];
            writer.as_mut().write(&values).await.map_err(failed)?;
        }
        let mut written = writer.as_mut().finish().await.map_err(failed)?;
        if staged {
            written = tokio_postgres::Transaction::execute(
                    &tx,
                    &format!("INSERT INTO public.events ({EVENT_COLUMNS}) SELECT {EVENT_COLUMNS} FROM nh_events_stage"),
                    &[],
                )
                .await
                .map_err(failed)?;
        }
        tx.commit().await.map_err(failed)?;
        Ok(written)
    }

    /// The events `filter` selects, newest first (by `occurredAt`, then id), a page at a
    /// time. Each filter shape is served by an index (person and time; channel, type and
    /// time; time).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "event", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        filter: &EventFilter<'_>,
        page: &PageRequest,
    ) -> Result<Page<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        let query = Self::query(scope, filter)?;
        scope
            .transaction(conn, async |tx| {
                Ok(load_page_on::<OccurredAt, _, _>(tx, query, page).await?)
            })
            .await
    }

    /// The plan of the statement [`Event::list`] runs for `filter` and `page` (`EXPLAIN`,
    /// in the scope's transaction): for checking that a query shape is served by an index.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "event", op = "explain_list"))]
    pub async fn explain_list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        filter: &EventFilter<'_>,
        page: &PageRequest,
    ) -> Result<String, CrmError> {
        scope.require(keys::CRM_READ)?;
        let query = paged::<OccurredAt, _>(Self::query(scope, filter)?, page)?;
        scope
            .transaction(conn, async |tx| {
                Ok(neonhub_schema::explain::explain(tx, query).await?)
            })
            .await
    }

    /// The filtered select, before paging.
    fn query<'a>(
        scope: &TenantScope,
        filter: &EventFilter<'a>,
    ) -> Result<events::BoxedQuery<'a, Pg, diesel::dsl::AsSelect<Event, Pg>>, CrmError> {
        let mut query = events::table
            .filter(events::organizationId.eq(scope.organization_id().clone()))
            .select(Self::as_select())
            .into_boxed();
        if let Some(person) = filter.person {
            query = query.filter(events::personId.eq(person));
        }
        if let Some(channel) = filter.channel {
            limits::name("channel", channel)?;
            query = query.filter(events::channel.eq(channel));
        }
        if let Some(kind) = filter.kind {
            limits::name("type", kind)?;
            query = query.filter(events::type_.eq(kind));
        }
        if let Some(from) = filter.from {
            InvalidData::check_timestamp("from", from)?;
            query = query.filter(events::occurredAt.ge(from));
        }
        if let Some(before) = filter.before {
            InvalidData::check_timestamp("before", before)?;
            query = query.filter(events::occurredAt.lt(before));
        }
        Ok(query)
    }
}
