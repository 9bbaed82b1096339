//! The budget ledger against a real PostgreSQL, as the application role: exact money, the
//! rules, idempotency, campaign chains, the audit, and bad input refused with nothing
//! written.

use diesel::sql_types::{Double, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_billing::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::BudgetProfileId;
use neonhub_testing::fixtures::{campaign, scoped_organization};
use neonhub_testing::{owner_do, test_connection};

async fn budget(
    conn: &mut AsyncPgConnection,
    scope: &TenantScope,
    currency: Currency,
    total: Option<i64>,
) -> BudgetProfile {
    BudgetProfile::create(
        conn,
        scope,
        &NewBudgetProfile {
            name: &format!("budget-{}", BudgetProfileId::generate()),
            currency,
            total: total.map(|t| Money::new(t, currency).unwrap()),
            brand: None,
            constraints: None,
            settings: None,
        },
    )
    .await
    .unwrap()
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD).unwrap()
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Double)]
    spent: f64,
    #[diesel(sql_type = Double)]
    reserved: f64,
}

async fn stored(conn: &mut AsyncPgConnection, id: &BudgetProfileId) -> (f64, f64) {
    let id = id.clone();
    owner_do(conn, async |c| {
        let s: Stored = sql_query("SELECT spent, reserved FROM budget_profiles WHERE id = $1")
            .bind::<Text, _>(&id)
            .get_result(c)
            .await
            .unwrap();
        (s.spent, s.reserved)
    })
    .await
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// Every billing row of every organization, hashed: what "nothing written" compares.
async fn digest(conn: &mut AsyncPgConnection) -> String {
    owner_do(conn, async |c| {
        sql_query(
            r#"SELECT coalesce(md5(string_agg(r, '|' ORDER BY r)), '') AS digest FROM (
                SELECT p::text AS r FROM budget_profiles p
                UNION ALL SELECT l::text FROM budget_ledger l
                UNION ALL SELECT r::text FROM budget_reservations r
                UNION ALL SELECT q::text FROM budget_requests q
                UNION ALL SELECT t::text FROM budget_transactions t
                UNION ALL SELECT a::text FROM budget_allocations a) rows"#,
        )
        .get_result::<Digest>(c)
        .await
        .unwrap()
        .digest
    })
    .await
}

#[tokio::test]
async fn a_tenth_and_a_fifth_a_thousand_times_balance_to_the_cent() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let p = budget(&mut conn, &scope, Currency::USD, None).await;
    let tenth = Money::parse("0.1", Currency::USD).unwrap();
    let fifth = Money::parse("0.2", Currency::USD).unwrap();
    for i in 0..1000 {
        BudgetProfile::spend(
            &mut conn,
            &scope,
            &p.id,
            tenth,
            &LedgerRequest::key(&format!("t{i}")),
        )
        .await
        .unwrap();
        BudgetProfile::spend(
            &mut conn,
            &scope,
            &p.id,
            fifth,
            &LedgerRequest::key(&format!("f{i}")),
        )
        .await
        .unwrap();
    }
    let after = BudgetProfile::get(&mut conn, &scope, &p.id).await.unwrap();
    assert_eq!(after.spent, usd(30_000));
    // The legacy column holds exactly 300 (a float sum of 0.1 and 0.2 would not).
    let mut float_sum = 0.0_f64;
    for _ in 0..1000 {
        float_sum += 0.1;
        float_sum += 0.2;
    }
    assert_ne!(float_sum, 300.0, "the float sum this test guards against");
    assert_eq!(stored(&mut conn, &p.id).await, (300.0, 0.0));
    let audit = BudgetProfile::audit(&mut conn, &scope).await.unwrap();
    assert!(audit.is_clean(), "{:?}", audit.violations);
    assert_eq!(audit.entries, 2000);
}

