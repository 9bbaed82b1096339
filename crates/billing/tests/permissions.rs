//! Every public operation of `neonhub-billing` that takes a `TenantScope`, in one table with
//! the permission key it needs: a scope lacking the key is refused with `Denied` naming it
//! and nothing is written; the key alone is enough; and run in another organization's
//! scope (holding every key), no operation reads, changes or links to this organization's
//! rows. The table is checked against the source, so an operation added without an entry
//! (or without its permission check) fails a test.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use chrono::NaiveDate;
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_billing::stripe::{StripePayment, StripePayout};
use neonhub_billing::*;
use neonhub_schema::ids::{BudgetReservationId, CampaignId, OrganizationId, UserId};
use neonhub_schema::{Denied, PERMISSIONS, PermissionSet, TenantScope, keys};
use neonhub_testing::fixtures::{campaign, scoped_organization};
use neonhub_testing::{owner_do, test_connection};

struct Fx {
    scope: TenantScope,
    profile: BudgetProfile,
    reservation: BudgetReservationId,
    allocation: BudgetAllocation,
    campaign: CampaignId,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<usize, BillingError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

fn op<F>(f: F) -> Op
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Box::new(f)
}

struct Case {
    name: &'static str,
    key: &'static str,
    names_a_row: bool,
    run: Op,
}

fn case(name: &'static str, key: &'static str, run: Op) -> Case {
    Case {
        name,
        key,
        names_a_row: true,
        run,
    }
}

fn own_row(name: &'static str, key: &'static str, run: Op) -> Case {
    Case {
        name,
        key,
        names_a_row: false,
        run,
    }
}

fn one<T>(r: Result<T, BillingError>) -> Result<usize, BillingError> {
    r.map(|_| 1)
}

fn found<T>(r: Result<Option<T>, BillingError>) -> Result<usize, BillingError> {
    r.map(|o| usize::from(o.is_some()))
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD).unwrap()
}

fn at(day: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
}

fn payment(id: &str) -> StripePayment<'_> {
    StripePayment {
        event_at: at(2),
        payment_intent_id: id,
        status: "succeeded",
        amount: usd(5_000),
        customer_id: None,
        budget_profile: None,
        metadata: None,
    }
}

fn payout(id: &str) -> StripePayout<'_> {
    StripePayout {
        event_at: at(2),
        transfer_id: id,
        partner_id: "partner-1",
        status: "paid",
        amount: usd(1_000),
        processed_at: None,
        budget_profile: None,
        metadata: None,
    }
}

fn new_profile(name: &str) -> NewBudgetProfile<'_> {
    NewBudgetProfile {
        name,
        currency: Currency::USD,
        total: None,
        brand: None,
        constraints: None,
        settings: None,
    }
}

