//! Reading the ledger: its entries, reservations, and each campaign's transaction chain.

use chrono::NaiveDateTime;
use diesel::prelude::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::BudgetTransactionType;
use neonhub_schema::ids::{
    BudgetAllocationId, BudgetLedgerEntryId, BudgetProfileId, BudgetReservationId,
    BudgetTransactionId, CampaignId, MarketingCampaignId, PersonId, UserId,
};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page, load_page_on};
use neonhub_schema::schema::{budget_ledger, budget_reservations, budget_transactions};
use neonhub_schema::{TenantScope, keys};
use serde_json::Value;

use crate::BillingError;
use crate::money::{Currency, Money};

/// Ledger pages are ordered on `"occurredAt"` (the ledger has no `createdAt`).
pub use neonhub_schema::page::OccurredAt;

/// One entry of a profile's ledger.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LedgerEntry {
    /// Primary key.
    pub id: BudgetLedgerEntryId,
    /// The profile.
    pub profile_id: BudgetProfileId,
    /// What it records (`entryType`; see [`crate::ledger`] for each operation's).
    pub entry_type: String,
    /// Its amount (signed for adjustments).
    pub amount: Money,
    /// Its effect on `spent`, in minor units (`None` on rows written before adoption).
    pub spent_delta: Option<i64>,
    /// Its effect on `reserved`, in minor units (`None` on rows written before adoption).
    pub reserved_delta: Option<i64>,
    /// The reservation it made or closed.
    pub reservation_id: Option<BudgetReservationId>,
    /// The allocation it draws on.
    pub allocation_id: Option<BudgetAllocationId>,
    /// The marketing campaign it is for.
    pub campaign_id: Option<MarketingCampaignId>,
    /// The person it concerns.
    pub person_id: Option<PersonId>,
    /// Key, memo, reason, actor.
    pub metadata: Option<Value>,
    /// When it happened (UTC, milliseconds).
    pub occurred_at: NaiveDateTime,
}

impl Keyed for LedgerEntry {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.occurred_at, &self.id)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = budget_ledger, check_for_backend(diesel::pg::Pg))]
struct EntryRow {
    id: BudgetLedgerEntryId,
    #[diesel(column_name = budgetProfileId)]
    profile_id: BudgetProfileId,
    #[diesel(column_name = allocationId)]
    allocation_id: Option<BudgetAllocationId>,
    #[diesel(column_name = campaignId)]
    campaign_id: Option<MarketingCampaignId>,
    #[diesel(column_name = personId)]
    person_id: Option<PersonId>,
    #[diesel(column_name = entryType)]
    entry_type: String,
    amount: f64,
    currency: String,
    #[diesel(column_name = occurredAt)]
    occurred_at: NaiveDateTime,
    metadata: Option<Value>,
    #[diesel(column_name = spentDelta)]
    spent_delta: Option<i64>,
    #[diesel(column_name = reservedDelta)]
    reserved_delta: Option<i64>,
    #[diesel(column_name = reservationId)]
    reservation_id: Option<BudgetReservationId>,
}

impl Keyed for EntryRow {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.occurred_at, &self.id)
    }
}

impl LedgerEntry {
    /// A profile's entries, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        page: &PageRequest,
    ) -> Result<Page<Self>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = budget_ledger::table
                    .filter(budget_ledger::organizationId.eq(scope.organization_id()))
                    .filter(budget_ledger::budgetProfileId.eq(profile))
                    .select(EntryRow::as_select())
                    .into_boxed();
                let rows: Page<EntryRow> =
                    load_page_on::<OccurredAt, _, _>(tx, query, page).await?;
                let items = rows
                    .items
                    .into_iter()
                    .map(|r| {
                        let currency = Currency::parse(&r.currency)?;
                        Ok(LedgerEntry {
                            amount: Money::from_stored(r.amount, currency, "budget_ledger.amount")?,
                            id: r.id,
                            profile_id: r.profile_id,
                            entry_type: r.entry_type,
                            spent_delta: r.spent_delta,
                            reserved_delta: r.reserved_delta,
                            reservation_id: r.reservation_id,
                            allocation_id: r.allocation_id,
                            campaign_id: r.campaign_id,
                            person_id: r.person_id,
                            metadata: r.metadata,
                            occurred_at: r.occurred_at,
                        })
                    })
                    .collect::<Result<_, BillingError>>()?;
                Ok(Page {
                    items,
                    next: rows.next,
                })
            })
            .await
    }
}