#[tokio::test]
async fn currencies_keep_their_minor_units_and_never_mix() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    // JPY has no minor unit: 1.5 yen does not exist; 1500 yen is stored as 1500.
    assert!(matches!(
        Money::parse("1.5", Currency::JPY),
        Err(MoneyError::TooPrecise { .. })
    ));
    let yen = budget(&mut conn, &scope, Currency::JPY, Some(10_000)).await;
    BudgetProfile::spend(
        &mut conn,
        &scope,
        &yen.id,
        Money::parse("1500", Currency::JPY).unwrap(),
        &LedgerRequest::key("yen"),
    )
    .await
    .unwrap();
    assert_eq!(stored(&mut conn, &yen.id).await, (1500.0, 0.0));
    // KWD has three decimals.
    let dinar = budget(&mut conn, &scope, Currency::KWD, None).await;
    BudgetProfile::spend(
        &mut conn,
        &scope,
        &dinar.id,
        Money::parse("1.005", Currency::KWD).unwrap(),
        &LedgerRequest::key("kwd"),
    )
    .await
    .unwrap();
    assert_eq!(stored(&mut conn, &dinar.id).await, (1.005, 0.0));
    // A EUR spend on a USD budget is refused; nothing written.
    let dollars = budget(&mut conn, &scope, Currency::USD, None).await;
    let before = digest(&mut conn).await;
    let err = BudgetProfile::spend(
        &mut conn,
        &scope,
        &dollars.id,
        Money::new(100, Currency::EUR).unwrap(),
        &LedgerRequest::key("eur"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BillingError::Money(MoneyError::CurrencyMismatch {
                expected: Currency::USD,
                found: Currency::EUR
            })
        ),
        "{err}"
    );
    assert_eq!(digest(&mut conn).await, before);
    // 2^53 + 1 minor units cannot be an amount at all; 2^53 can, and is stored exactly.
    assert!(matches!(
        Money::new(MAX_MINOR + 1, Currency::USD),
        Err(MoneyError::TooLarge { .. })
    ));
    assert!(matches!(
        Money::parse("90071992547409.93", Currency::USD),
        Err(MoneyError::TooLarge { .. })
    ));
    let big = budget(&mut conn, &scope, Currency::JPY, None).await;
    BudgetProfile::spend(
        &mut conn,
        &scope,
        &big.id,
        Money::new(MAX_MINOR, Currency::JPY).unwrap(),
        &LedgerRequest::key("max"),
    )
    .await
    .unwrap();
    assert_eq!(
        BudgetProfile::get(&mut conn, &scope, &big.id)
            .await
            .unwrap()
            .spent
            .minor(),
        MAX_MINOR
    );
    // Unknown currencies are refused by name.
    assert!(matches!(Currency::parse("ABC"), Err(MoneyError::UnknownCurrency(c)) if c == "ABC"));
}

