//! Stripe webhooks: subscriptions, invoices, payments and payouts upserted by their Stripe
//! ids, so an event delivered twice, late or out of order changes nothing twice and never
//! moves a status backwards.
//!
//! Each row remembers when the event last applied to it happened (`stripeEventAt`, from
//! the event's `created`). An event applies when it is newer than that (or equally old and
//! further along), and, for invoices, payments and payouts, when its status is not behind
//! the row's (`draft → open → uncollectible → paid | void`; `requires_* → processing →
//! requires_capture → succeeded | canceled`; `pending → in_transit → paid | failed |
//! canceled`). A final status never changes. A subscription's statuses go back and forth
//! (`active ⇄ past_due`), so for it event time alone decides, and `canceled` is final for
//! that Stripe subscription.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
};
use diesel::sql_types::{Array, Bool, Int4, Jsonb, Nullable, Text, Timestamp};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{
    BudgetProfileId, InvoiceId, OrganizationId, PaymentId, PayoutId, SubscriptionId,
};
use neonhub_schema::schema::{budget_profiles, invoices, payments, payouts, subscriptions};
use neonhub_schema::{InvalidData, TenantScope, UserScope, keys, time};
use serde_json::Value;

use crate::money::{Currency, Money};
use crate::{BillingError, Subscription, limits};

/// The outcome of applying a webhook event: the row as it stands, and whether this event
/// changed it (`false` for a replay, an older event, or a status that would go backwards).
#[derive(Debug, Clone, PartialEq)]
pub struct Synced<T> {
    /// The row after the event.
    pub row: T,
    /// Whether the event changed it.
    pub applied: bool,
}

/// The statuses of one kind of Stripe object, in lifecycle order: each with its rank
/// (equal ranks are alternatives) and whether it is final.
struct Lifecycle {
    entity: &'static str,
    statuses: &'static [(&'static str, i32, bool)],
}

const SUBSCRIPTION: Lifecycle = Lifecycle {
    entity: "subscription status",
    statuses: &[
        ("incomplete", 0, false),
        ("trialing", 1, false),
        ("active", 2, false),
        ("past_due", 3, false),
        ("unpaid", 4, false),
        ("paused", 4, false),
        ("canceled", 5, true),
        ("incomplete_expired", 5, true),
    ],
};
const INVOICE: Lifecycle = Lifecycle {
    entity: "invoice status",
    statuses: &[
        ("draft", 0, false),
        ("open", 1, false),
        ("uncollectible", 2, false),
        ("paid", 3, true),
        ("void", 3, true),
    ],
};
const PAYMENT: Lifecycle = Lifecycle {
    entity: "payment status",
    statuses: &[
        ("requires_payment_method", 0, false),
        ("requires_confirmation", 0, false),
        ("requires_action", 0, false),
        ("processing", 1, false),
        ("requires_capture", 2, false),
        ("succeeded", 3, true),
        ("canceled", 3, true),
    ],
};
const PAYOUT: Lifecycle = Lifecycle {
    entity: "payout status",
    statuses: &[
        ("pending", 0, false),
        ("in_transit", 1, false),
        ("paid", 2, true),
        ("failed", 2, true),
        ("canceled", 2, true),
    ],
};

impl Lifecycle {
    /// The rank of `status`, refused when Stripe's status is not one this build knows (an
    /// unknown status cannot be ordered, so it is never applied).
    fn rank(&self, status: &str) -> Result<i32, BillingError> {
        self.statuses
            .iter()
            .find(|(s, _, _)| *s == status)
            .map(|(_, rank, _)| *rank)
            .ok_or_else(|| {
                BillingError::bad_input(
                    "status",
                    format!("{status:?} is not a known {}", self.entity),
                )
            })
    }

    fn names(&self) -> Vec<&'static str> {
        self.statuses.iter().map(|(s, _, _)| *s).collect()
    }

    fn ranks(&self) -> Vec<i32> {
        self.statuses.iter().map(|(_, r, _)| *r).collect()
    }

    fn finals(&self) -> Vec<&'static str> {
        self.statuses
            .iter()
            .filter(|(_, _, f)| *f)
            .map(|(s, _, _)| *s)
            .collect()
    }
}

