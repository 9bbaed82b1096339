//! The budget ledger: every change to a profile's `reserved` and `spent` is one operation
//! that locks the profile's row, checks the rules in integers, writes the new balances
//! (major units, exactly), one `budget_ledger` entry carrying its effect in minor units,
//! and, when it concerns a campaign, the next link of that campaign's `budget_transactions`
//! chain. Every operation takes an idempotency key: a replay returns the first receipt.
//!
//! | operation | `entryType` | spent | reserved | campaign chain (`BudgetTransactionType`, balance) |
//! | --- | --- | --- | --- | --- |
//! | [`BudgetProfile::reserve`] | `reserve` | | + amount | `reserve` + amount, balance unchanged |
//! | [`BudgetProfile::commit`] | `commit` | + committed | − reserved | `spend` + committed, balance + committed |
//! | [`BudgetProfile::release`] | `release` | | − reserved | `reserve` − reserved, balance unchanged |
//! | [`BudgetProfile::spend`] | `spend` | + amount | | `spend` + amount, balance + amount |
//! | [`BudgetProfile::refund`] | `refund` | − amount | | `refund` + amount, balance − amount |
//! | [`BudgetProfile::adjust`] | `adjust` | ± amount | | `adjustment` ± amount, balance ± amount |
//! | [`crate::BudgetAllocation::create`] | `allocate` | | | `allocate` + amount, balance unchanged |
//! | [`BudgetProfile::set_total`] | `total` | | | |
//!
//! A campaign chain's balance is what the campaign has spent. Locks are always taken in
//! the same order (the profile's row, then the reservation's, then the campaign chain's
//! advisory lock, then the idempotency key), so concurrent operations cannot deadlock.

use chrono::NaiveDateTime;
use diesel::expression_methods::PgSortExpressionMethods;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::BudgetTransactionType;
use neonhub_schema::ids::{
    BudgetAllocationId, BudgetLedgerEntryId, BudgetProfileId, BudgetReservationId,
    BudgetTransactionId, CampaignId, MarketingCampaignId, PersonId,
};
use neonhub_schema::schema::{
    budget_allocations, budget_profiles, budget_requests, budget_reservations, budget_transactions,
    campaigns, marketing_campaigns, people,
};
use neonhub_schema::{Actor, InvalidData, TenantScope, keys, time};
use serde_json::{Value, json};

use crate::money::{Currency, Money, MoneyError};
use crate::profile::in_org;
use crate::statements::{
    Claimed, LedgerWrite, LockWithFirstUse, LockedWithFirstUse, ReservationAction,
};
use crate::{BillingError, BudgetProfile, limits};

/// The longest idempotency key, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// What a `budget_ledger` entry records (its `entryType` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// An allocation was planned (no effect on the balances).
    Allocate,
    /// The total was set (no effect on the balances).
    Total,
    /// Money set aside: reserved + amount.
    Reserve,
    /// A reservation spent (up to what it held) and closed: spent + committed, reserved −
    /// what it held.
    Commit,
    /// A reservation given back: reserved − what it held.
    Release,
    /// Money spent without a reservation: spent + amount.
    Spend,
    /// Spent money given back: spent − amount.
    Refund,
    /// A correction of spent, either way, with a reason.
    Adjust,
}

impl EntryType {
    /// The `entryType` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allocate => "allocate",
            Self::Total => "total",
            Self::Reserve => "reserve",
            Self::Commit => "commit",
            Self::Release => "release",
            Self::Spend => "spend",
            Self::Refund => "refund",
            Self::Adjust => "adjust",
        }
    }
}

impl std::fmt::Display for EntryType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A profile's balances after an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Balance {
    /// The limit of `spent + reserved` (`None`: unlimited).
    pub total: Option<Money>,
    /// Set aside by open reservations.
    pub reserved: Money,
    /// Spent.
    pub spent: Money,
}

impl Balance {
    /// What the total leaves; `None` when unlimited.
    pub fn available(&self) -> Option<Money> {
        self.total.map(|t| {
            Money::new(
                t.minor() - self.spent.minor() - self.reserved.minor(),
                t.currency(),
            )
            .unwrap_or(Money::zero(t.currency()))
        })
    }
}

