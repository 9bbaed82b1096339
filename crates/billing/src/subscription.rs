//! Subscriptions: a user's plan (one per user), the period's usage of each quota, and the
//! period rollover. Rows belong to their user: every function acts through a
//! [`UserScope`] (row-level security shows a user their own subscription only).
//!
//! Quota consumption is one conditional `UPDATE ... SET used = used + n WHERE used + n <=
//! limit`: two concurrent consumers can never both take the last unit.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
};
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{SubscriptionId, UserId};
use neonhub_schema::schema::subscriptions;
use neonhub_schema::{UserScope, time};
use serde_json::Value;

use crate::{BillingError, Quota};

/// A user's subscription: plan, Stripe ids, period, and the period's usage of each quota.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = subscriptions, check_for_backend(diesel::pg::Pg))]
pub struct Subscription {
    /// Primary key.
    pub id: SubscriptionId,
    /// Its user (one subscription per user).
    #[diesel(column_name = userId)]
    pub user_id: UserId,
    /// Stripe's customer id.
    #[diesel(column_name = stripeCustomerId)]
    pub stripe_customer_id: String,
    /// Stripe's subscription id.
    #[diesel(column_name = stripeSubscriptionId)]
    pub stripe_subscription_id: String,
    /// Stripe's price id.
    #[diesel(column_name = stripePriceId)]
    pub stripe_price_id: String,
    /// Stripe's product id.
    #[diesel(column_name = stripeProductId)]
    pub stripe_product_id: String,
    /// The plan's name.
    pub plan: String,
    /// Stripe's status (`active`, `past_due`, `canceled`, ...).
    pub status: String,
    /// The current period's start (UTC).
    #[diesel(column_name = currentPeriodStart)]
    pub current_period_start: NaiveDateTime,
    /// The current period's end (UTC).
    #[diesel(column_name = currentPeriodEnd)]
    pub current_period_end: NaiveDateTime,
    /// Whether it ends with the period.
    #[diesel(column_name = cancelAtPeriodEnd)]
    pub cancel_at_period_end: bool,
    /// When it was canceled.
    #[diesel(column_name = canceledAt)]
    pub canceled_at: Option<NaiveDateTime>,
    /// Campaigns created this period.
    #[diesel(column_name = campaignsUsed)]
    pub campaigns_used: i32,
    /// Emails sent this period.
    #[diesel(column_name = emailsSent)]
    pub emails_sent: i32,
    /// Social posts this period.
    #[diesel(column_name = socialPosts)]
    pub social_posts: i32,
    /// Agent calls this period.
    #[diesel(column_name = agentCalls)]
    pub agent_calls: i32,
    /// Campaigns per period.
    #[diesel(column_name = campaignLimit)]
    pub campaign_limit: i32,
    /// Emails per period.
    #[diesel(column_name = emailLimit)]
    pub email_limit: i32,
    /// Social posts per period.
    #[diesel(column_name = socialLimit)]
    pub social_limit: i32,
    /// Agent calls per period.
    #[diesel(column_name = agentCallLimit)]
    pub agent_call_limit: i32,
    /// When the trial ends.
    #[diesel(column_name = trialEndsAt)]
    pub trial_ends_at: Option<NaiveDateTime>,
    /// Free-form.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
    /// When the Stripe event last applied to it happened.
    #[diesel(column_name = stripeEventAt)]
    pub stripe_event_at: Option<NaiveDateTime>,
}

impl Subscription {
    /// What `quota` has used of its limit this period: `(used, limit)`.
    pub fn usage(&self, quota: Quota) -> (i32, i32) {
        match quota {
            Quota::Campaigns => (self.campaigns_used, self.campaign_limit),
            Quota::Emails => (self.emails_sent, self.email_limit),
            Quota::SocialPosts => (self.social_posts, self.social_limit),
            Quota::AgentCalls => (self.agent_calls, self.agent_call_limit),
        }
    }
}

/// The largest amount one call may consume or give back.
pub const MAX_QUOTA_STEP: i32 = 1_000_000;

/// `UPDATE subscriptions SET <used> = <used> + $n WHERE "userId" = $1 AND <used> + $n <=
/// <limit>`, one statement per quota so each is a prepared, typed query.
macro_rules! counted {
    ($tx:expr, $user:expr, $n:expr, $used:ident, $limit:ident) => {
        diesel::update(subscriptions::table)
            .filter(subscriptions::userId.eq($user))
            .filter((subscriptions::$used + $n).le(subscriptions::$limit))
            .filter((subscriptions::$used + $n).ge(0))
            .set((
                subscriptions::$used.eq(subscriptions::$used + $n),
                subscriptions::updatedAt.eq(time::now()),
            ))
            .returning(Subscription::as_returning())
            .get_result($tx)
            .await
            .optional()?
    };
}

