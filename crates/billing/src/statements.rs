//! The ledger's two hot statements, written as SQL (a data-modifying CTE and a locking join
//! diesel's DSL cannot express) but as query fragments with a static id, so diesel-async
//! keeps them prepared (`diesel::sql_query` is re-prepared at every run). Each is one round
//! trip; an operation is BEGIN, the scope's settings, these two, COMMIT.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Double, Jsonb, Nullable, Text, Timestamp, Untyped};
use neonhub_schema::ids::{
    BudgetAllocationId, BudgetLedgerEntryId, BudgetProfileId, BudgetReservationId, CampaignId,
    MarketingCampaignId, OrganizationId, PersonId,
};
use serde_json::Value;

/// `SELECT` a profile's balances `FOR UPDATE`, with the first use of an idempotency key of
/// its organization if there is one (`LEFT JOIN budget_requests`).
pub(crate) struct LockWithFirstUse<'a> {
    pub(crate) org: &'a OrganizationId,
    pub(crate) profile: &'a BudgetProfileId,
    pub(crate) key: &'a str,
}

/// What [`LockWithFirstUse`] reads.
#[derive(diesel::QueryableByName)]
pub(crate) struct LockedWithFirstUse {
    #[diesel(sql_type = Text)]
    pub(crate) currency: String,
    #[diesel(sql_type = Nullable<Double>)]
    pub(crate) total: Option<f64>,
    #[diesel(sql_type = Double)]
    pub(crate) reserved: f64,
    #[diesel(sql_type = Double)]
    pub(crate) spent: f64,
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) operation: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub(crate) request: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub(crate) receipt: Option<Value>,
}

/// The static id that lets diesel-async cache [`LockWithFirstUse`].
pub(crate) struct LockWithFirstUseId;

impl QueryId for LockWithFirstUse<'_> {
    type QueryId = LockWithFirstUseId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for LockWithFirstUse<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for LockWithFirstUse<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        out.push_sql(
            r#"SELECT p.currency, p."totalBudget" AS total, p.reserved, p.spent, r.operation, r.request, r.receipt
               FROM public.budget_profiles p
               LEFT JOIN public.budget_requests r ON r."organizationId" = p."organizationId" AND r.key = "#,
        );
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(" WHERE p.id = ");
        out.push_bind_param::<Text, _>(self.profile)?;
        out.push_sql(r#" AND p."organizationId" = "#);
        out.push_bind_param::<Text, _>(self.org)?;
        out.push_sql(" FOR UPDATE OF p");
        Ok(())
    }
}

/// What happens to a reservation in a [`LedgerWrite`].
pub(crate) enum ReservationAction {
    /// None is made or closed.
    None,
    /// One is made, holding the entry's amount.
    Open,
    /// One is closed as `committed` (spending `committed`) or `released`.
    Close { committed: Option<i64> },
}

/// Claims the idempotency key with the receipt and, only if the claim succeeded, writes the
/// profile's balances, the reservation and the ledger entry: one statement, one round trip.
/// Foreign keys are checked at its end, so the entry may name the reservation it makes.
/// Returns one row, `claimed`: 0 when another request holds the key (nothing written).
pub(crate) struct LedgerWrite<'a> {
    pub(crate) org: &'a OrganizationId,
    pub(crate) key: &'a str,
    pub(crate) operation: &'a str,
    pub(crate) request: &'a Value,
    pub(crate) receipt: &'a Value,
    pub(crate) now: NaiveDateTime,
    pub(crate) profile: &'a BudgetProfileId,
    pub(crate) reserved: f64,
    pub(crate) spent: f64,
    pub(crate) reservation: Option<&'a BudgetReservationId>,
    pub(crate) action: ReservationAction,
    pub(crate) reservation_amount: i64,
    pub(crate) campaign: Option<&'a CampaignId>,
    pub(crate) marketing_campaign: Option<&'a MarketingCampaignId>,
    pub(crate) allocation: Option<&'a BudgetAllocationId>,
    pub(crate) person: Option<&'a PersonId>,
    pub(crate) entry: &'a BudgetLedgerEntryId,
    pub(crate) amount: f64,
    pub(crate) currency: &'a str,
    pub(crate) meta: &'a Value,
    pub(crate) spent_delta: i64,
    pub(crate) reserved_delta: i64,
}