/// The result of a ledger operation, stored with its idempotency key: a replay returns it
/// again (with [`Receipt::replayed`] set).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    /// What was done.
    pub operation: EntryType,
    /// The profile.
    pub profile: BudgetProfileId,
    /// The ledger entry written.
    pub entry: BudgetLedgerEntryId,
    /// The entry's amount (a commit's: what was spent; a release's: what was given back;
    /// an adjustment's: signed).
    pub amount: Money,
    /// The reservation made, committed or released.
    pub reservation: Option<BudgetReservationId>,
    /// The campaign chain's link written, if the operation concerned a campaign.
    pub transaction: Option<BudgetTransactionId>,
    /// The profile's balances right after the operation.
    pub balance: Balance,
    /// When it happened (UTC, milliseconds).
    pub at: NaiveDateTime,
    /// Whether this is a replay of an earlier request with the same key (nothing was
    /// written this time).
    #[serde(skip)]
    pub replayed: bool,
}

/// The idempotency key of an operation and what it links to besides its profile. The key
/// is unique per organization: the same key with the same request returns the first
/// receipt; with a different request it is [`BillingError::KeyReused`]. Only a successful
/// operation stores its key: a refused one (over budget, ...) may be retried with it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LedgerRequest<'a> {
    /// The idempotency key (1 to 255 bytes): a request id, a webhook event id.
    pub key: &'a str,
    /// The campaign whose `budget_transactions` chain records the operation.
    pub campaign: Option<&'a CampaignId>,
    /// The marketing campaign the ledger entry (and a reservation) is for.
    pub marketing_campaign: Option<&'a MarketingCampaignId>,
    /// The allocation (of the same profile) the money comes from.
    pub allocation: Option<&'a BudgetAllocationId>,
    /// The person it concerns.
    pub person: Option<&'a PersonId>,
    /// The channel (`email`, `paid_social`, ...), recorded on the campaign chain.
    pub channel: Option<&'a str>,
    /// A note, recorded on the entry and as the chain link's description.
    pub memo: Option<&'a str>,
}

impl<'a> LedgerRequest<'a> {
    /// A request with `key` and no links.
    pub fn key(key: &'a str) -> Self {
        Self {
            key,
            ..Self::default()
        }
    }

    fn check(&self) -> Result<(), InvalidData> {
        InvalidData::check_length("key", self.key, 1, MAX_KEY_LEN)?;
        limits::text("channel", self.channel)?;
        limits::text("memo", self.memo)
    }
}

/// The request as stored with its key, so a replay can be compared with the first.
#[derive(serde::Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request<'a> {
    Reserve {
        profile: &'a BudgetProfileId,
        amount: Money,
        links: &'a LedgerRequest<'a>,
    },
    Commit {
        reservation: &'a BudgetReservationId,
        amount: Money,
        memo: Option<&'a str>,
    },
    Release {
        reservation: &'a BudgetReservationId,
        memo: Option<&'a str>,
    },
    Spend {
        profile: &'a BudgetProfileId,
        amount: Money,
        links: &'a LedgerRequest<'a>,
    },
    Refund {
        profile: &'a BudgetProfileId,
        amount: Money,
        links: &'a LedgerRequest<'a>,
    },
    Adjust {
        profile: &'a BudgetProfileId,
        amount: Money,
        reason: &'a str,
        links: &'a LedgerRequest<'a>,
    },
}

impl Request<'_> {
    fn operation(&self) -> EntryType {
        match self {
            Self::Reserve { .. } => EntryType::Reserve,
            Self::Commit { .. } => EntryType::Commit,
            Self::Release { .. } => EntryType::Release,
            Self::Spend { .. } => EntryType::Spend,
            Self::Refund { .. } => EntryType::Refund,
            Self::Adjust { .. } => EntryType::Adjust,
        }
    }
}