impl Subscription {
    /// The user's subscription, if they have one.
    #[tracing::instrument(skip_all, fields(entity = "subscription", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
    ) -> Result<Option<Self>, BillingError> {
        scope
            .transaction(conn, async |tx| {
                Ok(subscriptions::table
                    .filter(subscriptions::userId.eq(scope.user_id()))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?)
            })
            .await
    }

    /// The user a Stripe customer or subscription id belongs to: what a webhook handler
    /// needs before it can act as that user (through the narrow `nh_subscription_owner`
    /// lookup, so the application role needs no scope for it).
    #[tracing::instrument(skip_all, fields(entity = "subscription", op = "owner"))]
    pub async fn owner(
        conn: &mut AsyncPgConnection,
        stripe_id: &str,
    ) -> Result<Option<UserId>, BillingError> {
        neonhub_schema::InvalidData::check_text("stripe id", stripe_id)?;
        #[derive(QueryableByName)]
        struct Owner {
            #[diesel(sql_type = Nullable<Text>)]
            owner: Option<UserId>,
        }
        let row: Owner = diesel::sql_query("SELECT public.nh_subscription_owner($1) AS owner")
            .bind::<Text, _>(stripe_id)
            .get_result(conn)
            .await?;
        Ok(row.owner)
    }

    /// Counts `n` more of `quota` this period, refused with
    /// [`BillingError::QuotaExceeded`] (nothing counted) when it would pass the limit; one
    /// conditional update, never a read then a write. Returns the subscription after.
    #[tracing::instrument(skip_all, fields(entity = "subscription", op = "consume"))]
    pub async fn consume(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        quota: Quota,
        n: i32,
    ) -> Result<Self, BillingError> {
        if !(1..=MAX_QUOTA_STEP).contains(&n) {
            return Err(BillingError::bad_input(
                "n",
                format!("{n} is not between 1 and {MAX_QUOTA_STEP}"),
            ));
        }
        Self::count(conn, scope, quota, n).await
    }

    /// Gives `n` of `quota` back (an action counted but then not done), never below zero.
    #[tracing::instrument(skip_all, fields(entity = "subscription", op = "give_back"))]
    pub async fn give_back(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        quota: Quota,
        n: i32,
    ) -> Result<Self, BillingError> {
        if !(1..=MAX_QUOTA_STEP).contains(&n) {
            return Err(BillingError::bad_input(
                "n",
                format!("{n} is not between 1 and {MAX_QUOTA_STEP}"),
            ));
        }
        Self::count(conn, scope, quota, -n).await
    }

    async fn count(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        quota: Quota,
        n: i32,
    ) -> Result<Self, BillingError> {
        scope
            .transaction(conn, async |tx| {
                let user = scope.user_id();
                let counted: Option<Subscription> = match quota {
                    Quota::Campaigns => counted!(tx, user, n, campaignsUsed, campaignLimit),
                    Quota::Emails => counted!(tx, user, n, emailsSent, emailLimit),
                    Quota::SocialPosts => counted!(tx, user, n, socialPosts, socialLimit),
                    Quota::AgentCalls => counted!(tx, user, n, agentCalls, agentCallLimit),
                };
                if let Some(s) = counted {
                    return Ok(s);
                }
                let current: Subscription = subscriptions::table
                    .filter(subscriptions::userId.eq(user))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::not_found("subscription of user", user))?;
                let (used, limit) = current.usage(quota);
                if n < 0 {
                    return Err(BillingError::bad_input(
                        "n",
                        format!("{} {quota} would go below zero ({used} used)", -n),
                    ));
                }
                Err(BillingError::QuotaExceeded {
                    quota,
                    used,
                    limit,
                    requested: n,
                })
            })
            .await
    }

    /// Starts a new period: sets it and resets every quota's usage, only when `start` is
    /// after the current period's start (so rolling over twice to the same period, or to
    /// an older one, changes nothing). Returns the subscription and whether it rolled over.
    #[tracing::instrument(skip_all, fields(entity = "subscription", op = "roll_over"))]
    pub async fn roll_over(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        start: NaiveDateTime,
        end: NaiveDateTime,
    ) -> Result<(Self, bool), BillingError> {
        if end <= start {
            return Err(BillingError::bad_input(
                "currentPeriodEnd",
                "the period ends before it starts",
            ));
        }
        let (start, end) = (time::truncate(start), time::truncate(end));
        scope
            .transaction(conn, async |tx| {
                let user = scope.user_id();
                let rolled: Option<Subscription> = diesel::update(subscriptions::table)
                    .filter(subscriptions::userId.eq(user))
                    .filter(subscriptions::currentPeriodStart.lt(start))
                    .set((
                        subscriptions::currentPeriodStart.eq(start),
                        subscriptions::currentPeriodEnd.eq(end),
                        subscriptions::campaignsUsed.eq(0),
                        subscriptions::emailsSent.eq(0),
                        subscriptions::socialPosts.eq(0),
                        subscriptions::agentCalls.eq(0),
                        subscriptions::updatedAt.eq(time::now()),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                if let Some(s) = rolled {
                    return Ok((s, true));
                }
                let current = subscriptions::table
                    .filter(subscriptions::userId.eq(user))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::not_found("subscription of user", user))?;
                Ok((current, false))
            })
            .await
    }
}
