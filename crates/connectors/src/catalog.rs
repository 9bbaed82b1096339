//! The connector catalog: the platforms NeonHub connects to (global, shared by every
//! organization). Code declares it ([`CATALOG`]); [`Connector::upsert_all`] writes it.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::ConnectorKind;
use neonhub_schema::ids::ConnectorId;
use neonhub_schema::schema::connectors;
use neonhub_schema::{TenantScope, keys, time};
use serde_json::{Value, json};

use crate::ConnectorError;

/// A connector of the catalog: a platform users connect to.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = connectors, check_for_backend(diesel::pg::Pg))]
pub struct Connector {
    /// Primary key.
    pub id: ConnectorId,
    /// Unique name (`gmail`, `slack`, ...): what code refers to it by.
    pub name: String,
    /// Name shown to users.
    #[diesel(column_name = displayName)]
    pub display_name: String,
    /// One-line description.
    pub description: String,
    /// Its category.
    pub category: ConnectorKind,
    /// Icon URL.
    #[diesel(column_name = iconUrl)]
    pub icon_url: Option<String>,
    /// The platform's website.
    #[diesel(column_name = websiteUrl)]
    pub website_url: Option<String>,
    /// How it authenticates (`oauth2`, `oauth1`, `api_key`, `bot_token`).
    #[diesel(column_name = authType)]
    pub auth_type: String,
    /// Authentication settings: `{"provider", "type", "requiredScopes"}`.
    #[diesel(column_name = authConfig)]
    pub auth_config: Value,
    /// Whether users may connect it (an operator's switch: [`Connector::upsert_all`]
    /// leaves it alone on existing rows).
    #[diesel(column_name = isEnabled)]
    pub is_enabled: bool,
    /// Whether NeonHub verified the integration.
    #[diesel(column_name = isVerified)]
    pub is_verified: bool,
    /// Events it can trigger on (a JSON array of names).
    pub triggers: Value,
    /// Actions it can perform (a JSON array of names).
    pub actions: Value,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When it was added (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When its definition last changed.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// What [`Connector::upsert_all`] did with one definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Upserted {
    /// The connector was new.
    Inserted,
    /// Its stored definition differed and was brought up to date.
    Updated,
    /// It was already as defined.
    Unchanged,
}

/// A connector of the catalog, as code declares it: what [`Connector::upsert_all`] writes.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorDefinition {
    /// Unique name.
    pub name: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Its category.
    pub category: ConnectorKind,
    /// How it authenticates.
    pub auth_type: &'static str,
    /// Whether NeonHub verified it.
    pub verified: bool,
    /// One-line description.
    pub description: &'static str,
    /// OAuth scopes or credential fields it needs.
    pub scopes: &'static [&'static str],
    /// Events it can trigger on.
    pub triggers: &'static [&'static str],
    /// Actions it can perform.
    pub actions: &'static [&'static str],
}