/// The condition under which an event's row replaces the stored one (`t`: stored,
/// `excluded`: the event's), with the binds `$order`, `$ranks`, `$finals`, `$rank`
/// numbered from `first`. `monotonic`: a status may not go back in rank.
fn applies_when(first: usize, monotonic: bool, same_object: &str) -> String {
    let (order, ranks, finals, rank) = (first, first + 1, first + 2, first + 3);
    let old_rank =
        format!("coalesce((${ranks}::int4[])[array_position(${order}::text[], t.status)], -1)");
    let backwards = if monotonic {
        format!("AND ${rank} >= {old_rank}")
    } else {
        String::new()
    };
    format!(
        "NOT (t.status = ANY(${finals}::text[]) AND excluded.status <> t.status {same_object})
         {backwards}
         AND (t.\"stripeEventAt\" IS NULL OR excluded.\"stripeEventAt\" > t.\"stripeEventAt\"
              OR (excluded.\"stripeEventAt\" = t.\"stripeEventAt\" AND ${rank} > {old_rank}))"
    )
}

/// A Stripe subscription event (`customer.subscription.created`, `.updated`, `.deleted`).
#[derive(Debug, Clone)]
pub struct StripeSubscription<'a> {
    /// The event's `created` time (UTC).
    pub event_at: NaiveDateTime,
    /// `customer`.
    pub customer_id: &'a str,
    /// `id`.
    pub subscription_id: &'a str,
    /// The price's id.
    pub price_id: &'a str,
    /// The product's id.
    pub product_id: &'a str,
    /// The plan's name (the product's, or the application's).
    pub plan: &'a str,
    /// `status`.
    pub status: &'a str,
    /// `current_period_start`.
    pub current_period_start: NaiveDateTime,
    /// `current_period_end`.
    pub current_period_end: NaiveDateTime,
    /// `cancel_at_period_end`.
    pub cancel_at_period_end: bool,
    /// `canceled_at`.
    pub canceled_at: Option<NaiveDateTime>,
    /// `trial_end`.
    pub trial_ends_at: Option<NaiveDateTime>,
    /// The plan's limits (campaigns, emails, social posts, agent calls); `None` keeps the
    /// row's (the schema's defaults on a new row).
    pub limits: Option<[i32; 4]>,
    /// Free-form (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

impl Subscription {
    /// Applies a subscription event for the scope's user: inserts their subscription or
    /// updates it when the event is newer (a new period resets the quotas' usage).
    #[tracing::instrument(skip_all, fields(entity = "subscription", op = "sync"))]
    pub async fn sync(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        event: &StripeSubscription<'_>,
    ) -> Result<Synced<Subscription>, BillingError> {
        let rank = SUBSCRIPTION.rank(event.status)?;
        for (field, value) in [
            ("customer", event.customer_id),
            ("subscription", event.subscription_id),
            ("price", event.price_id),
            ("product", event.product_id),
            ("plan", event.plan),
        ] {
            limits::name(field, value)?;
        }
        limits::json("metadata", event.metadata)?;
        if event.current_period_end <= event.current_period_start {
            return Err(BillingError::bad_input(
                "current_period_end",
                "the period ends before it starts",
            ));
        }
        if event.limits.is_some_and(|l| l.iter().any(|n| *n < 0)) {
            return Err(BillingError::bad_input("limits", "a limit is negative"));
        }
        let limit = |i: usize| event.limits.map(|l| l[i]);
        let sql = format!(
            r#"INSERT INTO public.subscriptions AS t (id, "userId", "stripeCustomerId", "stripeSubscriptionId",
                 "stripePriceId", "stripeProductId", plan, status, "currentPeriodStart", "currentPeriodEnd",
                 "cancelAtPeriodEnd", "canceledAt", "trialEndsAt", "campaignLimit", "emailLimit", "socialLimit",
                 "agentCallLimit", metadata, "createdAt", "updatedAt", "stripeEventAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, coalesce($14, 5), coalesce($15, 1000),
                 coalesce($16, 100), coalesce($17, 100), $18, $19, $19, $20)
               ON CONFLICT ("userId") DO UPDATE SET
                 "stripeCustomerId" = excluded."stripeCustomerId", "stripeSubscriptionId" = excluded."stripeSubscriptionId",
                 "stripePriceId" = excluded."stripePriceId", "stripeProductId" = excluded."stripeProductId",
                 plan = excluded.plan, status = excluded.status,
                 "currentPeriodStart" = excluded."currentPeriodStart", "currentPeriodEnd" = excluded."currentPeriodEnd",
                 "cancelAtPeriodEnd" = excluded."cancelAtPeriodEnd", "canceledAt" = excluded."canceledAt",
                 "trialEndsAt" = excluded."trialEndsAt",
                 "campaignLimit" = coalesce($14, t."campaignLimit"), "emailLimit" = coalesce($15, t."emailLimit"),
                 "socialLimit" = coalesce($16, t."socialLimit"), "agentCallLimit" = coalesce($17, t."agentCallLimit"),
                 "campaignsUsed" = CASE WHEN excluded."currentPeriodStart" > t."currentPeriodStart" THEN 0 ELSE t."campaignsUsed" END,
                 "emailsSent" = CASE WHEN excluded."currentPeriodStart" > t."currentPeriodStart" THEN 0 ELSE t."emailsSent" END,
                 "socialPosts" = CASE WHEN excluded."currentPeriodStart" > t."currentPeriodStart" THEN 0 ELSE t."socialPosts" END,
                 "agentCalls" = CASE WHEN excluded."currentPeriodStart" > t."currentPeriodStart" THEN 0 ELSE t."agentCalls" END,
                 metadata = excluded.metadata, "updatedAt" = excluded."updatedAt",
                 "stripeEventAt" = excluded."stripeEventAt"
               WHERE {}
               RETURNING t.*"#,
            applies_when(
                21,
                false,
                r#"AND excluded."stripeSubscriptionId" = t."stripeSubscriptionId""#
            )
        );
        scope
            .transaction(conn, async |tx| {
                let applied: Option<Subscription> = diesel::sql_query(sql)
                    .bind::<Text, _>(SubscriptionId::generate())
                    .bind::<Text, _>(scope.user_id())
                    .bind::<Text, _>(event.customer_id)
                    .bind::<Text, _>(event.subscription_id)
                    .bind::<Text, _>(event.price_id)
                    .bind::<Text, _>(event.product_id)
                    .bind::<Text, _>(event.plan)
                    .bind::<Text, _>(event.status)
                    .bind::<Timestamp, _>(time::truncate(event.current_period_start))
                    .bind::<Timestamp, _>(time::truncate(event.current_period_end))
                    .bind::<Bool, _>(event.cancel_at_period_end)
                    .bind::<Nullable<Timestamp>, _>(event.canceled_at.map(time::truncate))
                    .bind::<Nullable<Timestamp>, _>(event.trial_ends_at.map(time::truncate))
                    .bind::<Nullable<Int4>, _>(limit(0))
                    .bind::<Nullable<Int4>, _>(limit(1))
                    .bind::<Nullable<Int4>, _>(limit(2))
                    .bind::<Nullable<Int4>, _>(limit(3))
                    .bind::<Nullable<Jsonb>, _>(event.metadata)
                    .bind::<Timestamp, _>(time::now())
                    .bind::<Timestamp, _>(time::truncate(event.event_at))
                    .bind::<Array<Text>, _>(SUBSCRIPTION.names())
                    .bind::<Array<Int4>, _>(SUBSCRIPTION.ranks())
                    .bind::<Array<Text>, _>(SUBSCRIPTION.finals())
                    .bind::<Int4, _>(rank)
                    .get_result(tx)
                    .await
                    .optional()?;
                if let Some(row) = applied {
                    return Ok(Synced { row, applied: true });
                }
                let row = subscriptions::table
                    .filter(subscriptions::userId.eq(scope.user_id()))
                    .select(Subscription::as_select())
                    .first(tx)
                    .await?;
                Ok(Synced {
                    row,
                    applied: false,
                })
            })
            .await
    }
}

/// An invoice of a user's subscription. Amounts are Stripe's (minor units).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Invoice {
    /// Primary key.
    pub id: InvoiceId,
    /// The subscription it bills.
    pub subscription_id: SubscriptionId,
    /// Stripe's invoice id.
    pub stripe_invoice_id: String,
    /// Stripe's payment intent id.
    pub stripe_payment_intent_id: Option<String>,
    /// What is due.
    pub amount_due: Money,
    /// What was paid.
    pub amount_paid: Money,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// The PDF's URL.
    pub invoice_pdf: Option<String>,
    /// The hosted page's URL.
    pub hosted_invoice_url: Option<String>,
    /// When it is due.
    pub due_date: Option<NaiveDateTime>,
    /// When it was paid.
    pub paid_at: Option<NaiveDateTime>,
    /// Free-form.
    pub metadata: Option<Value>,
    /// When the Stripe event last applied to it happened.
    pub stripe_event_at: Option<NaiveDateTime>,
    /// When it was created (UTC, milliseconds).
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = invoices, check_for_backend(diesel::pg::Pg))]
struct InvoiceRow {
    id: InvoiceId,
    #[diesel(column_name = subscriptionId)]
    subscription_id: SubscriptionId,
    #[diesel(column_name = stripeInvoiceId)]
    stripe_invoice_id: String,
    #[diesel(column_name = stripePaymentIntentId)]
    stripe_payment_intent_id: Option<String>,
    #[diesel(column_name = amountDue)]
    amount_due: i32,
    #[diesel(column_name = amountPaid)]
    amount_paid: i32,
    currency: String,
    status: String,
    #[diesel(column_name = invoicePdf)]
    invoice_pdf: Option<String>,
    #[diesel(column_name = hostedInvoiceUrl)]
    hosted_invoice_url: Option<String>,
    #[diesel(column_name = dueDate)]
    due_date: Option<NaiveDateTime>,
    #[diesel(column_name = paidAt)]
    paid_at: Option<NaiveDateTime>,
    metadata: Option<Value>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
    #[diesel(column_name = stripeEventAt)]
    stripe_event_at: Option<NaiveDateTime>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = BillingError;
    fn try_from(r: InvoiceRow) -> Result<Self, BillingError> {
        let c = Currency::parse(&r.currency)?;
        Ok(Invoice {
            amount_due: Money::new(r.amount_due.into(), c)?,
            amount_paid: Money::new(r.amount_paid.into(), c)?,
            id: r.id,
            subscription_id: r.subscription_id,
            stripe_invoice_id: r.stripe_invoice_id,
            stripe_payment_intent_id: r.stripe_payment_intent_id,
            status: r.status,
            invoice_pdf: r.invoice_pdf,
            hosted_invoice_url: r.hosted_invoice_url,
            due_date: r.due_date,
            paid_at: r.paid_at,
            metadata: r.metadata,
            stripe_event_at: r.stripe_event_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A Stripe invoice event (`invoice.created`, `.finalized`, `.paid`, `.voided`, ...).
#[derive(Debug, Clone)]
pub struct StripeInvoice<'a> {
    /// The event's `created` time (UTC).
    pub event_at: NaiveDateTime,
    /// `id`.
    pub invoice_id: &'a str,
    /// `subscription`: Stripe's id of the user's subscription.
    pub subscription_id: &'a str,
    /// `payment_intent`.
    pub payment_intent_id: Option<&'a str>,
    /// `amount_due` (minor units, at most 2^31 − 1 as the column holds).
    pub amount_due: Money,
    /// `amount_paid`, in the same currency.
    pub amount_paid: Money,
    /// `status`.
    pub status: &'a str,
    /// `invoice_pdf`.
    pub invoice_pdf: Option<&'a str>,
    /// `hosted_invoice_url`.
    pub hosted_invoice_url: Option<&'a str>,
    /// `due_date`.
    pub due_date: Option<NaiveDateTime>,
    /// `status_transitions.paid_at`.
    pub paid_at: Option<NaiveDateTime>,
    /// Free-form (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

impl Invoice {
    /// Applies an invoice event to the scope's user's subscription (refused with
    /// [`BillingError::NotFound`] when the Stripe subscription is not theirs).
    #[tracing::instrument(skip_all, fields(entity = "invoice", op = "sync"))]
    pub async fn sync(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        event: &StripeInvoice<'_>,
    ) -> Result<Synced<Invoice>, BillingError> {
        let rank = INVOICE.rank(event.status)?;
        limits::name("invoice", event.invoice_id)?;
        limits::name("subscription", event.subscription_id)?;
        limits::text("payment_intent", event.payment_intent_id)?;
        limits::text("invoice_pdf", event.invoice_pdf)?;
        limits::text("hosted_invoice_url", event.hosted_invoice_url)?;
        limits::json("metadata", event.metadata)?;
        event
            .amount_paid
            .expect_currency(event.amount_due.currency())?;
        let int = |m: Money, field: &'static str| {
            i32::try_from(m.minor())
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    BillingError::bad_input(
                        field,
                        format!("{m} is not between 0 and 2^31 - 1 minor units"),
                    )
                })
        };
        let (due, paid) = (
            int(event.amount_due, "amount_due")?,
            int(event.amount_paid, "amount_paid")?,
        );
        let sql = format!(
            r#"INSERT INTO public.invoices AS t (id, "subscriptionId", "stripeInvoiceId", "stripePaymentIntentId",
                 "amountDue", "amountPaid", currency, status, "invoicePdf", "hostedInvoiceUrl", "dueDate", "paidAt",
                 metadata, "createdAt", "updatedAt", "stripeEventAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)
               ON CONFLICT ("stripeInvoiceId") DO UPDATE SET
                 "stripePaymentIntentId" = excluded."stripePaymentIntentId", "amountDue" = excluded."amountDue",
                 "amountPaid" = excluded."amountPaid", currency = excluded.currency, status = excluded.status,
                 "invoicePdf" = excluded."invoicePdf", "hostedInvoiceUrl" = excluded."hostedInvoiceUrl",
                 "dueDate" = excluded."dueDate", "paidAt" = excluded."paidAt", metadata = excluded.metadata,
                 "updatedAt" = excluded."updatedAt", "stripeEventAt" = excluded."stripeEventAt"
               WHERE t."subscriptionId" = excluded."subscriptionId" AND {}
               RETURNING t.*"#,
            applies_when(16, true, "")
        );
        scope
            .transaction(conn, async |tx| {
                let subscription: SubscriptionId = subscriptions::table
                    .filter(subscriptions::userId.eq(scope.user_id()))
                    .filter(subscriptions::stripeSubscriptionId.eq(event.subscription_id))
                    .select(subscriptions::id)
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| {
                        BillingError::not_found("subscription", event.subscription_id)
                    })?;
                let applied: Option<InvoiceRow> = diesel::sql_query(sql)
                    .bind::<Text, _>(InvoiceId::generate())
                    .bind::<Text, _>(&subscription)
                    .bind::<Text, _>(event.invoice_id)
                    .bind::<Nullable<Text>, _>(event.payment_intent_id)
                    .bind::<Int4, _>(due)
                    .bind::<Int4, _>(paid)
                    .bind::<Text, _>(event.amount_due.currency().lower())
                    .bind::<Text, _>(event.status)
                    .bind::<Nullable<Text>, _>(event.invoice_pdf)
                    .bind::<Nullable<Text>, _>(event.hosted_invoice_url)
                    .bind::<Nullable<Timestamp>, _>(event.due_date.map(time::truncate))
                    .bind::<Nullable<Timestamp>, _>(event.paid_at.map(time::truncate))
                    .bind::<Nullable<Jsonb>, _>(event.metadata)
                    .bind::<Timestamp, _>(time::now())
                    .bind::<Timestamp, _>(time::truncate(event.event_at))
                    .bind::<Array<Text>, _>(INVOICE.names())
                    .bind::<Array<Int4>, _>(INVOICE.ranks())
                    .bind::<Array<Text>, _>(INVOICE.finals())
                    .bind::<Int4, _>(rank)
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| elsewhere(e, "invoice", event.invoice_id))?;
                if let Some(row) = applied {
                    return Ok(Synced {
                        row: row.try_into()?,
                        applied: true,
                    });
                }
                let row: InvoiceRow = invoices::table
                    .filter(invoices::stripeInvoiceId.eq(event.invoice_id))
                    .filter(invoices::subscriptionId.eq(&subscription))
                    .select(InvoiceRow::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::not_found("invoice", event.invoice_id))?;
                Ok(Synced {
                    row: row.try_into()?,
                    applied: false,
                })
            })
            .await
    }

    /// The user's invoices, newest first (at most `limit`, up to 1000).
    #[tracing::instrument(skip_all, fields(entity = "invoice", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &UserScope,
        limit: i64,
    ) -> Result<Vec<Invoice>, BillingError> {
        scope
            .transaction(conn, async |tx| {
                let rows: Vec<InvoiceRow> = invoices::table
                    .inner_join(subscriptions::table)
                    .filter(subscriptions::userId.eq(scope.user_id()))
                    .order((invoices::createdAt.desc(), invoices::id.desc()))
                    .limit(limit.clamp(1, 1000))
                    .select(InvoiceRow::as_select())
                    .load(tx)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            })
            .await
    }
}