impl BudgetProfile {
    /// Sets `amount` aside on the profile (refused past its total); returns the receipt with
    /// the new reservation, to [`BudgetProfile::commit`] or [`BudgetProfile::release`].
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "reserve"))]
    pub async fn reserve(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        amount: Money,
        request: &LedgerRequest<'_>,
    ) -> Result<Receipt, BillingError> {
        scope.require(keys::BUDGET_SPEND)?;
        amount.positive("amount")?;
        execute(
            conn,
            scope,
            request.key,
            Request::Reserve {
                profile,
                amount,
                links: request,
            },
        )
        .await
    }

    /// Spends `amount` (at most what the reservation holds; zero spends nothing) of an open
    /// reservation and gives the rest back, closing it.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "commit"))]
    pub async fn commit(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        reservation: &BudgetReservationId,
        amount: Money,
        request: &LedgerRequest<'_>,
    ) -> Result<Receipt, BillingError> {
        scope.require(keys::BUDGET_SPEND)?;
        if amount.minor() < 0 {
            return Err(MoneyError::NotPositive {
                field: "amount",
                amount,
            }
            .into());
        }
        let memo = request.memo;
        execute(
            conn,
            scope,
            request.key,
            Request::Commit {
                reservation,
                amount,
                memo,
            },
        )
        .await
    }

    /// Gives an open reservation back in full, closing it.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "release"))]
    pub async fn release(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        reservation: &BudgetReservationId,
        request: &LedgerRequest<'_>,
    ) -> Result<Receipt, BillingError> {
        scope.require(keys::BUDGET_SPEND)?;
        let memo = request.memo;
        execute(
            conn,
            scope,
            request.key,
            Request::Release { reservation, memo },
        )
        .await
    }

    /// Spends `amount` without a reservation (refused past the total).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "spend"))]
    pub async fn spend(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        amount: Money,
        request: &LedgerRequest<'_>,
    ) -> Result<Receipt, BillingError> {
        scope.require(keys::BUDGET_SPEND)?;
        amount.positive("amount")?;
        execute(
            conn,
            scope,
            request.key,
            Request::Spend {
                profile,
                amount,
                links: request,
            },
        )
        .await
    }

    /// Gives `amount` of what was spent back (refused past what was spent: spent never goes
    /// below zero).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "refund"))]
    pub async fn refund(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        amount: Money,
        request: &LedgerRequest<'_>,
    ) -> Result<Receipt, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        amount.positive("amount")?;
        execute(
            conn,
            scope,
            request.key,
            Request::Refund {
                profile,
                amount,
                links: request,
            },
        )
        .await
    }

    /// Corrects what was spent by `amount` (negative lowers it), with a reason: for
    /// reconciling with what an ad platform reports. Neither below zero nor past the total.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "adjust"))]
    pub async fn adjust(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        profile: &BudgetProfileId,
        amount: Money,
        reason: &str,
        request: &LedgerRequest<'_>,
    ) -> Result<Receipt, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        limits::name("reason", reason)?;
        if amount.minor() == 0 {
            return Err(MoneyError::NotPositive {
                field: "adjustment",
                amount,
            }
            .into());
        }
        let request_row = Request::Adjust {
            profile,
            amount,
            reason,
            links: request,
        };
        execute(conn, scope, request.key, request_row).await
    }
}

/// Runs one operation under its idempotency key, in one scope transaction: reads the key's
/// first use (pipelined with the profile's row lock), applies the operation, and claims the
/// key with the receipt (pipelined with the writes). A concurrent request that claimed the
/// key first makes this attempt roll back; the next attempt replays it.
async fn execute(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    key: &str,
    request: Request<'_>,
) -> Result<Receipt, BillingError> {
    InvalidData::check_length("key", key, 1, MAX_KEY_LEN)?;
    if let Request::Reserve { links, .. }
    | Request::Spend { links, .. }
    | Request::Refund { links, .. }
    | Request::Adjust { links, .. } = &request
    {
        links.check()?;
    }
    if let Request::Commit { memo, .. } | Request::Release { memo, .. } = &request {
        limits::text("memo", *memo)?;
    }
    let stored = serde_json::to_value(&request).expect("a request serializes");
    for _ in 0..2 {
        let attempt = scope
            .transaction(conn, async |tx| {
                apply(tx, scope, key, &request, &stored).await
            })
            .await;
        match attempt {
            Ok(receipt) => return Ok(receipt),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::KeyRace) => continue,
        }
    }
    Err(BillingError::KeyInFlight(key.to_owned()))
}

/// How one attempt of an operation ended without a receipt: a refusal or failure to
/// report, or a lost race for its key (rolled back; the next attempt replays the winner).
enum Attempt {
    Failed(BillingError),
    KeyRace,
}