/// NeonHub's 16 connectors: what `neonhub seed` puts in the catalog.
pub const CATALOG: &[ConnectorDefinition] = &[
    ConnectorDefinition {
        name: "gmail",
        display_name: "Gmail",
        category: ConnectorKind::Email,
        auth_type: "oauth2",
        verified: true,
        description: "Send and track campaign email from a Google Workspace mailbox.",
        scopes: &[
            "https://www.googleapis.com/auth/gmail.send",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/gmail.modify",
        ],
        triggers: &["email.received", "email.replied", "email.bounced"],
        actions: &["email.send", "email.draft", "email.label"],
    },
    ConnectorDefinition {
        name: "outlook",
        display_name: "Outlook 365",
        category: ConnectorKind::Email,
        auth_type: "oauth2",
        verified: true,
        description: "Send and track email through Microsoft 365 mailboxes.",
        scopes: &["Mail.Send", "Mail.ReadWrite", "offline_access"],
        triggers: &["email.received", "email.replied"],
        actions: &["email.send", "email.draft"],
    },
    ConnectorDefinition {
        name: "twilio-sms",
        display_name: "Twilio SMS",
        category: ConnectorKind::Sms,
        auth_type: "api_key",
        verified: true,
        description: "Two-way SMS campaigns through a Twilio messaging service.",
        scopes: &["account_sid", "auth_token", "messaging_service_sid"],
        triggers: &["sms.received", "sms.delivered", "sms.failed"],
        actions: &["sms.send"],
    },
    ConnectorDefinition {
        name: "whatsapp-business",
        display_name: "WhatsApp Business",
        category: ConnectorKind::Whatsapp,
        auth_type: "api_key",
        verified: false,
        description: "Template and session messages on the WhatsApp Business Platform.",
        scopes: &["phone_number_id", "access_token"],
        triggers: &["message.received", "message.read"],
        actions: &["message.send_template", "message.send"],
    },
    ConnectorDefinition {
        name: "reddit-ads",
        display_name: "Reddit Ads",
        category: ConnectorKind::Reddit,
        auth_type: "oauth2",
        verified: false,
        description: "Launch and report on Reddit ad campaigns.",
        scopes: &["ads_read", "ads_edit"],
        triggers: &["campaign.status_changed"],
        actions: &["campaign.create", "report.fetch"],
    },
    ConnectorDefinition {
        name: "instagram-graph",
        display_name: "Instagram Graph",
        category: ConnectorKind::Instagram,
        auth_type: "oauth2",
        verified: false,
        description: "Publish posts and read engagement on Instagram business accounts.",
        scopes: &[
            "instagram_basic",
            "instagram_content_publish",
            "instagram_manage_insights",
        ],
        triggers: &["comment.created", "mention.created"],
        actions: &["post.publish", "insights.fetch"],
    },
    ConnectorDefinition {
        name: "facebook-marketing",
        display_name: "Facebook Marketing",
        category: ConnectorKind::Facebook,
        auth_type: "oauth2",
        verified: true,
        description: "Manage Facebook pages and Meta ad campaigns.",
        scopes: &["pages_manage_posts", "ads_management", "read_insights"],
        triggers: &["lead.created", "comment.created"],
        actions: &["post.publish", "campaign.create", "insights.fetch"],
    },
    ConnectorDefinition {
        name: "x-ads",
        display_name: "X Ads",
        category: ConnectorKind::X,
        auth_type: "oauth1",
        verified: false,
        description: "Post and promote content on X.",
        scopes: &["tweet.write", "ads.read"],
        triggers: &["mention.created"],
        actions: &["post.publish", "campaign.create"],
    },
    ConnectorDefinition {
        name: "youtube-studio",
        display_name: "YouTube Studio",
        category: ConnectorKind::Youtube,
        auth_type: "oauth2",
        verified: true,
        description: "Upload videos and read channel analytics.",
        scopes: &[
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/yt-analytics.readonly",
        ],
        triggers: &["video.published", "comment.created"],
        actions: &["video.upload", "analytics.fetch"],
    },
    ConnectorDefinition {
        name: "tiktok-ads",
        display_name: "TikTok Ads",
        category: ConnectorKind::Tiktok,
        auth_type: "oauth2",
        verified: false,
        description: "Create TikTok ad campaigns and read their results.",
        scopes: &["ad.read", "ad.write"],
        triggers: &["campaign.status_changed"],
        actions: &["campaign.create", "report.fetch"],
    },
    ConnectorDefinition {
        name: "google-ads",
        display_name: "Google Ads",
        category: ConnectorKind::GoogleAds,
        auth_type: "oauth2",
        verified: true,
        description: "Search and display campaigns with conversion reporting.",
        scopes: &["https://www.googleapis.com/auth/adwords"],
        triggers: &["conversion.recorded", "budget.exhausted"],
        actions: &["campaign.create", "keyword.add", "report.fetch"],
    },
    ConnectorDefinition {
        name: "shopify",
        display_name: "Shopify",
        category: ConnectorKind::Shopify,
        auth_type: "oauth2",
        verified: true,
        description: "Orders, customers and products from a Shopify store.",
        scopes: &["read_orders", "read_customers", "read_products"],
        triggers: &["order.created", "customer.created", "cart.abandoned"],
        actions: &["discount.create", "customer.tag"],
    },
    ConnectorDefinition {
        name: "stripe",
        display_name: "Stripe",
        category: ConnectorKind::Stripe,
        auth_type: "api_key",
        verified: true,
        description: "Payments and subscriptions for revenue attribution.",
        scopes: &["secret_key", "webhook_secret"],
        triggers: &["payment.succeeded", "subscription.created", "invoice.paid"],
        actions: &["customer.lookup", "coupon.create"],
    },
    ConnectorDefinition {
        name: "slack",
        display_name: "Slack",
        category: ConnectorKind::Slack,
        auth_type: "oauth2",
        verified: true,
        description: "Team notifications and approvals in Slack channels.",
        scopes: &["chat:write", "channels:read", "commands"],
        triggers: &["message.posted", "command.invoked"],
        actions: &["message.post", "approval.request"],
    },
    ConnectorDefinition {
        name: "discord",
        display_name: "Discord",
        category: ConnectorKind::Discord,
        auth_type: "bot_token",
        verified: false,
        description: "Community announcements through a Discord bot.",
        scopes: &["bot_token", "guild_id"],
        triggers: &["message.created", "member.joined"],
        actions: &["message.post"],
    },
    ConnectorDefinition {
        name: "linkedin",
        display_name: "LinkedIn",
        category: ConnectorKind::Linkedin,
        auth_type: "oauth2",
        verified: false,
        description: "Company page posts and sponsored content on LinkedIn.",
        scopes: &["w_organization_social", "r_organization_social", "rw_ads"],
        triggers: &["comment.created"],
        actions: &["post.publish", "campaign.create"],
    },
];

