//! Ledger bench: `scripts/bench.sh ledger` (or `cargo bench --bench ledger` with
//! `NEONHUB_BENCH_DATABASE_URL` set to an admin URL; it creates and drops `nh_bench_ledger`).
//!
//! One run measures, with 32 clients each on its own connection, ledger operations per
//! second (`BudgetProfile::spend` of one cent under a fresh idempotency key, on a random
//! profile) over 256 profiles and over 4 hot profiles, each beside a raw baseline of the
//! same shape written by hand through tokio-postgres with prepared statements (`BEGIN;
//! SELECT ... FOR UPDATE; UPDATE; INSERT; COMMIT`). It prints a table, writes
//! `target/neonhub-bench/ledger.json`, then criterion compares one spend with one raw
//! transaction on a single connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use diesel_async::SimpleAsyncConnection;
use neonhub::billing::*;
use neonhub::schema::ids::{BudgetProfileId, OrganizationId};
use neonhub::schema::{DatabaseUrl, TenantScope, migrate};
use serde_json::{Value, json};

const CLIENTS: usize = 32;
const MEASURE: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(2);

struct Bench {
    url: DatabaseUrl,
    scope: TenantScope,
    profiles: Vec<BudgetProfileId>,
    report: Vec<(String, String, Value)>,
}

async fn setup() -> Bench {
    let admin = std::env::var("NEONHUB_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("NEONHUB_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = DatabaseUrl::parse(&admin).expect("bench database URL");
    let mut conn = admin.connect().await.expect("bench server");
    conn.batch_execute("DROP DATABASE IF EXISTS nh_bench_ledger WITH (FORCE)")
        .await
        .unwrap();
    conn.batch_execute("CREATE DATABASE nh_bench_ledger TEMPLATE template0")
        .await
        .unwrap();
    let url = admin.with_dbname("nh_bench_ledger");
    migrate::run_pending(&url).await.unwrap();
    let mut conn = url.connect().await.unwrap();
    let org = OrganizationId::generate();
    conn.batch_execute(&format!(
        r#"INSERT INTO organizations (id, slug, name, "createdAt", "updatedAt") VALUES ('{org}', 'bench', 'Bench', now(), now())"#
    ))
    .await
    .unwrap();
    let scope = TenantScope::trusted_system(org);
    let mut profiles = Vec::new();
    for i in 0..256 {
        let p = BudgetProfile::create(
            &mut conn,
            &scope,
            &NewBudgetProfile {
                name: &format!("bench-{i}"),
                currency: Currency::USD,
                total: Some(Money::new(1 << 50, Currency::USD).unwrap()),
                brand: None,
                constraints: None,
                settings: None,
            },
        )
        .await
        .unwrap();
        profiles.push(p.id);
    }
    Bench {
        url,
        scope,
        profiles,
        report: Vec::new(),
    }
}

/// Runs `CLIENTS` copies of `one` (each given its client number and a counter) for the
/// warm-up, then counts completed operations for [`MEASURE`]; returns operations/s.
async fn clients<F, Fut>(one: F) -> f64
where
    F: Fn(usize, Arc<AtomicBool>, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(one(i, stop.clone(), done.clone())))
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let (start_count, started) = (AtomicU64::load(&done, Ordering::Relaxed), Instant::now());
    tokio::time::sleep(MEASURE).await;
    let (end_count, took) = (AtomicU64::load(&done, Ordering::Relaxed), started.elapsed());
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    (end_count - start_count) as f64 / took.as_secs_f64()
}

fn pick(profiles: &[BudgetProfileId], hot: usize, seed: &mut u64) -> BudgetProfileId {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    profiles[(*seed % hot as u64) as usize].clone()
}

