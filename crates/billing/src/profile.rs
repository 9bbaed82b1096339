//! Budget profiles: a named budget of one organization in one currency, with a total (or
//! none: unlimited), what is reserved and what is spent. The balances change only through
//! the ledger operations ([`crate::ledger`]), each under the profile's row lock.

use chrono::NaiveDateTime;
use diesel::prelude::{
    AsChangeset, BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable,
    Selectable, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{BrandId, BudgetLedgerEntryId, BudgetProfileId, OrganizationId};
use neonhub_schema::page::{Cursor, Keyed, Page, PageRequest, load_page};
use neonhub_schema::schema::{brands, budget_ledger, budget_profiles};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::{Value, json};

use crate::ledger::EntryType;
use crate::money::{Currency, Money};
use crate::{BillingError, limits};

/// A budget of one organization. Amounts are exact ([`Money`]); the legacy columns hold
/// them in major units.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetProfile {
    /// Primary key.
    pub id: BudgetProfileId,
    /// The organization that owns it.
    pub organization_id: OrganizationId,
    /// The brand it is for, if any.
    pub brand_id: Option<BrandId>,
    /// Display name, unique in the organization ([`BudgetProfile::by_name`]).
    pub name: String,
    /// The one currency of every amount on it.
    pub currency: Currency,
    /// The limit of `spent + reserved`; `None` is unlimited.
    pub total: Option<Money>,
    /// Set aside by open reservations.
    pub reserved: Money,
    /// Spent (commits, spends and adjustments, less refunds).
    pub spent: Money,
    /// The application's spending rules (free-form).
    pub constraints: Option<Value>,
    /// The application's settings (free-form).
    pub settings: Option<Value>,
    /// When it was created (UTC, milliseconds).
    pub created_at: NaiveDateTime,
    /// When it last changed (UTC, milliseconds).
    pub updated_at: NaiveDateTime,
}

impl BudgetProfile {
    /// What the total leaves (`total - spent - reserved`); `None` when unlimited.
    pub fn available(&self) -> Option<Money> {
        self.total.map(|t| {
            Money::new(
                t.minor() - self.spent.minor() - self.reserved.minor(),
                self.currency,
            )
            .unwrap_or(Money::zero(self.currency))
        })
    }
}

impl Keyed for BudgetProfile {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

/// The stored row, amounts as the legacy columns hold them.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = budget_profiles, check_for_backend(diesel::pg::Pg))]
pub(crate) struct ProfileRow {
    id: BudgetProfileId,
    #[diesel(column_name = organizationId)]
    organization_id: OrganizationId,
    #[diesel(column_name = brandId)]
    brand_id: Option<BrandId>,
    name: String,
    currency: String,
    #[diesel(column_name = totalBudget)]
    total_budget: Option<f64>,
    reserved: f64,
    spent: f64,
    constraints: Option<Value>,
    settings: Option<Value>,
    #[diesel(column_name = createdAt)]
    created_at: NaiveDateTime,
    #[diesel(column_name = updatedAt)]
    updated_at: NaiveDateTime,
}

impl Keyed for ProfileRow {
    fn cursor(&self) -> Cursor {
        Cursor::new(self.created_at, &self.id)
    }
}

impl TryFrom<ProfileRow> for BudgetProfile {
    type Error = BillingError;
    fn try_from(row: ProfileRow) -> Result<Self, BillingError> {
        let currency = Currency::parse(&row.currency)?;
        Ok(BudgetProfile {
            total: row
                .total_budget
                .map(|v| Money::from_stored(v, currency, "budget_profiles.totalBudget"))
                .transpose()?,
            reserved: Money::from_stored(row.reserved, currency, "budget_profiles.reserved")?,
            spent: Money::from_stored(row.spent, currency, "budget_profiles.spent")?,
            id: row.id,
            organization_id: row.organization_id,
            brand_id: row.brand_id,
            name: row.name,
            currency,
            constraints: row.constraints,
            settings: row.settings,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A budget profile to create, with nothing reserved or spent.
#[derive(Debug, Clone)]
pub struct NewBudgetProfile<'a> {
    /// Display name, unique in the organization (1 to 200 bytes).
    pub name: &'a str,
    /// The currency of every amount on it.
    pub currency: Currency,
    /// The limit; `None` is unlimited. In `currency`, not negative.
    pub total: Option<Money>,
    /// The brand it is for (one of this organization's).
    pub brand: Option<&'a BrandId>,
    /// Spending rules (free-form, at most 1 MiB).
    pub constraints: Option<&'a Value>,
    /// Settings (free-form, at most 1 MiB).
    pub settings: Option<&'a Value>,
}

impl NewBudgetProfile<'_> {
    fn check(&self) -> Result<Option<f64>, BillingError> {
        limits::name("name", self.name)?;
        limits::json("constraints", self.constraints)?;
        limits::json("settings", self.settings)?;
        self.total
            .map(|t| stored_total(t, self.currency))
            .transpose()
    }
}

/// What may change on a profile besides its balances (the total changes through
/// [`BudgetProfile::set_total`]): `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = budget_profiles)]
pub struct BudgetProfileChanges<'a> {
    /// New name (unique in the organization).
    pub name: Option<&'a str>,
    /// New spending rules.
    pub constraints: Option<Option<&'a Value>>,
    /// New settings.
    pub settings: Option<Option<&'a Value>>,
}

impl BudgetProfileChanges<'_> {
    fn check(&self) -> Result<(), InvalidData> {
        self.name.map_or(Ok(()), |v| limits::name("name", v))?;
        limits::json("constraints", self.constraints.flatten())?;
        limits::json("settings", self.settings.flatten())
    }