impl ConnectorDefinition {
    /// The `authConfig` this definition stores.
    pub fn auth_config(&self) -> Value {
        json!({"provider": self.name, "type": self.auth_type, "requiredScopes": self.scopes})
    }

    /// Whether `stored` already says what this definition says.
    fn matches(&self, stored: &Connector) -> bool {
        stored.display_name == self.display_name
            && stored.description == self.description
            && stored.category == self.category
            && stored.auth_type == self.auth_type
            && stored.is_verified == self.verified
            && stored.auth_config == self.auth_config()
            && stored.triggers == json!(self.triggers)
            && stored.actions == json!(self.actions)
    }
}

impl Connector {
    /// Every connector of the catalog, by name (`enabled_only`: those users may connect).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        enabled_only: bool,
    ) -> Result<Vec<Self>, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut query = connectors::table
                    .order(connectors::name)
                    .select(Self::as_select())
                    .into_boxed();
                if enabled_only {
                    query = query.filter(connectors::isEnabled.eq(true));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// The connector named `name`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector", op = "by_name"))]
    pub async fn by_name(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        name: &str,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                connectors::table
                    .filter(connectors::name.eq(name))
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| ConnectorError::not_found("connector", &name))
            })
            .await
    }

    /// The connector with `id`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "connector", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &ConnectorId,
    ) -> Result<Self, ConnectorError> {
        scope.require(keys::CONNECTORS_READ)?;
        scope
            .transaction(conn, async |tx| {
                connectors::table
                    .find(id)
                    .select(Self::as_select())
                    .get_result(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| ConnectorError::not_found("connector", id))
            })
            .await
    }

    /// Writes `definitions` into the catalog in one transaction: new names are inserted
    /// (enabled), changed definitions updated (their `isEnabled` left as an operator set
    /// it), the rest untouched. Returns each connector with what was done, in the order
    /// given. System work: the catalog is global, so this runs on the owner's connection
    /// (the application role may only read it).
    #[tracing::instrument(skip_all, fields(entity = "connector", op = "upsert_all", n = definitions.len()))]
    pub async fn upsert_all(
        conn: &mut AsyncPgConnection,
        definitions: &[ConnectorDefinition],
    ) -> Result<Vec<(Connector, Upserted)>, ConnectorError> {
        conn.transaction(async |tx| {
            let mut out = Vec::with_capacity(definitions.len());
            for def in definitions {
                neonhub_schema::InvalidData::check_fields([
                    ("name", Some(def.name)),
                    ("displayName", Some(def.display_name)),
                    ("authType", Some(def.auth_type)),
                ])?;
                let now = time::now();
                // Insert first (two seeds racing agree on one row), then compare.
                let inserted = diesel::insert_into(connectors::table)
                    .values((
                        connectors::id.eq(ConnectorId::generate()),
                        connectors::name.eq(def.name),
                        connectors::displayName.eq(def.display_name),
                        connectors::description.eq(def.description),
                        connectors::category.eq(def.category),
                        connectors::authType.eq(def.auth_type),
                        connectors::authConfig.eq(def.auth_config()),
                        connectors::isEnabled.eq(true),
                        connectors::isVerified.eq(def.verified),
                        connectors::triggers.eq(json!(def.triggers)),
                        connectors::actions.eq(json!(def.actions)),
                        connectors::createdAt.eq(now),
                        connectors::updatedAt.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                if let Some(row) = inserted {
                    out.push((row, Upserted::Inserted));
                    continue;
                }
                let stored: Connector = connectors::table
                    .filter(connectors::name.eq(def.name))
                    .select(Self::as_select())
                    .for_update()
                    .get_result(tx)
                    .await?;
                if def.matches(&stored) {
                    out.push((stored, Upserted::Unchanged));
                    continue;
                }
                let updated = diesel::update(connectors::table.find(&stored.id))
                    .set((
                        connectors::displayName.eq(def.display_name),
                        connectors::description.eq(def.description),
                        connectors::category.eq(def.category),
                        connectors::authType.eq(def.auth_type),
                        connectors::authConfig.eq(def.auth_config()),
                        connectors::isVerified.eq(def.verified),
                        connectors::triggers.eq(json!(def.triggers)),
                        connectors::actions.eq(json!(def.actions)),
                        connectors::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?;
                out.push((updated, Upserted::Updated));
            }
            Ok(out)
        })
        .await
    }
}