/// A payment into an organization's budget (a Stripe payment intent).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Payment {
    /// Primary key.
    pub id: PaymentId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The budget it funds.
    pub budget_profile_id: Option<BudgetProfileId>,
    /// Stripe's payment intent id.
    pub stripe_payment_intent_id: String,
    /// Stripe's status.
    pub status: String,
    /// The amount.
    pub amount: Money,
    /// Stripe's customer id.
    pub customer_id: Option<String>,
    /// Free-form.
    pub metadata: Option<Value>,
    /// When the Stripe event last applied to it happened.
    pub stripe_event_at: Option<NaiveDateTime>,
    /// When it was created (UTC, milliseconds).
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
struct PaymentRow {
    id: PaymentId,
    #[diesel(column_name = organizationId)]
    organization_id: OrganizationId,
    #[diesel(column_name = budgetProfileId)]
    budget_profile_id: Option<BudgetProfileId>,
    #[diesel(column_name = stripePaymentIntentId)]
    stripe_payment_intent_id: String,
    status: String,
    amount: f64,
    currency: String,
    #[diesel(column_name = customerId)]
    customer_id: Option<String>,
    metadata: Option<Value>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
    #[diesel(column_name = stripeEventAt)]
    stripe_event_at: Option<NaiveDateTime>,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = BillingError;
    fn try_from(r: PaymentRow) -> Result<Self, BillingError> {
        let c = Currency::parse(&r.currency)?;
        Ok(Payment {
            amount: Money::from_stored(r.amount, c, "payments.amount")?,
            id: r.id,
            organization_id: r.organization_id,
            budget_profile_id: r.budget_profile_id,
            stripe_payment_intent_id: r.stripe_payment_intent_id,
            status: r.status,
            customer_id: r.customer_id,
            metadata: r.metadata,
            stripe_event_at: r.stripe_event_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A Stripe payment intent event (`payment_intent.created`, `.processing`, `.succeeded`, ...).
#[derive(Debug, Clone)]
pub struct StripePayment<'a> {
    /// The event's `created` time (UTC).
    pub event_at: NaiveDateTime,
    /// `id`.
    pub payment_intent_id: &'a str,
    /// `status`.
    pub status: &'a str,
    /// `amount` in `currency`.
    pub amount: Money,
    /// `customer`.
    pub customer_id: Option<&'a str>,
    /// The budget it funds (one of this organization's).
    pub budget_profile: Option<&'a BudgetProfileId>,
    /// Free-form (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

impl Payment {
    /// Applies a payment intent event for this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "payment", op = "sync"))]
    pub async fn sync(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        event: &StripePayment<'_>,
    ) -> Result<Synced<Payment>, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        let rank = PAYMENT.rank(event.status)?;
        limits::name("payment_intent", event.payment_intent_id)?;
        if event.amount.minor() < 0 {
            return Err(crate::MoneyError::NotPositive {
                field: "amount",
                amount: event.amount,
            }
            .into());
        }
        limits::text("customer", event.customer_id)?;
        limits::json("metadata", event.metadata)?;
        let amount = event.amount.stored_exactly()?;
        let sql = format!(
            r#"INSERT INTO public.payments AS t (id, "organizationId", "budgetProfileId", "stripePaymentIntentId",
                 status, amount, currency, "customerId", metadata, "createdAt", "updatedAt", "stripeEventAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
               ON CONFLICT ("stripePaymentIntentId") DO UPDATE SET
                 "budgetProfileId" = excluded."budgetProfileId", status = excluded.status, amount = excluded.amount,
                 currency = excluded.currency, "customerId" = excluded."customerId", metadata = excluded.metadata,
                 "updatedAt" = excluded."updatedAt", "stripeEventAt" = excluded."stripeEventAt"
               WHERE t."organizationId" = excluded."organizationId" AND {}
               RETURNING t.*"#,
            applies_when(12, true, "")
        );
        scope
            .transaction(conn, async |tx| {
                check_profile(tx, scope, event.budget_profile).await?;
                let applied: Option<PaymentRow> = diesel::sql_query(sql)
                    .bind::<Text, _>(PaymentId::generate())
                    .bind::<Text, _>(scope.organization_id())
                    .bind::<Nullable<Text>, _>(event.budget_profile)
                    .bind::<Text, _>(event.payment_intent_id)
                    .bind::<Text, _>(event.status)
                    .bind::<diesel::sql_types::Double, _>(amount)
                    .bind::<Text, _>(event.amount.currency().lower())
                    .bind::<Nullable<Text>, _>(event.customer_id)
                    .bind::<Nullable<Jsonb>, _>(event.metadata)
                    .bind::<Timestamp, _>(time::now())
                    .bind::<Timestamp, _>(time::truncate(event.event_at))
                    .bind::<Array<Text>, _>(PAYMENT.names())
                    .bind::<Array<Int4>, _>(PAYMENT.ranks())
                    .bind::<Array<Text>, _>(PAYMENT.finals())
                    .bind::<Int4, _>(rank)
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| elsewhere(e, "payment", event.payment_intent_id))?;
                if let Some(row) = applied {
                    return Ok(Synced {
                        row: row.try_into()?,
                        applied: true,
                    });
                }
                let row: PaymentRow = payments::table
                    .filter(payments::stripePaymentIntentId.eq(event.payment_intent_id))
                    .filter(payments::organizationId.eq(scope.organization_id()))
                    .select(PaymentRow::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| {
                        BillingError::foreign_parent("payment", event.payment_intent_id)
                    })?;
                Ok(Synced {
                    row: row.try_into()?,
                    applied: false,
                })
            })
            .await
    }

    /// The payment with this Stripe payment intent id in this organization, if any.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "payment", op = "by_stripe_id"))]
    pub async fn by_stripe_id(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        payment_intent_id: &str,
    ) -> Result<Option<Payment>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        InvalidData::check_text("payment_intent", payment_intent_id)?;
        scope
            .transaction(conn, async |tx| {
                let row: Option<PaymentRow> = payments::table
                    .filter(payments::stripePaymentIntentId.eq(payment_intent_id))
                    .filter(payments::organizationId.eq(scope.organization_id()))
                    .select(PaymentRow::as_select())
                    .first(tx)
                    .await
                    .optional()?;
                row.map(TryInto::try_into).transpose()
            })
            .await
    }
}

/// A payout from an organization's budget to a partner (a Stripe transfer).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Payout {
    /// Primary key.
    pub id: PayoutId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// The budget it is paid from.
    pub budget_profile_id: Option<BudgetProfileId>,
    /// The partner paid.
    pub partner_id: String,
    /// Stripe's transfer id.
    pub stripe_transfer_id: Option<String>,
    /// Stripe's status.
    pub status: String,
    /// The amount.
    pub amount: Money,
    /// Free-form.
    pub metadata: Option<Value>,
    /// When it was processed.
    pub processed_at: Option<NaiveDateTime>,
    /// When the Stripe event last applied to it happened.
    pub stripe_event_at: Option<NaiveDateTime>,
    /// When it was created (UTC, milliseconds).
    pub created_at: NaiveDateTime,
}

