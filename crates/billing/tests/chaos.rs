//! The ledger under fire: 32 clients run random reserve / commit / release / spend / refund
//! / replay operations on 4 profiles (and 2 campaign chains) while another task terminates
//! random client backends (`pg_terminate_backend`). A client whose call ended in doubt
//! (its connection died around the commit) reconnects and replays the same key with the
//! same arguments until the answer is definite. Afterwards: the audit finds nothing, no
//! profile exceeds its total, the operations that succeeded sum to the balances, and every
//! replay returned its key's first receipt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_billing::*;
use neonhub_schema::ids::{BudgetProfileId, BudgetReservationId, CampaignId};
use neonhub_schema::{ConnectOptions, TenantScope};
use neonhub_testing::fixtures::{campaign, organization};
use neonhub_testing::{APP_ROLE, TestDatabase};

const CLIENTS: usize = 32;
const OPS_PER_CLIENT: usize = 120;
const PROFILES: usize = 4;
const TOTAL: i64 = 1_500_000;
const APP_NAME: &str = "nh_ledger_chaos";

/// A small deterministic generator per client (xorshift), so a failing run can be
/// reasoned about from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone)]
enum Op {
    Reserve(usize, i64, Option<usize>),
    Commit(BudgetReservationId, i64),
    Release(BudgetReservationId),
    Spend(usize, i64, Option<usize>),
    Refund(usize, i64, Option<usize>),
}

struct World {
    db: TestDatabase,
    scope: TenantScope,
    profiles: Vec<BudgetProfileId>,
    campaigns: Vec<CampaignId>,
}