impl From<BillingError> for Attempt {
    fn from(e: BillingError) -> Self {
        Self::Failed(e)
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<MoneyError> for Attempt {
    fn from(e: MoneyError) -> Self {
        Self::Failed(e.into())
    }
}

/// The key's first use: its operation, request and receipt.
type FirstUse = (String, Value, Value);

/// The first receipt of `key`, if the request is the same; else [`BillingError::KeyReused`].
fn replay(
    key: &str,
    request: &Value,
    (operation, first, receipt): FirstUse,
) -> Result<Receipt, BillingError> {
    if &first != request {
        return Err(BillingError::KeyReused {
            key: key.to_owned(),
            operation,
        });
    }
    let mut receipt: Receipt = serde_json::from_value(receipt).map_err(|e| {
        BillingError::bad_input(
            "key",
            format!("the stored receipt of {key:?} cannot be read: {e}"),
        )
    })?;
    receipt.replayed = true;
    Ok(receipt)
}

/// A profile's balances, read under its row lock.
pub(crate) struct LockedProfile {
    pub(crate) currency: Currency,
    pub(crate) total: Option<Money>,
    pub(crate) reserved: Money,
    pub(crate) spent: Money,
}

impl LockedProfile {
    fn balance(&self) -> Balance {
        Balance {
            total: self.total,
            reserved: self.reserved,
            spent: self.spent,
        }
    }
}

/// Locks the profile's row (`FOR UPDATE`) and reads its balances; not found unless it is
/// this organization's.
pub(crate) async fn lock_profile(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    id: &BudgetProfileId,
) -> Result<LockedProfile, BillingError> {
    lock_profile_query(scope, id)
        .first::<ProfileLockRow>(tx)
        .await
        .optional()?
        .ok_or_else(|| BillingError::not_found("budget profile", id))?
        .read()
}

/// `SELECT currency, "totalBudget", reserved, spent FROM budget_profiles WHERE id = $1 AND
/// "organizationId" = $2 FOR UPDATE`.
type LockProfileQuery<'a> = diesel::dsl::ForUpdate<
    diesel::dsl::Select<
        diesel::dsl::Filter<
            budget_profiles::table,
            diesel::dsl::And<
                diesel::dsl::Eq<budget_profiles::id, &'a BudgetProfileId>,
                diesel::dsl::Eq<
                    budget_profiles::organizationId,
                    &'a neonhub_schema::ids::OrganizationId,
                >,
            >,
        >,
        (
            budget_profiles::currency,
            budget_profiles::totalBudget,
            budget_profiles::reserved,
            budget_profiles::spent,
        ),
    >,
>;

fn lock_profile_query<'a>(scope: &'a TenantScope, id: &'a BudgetProfileId) -> LockProfileQuery<'a> {
    budget_profiles::table
        .filter(in_org(scope, id))
        .select((
            budget_profiles::currency,
            budget_profiles::totalBudget,
            budget_profiles::reserved,
            budget_profiles::spent,
        ))
        .for_update()
}

/// A profile's stored balances as its row lock reads them.
#[derive(Queryable)]
struct ProfileLockRow {
    currency: String,
    total: Option<f64>,
    reserved: f64,
    spent: f64,
}

impl ProfileLockRow {
    fn read(self) -> Result<LockedProfile, BillingError> {
        let currency = Currency::parse(&self.currency)?;
        Ok(LockedProfile {
            currency,
            total: self
                .total
                .map(|t| Money::from_stored(t, currency, "budget_profiles.totalBudget"))
                .transpose()?,
            reserved: Money::from_stored(self.reserved, currency, "budget_profiles.reserved")?,
            spent: Money::from_stored(self.spent, currency, "budget_profiles.spent")?,
        })
    }
}

/// Who acted, as the ledger's metadata records it.
pub(crate) fn actor(scope: &TenantScope) -> Value {
    match scope.actor() {
        Actor::System => json!("system"),
        Actor::User(user) => json!(user),
    }
}

/// A reservation read under its row lock.
#[derive(Queryable, Selectable)]
#[diesel(table_name = budget_reservations, check_for_backend(diesel::pg::Pg))]
struct LockedReservation {
    id: BudgetReservationId,
    #[diesel(column_name = budgetProfileId)]
    profile: BudgetProfileId,
    amount: i64,
    status: String,
    #[diesel(column_name = campaignId)]
    campaign: Option<CampaignId>,
    #[diesel(column_name = marketingCampaignId)]
    marketing_campaign: Option<MarketingCampaignId>,
    #[diesel(column_name = allocationId)]
    allocation: Option<BudgetAllocationId>,
}

/// Applies one operation: the locks, the rules, then every write pipelined with the key's
/// claim (one round trip), then the campaign chain's link.
async fn apply(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    key: &str,
    request: &Request<'_>,
    stored: &Value,
) -> Result<Receipt, Attempt> {
    let operation = request.operation();
    let org = scope.organization_id();
    let first_use = budget_requests::table
        .filter(budget_requests::organizationId.eq(org))
        .filter(budget_requests::key.eq(key))
        .select((
            budget_requests::operation,
            budget_requests::request,
            budget_requests::receipt,
        ));
    let shared: &AsyncPgConnection = tx;
    let plan = match request {
        Request::Reserve {
            profile,
            amount,
            links,
        }
        | Request::Spend {
            profile,
            amount,
            links,
        }
        | Request::Refund {
            profile,
            amount,
            links,
        }
        | Request::Adjust {
            profile,
            amount,
            links,
            ..
        } => {
            // The profile's row lock and the key's first use, in one statement.
            let locked: Option<LockedWithFirstUse> = LockWithFirstUse { org, profile, key }
                .get_result(tx)
                .await
                .optional()?;
            let locked =
                locked.ok_or_else(|| BillingError::not_found("budget profile", profile))?;
            // A replay: the key's first use holds the receipt (moved out, not copied).
            if let (Some(operation), Some(request), Some(receipt)) =
                (locked.operation, locked.request, locked.receipt)
            {
                return Ok(replay(key, stored, (operation, request, receipt))?);
            }
            let mut p = ProfileLockRow {
                currency: locked.currency,
                total: locked.total,
                reserved: locked.reserved,
                spent: locked.spent,
            }
            .read()?;
            check_links(tx, scope, profile, links).await?;
            amount.expect_currency(p.currency)?;
            let (spent_delta, reserved_delta) = match operation {
                EntryType::Reserve => (0, amount.minor()),
                EntryType::Refund => (-amount.minor(), 0),
                _ => (amount.minor(), 0),
            };
            move_balances(&mut p, profile, *amount, spent_delta, reserved_delta)?;
            let reason = match request {
                Request::Adjust { reason, .. } => Some(*reason),
                _ => None,
            };
            Plan {
                profile: (*profile).clone(),
                balances: p,
                operation,
                amount: *amount,
                spent_delta,
                reserved_delta,
                reservation: (operation == EntryType::Reserve).then(|| ReservationWrite::Open {
                    id: BudgetReservationId::generate(),
                    campaign: links.campaign.cloned(),
                }),
                marketing_campaign: links.marketing_campaign.cloned(),
                allocation: links.allocation.cloned(),
                person: links.person.cloned(),
                campaign: links.campaign.cloned(),
                channel: links.channel,
                memo: links.memo,
                meta: json!({ "key": key, "memo": links.memo, "reason": reason, "actor": actor(scope) }),
            }
        }
        Request::Commit {
            reservation, memo, ..
        }
        | Request::Release { reservation, memo } => {
            let find = budget_reservations::table
                .filter(budget_reservations::id.eq(*reservation))
                .filter(budget_reservations::organizationId.eq(org))
                .select(budget_reservations::budgetProfileId);
            let (first, profile) = futures_util::future::join(
                first_use.first::<FirstUse>(&mut &*shared),
                find.first::<BudgetProfileId>(&mut &*shared),
            )
            .await;
            if let Some(first) = first.optional()? {
                return Ok(replay(key, stored, first)?);
            }
            let profile = profile
                .optional()?
                .ok_or_else(|| BillingError::not_found("reservation", reservation))?;
            let mut p = lock_profile(tx, scope, &profile).await?;
            let r: LockedReservation = budget_reservations::table
                .filter(budget_reservations::id.eq(*reservation))
                .filter(budget_reservations::organizationId.eq(org))
                .select(LockedReservation::as_select())
                .for_update()
                .first(tx)
                .await?;
            if r.status != "open" {
                return Err(BillingError::ReservationClosed {
                    id: r.id.to_string(),
                    status: r.status,
                }
                .into());
            }
            let held = Money::new(r.amount, p.currency)?;
            let committed = match request {
                Request::Commit { amount, .. } => {
                    amount.expect_currency(p.currency)?;
                    if amount.minor() > r.amount {
                        return Err(BillingError::CommitExceedsReservation {
                            id: r.id.to_string(),
                            reserved: held,
                            requested: *amount,
                        }
                        .into());
                    }
                    Some(*amount)
                }
                _ => None,
            };
            let spent_delta = committed.map_or(0, Money::minor);
            move_balances(&mut p, &r.profile, held, spent_delta, -r.amount)?;
            Plan {
                profile: r.profile,
                balances: p,
                operation,
                amount: committed.unwrap_or(held),
                spent_delta,
                reserved_delta: -r.amount,
                reservation: Some(ReservationWrite::Close {
                    id: r.id,
                    committed,
                }),
                marketing_campaign: r.marketing_campaign,
                allocation: r.allocation,
                person: None,
                campaign: r.campaign,
                channel: None,
                memo: *memo,
                meta: json!({ "key": key, "memo": memo, "held": r.amount, "actor": actor(scope) }),
            }
        }
    };
    plan.write(tx, scope, key, stored).await
}

/// Applies the deltas to the locked balances, refusing what the rules forbid: spent below
/// zero, past the total, beyond the exact range.
fn move_balances(
    p: &mut LockedProfile,
    profile: &BudgetProfileId,
    requested: Money,
    spent_delta: i64,
    reserved_delta: i64,
) -> Result<(), BillingError> {
    let spent = Money::new(p.spent.minor() + spent_delta, p.currency)?;
    let reserved = Money::new(p.reserved.minor() + reserved_delta, p.currency)?;
    if spent.minor() < 0 {
        return Err(BillingError::BelowZero {
            profile: profile.to_string(),
            requested,
            spent: p.spent,
        });
    }
    let grows = spent_delta + reserved_delta > 0;
    if let Some(total) = p.total
        && grows
        && spent.minor() + reserved.minor() > total.minor()
    {
        return Err(BillingError::OverBudget {
            profile: profile.to_string(),
            requested,
            available: p.balance().available().unwrap_or(Money::zero(p.currency)),
        });
    }
    spent.stored_exactly()?;
    reserved.stored_exactly()?;
    p.spent = spent;
    p.reserved = reserved;
    Ok(())
}

/// What an operation writes, decided under its locks.
struct Plan<'a> {
    profile: BudgetProfileId,
    balances: LockedProfile,
    operation: EntryType,
    amount: Money,
    spent_delta: i64,
    reserved_delta: i64,
    reservation: Option<ReservationWrite>,
    marketing_campaign: Option<MarketingCampaignId>,
    allocation: Option<BudgetAllocationId>,
    person: Option<PersonId>,
    campaign: Option<CampaignId>,
    channel: Option<&'a str>,
    memo: Option<&'a str>,
    meta: Value,
}

/// The reservation a plan makes or closes.
enum ReservationWrite {
    Open {
        id: BudgetReservationId,
        campaign: Option<CampaignId>,
    },
    Close {
        id: BudgetReservationId,
        committed: Option<Money>,
    },
}

impl ReservationWrite {
    fn id(&self) -> &BudgetReservationId {
        match self {
            Self::Open { id, .. } | Self::Close { id, .. } => id,
        }
    }
}

impl Plan<'_> {
    /// Claims the key with the receipt, writes the balances, the reservation and the
    /// ledger entry (all sent at once, executed in that order), then the campaign chain's
    /// link. The claim comes last in the lock order (after the profile's row), so two
    /// requests with the same key cannot deadlock.
    async fn write(
        self,
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        key: &str,
        stored: &Value,
    ) -> Result<Receipt, Attempt> {
        let org = scope.organization_id();
        let now = time::now();
        let entry_id = BudgetLedgerEntryId::generate();
        let link = match &self.campaign {
            Some(_) => Some((
                BudgetTransactionId::generate(),
                chain_link(
                    self.operation,
                    self.amount,
                    self.reserved_delta,
                    self.balances.currency,
                )?,
            )),
            None => None,
        };
        let receipt = Receipt {
            operation: self.operation,
            profile: self.profile.clone(),
            entry: entry_id.clone(),
            amount: self.amount,
            reservation: self.reservation.as_ref().map(|r| r.id().clone()),
            transaction: link.as_ref().map(|(id, _)| id.clone()),
            balance: self.balances.balance(),
            at: now,
            replayed: false,
        };
        let receipt_json = serde_json::to_value(&receipt).expect("a receipt serializes");
        let stored_amount = self.amount.stored_exactly()?;
        let currency = self.balances.currency.lower();
        let (reservation, action) = match &self.reservation {
            Some(ReservationWrite::Open { id, .. }) => (Some(id), ReservationAction::Open),
            Some(ReservationWrite::Close { id, committed }) => (
                Some(id),
                ReservationAction::Close {
                    committed: committed.map(Money::minor),
                },
            ),
            None => (None, ReservationAction::None),
        };
        let campaign = match &self.reservation {
            Some(ReservationWrite::Open { campaign, .. }) => campaign.as_ref(),
            _ => None,
        };
        let claimed: Claimed = LedgerWrite {
            org,
            key,
            operation: self.operation.as_str(),
            request: stored,
            receipt: &receipt_json,
            now,
            profile: &self.profile,
            reserved: self.balances.reserved.to_stored(),
            spent: self.balances.spent.to_stored(),
            reservation,
            action,
            reservation_amount: self.amount.minor(),
            campaign,
            marketing_campaign: self.marketing_campaign.as_ref(),
            allocation: self.allocation.as_ref(),
            person: self.person.as_ref(),
            entry: &entry_id,
            amount: stored_amount,
            currency: &currency,
            meta: &self.meta,
            spent_delta: self.spent_delta,
            reserved_delta: self.reserved_delta,
        }
        .get_result(tx)
        .await?;
        if claimed.claimed == 0 {
            // Someone committed this key since it was read: roll back, replay theirs.
            return Err(Attempt::KeyRace);
        }
        if let (Some(campaign), Some((id, link))) = (&self.campaign, link) {
            append_to_chain(
                tx,
                scope,
                campaign,
                &id,
                link,
                self.channel,
                self.memo,
                &entry_id,
            )
            .await?;
        }
        Ok(receipt)
    }
}

