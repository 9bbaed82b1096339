//! Sealing bench: `scripts/bench.sh secrets` (no database needed).
//!
//! Measures sealing and opening a 1 KB token on one core (a timed loop of 200,000 rounds,
//! then criterion), prints the table and writes `target/neonhub-bench/secrets.json`.
//! Issue 21's second figure, `neonhub secrets rotate` of 100,000 credentials, waits for the
//! rotation command.

use std::time::{Duration, Instant};

use criterion::Criterion;
use neonhub::schema::Secret;
use neonhub::schema::seal::SecretKeys;
use serde_json::json;

const ROUNDS: u32 = 200_000;

fn main() {
    let keys = SecretKeys::parse(&format!("bench:{}", SecretKeys::generate_key())).unwrap();
    let token = Secret::new("t".repeat(1024));
    let started = Instant::now();
    for i in 0..ROUNDS {
        let row = if i % 2 == 0 { "row-a" } else { "row-b" };
        let sealed = keys.seal(&token, row, "accessToken").unwrap();
        let opened = keys.open(&sealed, row, "accessToken").unwrap();
        assert_eq!(opened.expose().len(), 1024);
    }
    let per = started.elapsed() / ROUNDS;
    let micros = per.as_secs_f64() * 1e6;
    let met = if micros <= 2.0 { "met" } else { "not met" };
    let shown = format!("{micros:.2} µs per seal + open, one core (goal <= 2 µs: {met})");
    println!("\n| measure | result |\n| --- | --- |\n| seal + open of a 1 KB token | {shown} |\n");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/secrets.json"),
        serde_json::to_string_pretty(&json!({"seal_open_1kb_us": micros, "rounds": ROUNDS}))
            .unwrap(),
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));
    c.bench_function("secrets/seal+open 1 KB", |b| {
        b.iter(|| {
            let sealed = keys.seal(&token, "row-a", "accessToken").unwrap();
            keys.open(&sealed, "row-a", "accessToken").unwrap()
        })
    });
    c.bench_function("secrets/seal 1 KB", |b| {
        b.iter(|| keys.seal(&token, "row-a", "accessToken").unwrap())
    });
    c.final_summary();
}