#[derive(Queryable, QueryableByName, Selectable)]
#[diesel(table_name = payouts, check_for_backend(diesel::pg::Pg))]
struct PayoutRow {
    id: PayoutId,
    #[diesel(column_name = organizationId)]
    organization_id: OrganizationId,
    #[diesel(column_name = budgetProfileId)]
    budget_profile_id: Option<BudgetProfileId>,
    #[diesel(column_name = partnerId)]
    partner_id: String,
    #[diesel(column_name = stripeTransferId)]
    stripe_transfer_id: Option<String>,
    status: String,
    amount: f64,
    currency: String,
    metadata: Option<Value>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = processedAt)]
    processed_at: Option<NaiveDateTime>,
    #[diesel(column_name = stripeEventAt)]
    stripe_event_at: Option<NaiveDateTime>,
}

impl TryFrom<PayoutRow> for Payout {
    type Error = BillingError;
    fn try_from(r: PayoutRow) -> Result<Self, BillingError> {
        let c = Currency::parse(&r.currency)?;
        Ok(Payout {
            amount: Money::from_stored(r.amount, c, "payouts.amount")?,
            id: r.id,
            organization_id: r.organization_id,
            budget_profile_id: r.budget_profile_id,
            partner_id: r.partner_id,
            stripe_transfer_id: r.stripe_transfer_id,
            status: r.status,
            metadata: r.metadata,
            processed_at: r.processed_at,
            stripe_event_at: r.stripe_event_at,
            created_at: r.created_at,
        })
    }
}