/// A campaign chain link: its type, its (signed) amount and how it moves the balance.
pub(crate) struct Link {
    pub(crate) kind: BudgetTransactionType,
    pub(crate) amount: Money,
    pub(crate) balance_delta: i64,
}

/// The chain link of a ledger operation (the table in the module documentation).
fn chain_link(
    operation: EntryType,
    amount: Money,
    reserved_delta: i64,
    currency: Currency,
) -> Result<Link, BillingError> {
    use BudgetTransactionType as T;
    Ok(match operation {
        EntryType::Reserve => Link {
            kind: T::Reserve,
            amount,
            balance_delta: 0,
        },
        EntryType::Release => Link {
            kind: T::Reserve,
            amount: Money::new(reserved_delta, currency)?,
            balance_delta: 0,
        },
        EntryType::Commit | EntryType::Spend => Link {
            kind: T::Spend,
            amount,
            balance_delta: amount.minor(),
        },
        EntryType::Refund => Link {
            kind: T::Refund,
            amount,
            balance_delta: -amount.minor(),
        },
        EntryType::Adjust => Link {
            kind: T::Adjustment,
            amount,
            balance_delta: amount.minor(),
        },
        EntryType::Allocate | EntryType::Total => Link {
            kind: T::Allocate,
            amount,
            balance_delta: 0,
        },
    })
}