fn operations() -> Vec<Case> {
    use keys::{BILLING_MANAGE as MANAGE, BILLING_READ as READ, BUDGET_SPEND as SPEND};
    let first = PageRequest::default;
    vec![
        own_row(
            "BudgetProfile::create",
            MANAGE,
            op(|c, s, _| {
                Box::pin(
                    async move { one(BudgetProfile::create(c, s, &new_profile("other")).await) },
                )
            }),
        ),
        case(
            "BudgetProfile::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(BudgetProfile::get(c, s, &f.profile.id).await) })
            }),
        ),
        case(
            "BudgetProfile::by_name",
            READ,
            op(|c, s, f| {
                Box::pin(async move { found(BudgetProfile::by_name(c, s, &f.profile.name).await) })
            }),
        ),
        case(
            "BudgetProfile::list",
            READ,
            op(move |c, s, _| {
                Box::pin(async move {
                    BudgetProfile::list(c, s, &first())
                        .await
                        .map(|p| p.items.len())
                })
            }),
        ),
        case(
            "BudgetProfile::audit",
            READ,
            op(|c, s, _| {
                Box::pin(async move {
                    BudgetProfile::audit(c, s)
                        .await
                        .map(|r| r.profiles as usize)
                })
            }),
        ),
        case(
            "BudgetProfile::update",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::update(
                        c,
                        s,
                        &f.profile.id,
                        &BudgetProfileChanges {
                            name: Some("renamed"),
                            ..Default::default()
                        },
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::set_total",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(
                        BudgetProfile::set_total(c, s, &f.profile.id, Some(usd(90_000)), "plan")
                            .await,
                    )
                })
            }),
        ),
        case(
            "BudgetProfile::reserve",
            SPEND,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::reserve(
                        c,
                        s,
                        &f.profile.id,
                        usd(10),
                        &LedgerRequest::key("p-reserve"),
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::commit",
            SPEND,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::commit(
                        c,
                        s,
                        &f.reservation,
                        usd(10),
                        &LedgerRequest::key("p-commit"),
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::release",
            SPEND,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::release(
                        c,
                        s,
                        &f.reservation,
                        &LedgerRequest::key("p-release"),
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::spend",
            SPEND,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::spend(
                        c,
                        s,
                        &f.profile.id,
                        usd(10),
                        &LedgerRequest::key("p-spend"),
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::refund",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::refund(
                        c,
                        s,
                        &f.profile.id,
                        usd(10),
                        &LedgerRequest::key("p-refund"),
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::adjust",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetProfile::adjust(
                        c,
                        s,
                        &f.profile.id,
                        usd(10),
                        "fix",
                        &LedgerRequest::key("p-adjust"),
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetProfile::delete",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move { one(BudgetProfile::delete(c, s, &f.profile.id).await) })
            }),
        ),
        case(
            "BudgetAllocation::create",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetAllocation::create(
                        c,
                        s,
                        &NewBudgetAllocation {
                            profile: &f.profile.id,
                            channel: "email",
                            amount: usd(100),
                            campaign: None,
                            chain_campaign: None,
                            objective: None,
                            window_start: None,
                            window_end: None,
                            metadata: None,
                        },
                    )
                    .await)
                })
            }),
        ),
        case(
            "BudgetAllocation::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(BudgetAllocation::get(c, s, &f.allocation.id).await) })
            }),
        ),
        case(
            "BudgetAllocation::list",
            READ,
            op(move |c, s, f| {
                Box::pin(async move {
                    BudgetAllocation::list(c, s, &f.profile.id, &first())
                        .await
                        .map(|p| p.items.len())
                })
            }),
        ),
        case(
            "BudgetAllocation::set_status",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(BudgetAllocation::set_status(
                        c,
                        s,
                        &f.allocation.id,
                        BudgetAllocationStatus::Approved,
                    )
                    .await)
                })
            }),
        ),
        case(
            "LedgerEntry::list",
            READ,
            op(move |c, s, f| {
                Box::pin(async move {
                    LedgerEntry::list(c, s, &f.profile.id, &first())
                        .await
                        .map(|p| p.items.len())
                })
            }),
        ),
        case(
            "BudgetReservation::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(BudgetReservation::get(c, s, &f.reservation).await) })
            }),
        ),
        case(
            "BudgetReservation::list_open",
            READ,
            op(move |c, s, f| {
                Box::pin(async move {
                    BudgetReservation::list_open(c, s, &f.profile.id, &first())
                        .await
                        .map(|p| p.items.len())
                })
            }),
        ),
        case(
            "BudgetTransaction::chain",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    BudgetTransaction::chain(c, s, &f.campaign, 0, 100)
                        .await
                        .map(|l| l.len())
                })
            }),
        ),
        case(
            "Payment::sync",
            MANAGE,
            op(|c, s, _| {
                Box::pin(async move { one(Payment::sync(c, s, &payment("pi_fixture")).await) })
            }),
        ),
        case(
            "Payment::by_stripe_id",
            READ,
            op(|c, s, _| {
                Box::pin(async move { found(Payment::by_stripe_id(c, s, "pi_fixture").await) })
            }),
        ),
        case(
            "Payout::sync",
            MANAGE,
            op(|c, s, _| {
                Box::pin(async move { one(Payout::sync(c, s, &payout("tr_fixture")).await) })
            }),
        ),
        case(
            "Payout::by_stripe_id",
            READ,
            op(|c, s, _| {
                Box::pin(async move { found(Payout::by_stripe_id(c, s, "tr_fixture").await) })
            }),
        ),
    ]
}