/// A Stripe transfer event to a partner (`transfer.created`, `.paid`, `.failed`, ...).
#[derive(Debug, Clone)]
pub struct StripePayout<'a> {
    /// The event's `created` time (UTC).
    pub event_at: NaiveDateTime,
    /// `id`.
    pub transfer_id: &'a str,
    /// The partner paid (the application's id).
    pub partner_id: &'a str,
    /// `status`.
    pub status: &'a str,
    /// `amount` in `currency`.
    pub amount: Money,
    /// When it was processed.
    pub processed_at: Option<NaiveDateTime>,
    /// The budget it is paid from (one of this organization's).
    pub budget_profile: Option<&'a BudgetProfileId>,
    /// Free-form (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

impl Payout {
    /// Applies a transfer event for this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "payout", op = "sync"))]
    pub async fn sync(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        event: &StripePayout<'_>,
    ) -> Result<Synced<Payout>, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        let rank = PAYOUT.rank(event.status)?;
        limits::name("transfer", event.transfer_id)?;
        if event.amount.minor() < 0 {
            return Err(crate::MoneyError::NotPositive {
                field: "amount",
                amount: event.amount,
            }
            .into());
        }
        limits::name("partner", event.partner_id)?;
        limits::json("metadata", event.metadata)?;
        let amount = event.amount.stored_exactly()?;
        let sql = format!(
            r#"INSERT INTO public.payouts AS t (id, "organizationId", "budgetProfileId", "partnerId", "stripeTransferId",
                 status, amount, currency, metadata, "createdAt", "processedAt", "stripeEventAt")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT ("stripeTransferId") WHERE "stripeTransferId" IS NOT NULL DO UPDATE SET
                 "budgetProfileId" = excluded."budgetProfileId", "partnerId" = excluded."partnerId",
                 status = excluded.status, amount = excluded.amount, currency = excluded.currency,
                 metadata = excluded.metadata, "processedAt" = excluded."processedAt",
                 "stripeEventAt" = excluded."stripeEventAt"
               WHERE t."organizationId" = excluded."organizationId" AND {}
               RETURNING t.*"#,
            applies_when(13, true, "")
        );
        scope
            .transaction(conn, async |tx| {
                check_profile(tx, scope, event.budget_profile).await?;
                let applied: Option<PayoutRow> = diesel::sql_query(sql)
                    .bind::<Text, _>(PayoutId::generate())
                    .bind::<Text, _>(scope.organization_id())
                    .bind::<Nullable<Text>, _>(event.budget_profile)
                    .bind::<Text, _>(event.partner_id)
                    .bind::<Text, _>(event.transfer_id)
                    .bind::<Text, _>(event.status)
                    .bind::<diesel::sql_types::Double, _>(amount)
                    .bind::<Text, _>(event.amount.currency().lower())
                    .bind::<Nullable<Jsonb>, _>(event.metadata)
                    .bind::<Timestamp, _>(time::now())
                    .bind::<Nullable<Timestamp>, _>(event.processed_at.map(time::truncate))
                    .bind::<Timestamp, _>(time::truncate(event.event_at))
                    .bind::<Array<Text>, _>(PAYOUT.names())
                    .bind::<Array<Int4>, _>(PAYOUT.ranks())
                    .bind::<Array<Text>, _>(PAYOUT.finals())
                    .bind::<Int4, _>(rank)
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| elsewhere(e, "payout", event.transfer_id))?;
                if let Some(row) = applied {
                    return Ok(Synced {
                        row: row.try_into()?,
                        applied: true,
                    });
                }
                let row: PayoutRow = payouts::table
                    .filter(payouts::stripeTransferId.eq(event.transfer_id))
                    .filter(payouts::organizationId.eq(scope.organization_id()))
                    .select(PayoutRow::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::foreign_parent("payout", event.transfer_id))?;
                Ok(Synced {
                    row: row.try_into()?,
                    applied: false,
                })
            })
            .await
    }

    /// The payout with this Stripe transfer id in this organization, if any.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "payout", op = "by_stripe_id"))]
    pub async fn by_stripe_id(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        transfer_id: &str,
    ) -> Result<Option<Payout>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        InvalidData::check_text("transfer", transfer_id)?;
        scope
            .transaction(conn, async |tx| {
                let row: Option<PayoutRow> = payouts::table
                    .filter(payouts::stripeTransferId.eq(transfer_id))
                    .filter(payouts::organizationId.eq(scope.organization_id()))
                    .select(PayoutRow::as_select())
                    .first(tx)
                    .await
                    .optional()?;
                row.map(TryInto::try_into).transpose()
            })
            .await
    }
}

/// Refuses a budget profile of another organization.
async fn check_profile(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    profile: Option<&BudgetProfileId>,
) -> Result<(), BillingError> {
    if let Some(id) = profile {
        let found: Option<BudgetProfileId> = budget_profiles::table
            .filter(crate::profile::in_org(scope, id))
            .select(budget_profiles::id)
            .first(tx)
            .await
            .optional()?;
        found.ok_or_else(|| BillingError::foreign_parent("budget profile", id))?;
    }
    Ok(())
}

/// An upsert whose Stripe id is already another tenant's row: row-level security refuses
/// the update (the row is not this scope's), reported as a foreign parent, not an outage.
fn elsewhere(e: diesel::result::Error, entity: &'static str, id: &str) -> BillingError {
    match &e {
        diesel::result::Error::DatabaseError(_, info)
            if info.message().contains("row-level security") =>
        {
            BillingError::foreign_parent(entity, id)
        }
        _ => e.into(),
    }
}