async fn connect(world: &World) -> AsyncPgConnection {
    loop {
        let options = ConnectOptions {
            application_name: APP_NAME.to_owned(),
            ..ConnectOptions::default()
        };
        if let Ok(mut conn) = world.db.url().connect_with(&options).await
            && conn
                .batch_execute(&format!("SET ROLE {APP_ROLE}"))
                .await
                .is_ok()
        {
            return conn;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run(
    conn: &mut AsyncPgConnection,
    world: &World,
    key: &str,
    op: &Op,
) -> Result<Receipt, BillingError> {
    let s = &world.scope;
    let money = |m: i64| Money::new(m, Currency::USD).unwrap();
    let links = |c: &Option<usize>| LedgerRequest {
        campaign: c.map(|i| &world.campaigns[i]),
        ..LedgerRequest::key(key)
    };
    match op {
        Op::Reserve(p, m, c) => {
            BudgetProfile::reserve(conn, s, &world.profiles[*p], money(*m), &links(c)).await
        }
        Op::Commit(r, m) => {
            BudgetProfile::commit(conn, s, r, money(*m), &LedgerRequest::key(key)).await
        }
        Op::Release(r) => BudgetProfile::release(conn, s, r, &LedgerRequest::key(key)).await,
        Op::Spend(p, m, c) => {
            BudgetProfile::spend(conn, s, &world.profiles[*p], money(*m), &links(c)).await
        }
        Op::Refund(p, m, c) => {
            BudgetProfile::refund(conn, s, &world.profiles[*p], money(*m), &links(c)).await
        }
    }
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Every key that succeeded, with its (first) receipt.
    receipts: HashMap<String, (Op, Receipt)>,
    /// Replays whose receipt differed from the first.
    mismatched_replays: Vec<String>,
    in_doubt: u64,
    /// Calls in doubt whose first attempt had in fact committed (the replay said so).
    committed_in_doubt: u64,
    refused: u64,
    replays: u64,
}

/// Runs `op` under `key` until the answer is definite: an `Ok` or a business refusal. A
/// database failure (the backend was terminated) leaves it in doubt: reconnect, replay.
async fn definite(
    conn: &mut AsyncPgConnection,
    world: &World,
    key: &str,
    op: &Op,
    seen: &mut Seen,
) -> Result<Receipt, BillingError> {
    let mut doubted = false;
    loop {
        match run(conn, world, key, op).await {
            Err(BillingError::Database(_)) => {
                seen.in_doubt += 1;
                doubted = true;
                *conn = connect(world).await;
            }
            Ok(receipt) if doubted && receipt.replayed => {
                seen.committed_in_doubt += 1;
                return Ok(receipt);
            }
            other => return other,
        }
    }
}

async fn client(world: Arc<World>, index: usize) -> Seen {
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut conn = connect(&world).await;
    let mut seen = Seen::default();
    let mut open: Vec<(BudgetReservationId, i64)> = Vec::new();
    for n in 0..OPS_PER_CLIENT {
        let profile = rng.below(PROFILES as u64) as usize;
        let amount = 1 + rng.below(5_000) as i64;
        let chain = match rng.below(4) {
            0 => Some(0),
            1 => Some(1),
            _ => None,
        };
        let roll = rng.below(100);
        if roll < 10 && !seen.receipts.is_empty() {
            // Replay an earlier successful key with the same arguments.
            let keys: Vec<&String> = seen.receipts.keys().collect();
            let key = keys[rng.below(keys.len() as u64) as usize].clone();
            let (op, first) = seen.receipts[&key].clone();
            seen.replays += 1;
            match definite(&mut conn, &world, &key, &op, &mut seen).await {
                Ok(again)
                    if again.replayed
                        && Receipt {
                            replayed: false,
                            ..again.clone()
                        } == first => {}
                other => seen.mismatched_replays.push(format!("{key}: {other:?}")),
            }
            continue;
        }
        let op = match roll {
            0..=34 => Op::Reserve(profile, amount, chain),
            35..=54 if !open.is_empty() => {
                let (r, held) = open.swap_remove(rng.below(open.len() as u64) as usize);
                Op::Commit(r, rng.below(held as u64 + 1) as i64)
            }
            55..=64 if !open.is_empty() => {
                Op::Release(open.swap_remove(rng.below(open.len() as u64) as usize).0)
            }
            65..=89 => Op::Spend(profile, amount, chain),
            _ => Op::Refund(profile, amount / 4 + 1, chain),
        };
        let key = format!("client{index}-op{n}");
        match definite(&mut conn, &world, &key, &op, &mut seen).await {
            Ok(receipt) => {
                if let (Op::Reserve(_, m, _), Some(r)) = (&op, &receipt.reservation) {
                    open.push((r.clone(), *m));
                }
                seen.receipts.insert(
                    key,
                    (
                        op,
                        Receipt {
                            replayed: false,
                            ..receipt
                        },
                    ),
                );
            }
            Err(BillingError::OverBudget { .. } | BillingError::BelowZero { .. }) => {
                seen.refused += 1
            }
            Err(e) => panic!("client {index}, {key}: {e}"),
        }
    }
    seen
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_and_terminated_backends_leave_a_ledger_that_proves_itself() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let org = organization(&mut owner).await;
    let scope = TenantScope::trusted_system(org.clone());
    let campaigns = vec![
        campaign(&mut owner, &org).await,
        campaign(&mut owner, &org).await,
    ];
    let mut profiles = Vec::new();
    for i in 0..PROFILES {
        let p = BudgetProfile::create(
            &mut owner,
            &scope,
            &NewBudgetProfile {
                name: &format!("chaos-{i}"),
                currency: Currency::USD,
                total: Some(Money::new(TOTAL, Currency::USD).unwrap()),
                brand: None,
                constraints: None,
                settings: None,
            },
        )
        .await
        .unwrap();
        profiles.push(p.id);
    }
    let world = Arc::new(World {
        db,
        scope,
        profiles,
        campaigns,
    });

    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, kills) = (stop.clone(), kills.clone());
        let mut conn = world.db.connect().await;
        tokio::spawn(async move {
            while !AtomicBool::load(&stop, Ordering::Relaxed) {
                // Each client backend dies with the same small chance every round (about
                // every half second): never so often that a client cannot finish a call.
                let killed: Count = sql_query(format!(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM (
                       SELECT pid FROM pg_stat_activity
                       WHERE application_name = '{APP_NAME}' AND datname = current_database()
                         AND random() < 1.0 / {CLIENTS}) victims"
                ))
                .get_result(&mut conn)
                .await
                .unwrap();
                kills.fetch_add(killed.n as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(world.clone(), i)))
        .collect();
    let mut seen = Vec::new();
    for c in clients {
        seen.push(c.await.expect("a client panicked"));
    }
    stop.store(true, Ordering::Relaxed);
    killer.await.unwrap();

    let kills = AtomicU64::load(&kills, Ordering::Relaxed);
    let in_doubt: u64 = seen.iter().map(|s| s.in_doubt).sum();
    let replays: u64 = seen.iter().map(|s| s.replays).sum();
    let refused: u64 = seen.iter().map(|s| s.refused).sum();
    let committed_in_doubt: u64 = seen.iter().map(|s| s.committed_in_doubt).sum();
    let succeeded: usize = seen.iter().map(|s| s.receipts.len()).sum();
    eprintln!(
        "chaos: {succeeded} operations succeeded, {refused} refused, {replays} replays, {kills} backends terminated, {in_doubt} calls in doubt and replayed ({committed_in_doubt} of them had committed)"
    );
    assert!(
        kills >= 20,
        "only {kills} backends were terminated: the test did not test"
    );
    assert!(in_doubt >= 10, "only {in_doubt} calls ended in doubt");
    assert!(
        refused > 0,
        "no operation was refused: the totals were never reached"
    );

    // Every replay returned its key's first receipt.
    let mismatched: Vec<&String> = seen.iter().flat_map(|s| &s.mismatched_replays).collect();
    assert!(
        mismatched.is_empty(),
        "replays that differed: {mismatched:?}"
    );

    // The audit (as the owner, over every organization) finds nothing.
    let mut owner = world.db.connect().await;
    let reports = audit_all(&mut owner).await.unwrap();
    assert_eq!(reports.len(), 1);
    let report = &reports[0].1;
    assert!(report.is_clean(), "{:?}", report.violations);
    assert_eq!(report.chains, 2);

    // The operations that succeeded, summed by the clients, equal the balances.
    let held: HashMap<&BudgetReservationId, i64> = seen
        .iter()
        .flat_map(|s| s.receipts.values())
        .filter_map(|(op, r)| match op {
            Op::Reserve(_, m, _) => r.reservation.as_ref().map(|id| (id, *m)),
            _ => None,
        })
        .collect();
    let mut expected: HashMap<&BudgetProfileId, (i64, i64)> = HashMap::new();
    for (op, r) in seen.iter().flat_map(|s| s.receipts.values()) {
        let e = expected.entry(&r.profile).or_default();
        match op {
            Op::Reserve(_, m, _) => e.1 += m,
            Op::Commit(id, m) => {
                e.0 += m;
                e.1 -= held[id];
            }
            Op::Release(id) => e.1 -= held[id],
            Op::Spend(_, m, _) => e.0 += m,
            Op::Refund(_, m, _) => e.0 -= m,
        }
    }
    let mut conn = connect(&world).await;
    for id in &world.profiles {
        let p = BudgetProfile::get(&mut conn, &world.scope, id)
            .await
            .unwrap();
        let (spent, reserved) = expected.get(id).copied().unwrap_or_default();
        assert_eq!(
            (p.spent.minor(), p.reserved.minor()),
            (spent, reserved),
            "profile {id}"
        );
        assert!(spent + reserved <= TOTAL, "profile {id} exceeds its total");
    }
    // And each successful key is stored once, with its receipt.
    let stored: Count = sql_query("SELECT count(*) AS n FROM budget_requests")
        .get_result(&mut owner)
        .await
        .unwrap();
    assert_eq!(stored.n as usize, succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_requests_with_one_key_spend_once() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let org = organization(&mut owner).await;
    let scope = TenantScope::trusted_system(org);
    let new = NewBudgetProfile {
        name: "one-key",
        currency: Currency::USD,
        total: Some(Money::new(100_000, Currency::USD).unwrap()),
        brand: None,
        constraints: None,
        settings: None,
    };
    let profile = BudgetProfile::create(&mut owner, &scope, &new)
        .await
        .unwrap()
        .id;
    let world = Arc::new(World {
        db,
        scope,
        profiles: vec![profile.clone()],
        campaigns: vec![],
    });
    for round in 0..10 {
        let key = format!("same-{round}");
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (world, key) = (world.clone(), key.clone());
                tokio::spawn(async move {
                    let mut conn = connect(&world).await;
                    run(&mut conn, &world, &key, &Op::Spend(0, 250, None)).await
                })
            })
            .collect();
        let mut receipts = Vec::new();
        for t in tasks {
            receipts.push(
                t.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}")),
            );
        }
        assert_eq!(
            receipts.iter().filter(|r| !r.replayed).count(),
            1,
            "round {round}: one original"
        );
        let first = receipts.iter().find(|r| !r.replayed).unwrap().clone();
        assert!(receipts.iter().all(|r| Receipt {
            replayed: false,
            ..r.clone()
        } == first));
    }
    let mut conn = connect(&world).await;
    let p = BudgetProfile::get(&mut conn, &world.scope, &profile)
        .await
        .unwrap();
    assert_eq!(p.spent.minor(), 10 * 250, "each key spent once");
    assert!(
        BudgetProfile::audit(&mut conn, &world.scope)
            .await
            .unwrap()
            .is_clean()
    );
}