async fn fixture(conn: &mut AsyncPgConnection) -> Fx {
    let scope = scoped_organization(conn).await;
    let campaign = campaign(conn, scope.organization_id()).await;
    let profile = BudgetProfile::create(
        conn,
        &scope,
        &NewBudgetProfile {
            total: Some(usd(100_000)),
            ..new_profile("main")
        },
    )
    .await
    .unwrap();
    let r = BudgetProfile::reserve(
        conn,
        &scope,
        &profile.id,
        usd(500),
        &LedgerRequest {
            campaign: Some(&campaign),
            ..LedgerRequest::key("fx-r")
        },
    )
    .await
    .unwrap();
    BudgetProfile::spend(
        conn,
        &scope,
        &profile.id,
        usd(700),
        &LedgerRequest::key("fx-s"),
    )
    .await
    .unwrap();
    let allocation = BudgetAllocation::create(
        conn,
        &scope,
        &NewBudgetAllocation {
            profile: &profile.id,
            channel: "email",
            amount: usd(100),
            campaign: None,
            chain_campaign: None,
            objective: None,
            window_start: None,
            window_end: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    Payment::sync(
        conn,
        &scope,
        &StripePayment {
            event_at: at(1),
            status: "processing",
            ..payment("pi_fixture")
        },
    )
    .await
    .unwrap();
    Payout::sync(
        conn,
        &scope,
        &StripePayout {
            event_at: at(1),
            status: "pending",
            ..payout("tr_fixture")
        },
    )
    .await
    .unwrap();
    Fx {
        scope,
        profile,
        reservation: r.reservation.unwrap(),
        allocation,
        campaign,
    }
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

async fn digest(conn: &mut AsyncPgConnection, org: Option<&OrganizationId>) -> String {
    let org = org.map_or("%".to_owned(), ToString::to_string);
    let sql = format!(
        r#"SELECT coalesce(md5(string_agg(r, '|' ORDER BY r)), '') AS digest FROM (
            SELECT p::text AS r FROM budget_profiles p WHERE p."organizationId" LIKE '{org}'
            UNION ALL SELECT l::text FROM budget_ledger l WHERE l."organizationId" LIKE '{org}'
            UNION ALL SELECT r::text FROM budget_reservations r WHERE r."organizationId" LIKE '{org}'
            UNION ALL SELECT q::text FROM budget_requests q WHERE q."organizationId" LIKE '{org}'
            UNION ALL SELECT t::text FROM budget_transactions t WHERE t."organizationId" LIKE '{org}'
            UNION ALL SELECT a::text FROM budget_allocations a WHERE a."organizationId" LIKE '{org}'
            UNION ALL SELECT p::text FROM payments p WHERE p."organizationId" LIKE '{org}'
            UNION ALL SELECT p::text FROM payouts p WHERE p."organizationId" LIKE '{org}'
        ) rows"#
    );
    owner_do(conn, async |c| {
        sql_query(sql).get_result::<Digest>(c).await.unwrap().digest
    })
    .await
}

fn scope_without(fx: &Fx, missing: &str) -> TenantScope {
    TenantScope::for_member(
        fx.scope.organization_id().clone(),
        UserId::generate(),
        PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != missing)),
    )
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|case| (case.name.to_owned(), case.key.to_owned()))
        .collect();
    assert_eq!(
        listed,
        neonhub_testing::source::keys_required_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
    );
}