/// Money set aside on a profile until committed or released.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Queryable, Selectable)]
#[diesel(table_name = budget_reservations, check_for_backend(diesel::pg::Pg))]
pub struct BudgetReservation {
    /// Primary key.
    pub id: BudgetReservationId,
    /// The profile.
    #[diesel(column_name = budgetProfileId)]
    pub profile_id: BudgetProfileId,
    /// What it holds, in minor units of the profile's currency.
    pub amount: i64,
    /// What its commit spent (minor units), once committed.
    pub committed: Option<i64>,
    /// `open`, `committed` or `released`.
    pub status: String,
    /// The campaign whose chain records it.
    #[diesel(column_name = campaignId)]
    pub campaign_id: Option<CampaignId>,
    /// The marketing campaign it is for.
    #[diesel(column_name = marketingCampaignId)]
    pub marketing_campaign_id: Option<MarketingCampaignId>,
    /// The allocation it draws on.
    #[diesel(column_name = allocationId)]
    pub allocation_id: Option<BudgetAllocationId>,
    /// When it was made (UTC, milliseconds).
    #[diesel(column_name = createdAt)]
    pub created_at: NaiveDateTime,
    /// When it was committed or released.
    #[diesel(column_name = closedAt)]
    pub closed_at: Option<NaiveDateTime>,
}

impl Keyed for BudgetReservation {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

impl BudgetReservation {
    /// The reservation with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget reservation", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetReservationId,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                budget_reservations::table
                    .filter(budget_reservations::id.eq(id))
                    .filter(budget_reservations::organizationId.eq(scope.organization_id()))
                    .select(Self::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::not_found("reservation", id))
            })
            .await
    }

    /// A profile's open reservations, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget reservation", op = "list_open"))]
    pub async fn list_open(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        page: &PageRequest,
    ) -> Result<Page<Self>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = budget_reservations::table
                    .filter(budget_reservations::organizationId.eq(scope.organization_id()))
                    .filter(budget_reservations::budgetProfileId.eq(profile))
                    .filter(budget_reservations::status.eq("open"))
                    .select(Self::as_select())
                    .into_boxed();
                Ok(load_page(tx, query, page).await?)
            })
            .await
    }
}

/// One link of a campaign's transaction chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetTransaction {
    /// Primary key.
    pub id: BudgetTransactionId,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its type (see [`crate::ledger`] for the mapping from ledger operations).
    pub kind: BudgetTransactionType,
    /// Its amount (a release is a negative `reserve`).
    pub amount: Money,
    /// The campaign's spend before it.
    pub balance_before: Money,
    /// The campaign's spend after it.
    pub balance_after: Money,
    /// Its place in the chain (1, 2, ...; `None` on rows written before adoption).
    pub sequence: Option<i64>,
    /// The channel.
    pub channel: Option<String>,
    /// The memo.
    pub description: Option<String>,
    /// The ledger entry it belongs to.
    pub metadata: Option<Value>,
    /// Who acted (a user; `None` for system work).
    pub created_by: Option<UserId>,
    /// When (UTC, milliseconds).
    pub created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = budget_transactions, check_for_backend(diesel::pg::Pg))]
struct TransactionRow {
    id: BudgetTransactionId,
    #[diesel(column_name = campaignId)]
    campaign_id: CampaignId,
    #[diesel(column_name = type_)]
    kind: BudgetTransactionType,
    amount: f64,
    currency: String,
    channel: Option<String>,
    description: Option<String>,
    metadata: Option<Value>,
    #[diesel(column_name = balanceBefore)]
    balance_before: f64,
    #[diesel(column_name = balanceAfter)]
    balance_after: f64,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = createdBy)]
    created_by: Option<UserId>,
    sequence: Option<i64>,
}

impl BudgetTransaction {
    /// A campaign's chain in order (at most `limit` links from `after_sequence` on).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget transaction", op = "chain"))]
    pub async fn chain(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        campaign: &CampaignId,
        after_sequence: i64,
        limit: i64,
    ) -> Result<Vec<Self>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let rows: Vec<TransactionRow> = budget_transactions::table
                    .filter(budget_transactions::organizationId.eq(scope.organization_id()))
                    .filter(budget_transactions::campaignId.eq(campaign))
                    .filter(budget_transactions::sequence.gt(after_sequence))
                    .order(budget_transactions::sequence.asc())
                    .limit(limit.clamp(1, 1000))
                    .select(TransactionRow::as_select())
                    .load(tx)
                    .await?;
                rows.into_iter()
                    .map(|r| {
                        let c = Currency::parse(&r.currency)?;
                        Ok(BudgetTransaction {
                            amount: Money::from_stored(r.amount, c, "budget_transactions.amount")?,
                            balance_before: Money::from_stored(
                                r.balance_before,
                                c,
                                "budget_transactions.balanceBefore",
                            )?,
                            balance_after: Money::from_stored(
                                r.balance_after,
                                c,
                                "budget_transactions.balanceAfter",
                            )?,
                            id: r.id,
                            campaign_id: r.campaign_id,
                            kind: r.kind,
                            sequence: r.sequence,
                            channel: r.channel,
                            description: r.description,
                            metadata: r.metadata,
                            created_by: r.created_by,
                            created_at: r.created_at,
                        })
                    })
                    .collect()
            })
            .await
    }
}
