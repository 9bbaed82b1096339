//! User settings: one row per user, created with the schema's defaults on first read.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, ExpressionMethods, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::UserScope;
use neonhub_schema::ids::{UserId, UserSettingsId};
use neonhub_schema::schema::user_settings;
use neonhub_schema::{Secret, foreign_key_violation, time};
use serde_json::Value;

use crate::error::IdentityError;

/// A user's settings.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = user_settings, check_for_backend(diesel::pg::Pg))]
pub struct UserSettings {
    /// Primary key: UUIDv7 text for rows made here, any text for adopted rows.
    pub id: UserSettingsId,
    /// The user.
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// Preferred brand voice.
    #[diesel(column_name = brandVoice)]
    pub brand_voice: Option<Value>,
    /// Email notifications (default on).
    #[diesel(column_name = emailNotifications)]
    pub email_notifications: bool,
    /// Push notifications (default off).
    #[diesel(column_name = pushNotifications)]
    pub push_notifications: bool,
    /// `realtime` by default.
    #[diesel(column_name = notificationFrequency)]
    pub notification_frequency: String,
    /// IANA time zone (`UTC`).
    pub timezone: String,
    /// Locale (`en-US`).
    pub locale: String,
    /// Date format (`MM/DD/YYYY`).
    #[diesel(column_name = dateFormat)]
    pub date_format: String,
    /// Days data is kept (90).
    #[diesel(column_name = dataRetention)]
    pub data_retention: i32,
    /// Analytics allowed (default on).
    #[diesel(column_name = allowAnalytics)]
    pub allow_analytics: bool,
    /// Personalization allowed (default on).
    #[diesel(column_name = allowPersonalization)]
    pub allow_personalization: bool,
    /// Requests per hour (1000).
    #[diesel(column_name = apiRateLimit)]
    pub api_rate_limit: i32,
    /// Webhook URL.
    #[diesel(column_name = webhookUrl)]
    pub webhook_url: Option<String>,
    /// Webhook signing secret (never printed).
    #[diesel(column_name = webhookSecret)]
    pub webhook_secret: Option<Secret>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// What may change (`Some(None)` clears a nullable column).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = user_settings)]
pub struct UserSettingsChanges<'a> {
    /// Brand voice.
    #[diesel(column_name = brandVoice)]
    pub brand_voice: Option<Option<&'a Value>>,
    /// Email notifications.
    #[diesel(column_name = emailNotifications)]
    pub email_notifications: Option<bool>,
    /// Push notifications.
    #[diesel(column_name = pushNotifications)]
    pub push_notifications: Option<bool>,
    /// Notification frequency.
    #[diesel(column_name = notificationFrequency)]
    pub notification_frequency: Option<&'a str>,
    /// Time zone.
    pub timezone: Option<&'a str>,
    /// Locale.
    pub locale: Option<&'a str>,
    /// Date format.
    #[diesel(column_name = dateFormat)]
    pub date_format: Option<&'a str>,
    /// Data retention in days.
    #[diesel(column_name = dataRetention)]
    pub data_retention: Option<i32>,
    /// Analytics allowed.
    #[diesel(column_name = allowAnalytics)]
    pub allow_analytics: Option<bool>,
    /// Personalization allowed.
    #[diesel(column_name = allowPersonalization)]
    pub allow_personalization: Option<bool>,
    /// Webhook URL.
    #[diesel(column_name = webhookUrl)]
    pub webhook_url: Option<Option<&'a str>>,
    /// Webhook secret.
    #[diesel(column_name = webhookSecret)]
    pub webhook_secret: Option<Option<&'a Secret>>,
}

impl UserSettings {
    /// The user's settings, created with the schema's defaults if the user has none yet
    /// (`ON CONFLICT DO NOTHING`, so concurrent first reads make one row).
    #[tracing::instrument(skip_all, fields(entity = "user settings", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        user: &UserId,
    ) -> Result<UserSettings, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                let now = time::now();
                conn.transaction(async |tx| {
                    diesel::insert_into(user_settings::table)
                        .values((
                            user_settings::id.eq(UserSettingsId::generate()),
                            user_settings::userId.eq(user),
                            user_settings::createdAt.eq(now),
                            user_settings::updatedAt.eq(now),
                        ))
                        .on_conflict(user_settings::userId)
                        .do_nothing()
                        .execute(tx)
                        .await
                        .map_err(|e| match foreign_key_violation(&e) {
                            Some("user_settings_userId_fkey") => {
                                IdentityError::UserNotFound(user.to_string())
                            }
                            _ => IdentityError::from(e),
                        })?;
                    Ok(user_settings::table
                        .filter(user_settings::userId.eq(user))
                        .select(UserSettings::as_select())
                        .first(tx)
                        .await?)
                })
                .await
            })
            .await
    }

    /// Applies `changes` to the user's settings (creating them first if needed).
    #[tracing::instrument(skip_all, fields(entity = "user settings", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        user: &UserId,
        changes: &UserSettingsChanges<'_>,
    ) -> Result<UserSettings, IdentityError> {
        // As that user: row-level security shows a user their own rows only.
        UserScope::trusted(user.clone())
            .transaction(conn, async |conn| {
                if changes.data_retention.is_some_and(|d| d < 1) {
                    return Err(IdentityError::InvalidSetting(
                        "dataRetention must be at least 1 day",
                    ));
                }
                Self::get(conn, user).await?;
                Ok(
                    diesel::update(user_settings::table.filter(user_settings::userId.eq(user)))
                        .set((changes, user_settings::updatedAt.eq(time::now())))
                        .returning(UserSettings::as_returning())
                        .get_result(conn)
                        .await?,
                )
            })
            .await
    }
}
