//! Budget allocations: money of a profile planned for a channel (and a marketing campaign
//! or an objective) over a window, with the lifecycle
//! `planned → approved → executing → completed`, and `cancelled` from any but the end.
//! An allocation is a plan: it moves no balance (spending against it goes through the
//! ledger, naming it in [`crate::LedgerRequest::allocation`]).

use chrono::NaiveDateTime;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::BudgetAllocationStatus;
use neonhub_schema::ids::{
    BudgetAllocationId, BudgetLedgerEntryId, BudgetProfileId, CampaignId, MarketingCampaignId,
    OrganizationId, PersonObjectiveId,
};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{budget_allocations, budget_ledger, person_objectives};
use neonhub_schema::{TenantScope, keys, time};
use serde_json::{Value, json};

use crate::ledger::{
    EntryType, LedgerRequest, actor, allocation_link, append_to_chain, check_links, lock_profile,
};
use crate::money::{Currency, Money};
use crate::{BillingError, limits};

/// Money of a profile planned for a channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetAllocation {
    /// Primary key.
    pub id: BudgetAllocationId,
    /// The organization that owns it.
    pub organization_id: OrganizationId,
    /// The profile it is planned on.
    pub profile_id: BudgetProfileId,
    /// The marketing campaign it is for.
    pub campaign_id: Option<MarketingCampaignId>,
    /// The objective it serves.
    pub objective_id: Option<PersonObjectiveId>,
    /// The channel (`email`, `paid_social`, ...).
    pub channel: String,
    /// How much, in the profile's currency.
    pub amount: Money,
    /// When it may start being spent.
    pub window_start: Option<NaiveDateTime>,
    /// When it ends.
    pub window_end: Option<NaiveDateTime>,
    /// Where it stands; changed only by [`BudgetAllocation::set_status`].
    pub status: BudgetAllocationStatus,
    /// Free-form.
    pub metadata: Option<Value>,
    /// When it was created (UTC, milliseconds).
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    pub updated_at: NaiveDateTime,
}

impl Keyed for BudgetAllocation {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = budget_allocations, check_for_backend(diesel::pg::Pg))]
struct AllocationRow {
    id: BudgetAllocationId,
    #[diesel(column_name = organizationId)]
    organization_id: OrganizationId,
    #[diesel(column_name = budgetProfileId)]
    profile_id: BudgetProfileId,
    #[diesel(column_name = campaignId)]
    campaign_id: Option<MarketingCampaignId>,
    #[diesel(column_name = objectiveId)]
    objective_id: Option<PersonObjectiveId>,
    channel: String,
    amount: f64,
    currency: String,
    #[diesel(column_name = windowStart)]
    window_start: Option<NaiveDateTime>,
    #[diesel(column_name = windowEnd)]
    window_end: Option<NaiveDateTime>,
    status: BudgetAllocationStatus,
    metadata: Option<Value>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
}