/// The row [`LedgerWrite`] returns.
#[derive(diesel::QueryableByName)]
pub(crate) struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub(crate) claimed: i64,
}

/// The static id that lets diesel-async cache [`LedgerWrite`].
pub(crate) struct LedgerWriteId;

impl QueryId for LedgerWrite<'_> {
    type QueryId = LedgerWriteId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for LedgerWrite<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for LedgerWrite<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        const NO_AMOUNT: Option<i64> = None;
        let (action, committed): (&'static str, &'b Option<i64>) = match &self.action {
            ReservationAction::None => ("none", &NO_AMOUNT),
            ReservationAction::Open => ("open", &NO_AMOUNT),
            ReservationAction::Close { committed } => (
                if committed.is_some() {
                    "committed"
                } else {
                    "released"
                },
                committed,
            ),
        };
        out.push_sql(
            r#"WITH claim AS (
                 INSERT INTO public.budget_requests ("organizationId", key, operation, request, receipt, "createdAt")
                 VALUES ("#,
        );
        out.push_bind_param::<Text, _>(self.org)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.operation)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(self.request)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(self.receipt)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(
            r#") ON CONFLICT DO NOTHING RETURNING key),
               balances AS (
                 UPDATE public.budget_profiles SET reserved = "#,
        );
        out.push_bind_param::<Double, _>(&self.reserved)?;
        out.push_sql(", spent = ");
        out.push_bind_param::<Double, _>(&self.spent)?;
        out.push_sql(r#", "updatedAt" = "#);
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, _>(self.profile)?;
        out.push_sql(
            r#" AND EXISTS (SELECT FROM claim) RETURNING id),
               opened AS (
                 INSERT INTO public.budget_reservations (id, "organizationId", "budgetProfileId", amount, status,
                   "campaignId", "marketingCampaignId", "allocationId", "createdAt")
                 SELECT "#,
        );
        out.push_bind_param::<Nullable<Text>, _>(&self.reservation)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.org)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.profile)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.reservation_amount)?;
        out.push_sql(", 'open', ");
        out.push_bind_param::<Nullable<Text>, _>(&self.campaign)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.marketing_campaign)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.allocation)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" FROM claim WHERE ");
        out.push_bind_param::<Text, _>(action)?;
        out.push_sql(
            r#" = 'open' RETURNING id),
               closed AS (
                 UPDATE public.budget_reservations SET status = "#,
        );
        out.push_bind_param::<Text, _>(action)?;
        out.push_sql(", committed = ");
        out.push_bind_param::<Nullable<BigInt>, _>(committed)?;
        out.push_sql(r#", "closedAt" = "#);
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.reservation)?;
        out.push_sql(" AND ");
        out.push_bind_param::<Text, _>(action)?;
        out.push_sql(
            r#" IN ('committed', 'released') AND EXISTS (SELECT FROM claim) RETURNING id),
               entry AS (
                 INSERT INTO public.budget_ledger (id, "organizationId", "budgetProfileId", "allocationId",
                   "campaignId", "personId", "entryType", amount, currency, "occurredAt", metadata,
                   "spentDelta", "reservedDelta", "reservationId")
                 SELECT "#,
        );
        out.push_bind_param::<Text, _>(self.entry)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.org)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.profile)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.allocation)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.marketing_campaign)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.person)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.operation)?;
        out.push_sql(", ");
        out.push_bind_param::<Double, _>(&self.amount)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.currency)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(self.meta)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.spent_delta)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.reserved_delta)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.reservation)?;
        out.push_sql(" FROM claim RETURNING id) SELECT count(*)::bigint AS claimed FROM claim");
        Ok(())
    }
}