#[tokio::test]
async fn the_currency_tables_of_rust_and_sql_agree() {
    let mut conn = test_connection().await;
    #[derive(QueryableByName)]
    struct Exp {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        e: Option<i32>,
    }
    for c in Currency::all() {
        for code in [c.code().to_owned(), c.lower()] {
            let got: Exp = sql_query("SELECT nh_currency_exponent($1) AS e")
                .bind::<Text, _>(&code)
                .get_result(&mut conn)
                .await
                .unwrap();
            assert_eq!(got.e, Some(i32::from(c.exponent())), "{code}");
        }
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // Every code the SQL function knows, counted over all three-letter codes.
    let known: Count = sql_query(
        "SELECT count(*) AS n FROM generate_series(0, 17575) g,
              LATERAL (SELECT chr(65 + g / 676) || chr(65 + g / 26 % 26) || chr(65 + g % 26) AS code) c
         WHERE nh_currency_exponent(c.code) IS NOT NULL",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(known.n as usize, Currency::all().count());
}

#[tokio::test]
async fn reservations_commit_release_and_never_pass_the_total() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let p = budget(&mut conn, &scope, Currency::USD, Some(10_000)).await;
    let a = BudgetProfile::reserve(
        &mut conn,
        &scope,
        &p.id,
        usd(6_000),
        &LedgerRequest::key("a"),
    )
    .await
    .unwrap();
    assert_eq!(a.balance.reserved, usd(6_000));
    assert_eq!(a.balance.available(), Some(usd(4_000)));
    let before = digest(&mut conn).await;
    let err = BudgetProfile::reserve(
        &mut conn,
        &scope,
        &p.id,
        usd(4_001),
        &LedgerRequest::key("b"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, BillingError::OverBudget { available, .. } if *available == usd(4_000)),
        "{err}"
    );
    let err = BudgetProfile::spend(
        &mut conn,
        &scope,
        &p.id,
        usd(4_001),
        &LedgerRequest::key("b"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BillingError::OverBudget { .. }), "{err}");
    assert_eq!(digest(&mut conn).await, before, "a refused operation wrote");
    // Commit 2500 of the 6000: spent 2500, reserved 0.
    let reservation = a.reservation.clone().unwrap();
    let c = BudgetProfile::commit(
        &mut conn,
        &scope,
        &reservation,
        usd(2_500),
        &LedgerRequest::key("c"),
    )
    .await
    .unwrap();
    assert_eq!((c.balance.spent, c.balance.reserved), (usd(2_500), usd(0)));
    assert_eq!(
        BudgetReservation::get(&mut conn, &scope, &reservation)
            .await
            .unwrap()
            .status,
        "committed"
    );
    // A closed reservation cannot be committed or released again.
    let before = digest(&mut conn).await;
    for err in [
        BudgetProfile::commit(
            &mut conn,
            &scope,
            &reservation,
            usd(1),
            &LedgerRequest::key("d"),
        )
        .await
        .unwrap_err(),
        BudgetProfile::release(&mut conn, &scope, &reservation, &LedgerRequest::key("e"))
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, BillingError::ReservationClosed { status, .. } if status == "committed"),
            "{err}"
        );
    }
    // A release gives everything back; committing it afterwards is refused.
    let r = BudgetProfile::reserve(
        &mut conn,
        &scope,
        &p.id,
        usd(1_000),
        &LedgerRequest::key("f"),
    )
    .await
    .unwrap();
    let rid = r.reservation.unwrap();
    let released = BudgetProfile::release(&mut conn, &scope, &rid, &LedgerRequest::key("g"))
        .await
        .unwrap();
    assert_eq!(released.balance.reserved, usd(0));
    let mid = digest(&mut conn).await;
    assert_ne!(mid, before);
    let err = BudgetProfile::commit(&mut conn, &scope, &rid, usd(10), &LedgerRequest::key("h"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BillingError::ReservationClosed { status, .. } if status == "released"),
        "{err}"
    );
    // Committing more than was reserved is refused.
    let r = BudgetProfile::reserve(&mut conn, &scope, &p.id, usd(100), &LedgerRequest::key("i"))
        .await
        .unwrap();
    let before = digest(&mut conn).await;
    let err = BudgetProfile::commit(
        &mut conn,
        &scope,
        r.reservation.as_ref().unwrap(),
        usd(101),
        &LedgerRequest::key("j"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, BillingError::CommitExceedsReservation { .. }),
        "{err}"
    );
    assert_eq!(digest(&mut conn).await, before);
    let audit = BudgetProfile::audit(&mut conn, &scope).await.unwrap();
    assert!(audit.is_clean(), "{:?}", audit.violations);
}

#[tokio::test]
async fn refunds_never_take_spent_below_zero_and_bad_amounts_write_nothing() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let p = budget(&mut conn, &scope, Currency::USD, Some(10_000)).await;
    BudgetProfile::spend(&mut conn, &scope, &p.id, usd(500), &LedgerRequest::key("s"))
        .await
        .unwrap();
    let before = digest(&mut conn).await;
    let refused = [
        BudgetProfile::refund(
            &mut conn,
            &scope,
            &p.id,
            usd(501),
            &LedgerRequest::key("r1"),
        )
        .await
        .unwrap_err(),
        BudgetProfile::adjust(
            &mut conn,
            &scope,
            &p.id,
            usd(-501),
            "reconcile",
            &LedgerRequest::key("r2"),
        )
        .await
        .unwrap_err(),
        BudgetProfile::spend(&mut conn, &scope, &p.id, usd(-5), &LedgerRequest::key("r3"))
            .await
            .unwrap_err(),
        BudgetProfile::reserve(&mut conn, &scope, &p.id, usd(0), &LedgerRequest::key("r4"))
            .await
            .unwrap_err(),
        BudgetProfile::refund(&mut conn, &scope, &p.id, usd(-1), &LedgerRequest::key("r5"))
            .await
            .unwrap_err(),
        BudgetProfile::spend(&mut conn, &scope, &p.id, usd(1), &LedgerRequest::key(""))
            .await
            .unwrap_err(),
        BudgetProfile::spend(
            &mut conn,
            &scope,
            &p.id,
            usd(1),
            &LedgerRequest::key("nul\0"),
        )
        .await
        .unwrap_err(),
        BudgetProfile::adjust(
            &mut conn,
            &scope,
            &p.id,
            usd(5),
            "",
            &LedgerRequest::key("r6"),
        )
        .await
        .unwrap_err(),
        BudgetProfile::set_total(&mut conn, &scope, &p.id, Some(usd(499)), "cut")
            .await
            .unwrap_err(),
        BudgetProfile::set_total(&mut conn, &scope, &p.id, Some(usd(-1)), "cut")
            .await
            .unwrap_err(),
    ];
    assert!(
        matches!(refused[0], BillingError::BelowZero { .. }),
        "{}",
        refused[0]
    );
    assert!(
        matches!(refused[1], BillingError::BelowZero { .. }),
        "{}",
        refused[1]
    );
    for e in &refused[2..5] {
        assert!(
            matches!(e, BillingError::Money(MoneyError::NotPositive { .. })),
            "{e}"
        );
    }
    for e in &refused[5..8] {
        assert!(matches!(e, BillingError::Invalid(_)), "{e}");
    }
    assert!(
        matches!(refused[8], BillingError::TotalBelowCommitted { .. }),
        "{}",
        refused[8]
    );
    assert!(
        matches!(
            refused[9],
            BillingError::Money(MoneyError::NotPositive { .. })
        ),
        "{}",
        refused[9]
    );
    assert_eq!(digest(&mut conn).await, before, "a refused operation wrote");
    let r = BudgetProfile::refund(
        &mut conn,
        &scope,
        &p.id,
        usd(500),
        &LedgerRequest::key("ok"),
    )
    .await
    .unwrap();
    assert_eq!(r.balance.spent, usd(0));
    let a = BudgetProfile::adjust(
        &mut conn,
        &scope,
        &p.id,
        usd(250),
        "platform invoice",
        &LedgerRequest::key("adj"),
    )
    .await
    .unwrap();
    assert_eq!(a.balance.spent, usd(250));
}