impl Keyed for AllocationRow {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

impl TryFrom<AllocationRow> for BudgetAllocation {
    type Error = BillingError;
    fn try_from(r: AllocationRow) -> Result<Self, BillingError> {
        let currency = Currency::parse(&r.currency)?;
        Ok(BudgetAllocation {
            amount: Money::from_stored(r.amount, currency, "budget_allocations.amount")?,
            id: r.id,
            organization_id: r.organization_id,
            profile_id: r.profile_id,
            campaign_id: r.campaign_id,
            objective_id: r.objective_id,
            channel: r.channel,
            window_start: r.window_start,
            window_end: r.window_end,
            status: r.status,
            metadata: r.metadata,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// An allocation to plan (as `planned`).
#[derive(Debug, Clone)]
pub struct NewBudgetAllocation<'a> {
    /// The profile (of this organization).
    pub profile: &'a BudgetProfileId,
    /// The channel (1 to 200 bytes).
    pub channel: &'a str,
    /// How much: positive, in the profile's currency.
    pub amount: Money,
    /// The marketing campaign it is for (recorded on the allocation and its ledger entry).
    pub campaign: Option<&'a MarketingCampaignId>,
    /// The campaign whose `budget_transactions` chain records the allocation.
    pub chain_campaign: Option<&'a CampaignId>,
    /// The objective it serves.
    pub objective: Option<&'a PersonObjectiveId>,
    /// When it may start being spent.
    pub window_start: Option<NaiveDateTime>,
    /// When it ends (not before the start).
    pub window_end: Option<NaiveDateTime>,
    /// Free-form (at most 1 MiB).
    pub metadata: Option<&'a Value>,
}

impl BudgetAllocation {
    /// Whether the lifecycle allows `from → to`.
    pub const fn allows(from: BudgetAllocationStatus, to: BudgetAllocationStatus) -> bool {
        use BudgetAllocationStatus::*;
        matches!(
            (from, to),
            (Planned, Approved)
                | (Approved, Executing)
                | (Executing, Completed)
                | (Planned | Approved | Executing, Cancelled)
        )
    }

    /// Plans an allocation and writes its `allocate` ledger entry (no balance moves).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget allocation", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewBudgetAllocation<'_>,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        limits::name("channel", new.channel)?;
        limits::json("metadata", new.metadata)?;
        new.amount.positive("amount")?;
        let stored = new.amount.stored_exactly()?;
        if let (Some(start), Some(end)) = (new.window_start, new.window_end)
            && end < start
        {
            return Err(BillingError::bad_input(
                "windowEnd",
                "the window ends before it starts",
            ));
        }
        scope
            .transaction(conn, async |tx| {
                let links = LedgerRequest {
                    key: "",
                    campaign: new.chain_campaign,
                    marketing_campaign: new.campaign,
                    ..LedgerRequest::default()
                };
                check_links(tx, scope, new.profile, &links).await?;
                if let Some(objective) = new.objective {
                    let found: Option<PersonObjectiveId> = person_objectives::table
                        .filter(person_objectives::id.eq(objective))
                        .filter(person_objectives::organizationId.eq(scope.organization_id()))
                        .select(person_objectives::id)
                        .first(tx)
                        .await
                        .optional()?;
                    found.ok_or_else(|| BillingError::foreign_parent("objective", objective))?;
                }
                let profile = lock_profile(tx, scope, new.profile).await?;
                new.amount.expect_currency(profile.currency)?;
                let now = time::now();
                let row: AllocationRow = diesel::insert_into(budget_allocations::table)
                    .values((
                        budget_allocations::id.eq(BudgetAllocationId::generate()),
                        budget_allocations::organizationId.eq(scope.organization_id()),
                        budget_allocations::budgetProfileId.eq(new.profile),
                        budget_allocations::campaignId.eq(new.campaign),
                        budget_allocations::objectiveId.eq(new.objective),
                        budget_allocations::channel.eq(new.channel),
                        budget_allocations::amount.eq(stored),
                        budget_allocations::currency.eq(profile.currency.lower()),
                        budget_allocations::windowStart.eq(new.window_start.map(time::truncate)),
                        budget_allocations::windowEnd.eq(new.window_end.map(time::truncate)),
                        budget_allocations::status.eq(BudgetAllocationStatus::Planned),
                        budget_allocations::metadata.eq(new.metadata),
                        budget_allocations::createdAt.eq(now),
                        budget_allocations::updatedAt.eq(now),
                    ))
                    .returning(AllocationRow::as_returning())
                    .get_result(tx)
                    .await?;
                let entry = BudgetLedgerEntryId::generate();
                diesel::insert_into(budget_ledger::table)
                    .values((
                        budget_ledger::id.eq(&entry),
                        budget_ledger::organizationId.eq(scope.organization_id()),
                        budget_ledger::budgetProfileId.eq(new.profile),
                        budget_ledger::allocationId.eq(&row.id),
                        budget_ledger::campaignId.eq(new.campaign),
                        budget_ledger::entryType.eq(EntryType::Allocate.as_str()),
                        budget_ledger::amount.eq(stored),
                        budget_ledger::currency.eq(profile.currency.lower()),
                        budget_ledger::occurredAt.eq(now),
                        budget_ledger::metadata
                            .eq(json!({ "channel": new.channel, "actor": actor(scope) })),
                        budget_ledger::spentDelta.eq(0_i64),
                        budget_ledger::reservedDelta.eq(0_i64),
                    ))
                    .execute(tx)
                    .await?;
                if let Some(campaign) = new.chain_campaign {
                    append_to_chain(
                        tx,
                        scope,
                        campaign,
                        &neonhub_schema::ids::BudgetTransactionId::generate(),
                        allocation_link(new.amount),
                        Some(new.channel),
                        None,
                        &entry,
                    )
                    .await?;
                }
                row.try_into()
            })
            .await
    }

    /// The allocation with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget allocation", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetAllocationId,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let row: AllocationRow = budget_allocations::table
                    .filter(in_org(scope, id))
                    .select(AllocationRow::as_select())
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::not_found("budget allocation", id))?;
                row.try_into()
            })
            .await
    }

    /// A profile's allocations, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget allocation", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        page: &PageRequest,
    ) -> Result<Page<Self>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = budget_allocations::table
                    .filter(budget_allocations::organizationId.eq(scope.organization_id()))
                    .filter(budget_allocations::budgetProfileId.eq(profile))
                    .select(AllocationRow::as_select())
                    .into_boxed();
                let rows: Page<AllocationRow> = load_page(tx, query, page).await?;
                Ok(Page {
                    items: rows
                        .items
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<Result<_, _>>()?,
                    next: rows.next,
                })
            })
            .await
    }

    /// Moves the allocation to `to` if the lifecycle allows it, by one conditional
    /// `UPDATE ... WHERE status IN (<statuses that allow it>)`: of two racing changes at
    /// most one wins; the loser gets [`BillingError::AllocationTransition`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget allocation", op = "set_status"))]
    pub async fn set_status(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetAllocationId,
        to: BudgetAllocationStatus,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        let allowed_from: Vec<BudgetAllocationStatus> = BudgetAllocationStatus::ALL
            .iter()
            .copied()
            .filter(|from| Self::allows(*from, to))
            .collect();
        scope
            .transaction(conn, async |tx| {
                let moved: Option<AllocationRow> = diesel::update(budget_allocations::table)
                    .filter(in_org(scope, id))
                    .filter(budget_allocations::status.eq_any(&allowed_from))
                    .set((
                        budget_allocations::status.eq(to),
                        budget_allocations::updatedAt.eq(time::now()),
                    ))
                    .returning(AllocationRow::as_returning())
                    .get_result(tx)
                    .await
                    .optional()?;
                if let Some(row) = moved {
                    return row.try_into();
                }
                let from: BudgetAllocationStatus = budget_allocations::table
                    .filter(in_org(scope, id))
                    .select(budget_allocations::status)
                    .first(tx)
                    .await
                    .optional()?
                    .ok_or_else(|| BillingError::not_found("budget allocation", id))?;
                Err(BillingError::AllocationTransition {
                    id: id.to_string(),
                    from,
                    to,
                })
            })
            .await
    }
}

fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a BudgetAllocationId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<budget_allocations::id, &'a BudgetAllocationId>,
    diesel::dsl::Eq<budget_allocations::organizationId, &'a OrganizationId>,
> {
    budget_allocations::id
        .eq(id)
        .and(budget_allocations::organizationId.eq(scope.organization_id()))
}