#[tokio::test]
async fn a_scope_lacking_the_key_is_refused_and_writes_nothing() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let before = digest(&mut conn, None).await;
    for case in operations() {
        let scope = scope_without(&fx, case.key);
        let err = (case.run)(&mut conn, &scope, &fx).await.unwrap_err();
        assert!(
            matches!(&err, BillingError::Denied(Denied::MissingPermission { key: k, .. }) if k == case.key),
            "{} without {}: {err}",
            case.name,
            case.key
        );
        assert_eq!(
            digest(&mut conn, None).await,
            before,
            "{} wrote although refused",
            case.name
        );
    }
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    for case in operations() {
        let scope = TenantScope::for_member(
            fx.scope.organization_id().clone(),
            UserId::generate(),
            PermissionSet::of([case.key]),
        );
        if let Err(BillingError::Denied(denied)) = (case.run)(&mut conn, &scope, &fx).await {
            panic!("{} with {} alone: {denied}", case.name, case.key);
        }
    }
}

#[tokio::test]
async fn another_organization_reads_changes_and_links_to_none_of_its_rows() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let org = fx.scope.organization_id().clone();
    let other = scoped_organization(&mut conn).await;
    let before = digest(&mut conn, Some(&org)).await;
    let mut refused = 0;
    let mut cases = operations();
    cases.sort_by_key(|case| !case.names_a_row);
    for case in cases {
        let outcome = (case.run)(&mut conn, &other, &fx).await;
        if case.names_a_row {
            match outcome {
                Err(BillingError::NotFound { .. } | BillingError::ForeignParent { .. }) => {
                    refused += 1
                }
                Ok(0) => {}
                other => panic!("{} in another organization: {other:?}", case.name),
            }
        } else {
            outcome.unwrap_or_else(|e| panic!("{} in its own organization: {e}", case.name));
        }
        assert_eq!(
            digest(&mut conn, Some(&org)).await,
            before,
            "{} from another organization changed this one's rows",
            case.name
        );
    }
    assert!(refused >= 16, "only {refused} operations were refused");
}

#[tokio::test]
async fn members_spend_without_managing_billing_and_install_defaults_grants_it() {
    use neonhub_identity::{Organization, Role};
    use neonhub_schema::permissions::DefaultRole;
    let mut conn = test_connection().await;
    let org = neonhub_testing::fixtures::identity::org(&mut conn).await;
    for (role, spend, manage) in [
        (DefaultRole::Owner, true, true),
        (DefaultRole::Admin, true, false),
        (DefaultRole::Member, true, false),
        (DefaultRole::Viewer, false, false),
    ] {
        let keys = Role::permissions(&mut conn, &org.scope, &org.role(role).id)
            .await
            .unwrap();
        assert_eq!(
            keys.iter().any(|k| k == keys::BUDGET_SPEND),
            spend,
            "{role:?}"
        );
        assert_eq!(
            keys.iter().any(|k| k == keys::BILLING_MANAGE),
            manage,
            "{role:?}"
        );
    }
    // An organization made before the key existed gets it from install_defaults.
    let id = org.scope.organization_id().clone();
    owner_do(&mut conn, async |c| {
        sql_query(r#"DELETE FROM organization_permissions WHERE "organizationId" = $1 AND key = 'budget:spend'"#)
            .bind::<Text, _>(&id)
            .execute(c)
            .await
            .unwrap();
    })
    .await;
    let member = org.role(DefaultRole::Member).id.clone();
    assert!(
        !Role::permissions(&mut conn, &org.scope, &member)
            .await
            .unwrap()
            .iter()
            .any(|k| k == keys::BUDGET_SPEND)
    );
    Organization::install_defaults(&mut conn, &org.scope)
        .await
        .unwrap();
    assert!(
        Role::permissions(&mut conn, &org.scope, &member)
            .await
            .unwrap()
            .iter()
            .any(|k| k == keys::BUDGET_SPEND)
    );
}