    fn is_empty(&self) -> bool {
        self.name.is_none() && self.constraints.is_none() && self.settings.is_none()
    }
}

/// A total as stored: in the profile's currency, not negative, exactly representable.
fn stored_total(total: Money, currency: Currency) -> Result<f64, BillingError> {
    total.expect_currency(currency)?;
    if total.minor() < 0 {
        return Err(crate::MoneyError::NotPositive {
            field: "total",
            amount: total,
        }
        .into());
    }
    Ok(total.stored_exactly()?)
}

impl BudgetProfile {
    /// Creates a profile with nothing reserved or spent.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "create"))]
    pub async fn create(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        new: &NewBudgetProfile<'_>,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        let total = new.check()?;
        scope
            .transaction(conn, async |tx| {
                if let Some(brand) = new.brand {
                    let found: Option<BrandId> = brands::table
                        .filter(brands::id.eq(brand))
                        .filter(brands::organizationId.eq(scope.organization_id()))
                        .select(brands::id)
                        .first(tx)
                        .await
                        .optional()?;
                    found.ok_or_else(|| BillingError::foreign_parent("brand", brand))?;
                }
                let now = time::now();
                let row: ProfileRow = diesel::insert_into(budget_profiles::table)
                    .values((
                        budget_profiles::id.eq(BudgetProfileId::generate()),
                        budget_profiles::organizationId.eq(scope.organization_id()),
                        budget_profiles::brandId.eq(new.brand),
                        budget_profiles::name.eq(new.name),
                        budget_profiles::currency.eq(new.currency.lower()),
                        budget_profiles::totalBudget.eq(total),
                        budget_profiles::reserved.eq(0.0),
                        budget_profiles::spent.eq(0.0),
                        budget_profiles::constraints.eq(new.constraints),
                        budget_profiles::settings.eq(new.settings),
                        budget_profiles::createdAt.eq(now),
                        budget_profiles::updatedAt.eq(now),
                    ))
                    .returning(ProfileRow::as_returning())
                    .get_result(tx)
                    .await
                    .map_err(|e| name_taken(e, new.name))?;
                row.try_into()
            })
            .await
    }

