//! Trigger configs: events of a connection that start NeonHub work (`email.received`, ...),
//! counted as they fire.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{ConnectorAuthId, TriggerConfigId};
use neonhub_schema::schema::trigger_configs;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{ConnectorAuth, ConnectorError, MAX_CONFIG_BYTES};

/// An event of a connection that NeonHub listens for.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = trigger_configs, check_for_backend(diesel::pg::Pg))]
pub struct TriggerConfig {
    /// Primary key.
    pub id: TriggerConfigId,
    /// The connection it listens on.
    #[diesel(column_name = connectorAuthId)]
    pub connector_auth_id: ConnectorAuthId,
    /// Its name.
    pub name: String,
    /// The event (one of the connector's `triggers`).
    #[diesel(column_name = triggerType)]
    pub trigger_type: String,
    /// Its settings.
    pub config: Value,
    /// Whether it listens.
    #[diesel(column_name = isActive)]
    pub is_active: bool,
    /// When it last fired.
    #[diesel(column_name = lastTriggeredAt)]
    pub last_triggered_at: Option<NaiveDateTime>,
    /// How many times it fired.
    #[diesel(column_name = triggerCount)]
    pub trigger_count: i32,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was made (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// A trigger to add to a connection; id, connection and timestamps are added by
/// [`TriggerConfig::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = trigger_configs)]
pub struct NewTriggerConfig<'a> {
    /// Its name (1 to 200 bytes).
    pub name: &'a str,
    /// The event.
    #[diesel(column_name = triggerType)]
    pub trigger_type: &'a str,
    /// Its settings (at most 1 MiB of JSON).
    pub config: &'a Value,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

impl TriggerConfig {
    /// Adds a trigger to a connection this scope may see.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "trigger_config", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        auth: &ConnectorAuthId,
        new: &NewTriggerConfig<'_>,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        InvalidData::check_length("name", new.name, 1, 200)?;
        InvalidData::check_length("triggerType", new.trigger_type, 1, 200)?;
        InvalidData::check_json_size("config", new.config, MAX_CONFIG_BYTES)?;
        scope
            .transaction(conn, async |tx| {
                ConnectorAuth::find(tx, scope, auth).await?;
                let now = time::now();
                Ok(diesel::insert_into(trigger_configs::table)
                    .values((
                        new,
                        trigger_configs::id.eq(TriggerConfigId::generate()),
                        trigger_configs::connectorAuthId.eq(auth),
                        trigger_configs::createdAt.eq(now),
                        trigger_configs::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The triggers of a connection, oldest first (`active_only`: those listening).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "trigger_config", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        auth: &ConnectorAuthId,
        active_only: bool,
    ) -> Result<Vec<Self>, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                ConnectorAuth::find(tx, scope, auth).await?;
                let mut query = trigger_configs::table
                    .filter(trigger_configs::connectorAuthId.eq(auth))
                    .order((trigger_configs::createdAt, trigger_configs::id))
                    .select(Self::as_select())
                    .into_boxed();
                if active_only {
                    query = query.filter(trigger_configs::isActive.eq(true));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// Switches the trigger on or off.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "trigger_config", op = "set_active"))]
    pub async fn set_active(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TriggerConfigId,
        active: bool,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Self::check_visible(tx, scope, id).await?;
                Ok(diesel::update(trigger_configs::table.find(id))
                    .set((
                        trigger_configs::isActive.eq(active),
                        trigger_configs::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Records that the trigger fired at `at`: the count and the time change in one
    /// `UPDATE` (concurrent firings are all counted). Firing is using the connection, so
    /// this needs `connectors:read`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "trigger_config", op = "record_fired"))]
    pub async fn record_fired(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TriggerConfigId,
        at: NaiveDateTime,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        InvalidData::check_timestamp("lastTriggeredAt", at)?;
        scope
            .transaction(conn, async |tx| {
                Self::check_visible(tx, scope, id).await?;
                Ok(diesel::update(trigger_configs::table.find(id))
                    .set((
                        trigger_configs::triggerCount.eq(trigger_configs::triggerCount + 1),
                        // The latest firing wins, whatever order the records arrive in.
                        trigger_configs::lastTriggeredAt.eq(diesel::dsl::sql::<
                            diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
                        >(
                            r#"GREATEST("lastTriggeredAt", "#
                        )
                        .bind::<diesel::sql_types::Timestamp, _>(at)
                        .sql(")")),
                        trigger_configs::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Deletes the trigger.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "trigger_config", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TriggerConfigId,
    ) -> Result<(), ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Self::check_visible(tx, scope, id).await?;
                diesel::delete(trigger_configs::table.find(id))
                    .execute(tx)
                    .await?;
                Ok(())
            })
            .await
    }

    /// Fails unless the trigger's connection is visible to this scope (inside its
    /// transaction).
    async fn check_visible(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &TriggerConfigId,
    ) -> Result<(), ConnectorError> {
        let auth: ConnectorAuthId = trigger_configs::table
            .find(id)
            .select(trigger_configs::connectorAuthId)
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| ConnectorError::not_found("trigger config", id))?;
        ConnectorAuth::find(tx, scope, &auth)
            .await
            .map_err(|_| ConnectorError::not_found("trigger config", id))?;
        Ok(())
    }
}
