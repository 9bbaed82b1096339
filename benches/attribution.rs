//! Attribution bench: `scripts/bench.sh attribution` (its own database,
//! `nh_bench_attribution`).
//!
//! 100,000 converted leads with 10 touchpoints each (1,000,000 touchpoints, over 5
//! channels and 10 campaigns, some after the conversion), attributed by each model through
//! `Attribution::run` (one statement, the whole organization), each run interleaved with
//! the baseline: a bare `UPDATE` of the same 1,000,000 rows' weights. Every model run
//! rewrites every weight (the models alternate, so no run finds its weights already in
//! place; the table is vacuumed before every measured statement, so each finds it in the
//! same state). Then the SEO import: 100,000 search-console rows through `SeoMetric::import` in
//! batches of 10,000, beside the same rows generated server-side (`INSERT ... SELECT
//! generate_series`, the floor). Prints the table and writes
//! `target/neonhub-bench/attribution.json`.

use std::time::Instant;

use chrono::Duration;
use diesel_async::SimpleAsyncConnection;
use neonhub::campaigns::{Attribution, Model, NewSeoMetric, SeoMetric, Target};
use neonhub::schema::ids::OrganizationId;
use neonhub::schema::{DatabaseUrl, TenantScope, migrate};
use serde_json::json;