    /// The profile with `id` in this organization.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "get"))]
    pub async fn get(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetProfileId,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                Self::find(tx, scope, id)
                    .await?
                    .ok_or_else(|| BillingError::not_found("budget profile", id))
            })
            .await
    }

    /// The profile named `name` in this organization, if there is one.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "by_name"))]
    pub async fn by_name(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        name: &str,
    ) -> Result<Option<Self>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        InvalidData::check_text("name", name)?;
        scope
            .transaction(conn, async |tx| {
                let row: Option<ProfileRow> = budget_profiles::table
                    .filter(budget_profiles::organizationId.eq(scope.organization_id()))
                    .filter(budget_profiles::name.eq(name))
                    .select(ProfileRow::as_select())
                    .first(tx)
                    .await
                    .optional()?;
                row.map(TryInto::try_into).transpose()
            })
            .await
    }

    /// The organization's profiles, newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "list"))]
    pub async fn list(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Self>, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let query = budget_profiles::table
                    .filter(budget_profiles::organizationId.eq(scope.organization_id()))
                    .select(ProfileRow::as_select())
                    .into_boxed();
                let rows: Page<ProfileRow> = load_page(tx, query, page).await?;
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

    /// Applies `changes` (name, constraints, settings) and sets `updatedAt`.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "update"))]
    pub async fn update(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetProfileId,
        changes: &BudgetProfileChanges<'_>,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        changes.check()?;
        scope
            .transaction(conn, async |tx| {
                if changes.is_empty() {
                    return Self::find(tx, scope, id)
                        .await?
                        .ok_or_else(|| BillingError::not_found("budget profile", id));
                }
                let row: ProfileRow = diesel::update(budget_profiles::table)
                    .filter(in_org(scope, id))
                    .set((changes, budget_profiles::updatedAt.eq(time::now())))
                    .returning(ProfileRow::as_returning())
                    .get_result(tx)
                    .await
                    .optional()
                    .map_err(|e| name_taken(e, changes.name.unwrap_or_default()))?
                    .ok_or_else(|| BillingError::not_found("budget profile", id))?;
                row.try_into()
            })
            .await
    }

    /// Sets the total (`None`: unlimited), refused below what is spent and reserved; writes
    /// a `total` ledger entry naming the old and new totals and the reason. Under the
    /// profile's row lock, so it cannot race a reservation past the new total.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "set_total"))]
    pub async fn set_total(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetProfileId,
        total: Option<Money>,
        reason: &str,
    ) -> Result<Self, BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        limits::name("reason", reason)?;
        scope
            .transaction(conn, async |tx| {
                let locked = crate::ledger::lock_profile(tx, scope, id).await?;
                let stored = total
                    .map(|t| stored_total(t, locked.currency))
                    .transpose()?;
                if let Some(t) = total {
                    let committed = locked.spent.minor() + locked.reserved.minor();
                    if t.minor() < committed {
                        return Err(BillingError::TotalBelowCommitted {
                            profile: id.to_string(),
                            total: t,
                            committed: Money::new(committed, locked.currency)?,
                        });
                    }
                }
                let now = time::now();
                diesel::insert_into(budget_ledger::table)
                    .values((
                        budget_ledger::id.eq(BudgetLedgerEntryId::generate()),
                        budget_ledger::organizationId.eq(scope.organization_id()),
                        budget_ledger::budgetProfileId.eq(id),
                        budget_ledger::entryType.eq(EntryType::Total.as_str()),
                        budget_ledger::amount.eq(stored.unwrap_or(0.0)),
                        budget_ledger::currency.eq(locked.currency.lower()),
                        budget_ledger::occurredAt.eq(now),
                        budget_ledger::spentDelta.eq(0_i64),
                        budget_ledger::reservedDelta.eq(0_i64),
                        budget_ledger::metadata.eq(json!({
                            "reason": reason,
                            "from": locked.total.map(Money::minor),
                            "to": total.map(Money::minor),
                            "actor": crate::ledger::actor(scope),
                        })),
                    ))
                    .execute(tx)
                    .await?;
                let row: ProfileRow = diesel::update(budget_profiles::table)
                    .filter(in_org(scope, id))
                    .set((
                        budget_profiles::totalBudget.eq(stored),
                        budget_profiles::updatedAt.eq(now),
                    ))
                    .returning(ProfileRow::as_returning())
                    .get_result(tx)
                    .await?;
                row.try_into()
            })
            .await
    }

    /// Deletes the profile with its allocations, ledger, reservations (the foreign keys
    /// cascade; payments and payouts keep their rows, unlinked).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget profile", op = "delete"))]
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetProfileId,
    ) -> Result<(), BillingError> {
        scope.require(keys::BILLING_MANAGE)?;
        scope
            .transaction(conn, async |tx| {
                let deleted = diesel::delete(budget_profiles::table)
                    .filter(in_org(scope, id))
                    .execute(tx)
                    .await?;
                if deleted == 0 {
                    return Err(BillingError::not_found("budget profile", id));
                }
                Ok(())
            })
            .await
    }

    /// The row, if it is in this organization (inside a scope transaction).
    pub(crate) async fn find(
        tx: &mut AsyncPgConnection,
        scope: &TenantScope,
        id: &BudgetProfileId,
    ) -> Result<Option<Self>, BillingError> {
        let row: Option<ProfileRow> = budget_profiles::table
            .filter(in_org(scope, id))
            .select(ProfileRow::as_select())
            .first(tx)
            .await
            .optional()?;
        row.map(TryInto::try_into).transpose()
    }
}

/// `id = $1 AND "organizationId" = <the scope's>`.
pub(crate) fn in_org<'a>(
    scope: &'a TenantScope,
    id: &'a BudgetProfileId,
) -> diesel::dsl::And<
    diesel::dsl::Eq<budget_profiles::id, &'a BudgetProfileId>,
    diesel::dsl::Eq<budget_profiles::organizationId, &'a OrganizationId>,
> {
    budget_profiles::id
        .eq(id)
        .and(budget_profiles::organizationId.eq(scope.organization_id()))
}

fn name_taken(e: diesel::result::Error, name: &str) -> BillingError {
    match neonhub_schema::unique_violation(&e) {
        Some("budget_profiles_organizationId_name_key") => {
            BillingError::DuplicateName(name.to_owned())
        }
        _ => e.into(),
    }
}