#[tokio::test]
async fn a_replayed_key_returns_its_first_receipt_and_a_reused_one_is_refused() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let p = budget(&mut conn, &scope, Currency::USD, Some(10_000)).await;
    let first = BudgetProfile::reserve(
        &mut conn,
        &scope,
        &p.id,
        usd(700),
        &LedgerRequest::key("req-1"),
    )
    .await
    .unwrap();
    assert!(!first.replayed);
    BudgetProfile::spend(
        &mut conn,
        &scope,
        &p.id,
        usd(100),
        &LedgerRequest::key("req-2"),
    )
    .await
    .unwrap();
    let before = digest(&mut conn).await;
    let again = BudgetProfile::reserve(
        &mut conn,
        &scope,
        &p.id,
        usd(700),
        &LedgerRequest::key("req-1"),
    )
    .await
    .unwrap();
    assert!(again.replayed);
    assert_eq!(
        Receipt {
            replayed: false,
            ..again
        },
        first,
        "a replay returns the first receipt, balances included"
    );
    assert_eq!(digest(&mut conn).await, before, "a replay wrote");
    for err in [
        BudgetProfile::reserve(
            &mut conn,
            &scope,
            &p.id,
            usd(701),
            &LedgerRequest::key("req-1"),
        )
        .await
        .unwrap_err(),
        BudgetProfile::spend(
            &mut conn,
            &scope,
            &p.id,
            usd(700),
            &LedgerRequest::key("req-1"),
        )
        .await
        .unwrap_err(),
    ] {
        assert!(
            matches!(&err, BillingError::KeyReused { key, operation } if key == "req-1" && operation == "reserve"),
            "{err}"
        );
    }
    assert_eq!(digest(&mut conn).await, before);
    // Keys are per organization: another organization may use the same one.
    let other = scoped_organization(&mut conn).await;
    let q = budget(&mut conn, &other, Currency::USD, None).await;
    let theirs = BudgetProfile::spend(
        &mut conn,
        &other,
        &q.id,
        usd(5),
        &LedgerRequest::key("req-1"),
    )
    .await
    .unwrap();
    assert!(!theirs.replayed);
}

