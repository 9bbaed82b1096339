//! A budget end to end: a profile with a total, reservations for two campaigns, a commit
//! that spends part of one, a release, a refund, a request replayed after a lost answer,
//! a replay with other arguments refused, and the audit that proves the balances.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example budget
//! ```
//!
//! Repeatable: the example's organization (`budget-example`) and its owner
//! (`ada@budget.example`) are deleted and made again on every run.

use std::error::Error;

use diesel::ExpressionMethods;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub::billing::*;
use neonhub::identity::{NewOrganization, NewUser, Organization, User, authorize, keys};
use neonhub::schema::ids::{CampaignId, UserId};
use neonhub::schema::schema::campaigns;
use neonhub::schema::{DatabaseUrl, TenantScope, time};

const SLUG: &str = "budget-example";
const OWNER: &str = "ada@budget.example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .skip_while(|a| a != "--database-url")
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("set DATABASE_URL or pass --database-url")?;
    let mut conn = DatabaseUrl::parse(&url)?.connect().await?;
    let conn = &mut conn;
    start_over(conn).await?;
    let ada = User::create(
        conn,
        &NewUser {
            email: OWNER,
            name: Some("Ada Lovelace"),
            ..Default::default()
        },
    )
    .await?;
    let new = NewOrganization {
        slug: SLUG,
        name: "Budget Example",
        plan: None,
        settings: None,
    };
    let org = Organization::create(conn, &ada.id, &new).await?;
    // The owner holds billing:manage (set totals, refund) and budget:spend (reserve,
    // commit, spend); a member would hold only the latter.
    let scope = authorize(conn, &org.id, &ada.id, keys::BILLING_MANAGE).await?;
    let spring = campaign(conn, &scope, &ada.id, "Spring launch").await?;
    let summer = campaign(conn, &scope, &ada.id, "Summer sale").await?;

    let usd = |amount: &str| Money::parse(amount, Currency::USD);
    let profile = BudgetProfile::create(
        conn,
        &scope,
        &NewBudgetProfile {
            name: "Q2 paid media",
            currency: Currency::USD,
            total: Some(usd("5000.00")?),
            brand: None,
            constraints: None,
            settings: None,
        },
    )
    .await?;
    println!(
        "profile {:?}: total {}",
        profile.name,
        profile.total.unwrap()
    );

    // Each request carries an idempotency key (a request id, a webhook event id).
    let for_spring = LedgerRequest {
        campaign: Some(&spring),
        channel: Some("paid_search"),
        ..LedgerRequest::key("spring-hold-1")
    };
    let hold =
        BudgetProfile::reserve(conn, &scope, &profile.id, usd("1200.00")?, &for_spring).await?;
    let for_summer = LedgerRequest {
        campaign: Some(&summer),
        channel: Some("paid_social"),
        ..LedgerRequest::key("summer-hold-1")
    };
    let summer_hold =
        BudgetProfile::reserve(conn, &scope, &profile.id, usd("3000.00")?, &for_summer).await?;
    println!(
        "reserved 1200.00 for spring and 3000.00 for summer: {} available",
        summer_hold.balance.available().unwrap()
    );

    // Past the total is refused, whoever asks and however they race.
    match BudgetProfile::reserve(
        conn,
        &scope,
        &profile.id,
        usd("900.00")?,
        &LedgerRequest::key("spring-hold-2"),
    )
    .await
    {
        Err(BillingError::OverBudget { available, .. }) => {
            println!("900.00 more refused: only {available} available")
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }

    // The ad platform billed 1,137.45 of the 1,200 held: commit that, the rest goes back.
    let spring_hold = hold.reservation.as_ref().ok_or("a reservation")?;
    let commit = BudgetProfile::commit(
        conn,
        &scope,
        spring_hold,
        usd("1137.45")?,
        &LedgerRequest::key("spring-bill-1"),
    )
    .await?;
    println!(
        "committed 1137.45: spent {}, reserved {}",
        commit.balance.spent, commit.balance.reserved
    );
    // The summer campaign was cancelled: its hold is released.
    let summer_id = summer_hold.reservation.as_ref().ok_or("a reservation")?;
    BudgetProfile::release(
        conn,
        &scope,
        summer_id,
        &LedgerRequest::key("summer-cancel"),
    )
    .await?;
    // A refund of 37.45 from the platform.
    let refund = LedgerRequest {
        campaign: Some(&spring),
        ..LedgerRequest::key("spring-refund-1")
    };
    let refunded = BudgetProfile::refund(conn, &scope, &profile.id, usd("37.45")?, &refund).await?;
    println!("refunded 37.45: spent {}", refunded.balance.spent);

    // The client lost the refund's answer and sends it again: the same receipt comes back
    // and nothing is refunded twice.
    let again = BudgetProfile::refund(conn, &scope, &profile.id, usd("37.45")?, &refund).await?;
    assert!(again.replayed && again.entry == refunded.entry);
    println!(
        "replayed spring-refund-1: same entry {}, spent still {}",
        again.entry, again.balance.spent
    );
    // The same key for a different request is a conflict, not a second refund.
    match BudgetProfile::refund(conn, &scope, &profile.id, usd("50.00")?, &refund).await {
        Err(e @ BillingError::KeyReused { .. }) => println!("refused: {e}"),
        other => return Err(format!("expected a key conflict, got {other:?}").into()),
    }

    // The spring campaign's chain: each link's balanceBefore is the previous balanceAfter.
    for t in BudgetTransaction::chain(conn, &scope, &spring, 0, 100).await? {
        println!(
            "  spring #{} {:<7} {:>10}  balance {} -> {}",
            t.sequence.unwrap_or(0),
            t.kind,
            t.amount.to_string(),
            t.balance_before,
            t.balance_after
        );
    }
    let audit = BudgetProfile::audit(conn, &scope).await?;
    println!(
        "audit: {} profile(s), {} entries, {} chain(s), {} violation(s)",
        audit.profiles,
        audit.entries,
        audit.chains,
        audit.violations.len()
    );
    if !audit.is_clean() {
        return Err(format!("the audit found: {:?}", audit.violations).into());
    }
    Ok(())
}

/// A campaign row (until `neonhub-campaigns` lands, written directly in the scope, which
/// row-level security judges).
async fn campaign(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    owner: &UserId,
    name: &str,
) -> Result<CampaignId, Box<dyn Error>> {
    let id = CampaignId::generate();
    let now = time::now();
    scope
        .transaction(conn, async |tx| {
            diesel::insert_into(campaigns::table)
                .values((
                    campaigns::id.eq(&id),
                    campaigns::organizationId.eq(scope.organization_id()),
                    campaigns::ownerId.eq(owner),
                    campaigns::name.eq(name),
                    campaigns::type_.eq("paid"),
                    campaigns::createdAt.eq(now),
                    campaigns::updatedAt.eq(now),
                ))
                .execute(tx)
                .await
        })
        .await?;
    Ok(id)
}

async fn start_over(conn: &mut AsyncPgConnection) -> Result<(), Box<dyn Error>> {
    if let Ok(ada) = User::by_email(conn, OWNER).await {
        if let Some(org) = Organization::by_slug(conn, &ada.id, SLUG).await? {
            let owner = authorize(conn, &org.id, &ada.id, keys::ORGANIZATION_DELETE).await?;
            Organization::delete(conn, &owner).await?;
        }
        User::delete(conn, &ada.id).await?;
    }
    Ok(())
}