async fn ours(b: &Bench, hot: usize, run: &str) -> f64 {
    let profiles = Arc::new(b.profiles.clone());
    let (url, scope, run) = (b.url.clone(), b.scope.clone(), run.to_owned());
    clients(move |i, stop, done| {
        let (url, scope, profiles, run) =
            (url.clone(), scope.clone(), profiles.clone(), run.clone());
        async move {
            let mut conn = url.connect().await.unwrap();
            let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
            let cent = Money::new(1, Currency::USD).unwrap();
            let mut n = 0_u64;
            while !AtomicBool::load(&stop, Ordering::Relaxed) {
                let key = format!("{run}-{i}-{n}");
                let p = pick(&profiles, hot, &mut seed);
                BudgetProfile::spend(&mut conn, &scope, &p, cent, &LedgerRequest::key(&key))
                    .await
                    .unwrap();
                n += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await
}

async fn raw(b: &Bench, hot: usize) -> f64 {
    let profiles = Arc::new(b.profiles.clone());
    let (url, org) = (b.url.clone(), b.scope.organization_id().to_string());
    clients(move |i, stop, done| {
        let (url, profiles, org) = (url.clone(), profiles.clone(), org.clone());
        async move {
            let client = url.connect_raw(&Default::default()).await.unwrap();
            let lock = client.prepare(r#"SELECT spent FROM budget_profiles WHERE id = $1 FOR UPDATE"#).await.unwrap();
            let update = client
                .prepare(r#"UPDATE budget_profiles SET spent = $2, "updatedAt" = now() WHERE id = $1"#)
                .await
                .unwrap();
            let insert = client
                .prepare(
                    r#"INSERT INTO budget_ledger (id, "organizationId", "budgetProfileId", "entryType", amount, currency, "occurredAt", "spentDelta", "reservedDelta")
                       VALUES (gen_random_uuid()::text, $1, $2, 'spend', 0.01, 'usd', now(), 1, 0)"#,
                )
                .await
                .unwrap();
            let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1);
            while !AtomicBool::load(&stop, Ordering::Relaxed) {
                let p = pick(&profiles, hot, &mut seed).to_string();
                client.batch_execute("BEGIN").await.unwrap();
                let spent: f64 = client.query_one(&lock, &[&p]).await.unwrap().get(0);
                let cents = (spent * 100.0).round() as i64 + 1;
                client.execute(&update, &[&p, &(cents as f64 / 100.0)]).await.unwrap();
                client.execute(&insert, &[&org, &p]).await.unwrap();
                client.batch_execute("COMMIT").await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut b = rt.block_on(setup());
    for (hot, label) in [(256, "256 profiles"), (4, "4 hot profiles")] {
        let baseline = rt.block_on(raw(&b, hot));
        let spend = rt.block_on(ours(&b, hot, &format!("h{hot}")));
        let ratio = spend / baseline;
        let met = if ratio >= 0.5 { "met" } else { "not met" };
        let key = format!(
            "ledger operations, 32 clients, {label}: BudgetProfile::spend / raw transaction"
        );
        let shown = format!("{spend:.0} / {baseline:.0} ops/s = {ratio:.2}x (goal >= 0.5x: {met})");
        println!("{key}: {shown}");
        b.report.push((key, shown, json!({"ours_per_s": spend, "raw_per_s": baseline, "ratio": ratio, "clients": CLIENTS, "profiles": hot})));
    }
    // The audit over everything the bench wrote proves the balances.
    let report = rt.block_on(async {
        let mut conn = b.url.connect().await.unwrap();
        let started = Instant::now();
        let r = BudgetProfile::audit(&mut conn, &b.scope).await.unwrap();
        (r, started.elapsed())
    });
    // The raw baseline writes no idempotency keys; its entries carry deltas, so the audit
    // still balances.
    let (audit, took) = report;
    let shown = format!(
        "{} entries over {} profiles in {:.2} s: {}",
        audit.entries,
        audit.profiles,
        took.as_secs_f64(),
        if audit.is_clean() {
            "no violation".to_owned()
        } else {
            format!("{} violations", audit.violations.len())
        }
    );
    println!("audit after the run: {shown}");
    b.report.push(("audit after the run".to_owned(), shown, json!({"entries": audit.entries, "seconds": took.as_secs_f64(), "violations": audit.violations.len()})));

    let table: String = std::iter::once("| measure | result |\n| --- | --- |\n".to_owned())
        .chain(b.report.iter().map(|(k, v, _)| format!("| {k} | {v} |\n")))
        .collect();
    println!("\n{table}");
    let json: serde_json::Map<String, Value> = b
        .report
        .iter()
        .map(|(k, _, v)| (k.clone(), v.clone()))
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/ledger.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    );

    // Criterion: one spend beside one raw transaction, on one connection each.
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    let conn = tokio::sync::Mutex::new(rt.block_on(b.url.connect()).unwrap());
    let raw_client = rt.block_on(b.url.connect_raw(&Default::default())).unwrap();
    let p = b.profiles[0].clone();
    let counter = AtomicU64::new(0);
    let cent = Money::new(1, Currency::USD).unwrap();
    c.bench_function("spend/BudgetProfile::spend", |bencher| {
        bencher.to_async(&rt).iter(|| async {
            let key = format!("criterion-{}", counter.fetch_add(1, Ordering::Relaxed));
            BudgetProfile::spend(
                &mut *conn.lock().await,
                &b.scope,
                &p,
                cent,
                &LedgerRequest::key(&key),
            )
            .await
            .unwrap()
        })
    });
    let (pid, org) = (p.to_string(), b.scope.organization_id().to_string());
    c.bench_function("spend/raw_transaction", |bencher| {
        bencher.to_async(&rt).iter(|| async {
            raw_client.batch_execute("BEGIN").await.unwrap();
            let spent: f64 = raw_client.query_one(r#"SELECT spent FROM budget_profiles WHERE id = $1 FOR UPDATE"#, &[&pid]).await.unwrap().get(0);
            raw_client
                .execute(r#"UPDATE budget_profiles SET spent = $2, "updatedAt" = now() WHERE id = $1"#, &[&pid, &(((spent * 100.0).round() + 1.0) / 100.0)])
                .await
                .unwrap();
            raw_client
                .execute(
                    r#"INSERT INTO budget_ledger (id, "organizationId", "budgetProfileId", "entryType", amount, currency, "occurredAt", "spentDelta", "reservedDelta")
                       VALUES (gen_random_uuid()::text, $1, $2, 'spend', 0.01, 'usd', now(), 1, 0)"#,
                    &[&org, &pid],
                )
                .await
                .unwrap();
            raw_client.batch_execute("COMMIT").await.unwrap();
        })
    });
    c.final_summary();
}
