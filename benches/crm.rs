//! CRM bench: `scripts/bench.sh crm` (its own database, `nh_bench_crm`).
//!
//! Measures, in one run: event ingest through `Event::insert_many` and `Event::copy_in`
//! (batches of 10,000 rows into a table with its indexes) beside one server-side `INSERT ... SELECT
//! generate_series` of the same number of rows (the database's floor); and
//! `Consent::may_contact` latency with 1,000,000 consent records in the table (200,000
//! people, 5 each, two channels, one in ten for a campaign), beside the same decision
//! query sent alone through a raw prepared tokio-postgres statement; and `Person::erase` of
//! people with 10,000 events each (and identities, consents, a note, a memory, a ledger
//! entry, a lead), beside the database's own cascade (`DELETE FROM people`) of the same
//! amount of data, interleaved. Prints the table and writes `target/neonhub-bench/crm.json`.

use std::time::{Duration, Instant};

use chrono::Duration as Span;
use diesel_async::SimpleAsyncConnection;
use neonhub::crm::*;
use neonhub::schema::ids::{OrganizationId, PersonId};
use neonhub::schema::{DatabaseUrl, TenantScope, migrate, time};
use serde_json::json;

const EVENTS: usize = 200_000;
const BATCH: usize = 10_000;
const PEOPLE: usize = 200_000;
const CONSENTS: usize = 1_000_000;
const CHECKS: usize = 3_000;
/// People erased (and as many deleted by the baseline), each with this many events.
const ERASED: usize = 30;
const EVENTS_EACH: usize = 10_000;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A deterministic pseudo-random sequence (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    neonhub::schema::seal::install_hash_keys(
        neonhub::schema::seal::HashKeys::parse(&format!(
            "bench:{}",
            neonhub::schema::seal::SecretKeys::generate_key()
        ))
        .unwrap(),
    );
    let admin = std::env::var("NEONHUB_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("NEONHUB_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = DatabaseUrl::parse(&admin).expect("bench database URL");
    let mut conn = admin.connect().await.expect("bench server");
    conn.batch_execute("DROP DATABASE IF EXISTS nh_bench_crm WITH (FORCE)")
        .await
        .unwrap();
    conn.batch_execute("CREATE DATABASE nh_bench_crm TEMPLATE template0")
        .await
        .unwrap();
    let url = admin.with_dbname("nh_bench_crm");
    migrate::run_pending(&url).await.unwrap();
    let mut conn = url.connect().await.unwrap();
    let org = OrganizationId::generate();
    conn.batch_execute(&format!(
        r#"INSERT INTO organizations (id, slug, name, "createdAt", "updatedAt") VALUES ('{org}', 'bench', 'Bench', now(), now());
           INSERT INTO people (id, "organizationId", "createdAt", "updatedAt")
             SELECT 'p' || g, '{org}', now(), now() FROM generate_series(1, {PEOPLE}) g;
           INSERT INTO marketing_campaigns (id, "organizationId", name, type, "startDate", "createdAt", "updatedAt")
             VALUES ('camp-1', '{org}', 'Bench', 'email', now(), now(), now());"#
    ))
    .await
    .unwrap();
    let scope = TenantScope::trusted_system(org.clone());

    // Event ingest: the library's two bulk paths, then the server-side floor.
    let batch = |b: usize| -> Vec<NewEvent> {
        (0..BATCH)
            .map(|i| {
                let n = b * BATCH + i;
                NewEvent {
                    person_id: PersonId::from_string(format!("p{}", n % 1000 + 1)),
                    campaign_id: None,
                    objective_id: None,
                    channel: "email".into(),
                    kind: if n.is_multiple_of(10) {
                        "email.clicked".into()
                    } else {
                        "email.opened".into()
                    },
                    source: Some("esp".into()),
                    provider_id: Some(format!("msg-{n}")),
                    topic: None,
                    intent: None,
                    sentiment: None,
                    payload: Some(json!({"n": n})),
                    metadata: None,
                    occurred_at: time::now() - Span::seconds(n as i64),
                }
            })
            .collect()
    };
    let started = Instant::now();
    for b in 0..EVENTS / BATCH {
        Event::insert_many(&mut conn, &scope, &batch(b))
            .await
            .unwrap();
    }
    let ingest_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for b in 0..EVENTS / BATCH {
        Event::copy_in(&url, &scope, &batch(b)).await.unwrap();
    }
    let copy_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    conn.batch_execute(&format!(
        r#"INSERT INTO events (id, "organizationId", "personId", channel, type, source, "providerId", payload, "occurredAt", "createdAt")
           SELECT 'raw-' || g, '{org}', 'p' || (g % 1000 + 1), 'email',
                  CASE WHEN g % 10 = 0 THEN 'email.clicked' ELSE 'email.opened' END, 'esp', 'raw-' || g,
                  jsonb_build_object('n', g), now() - g * interval '1 second', now()
           FROM generate_series(1, {EVENTS}) g"#
    ))
    .await
    .unwrap();
    let raw_ingest_s = started.elapsed().as_secs_f64();
    let rows_per_s = EVENTS as f64 / ingest_s;
    let copy_rows_per_s = EVENTS as f64 / copy_s;
    let raw_rows_per_s = EVENTS as f64 / raw_ingest_s;

    // 1,000,000 consent records.
    conn.batch_execute(&format!(
        r#"INSERT INTO person_consents (id, "personId", "organizationId", "campaignId", channel, status, "collectedAt", "updatedAt")
           SELECT 'c' || g, 'p' || (g % {PEOPLE} + 1), '{org}', CASE WHEN g % 10 = 0 THEN 'camp-1' END,
                  CASE WHEN g % 2 = 0 THEN 'email' ELSE 'sms' END,
                  (enum_range(NULL::"ConsentStatus"))[g % 4 + 1],
                  now() - (g % 5000) * interval '1 minute', now()
           FROM generate_series(1, {CONSENTS}) g"#
    ))
    .await
    .unwrap();
    // Every person has an email identity; the organization's suppression list holds 10,000
    // hashes, so a check that the consent allows goes on to the suppression list.
    conn.batch_execute(&format!(
        r#"INSERT INTO person_identities (id, "personId", "organizationId", type, value, "createdAt", "updatedAt")
           SELECT 'i' || g, 'p' || g, '{org}', 'email', 'person' || g || '@example.com', now(), now()
           FROM generate_series(1, {PEOPLE}) g;
           INSERT INTO person_suppressions (id, "organizationId", kind, "keyId", hash, source)
           SELECT 's' || g, '{org}', 'email', 'bench', substr(md5(g::text) || md5((-g)::text), 1, 43), 'request'
           FROM generate_series(1, 10000) g"#
    ))
    .await
    .unwrap();
    erasure_fixture(&mut conn, &org).await;
    // One statement each: VACUUM cannot run inside the implicit transaction of a batch.
    for table in [
        "person_consents",
        "events",
        "person_identities",
        "person_suppressions",
        "people",
        "mem_embeddings",
        "budget_ledger",
        "marketing_leads",
    ] {
        conn.batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await
            .unwrap();
    }
    let campaign = neonhub::schema::ids::MarketingCampaignId::from_string("camp-1");
    let mut rng = Lcg(7);
    // Warm both paths (prepared statements, caches), then measure interleaved.
    let raw = url.connect_raw(&Default::default()).await.unwrap();
    let stmt = raw
        .prepare(
            r#"SELECT id FROM person_consents WHERE "personId" = $1 AND channel = $2 AND "organizationId" = $3
               AND ("campaignId" IS NULL OR "campaignId" = $4)
               ORDER BY ("campaignId" IS NOT NULL) DESC, "collectedAt" DESC,
                 CASE status WHEN 'denied' THEN 0 WHEN 'revoked' THEN 1 WHEN 'pending' THEN 2 ELSE 3 END, id DESC
               LIMIT 1"#,
        )
        .await
        .unwrap();
    let (mut lib, mut base) = (Vec::with_capacity(CHECKS), Vec::with_capacity(CHECKS));
    for i in 0..CHECKS + 200 {
        let person = PersonId::from_string(format!("p{}", rng.next(PEOPLE) + 1));
        let campaign = i.is_multiple_of(3).then_some(&campaign);
        let started = Instant::now();
        Consent::may_contact(&mut conn, &scope, &person, "email", campaign)
            .await
            .unwrap();
        let t_lib = started.elapsed();
        let started = Instant::now();
        raw.query_opt(
            &stmt,
            &[
                &person.as_str(),
                &"email",
                &org.as_str(),
                &campaign.map(|c| c.as_str()),
            ],
        )
        .await
        .unwrap();
        let t_raw = started.elapsed();
        if i >= 200 {
            lib.push(t_lib);
            base.push(t_raw);
        }
    }
    lib.sort();
    base.sort();
    // Erasure, interleaved with the baseline: the same person's data deleted by the
    // database's own cascade, with nothing suppressed, scrubbed or audited.
    let (mut erase, mut cascade) = (Vec::with_capacity(ERASED), Vec::with_capacity(ERASED));
    for i in 0..ERASED {
        let person = PersonId::from_string(format!("erase-{i}"));
        let started = Instant::now();
        let report = Person::erase(&mut conn, &scope, &person, "bench")
            .await
            .unwrap();
        erase.push(started.elapsed());
        assert_eq!(report.deleted["events"], EVENTS_EACH);
        let started = Instant::now();
        conn.batch_execute(&format!("DELETE FROM people WHERE id = 'cascade-{i}'"))
            .await
            .unwrap();
        cascade.push(started.elapsed());
    }
    erase.sort();
    cascade.sort();
    let (erase50, erase95) = (percentile(&erase, 0.5), percentile(&erase, 0.95));
    let (cascade50, cascade95) = (percentile(&cascade, 0.5), percentile(&cascade, 0.95));
    let erase_met = if erase95 <= 100.0 { "met" } else { "not met" };
    let (p50, p95) = (percentile(&lib, 0.5), percentile(&lib, 0.95));
    let (raw50, raw95) = (percentile(&base, 0.5), percentile(&base, 0.95));
    let ingest_met = if rows_per_s >= 50_000.0 {
        "met"
    } else {
        "not met"
    };
    let copy_met = if copy_rows_per_s >= 50_000.0 {
        "met"
    } else {
        "not met"
    };
    let contact_met = if p95 <= 1.0 { "met" } else { "not met" };
    println!(
        "\n| measure | result | baseline |\n| --- | --- | --- |\n\
         | event ingest, `Event::insert_many` in batches of {BATCH} ({EVENTS} rows) | {rows_per_s:.0} rows/s (goal >= 50,000: {ingest_met}) | server-side `INSERT ... SELECT generate_series`: {raw_rows_per_s:.0} rows/s |\n\
         | event ingest, `Event::copy_in` (binary COPY) in batches of {BATCH} ({EVENTS} rows) | {copy_rows_per_s:.0} rows/s (goal >= 50,000: {copy_met}) | the same floor |\n\
         | `Consent::may_contact`, {CONSENTS} consent rows, p50 / p95 | {p50:.3} / {p95:.3} ms (goal p95 <= 1 ms: {contact_met}) | the decision query alone, raw prepared: {raw50:.3} / {raw95:.3} ms |\n\
         | `Person::erase` of a person with {EVENTS_EACH} events, {ERASED} people, p50 / p95 | {erase50:.1} / {erase95:.1} ms (goal p95 <= 100 ms: {erase_met}) | `DELETE FROM people` cascading over the same data: {cascade50:.1} / {cascade95:.1} ms |\n"
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/crm.json"),
        serde_json::to_string_pretty(&json!({
            "events": EVENTS, "batch": BATCH,
            "ingest_rows_per_s": rows_per_s, "copy_rows_per_s": copy_rows_per_s,
            "raw_ingest_rows_per_s": raw_rows_per_s,
            "consents": CONSENTS, "checks": CHECKS,
            "may_contact_p50_ms": p50, "may_contact_p95_ms": p95,
            "raw_decision_p50_ms": raw50, "raw_decision_p95_ms": raw95,
            "erased": ERASED, "events_each": EVENTS_EACH,
            "erase_p50_ms": erase50, "erase_p95_ms": erase95,
            "cascade_p50_ms": cascade50, "cascade_p95_ms": cascade95,
        }))
        .unwrap(),
    );
}

/// People to erase (`erase-N`) and their twins for the baseline (`cascade-N`), each with
/// `EVENTS_EACH` events, two identities, two consents, a note, a memory citing an event, a
/// ledger entry naming them, and a lead with their email.
async fn erasure_fixture(conn: &mut diesel_async::AsyncPgConnection, org: &OrganizationId) {
    conn.batch_execute(&format!(
        r#"INSERT INTO embedding_spaces (id, "organizationId", name, provider, model, dimension, "createdAt", "updatedAt")
             VALUES ('space-erase', '{org}', 'erase', 'local', 'toy', 3, now(), now());
           INSERT INTO budget_profiles (id, "organizationId", name, "updatedAt")
             VALUES ('bp-erase', '{org}', 'erase', now());"#
    ))
    .await
    .unwrap();
    for (digit, prefix) in [(0, "erase"), (1, "cascade")] {
        conn.batch_execute(&format!(
            r#"INSERT INTO people (id, "organizationId", "primaryEmail", "createdAt", "updatedAt")
                 SELECT '{prefix}-' || g, '{org}', '{prefix}' || g || '@example.com', now(), now()
                 FROM generate_series(0, {last}) g;
               INSERT INTO person_identities (id, "personId", "organizationId", type, value, "createdAt", "updatedAt")
                 SELECT '{prefix}-i' || g || '-' || k, '{prefix}-' || g, '{org}', k,
                        CASE k WHEN 'email' THEN '{prefix}' || g || '@example.com' ELSE '+44207{digit}' || lpad(g::text, 5, '0') END,
                        now(), now()
                 FROM generate_series(0, {last}) g, unnest(ARRAY['email', 'phone']) k;
               INSERT INTO person_consents (id, "personId", "organizationId", channel, status, "collectedAt", "updatedAt")
                 SELECT '{prefix}-c' || g || '-' || k, '{prefix}-' || g, '{org}', k, 'granted', now(), now()
                 FROM generate_series(0, {last}) g, unnest(ARRAY['email', 'sms']) k;
               INSERT INTO person_notes (id, "organizationId", "personId", body, visibility, "createdAt", "updatedAt")
                 SELECT '{prefix}-n' || g, '{org}', '{prefix}-' || g, 'called them', 'team', now(), now()
                 FROM generate_series(0, {last}) g;
               INSERT INTO events (id, "organizationId", "personId", channel, type, source, payload, "occurredAt", "createdAt")
                 SELECT '{prefix}-e' || g || '-' || e, '{org}', '{prefix}-' || g, 'email', 'email.opened', 'esp',
                        jsonb_build_object('to', '{prefix}' || g || '@example.com'),
                        now() - e * interval '1 second', now()
                 FROM generate_series(0, {last}) g, generate_series(1, {EVENTS_EACH}) e;
               INSERT INTO mem_embeddings (id, "organizationId", "personId", "embeddingSpaceId", embedding, label, "sourceEventId", "createdAt")
                 SELECT '{prefix}-m' || g, '{org}', '{prefix}-' || g, 'space-erase', '[1,0,0]', 'likes tea',
                        '{prefix}-e' || g || '-1', now()
                 FROM generate_series(0, {last}) g;
               INSERT INTO budget_ledger (id, "organizationId", "budgetProfileId", "personId", "entryType", amount, metadata)
                 SELECT '{prefix}-l' || g, '{org}', 'bp-erase', '{prefix}-' || g, 'spend', 10,
                        jsonb_build_object('customer', '{prefix}' || g || '@example.com')
                 FROM generate_series(0, {last}) g;
               INSERT INTO marketing_leads (id, "organizationId", email, source, "updatedAt")
                 SELECT '{prefix}-ml' || g, '{org}', '{prefix}' || g || '@example.com', 'ads', now()
                 FROM generate_series(0, {last}) g;"#,
            last = ERASED - 1
        ))
        .await
        .unwrap();
    }
}
