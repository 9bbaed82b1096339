//! Sealing bench: `scripts/bench.sh secrets`.
//!
//! Measures sealing and opening a 1 KB token on one core (a timed loop of 200,000 rounds,
//! beside the same loop doing only the format's base64 work, then criterion), and
//! `neonhub secrets rotate`'s function re-sealing 100,000 credentials (two tokens each)
//! from one key to another in its own database (`nh_bench_secrets`), beside a single
//! `UPDATE` that rewrites the same 200,000 values in place (the database's floor). Prints
//! the table and writes `target/neonhub-bench/secrets.json`.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::Criterion;
use diesel_async::SimpleAsyncConnection;
use neonhub::schema::seal::{SecretKeys, rotate};
use neonhub::schema::{DatabaseUrl, Secret, migrate};
use serde_json::json;

const ROUNDS: u32 = 200_000;
/// Credentials re-sealed by the rotation bench (two sealed tokens each).
const CREDENTIALS: usize = 100_000;

/// Seconds to rotate [`CREDENTIALS`] credentials, and seconds of the in-place `UPDATE`
/// baseline over the same values.
async fn rotation() -> (f64, f64, i64) {
    let admin = std::env::var("NEONHUB_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("NEONHUB_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = DatabaseUrl::parse(&admin).expect("bench database URL");
    let mut conn = admin.connect().await.expect("bench server");
    conn.batch_execute("DROP DATABASE IF EXISTS nh_bench_secrets WITH (FORCE)")
        .await
        .unwrap();
    conn.batch_execute("CREATE DATABASE nh_bench_secrets TEMPLATE template0")
        .await
        .unwrap();
    let url = admin.with_dbname("nh_bench_secrets");
    migrate::run_pending(&url).await.unwrap();
    let mut conn = url.connect().await.unwrap();
    let old_key = SecretKeys::generate_key();
    let old = SecretKeys::parse(&format!("old:{old_key}")).unwrap();
    let both =
        SecretKeys::parse(&format!("new:{},old:{old_key}", SecretKeys::generate_key())).unwrap();
    conn.batch_execute(
        r#"INSERT INTO users (id, email, "updatedAt") VALUES ('bench-user', 'bench@secrets.example', now())"#,
    )
    .await
    .unwrap();
    for chunk in 0..CREDENTIALS / 1000 {
        let mut values = Vec::with_capacity(1000);
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let id = format!("cred-{i:06}");
            let access = old
                .seal(
                    &Secret::new(format!("ya29.{}", "a".repeat(180))),
                    &id,
                    "accessToken",
                )
                .unwrap();
            let refresh = old
                .seal(
                    &Secret::new(format!("1//{}", "r".repeat(100))),
                    &id,
                    "refreshToken",
                )
                .unwrap();
            values.push(format!(
                "('{id}', 'bench-user', 'google', 'acct-{i}', '{access}', '{refresh}', now())"
            ));
        }
        conn.batch_execute(&format!(
            r#"INSERT INTO credentials (id, "userId", provider, "accountId", "accessToken", "refreshToken", "updatedAt") VALUES {}"#,
            values.join(",")
        ))
        .await
        .unwrap();
    }
    conn.batch_execute("VACUUM ANALYZE credentials")
        .await
        .unwrap();
    let started = Instant::now();
    conn.batch_execute(
        r#"UPDATE credentials SET "accessToken" = "accessToken" || '', "refreshToken" = "refreshToken" || ''"#,
    )
    .await
    .unwrap();
    let baseline = started.elapsed().as_secs_f64();
    conn.batch_execute("VACUUM ANALYZE credentials")
        .await
        .unwrap();
    let started = Instant::now();
    let report = rotate(&mut conn, &both, 1000).await.unwrap();
    let rotated = started.elapsed().as_secs_f64();
    assert_eq!(report.unreadable, 0);
    (rotated, baseline, report.resealed)
}

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
    let micros = (started.elapsed() / ROUNDS).as_secs_f64() * 1e6;
    // Baseline: the format's text encoding alone (encode 1 KB + 28 bytes, decode it).
    let raw = vec![b't'; 1024 + 28];
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let text = URL_SAFE_NO_PAD.encode(&raw);
        let back = URL_SAFE_NO_PAD.decode(text.as_bytes()).unwrap();
        assert_eq!(back.len(), raw.len());
    }
    let base64_micros = (started.elapsed() / ROUNDS).as_secs_f64() * 1e6;
    let met = if micros <= 2.0 { "met" } else { "not met" };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (rotated, baseline, resealed) = runtime.block_on(rotation());
    let rotate_met = if rotated <= 60.0 { "met" } else { "not met" };
    println!(
        "\n| measure | result | baseline |\n| --- | --- | --- |\n\
         | seal + open of a 1 KB token, one core | {micros:.2} µs (goal <= 2 µs: {met}) | base64 encode + decode alone: {base64_micros:.2} µs |\n\
         | `secrets rotate` of {CREDENTIALS} credentials ({resealed} values) | {rotated:.1} s (goal <= 60 s: {rotate_met}) | one in-place `UPDATE` of the same values: {baseline:.1} s |\n"
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/secrets.json"),
        serde_json::to_string_pretty(&json!({
            "seal_open_1kb_us": micros,
            "base64_round_trip_1kb_us": base64_micros,
            "rounds": ROUNDS,
            "rotate_credentials": CREDENTIALS,
            "rotate_values": resealed,
            "rotate_s": rotated,
            "in_place_update_s": baseline,
        }))
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