const LEADS: usize = 100_000;
const TOUCHES_EACH: usize = 10;
const SEO_ROWS: usize = 100_000;
const SEO_BATCH: usize = 10_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let admin = std::env::var("NEONHUB_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("NEONHUB_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = DatabaseUrl::parse(&admin).expect("bench database URL");
    let mut conn = admin.connect().await.expect("bench server");
    conn.batch_execute("DROP DATABASE IF EXISTS nh_bench_attribution WITH (FORCE)")
        .await
        .unwrap();
    conn.batch_execute("CREATE DATABASE nh_bench_attribution TEMPLATE template0")
        .await
        .unwrap();
    let url = admin.with_dbname("nh_bench_attribution");
    migrate::run_pending(&url).await.unwrap();
    let mut conn = url.connect().await.unwrap();
    let org = OrganizationId::generate();
    let touches = LEADS * TOUCHES_EACH;
    let started = Instant::now();
    conn.batch_execute(&format!(
        r#"INSERT INTO organizations (id, slug, name, "createdAt", "updatedAt") VALUES ('{org}', 'bench', 'Bench', now(), now());
           INSERT INTO marketing_campaigns (id, "organizationId", name, type, "startDate", "createdAt", "updatedAt")
             SELECT 'mc' || g, '{org}', 'Campaign ' || g, 'email', now(), now(), now() FROM generate_series(1, 10) g;
           INSERT INTO marketing_leads (id, "organizationId", email, source, "campaignId", status, "convertedAt", "convertedValue", "updatedAt")
             SELECT 'l' || g, '{org}', 'lead' || g || '@example.com', 'ads', 'mc' || (g % 10 + 1), 'converted',
                    timestamp '2026-11-01' + (g % 1000) * interval '1 minute' + interval '10 days', (g % 500) + 10, now()
             FROM generate_series(1, {LEADS}) g;
           INSERT INTO marketing_touchpoints (id, "leadId", "campaignId", type, channel, "timestamp")
             SELECT 't' || g || '-' || k, 'l' || g, 'mc' || ((g + k) % 10 + 1), 'ad_click',
                    (ARRAY['search', 'email', 'social', 'display', 'direct'])[(g + k) % 5 + 1],
                    -- Nine touches over the ten days before the conversion (two share an
                    -- instant), the tenth after it.
                    timestamp '2026-11-01' + (g % 1000) * interval '1 minute'
                      + CASE WHEN k = 10 THEN interval '11 days' ELSE (k / 2) * interval '1 day' END
             FROM generate_series(1, {LEADS}) g, generate_series(1, {TOUCHES_EACH}) k;"#
    ))
    .await
    .unwrap();
    conn.batch_execute("VACUUM ANALYZE marketing_leads")
        .await
        .unwrap();
    conn.batch_execute("VACUUM ANALYZE marketing_touchpoints")
        .await
        .unwrap();
    let load_s = started.elapsed().as_secs_f64();
    let scope = TenantScope::trusted_system(org.clone());
    let models = [
        ("first touch", Model::FirstTouch),
        ("linear", Model::Linear),
        (
            "time decay (half-life 7 days)",
            Model::TimeDecay {
                half_life: Duration::days(7),
            },
        ),
        ("position-based", Model::PositionBased),
        ("last touch", Model::LastTouch),
    ];
    // One unmeasured rewrite first: the first full-table UPDATE after the load extends the
    // file and is cheaper than every later one (they reuse the space vacuum frees), which
    // would flatter the first pair's baseline.
    conn.batch_execute(r#"UPDATE marketing_touchpoints SET "attributionWeight" = 0.5"#)
        .await
        .unwrap();
    let mut rows = Vec::new();
    let mut baselines = Vec::new();
    for (i, (name, model)) in models.iter().enumerate() {
        // Each measured statement starts from a vacuumed table: a full-table UPDATE leaves
        // a dead version of every row, and the next one would pay for it.
        conn.batch_execute("VACUUM marketing_touchpoints")
            .await
            .unwrap();
        // The baseline: every weight rewritten by one bare UPDATE (a value no model gives).
        let started = Instant::now();
        conn.batch_execute(&format!(
            r#"UPDATE marketing_touchpoints SET "attributionWeight" = {}"#,
            0.01 * (i + 2) as f64
        ))
        .await
        .unwrap();
        let bare_s = started.elapsed().as_secs_f64();
        baselines.push(bare_s);
        conn.batch_execute("VACUUM marketing_touchpoints")
            .await
            .unwrap();
        let started = Instant::now();
        let changed = Attribution::run(&mut conn, &scope, Target::Organization, *model)
            .await
            .unwrap();
        let model_s = started.elapsed().as_secs_f64();
        assert_eq!(changed, touches, "{name}: every weight rewritten");
        rows.push((name.to_string(), model_s, bare_s));
    }
    // SEO import: the library's bulk path, then the server-side floor (other keys).
    let keywords: Vec<String> = (0..SEO_ROWS).map(|i| format!("keyword {i}")).collect();
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let started = Instant::now();
    for batch in keywords.chunks(SEO_BATCH) {
        let rows: Vec<NewSeoMetric<'_>> = batch
            .iter()
            .map(|k| NewSeoMetric {
                url: "https://bench.example/page",
                keyword: k,
                content: None,
                impressions: 100,
                clicks: 7,
                ctr: 0.07,
                avg_position: 4.2,
                date: day,
            })
            .collect();
        SeoMetric::import(&mut conn, &scope, &rows).await.unwrap();
    }
    let seo_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    conn.batch_execute(&format!(
        r#"INSERT INTO seo_metrics (id, "organizationId", url, keyword, impressions, clicks, ctr, "avgPosition", date, "createdAt")
           SELECT 'raw' || g, '{org}', 'https://bench.example/raw', 'keyword ' || g, 100, 7, 0.07, 4.2,
                  timestamp '2026-11-01', now()
           FROM generate_series(1, {SEO_ROWS}) g"#
    ))
    .await
    .unwrap();
    let seo_raw_s = started.elapsed().as_secs_f64();
    let (seo_rate, seo_raw_rate) = (SEO_ROWS as f64 / seo_s, SEO_ROWS as f64 / seo_raw_s);
    let mut table =
        String::from("\n| measure | result | baseline (same run) |\n| --- | --- | --- |\n");
    for (name, model_s, bare_s) in &rows {
        let ratio = model_s / bare_s;
        table.push_str(&format!(
            "| attribution, {name}: {LEADS} conversions over {touches} touchpoints | {model_s:.1} s = {ratio:.2}x (goal <= 2x: {}) | bare `UPDATE` of the same rows' weights: {bare_s:.1} s |\n",
            if ratio <= 2.0 { "met" } else { "not met" }
        ));
    }
    table.push_str(&format!(
        "| SEO import, `SeoMetric::import` in batches of {SEO_BATCH} ({SEO_ROWS} rows) | {seo_rate:.0} rows/s | the same rows generated server-side: {seo_raw_rate:.0} rows/s |\n"
    ));
    println!("{table}\n(data load: {load_s:.0} s)");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/attribution.json"),
        serde_json::to_string_pretty(&json!({
            "leads": LEADS, "touchpoints": touches,
            "runs": rows.iter().map(|(name, model_s, bare_s)| json!({
                "model": name, "seconds": model_s, "bare_update_seconds": bare_s,
                "ratio": model_s / bare_s,
            })).collect::<Vec<_>>(),
            "seo_rows": SEO_ROWS, "seo_rows_per_s": seo_rate, "seo_raw_rows_per_s": seo_raw_rate,
        }))
        .unwrap(),
    );
}