#[tokio::test]
async fn campaign_chains_are_gapless_and_the_audit_names_tampering() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let org = scope.organization_id().clone();
    let (c1, c2) = (
        campaign(&mut conn, &org).await,
        campaign(&mut conn, &org).await,
    );
    let p = budget(&mut conn, &scope, Currency::USD, Some(100_000)).await;
    let on = |key: &'static str, c: &'static neonhub_schema::ids::CampaignId| LedgerRequest {
        campaign: Some(c),
        ..LedgerRequest::key(key)
    };
    let c1: &'static _ = Box::leak(Box::new(c1));
    let c2: &'static _ = Box::leak(Box::new(c2));
    let r1 = BudgetProfile::reserve(&mut conn, &scope, &p.id, usd(3_000), &on("r1", c1))
        .await
        .unwrap();
    let r2 = BudgetProfile::reserve(&mut conn, &scope, &p.id, usd(2_000), &on("r2", c2))
        .await
        .unwrap();
    BudgetProfile::commit(
        &mut conn,
        &scope,
        r1.reservation.as_ref().unwrap(),
        usd(2_750),
        &LedgerRequest::key("c1"),
    )
    .await
    .unwrap();
    BudgetProfile::release(
        &mut conn,
        &scope,
        r2.reservation.as_ref().unwrap(),
        &LedgerRequest::key("x2"),
    )
    .await
    .unwrap();
    BudgetProfile::spend(&mut conn, &scope, &p.id, usd(1_000), &on("s1", c1))
        .await
        .unwrap();
    BudgetProfile::refund(&mut conn, &scope, &p.id, usd(250), &on("f1", c1))
        .await
        .unwrap();
    let chain = BudgetTransaction::chain(&mut conn, &scope, c1, 0, 100)
        .await
        .unwrap();
    let kinds: Vec<_> = chain
        .iter()
        .map(|t| {
            (
                t.sequence,
                t.kind,
                t.amount.minor(),
                t.balance_after.minor(),
            )
        })
        .collect();
    use BudgetTransactionType::*;
    assert_eq!(
        kinds,
        vec![
            (Some(1), Reserve, 3_000, 0),
            (Some(2), Spend, 2_750, 2_750),
            (Some(3), Spend, 1_000, 3_750),
            (Some(4), Refund, 250, 3_500)
        ]
    );
    assert!(
        chain
            .windows(2)
            .all(|w| w[0].balance_after == w[1].balance_before)
    );
    let chain2 = BudgetTransaction::chain(&mut conn, &scope, c2, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        chain2.iter().map(|t| t.amount.minor()).collect::<Vec<_>>(),
        vec![2_000, -2_000]
    );
    let audit = BudgetProfile::audit(&mut conn, &scope).await.unwrap();
    assert!(audit.is_clean(), "{:?}", audit.violations);
    assert_eq!((audit.profiles, audit.chains), (1, 2));
    // Tampering, as the owner: a cent more spent, a broken link, a deleted link.
    let pid = p.id.clone();
    let (a, b) = (c1.clone(), c2.clone());
    owner_do(&mut conn, async |c| {
        sql_query("UPDATE budget_profiles SET spent = spent + 0.01 WHERE id = $1").bind::<Text, _>(&pid).execute(c).await.unwrap();
        sql_query(r#"UPDATE budget_transactions SET "balanceBefore" = 1 WHERE "campaignId" = $1 AND sequence = 3"#)
            .bind::<Text, _>(&a).execute(c).await.unwrap();
        sql_query(r#"DELETE FROM budget_transactions WHERE "campaignId" = $1 AND sequence = 1"#)
            .bind::<Text, _>(&b).execute(c).await.unwrap();
    })
    .await;
    let audit = BudgetProfile::audit(&mut conn, &scope).await.unwrap();
    let named: Vec<String> = audit.violations.iter().map(ToString::to_string).collect();
    assert!(
        audit.violations.contains(&Violation::SpentMismatch {
            profile: p.id.clone(),
            stored: 3_501,
            entries: 3_500
        }),
        "{named:?}"
    );
    assert!(
        audit.violations.iter().any(
            |v| matches!(v, Violation::BrokenChain { campaign, sequence: 3, .. } if campaign == c1)
        ),
        "{named:?}"
    );
    assert!(audit.violations.iter().any(|v| matches!(v, Violation::BrokenChain { campaign, sequence: 2, reason } if campaign == c2 && reason.contains("starts at 2"))), "{named:?}");
    assert_eq!(audit.violations.len(), 3, "{named:?}");
}

#[tokio::test]
async fn links_to_another_organization_are_refused() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let other = scoped_organization(&mut conn).await;
    let theirs = campaign(&mut conn, other.organization_id()).await;
    let p = budget(&mut conn, &scope, Currency::USD, None).await;
    let before = digest(&mut conn).await;
    let err = BudgetProfile::spend(
        &mut conn,
        &scope,
        &p.id,
        usd(1),
        &LedgerRequest {
            campaign: Some(&theirs),
            ..LedgerRequest::key("x")
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BillingError::ForeignParent {
                entity: "campaign",
                ..
            }
        ),
        "{err}"
    );
    let err = BudgetProfile::spend(&mut conn, &other, &p.id, usd(1), &LedgerRequest::key("y"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            BillingError::NotFound {
                entity: "budget profile",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(digest(&mut conn).await, before);
}

#[tokio::test]
async fn allocations_follow_their_lifecycle() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let p = budget(&mut conn, &scope, Currency::USD, Some(50_000)).await;
    let mc =
        neonhub_testing::fixtures::marketing_campaign(&mut conn, scope.organization_id()).await;
    let new = NewBudgetAllocation {
        profile: &p.id,
        channel: "paid_social",
        amount: usd(20_000),
        campaign: Some(&mc),
        chain_campaign: None,
        objective: None,
        window_start: None,
        window_end: None,
        metadata: None,
    };
    let a = BudgetAllocation::create(&mut conn, &scope, &new)
        .await
        .unwrap();
    assert_eq!(
        (a.status, a.amount),
        (BudgetAllocationStatus::Planned, usd(20_000))
    );
    let err =
        BudgetAllocation::set_status(&mut conn, &scope, &a.id, BudgetAllocationStatus::Completed)
            .await
            .unwrap_err();
    assert!(
        matches!(
            err,
            BillingError::AllocationTransition {
                from: BudgetAllocationStatus::Planned,
                ..
            }
        ),
        "{err}"
    );
    for to in [
        BudgetAllocationStatus::Approved,
        BudgetAllocationStatus::Executing,
        BudgetAllocationStatus::Completed,
    ] {
        assert_eq!(
            BudgetAllocation::set_status(&mut conn, &scope, &a.id, to)
                .await
                .unwrap()
                .status,
            to
        );
    }
    assert!(
        BudgetAllocation::set_status(&mut conn, &scope, &a.id, BudgetAllocationStatus::Cancelled)
            .await
            .is_err()
    );
    // Spending against the allocation records it on the entry.
    let s = BudgetProfile::spend(
        &mut conn,
        &scope,
        &p.id,
        usd(300),
        &LedgerRequest {
            allocation: Some(&a.id),
            ..LedgerRequest::key("s")
        },
    )
    .await
    .unwrap();
    let entries = LedgerEntry::list(&mut conn, &scope, &p.id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(entries.items[0].id, s.entry);
    assert_eq!(entries.items[0].allocation_id.as_ref(), Some(&a.id));
    assert_eq!(
        entries
            .items
            .iter()
            .map(|e| e.entry_type.as_str())
            .collect::<Vec<_>>(),
        vec!["spend", "allocate"]
    );
    // An allocation in EUR on a USD profile is refused.
    let err = BudgetAllocation::create(
        &mut conn,
        &scope,
        &NewBudgetAllocation {
            amount: Money::new(5, Currency::EUR).unwrap(),
            ..new
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BillingError::Money(MoneyError::CurrencyMismatch { .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn legacy_floats_are_refused_by_the_checks_and_named_when_read() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let p = budget(&mut conn, &scope, Currency::USD, None).await;
    let pid = p.id.clone();
    // New rows are checked: a spent of 12.345 USD is not whole cents.
    let refused = owner_do(&mut conn, async |c| {
        sql_query("SAVEPOINT s").execute(c).await.unwrap();
        let r = sql_query("UPDATE budget_profiles SET spent = 12.345 WHERE id = $1")
            .bind::<Text, _>(&pid)
            .execute(c)
            .await;
        sql_query("ROLLBACK TO SAVEPOINT s")
            .execute(c)
            .await
            .unwrap();
        r
    })
    .await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("budget_profiles_money_check")
    );
    // 0.29 is whole cents although 0.29 * 100 is 28.999999999999996 in floating point.
    owner_do(&mut conn, async |c| {
        sql_query("UPDATE budget_profiles SET spent = 0.29 WHERE id = $1")
            .bind::<Text, _>(&pid)
            .execute(c)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(
        BudgetProfile::get(&mut conn, &scope, &p.id)
            .await
            .unwrap()
            .spent,
        usd(29)
    );
}
