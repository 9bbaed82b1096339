//! Action configs: what NeonHub does through a connection (`email.send`, ...), counted as
//! they run.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{ActionConfigId, ConnectorAuthId};
use neonhub_schema::schema::action_configs;
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{ConnectorAuth, ConnectorError, MAX_CONFIG_BYTES};

/// Something NeonHub does through a connection.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = action_configs, check_for_backend(diesel::pg::Pg))]
pub struct ActionConfig {
    /// Primary key.
    pub id: ActionConfigId,
    /// The connection it acts through.
    #[diesel(column_name = connectorAuthId)]
    pub connector_auth_id: ConnectorAuthId,
    /// Its name.
    pub name: String,
    /// The action (one of the connector's `actions`).
    #[diesel(column_name = actionType)]
    pub action_type: String,
    /// Its settings.
    pub config: Value,
    /// Whether it is switched on.
    #[diesel(column_name = isActive)]
    pub is_active: bool,
    /// When it last ran.
    #[diesel(column_name = lastExecutedAt)]
    pub last_executed_at: Option<NaiveDateTime>,
    /// How many times it ran.
    #[diesel(column_name = executionCount)]
    pub execution_count: i32,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was made (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// An action to add to a connection; id, connection and timestamps are added by
/// [`ActionConfig::create`].
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = action_configs)]
pub struct NewActionConfig<'a> {
    /// Its name (1 to 200 bytes).
    pub name: &'a str,
    /// The action.
    #[diesel(column_name = actionType)]
    pub action_type: &'a str,
    /// Its settings (at most 1 MiB of JSON).
    pub config: &'a Value,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

impl ActionConfig {
    /// Adds an action to a connection this scope may see.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "action_config", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        auth: &ConnectorAuthId,
        new: &NewActionConfig<'_>,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        InvalidData::check_length("name", new.name, 1, 200)?;
        InvalidData::check_length("actionType", new.action_type, 1, 200)?;
        InvalidData::check_json_size("config", new.config, MAX_CONFIG_BYTES)?;
        scope
            .transaction(conn, async |tx| {
                ConnectorAuth::find(tx, scope, auth).await?;
                let now = time::now();
                Ok(diesel::insert_into(action_configs::table)
                    .values((
                        new,
                        action_configs::id.eq(ActionConfigId::generate()),
                        action_configs::connectorAuthId.eq(auth),
                        action_configs::createdAt.eq(now),
                        action_configs::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The actions of a connection, oldest first (`active_only`: those switched on).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "action_config", op = "list"))]
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
                let mut query = action_configs::table
                    .filter(action_configs::connectorAuthId.eq(auth))
                    .order((action_configs::createdAt, action_configs::id))
                    .select(Self::as_select())
                    .into_boxed();
                if active_only {
                    query = query.filter(action_configs::isActive.eq(true));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// Switches the action on or off.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "action_config", op = "set_active"))]
    pub async fn set_active(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ActionConfigId,
        active: bool,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Self::check_visible(tx, scope, id).await?;
                Ok(diesel::update(action_configs::table.find(id))
                    .set((
                        action_configs::isActive.eq(active),
                        action_configs::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Records that the action ran at `at`: the count and the time change in one `UPDATE`
    /// (concurrent runs are all counted). Running it is using the connection, so this
    /// needs `connectors:read`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "action_config", op = "record_executed"))]
    pub async fn record_executed(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ActionConfigId,
        at: NaiveDateTime,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        InvalidData::check_timestamp("lastExecutedAt", at)?;
        scope
            .transaction(conn, async |tx| {
                Self::check_visible(tx, scope, id).await?;
                Ok(diesel::update(action_configs::table.find(id))
                    .set((
                        action_configs::executionCount.eq(action_configs::executionCount + 1),
                        // The latest run wins, whatever order the records arrive in.
                        action_configs::lastExecutedAt.eq(diesel::dsl::sql::<
                            diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
                        >(
                            r#"GREATEST("lastExecutedAt", "#
                        )
                        .bind::<diesel::sql_types::Timestamp, _>(at)
                        .sql(")")),
                        action_configs::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// Deletes the action.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "action_config", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ActionConfigId,
    ) -> Result<(), ConnectorError> {
        scope.require(keys::CONNECTORS_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                Self::check_visible(tx, scope, id).await?;
                diesel::delete(action_configs::table.find(id))
                    .execute(tx)
                    .await?;
                Ok(())
            })
            .await
    }

    /// Fails unless the action's connection is visible to this scope (inside its
    /// transaction).
    async fn check_visible(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ActionConfigId,
    ) -> Result<(), ConnectorError> {
        let auth: ConnectorAuthId = action_configs::table
            .find(id)
            .select(action_configs::connectorAuthId)
            .get_result(tx)
            .await
            .optional()?
            .ok_or_else(|| ConnectorError::not_found("action config", id))?;
        ConnectorAuth::find(tx, scope, &auth)
            .await
            .map_err(|_| ConnectorError::not_found("action config", id))?;
        Ok(())
    }
}