/// Appends the next link of `campaign`'s chain under the chain's advisory lock (taken
/// after any row lock, so the lock order holds): `sequence` one past the last,
/// `balanceBefore` the last link's `balanceAfter` (or, on a chain adopted with unsequenced
/// rows, the latest of those).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append_to_chain(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    campaign: &CampaignId,
    id: &BudgetTransactionId,
    link: Link,
    channel: Option<&str>,
    memo: Option<&str>,
    entry: &BudgetLedgerEntryId,
) -> Result<(), BillingError> {
    let currency = link.amount.currency();
    diesel::sql_query("SELECT pg_advisory_xact_lock(1853, hashtext($1))")
        .bind::<Text, _>(campaign)
        .execute(tx)
        .await?;
    let last: Option<(Option<i64>, f64, String)> = budget_transactions::table
        .filter(budget_transactions::campaignId.eq(campaign))
        .select((
            budget_transactions::sequence,
            budget_transactions::balanceAfter,
            budget_transactions::currency,
        ))
        .order((
            budget_transactions::sequence.desc().nulls_last(),
            budget_transactions::createdAt.desc(),
            budget_transactions::id.desc(),
        ))
        .first(tx)
        .await
        .optional()?;
    let (sequence, before) = match last {
        Some((sequence, after, stored_currency)) => {
            Currency::parse(&stored_currency)?
                .eq(&currency)
                .then_some(())
                .ok_or(MoneyError::CurrencyMismatch {
                    expected: Currency::parse(&stored_currency)?,
                    found: currency,
                })?;
            let before = Money::from_stored(after, currency, "budget_transactions.balanceAfter")?;
            (sequence.unwrap_or(0) + 1, before)
        }
        None => (1, Money::zero(currency)),
    };
    let after = Money::new(before.minor() + link.balance_delta, currency)?;
    diesel::insert_into(budget_transactions::table)
        .values((
            budget_transactions::id.eq(id),
            budget_transactions::campaignId.eq(campaign),
            budget_transactions::organizationId.eq(scope.organization_id()),
            budget_transactions::type_.eq(link.kind),
            budget_transactions::amount.eq(link.amount.stored_exactly()?),
            budget_transactions::currency.eq(currency.code()),
            budget_transactions::channel.eq(channel),
            budget_transactions::description.eq(memo),
            budget_transactions::metadata.eq(json!({ "ledgerEntryId": entry })),
            budget_transactions::balanceBefore.eq(before.stored_exactly()?),
            budget_transactions::balanceAfter.eq(after.stored_exactly()?),
            budget_transactions::createdAt.eq(time::now()),
            budget_transactions::createdBy.eq(scope.actor().user_id()),
            budget_transactions::sequence.eq(sequence),
        ))
        .execute(tx)
        .await?;
    Ok(())
}

/// Refuses links to rows outside this organization (foreign keys would not: they ignore
/// tenants), and an allocation of another profile.
pub(crate) async fn check_links(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    profile: &BudgetProfileId,
    links: &LedgerRequest<'_>,
) -> Result<(), BillingError> {
    let org = scope.organization_id();
    if let Some(id) = links.campaign {
        let found: Option<CampaignId> = campaigns::table
            .filter(campaigns::id.eq(id).and(campaigns::organizationId.eq(org)))
            .select(campaigns::id)
            .first(tx)
            .await
            .optional()?;
        found.ok_or_else(|| BillingError::foreign_parent("campaign", id))?;
    }
    if let Some(id) = links.marketing_campaign {
        let found: Option<MarketingCampaignId> = marketing_campaigns::table
            .filter(
                marketing_campaigns::id
                    .eq(id)
                    .and(marketing_campaigns::organizationId.eq(org)),
            )
            .select(marketing_campaigns::id)
            .first(tx)
            .await
            .optional()?;
        found.ok_or_else(|| BillingError::foreign_parent("marketing campaign", id))?;
    }
    if let Some(id) = links.allocation {
        let found: Option<BudgetAllocationId> = budget_allocations::table
            .filter(budget_allocations::id.eq(id))
            .filter(budget_allocations::organizationId.eq(org))
            .filter(budget_allocations::budgetProfileId.eq(profile))
            .select(budget_allocations::id)
            .first(tx)
            .await
            .optional()?;
        found.ok_or_else(|| BillingError::foreign_parent("allocation", id))?;
    }
    if let Some(id) = links.person {
        let found: Option<PersonId> = people::table
            .filter(people::id.eq(id).and(people::organizationId.eq(org)))
            .select(people::id)
            .first(tx)
            .await
            .optional()?;
        found.ok_or_else(|| BillingError::foreign_parent("person", id))?;
    }
    Ok(())
}

/// The link an allocation writes on its campaign chain.
pub(crate) fn allocation_link(amount: Money) -> Link {
    Link {
        kind: BudgetTransactionType::Allocate,
        amount,
        balance_delta: 0,
    }
}
