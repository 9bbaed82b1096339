//! Vector-search benches: `scripts/bench.sh` (or `cargo bench --bench vector_search` with
//! `NEONHUB_BENCH_DATABASE_URL` set to an admin URL; it creates and drops `nh_bench`).
//!
//! One run measures, on 100k clustered low-rank 384-d vectors (50 clusters, each a center
//! plus a 16-dimensional variation and small noise: uniform random vectors would make HNSW
//! recall meaningless): ingest rows/s through UNNEST and
//! COPY without an ANN index and with one; the HNSW build time; recall@10 against exact
//! search; filtered searches at 10 % and 1 % selectivity with iterative scans on and off;
//! and p50/p95 latency of the repository's search beside the minimal statement a user would
//! write by hand (`BEGIN; SET LOCAL hnsw.ef_search; SELECT ... ORDER BY embedding::vector(384)
//! <=> $1 LIMIT 10; COMMIT`) through raw tokio-postgres, interleaved, at ef_search 200, 40
//! and 100. It prints a table and writes `target/neonhub-bench.md`; criterion then measures
//! both search paths.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use criterion::Criterion;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use neonhub::rag::*;
use neonhub::schema::Vector;
use neonhub::schema::enums::DatasetKind;
use neonhub::schema::ids::{ChunkId, DatasetId, OrganizationId, UserId};
use neonhub::schema::roles::ensure_app_role;
use neonhub::schema::{ConnectOptions, DatabaseUrl, Secret, TenantScope, migrate};
use serde_json::json;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;

const ROWS: usize = 100_000;
const DIM: usize = 384;
const CLUSTERS: usize = 50;
/// Dimensions of variation within a cluster.
const SUBSPACE: usize = 16;
/// Scale of a cluster's basis vectors (its spread, relative to the centers' unit normals).
const SPREAD: f32 = 0.3;
/// Isotropic noise on top.
const NOISE: f32 = 0.05;
const WITH_INDEX_ROWS: usize = 2_000;
const QUERIES: usize = 200;
const LATENCY_RUNS: usize = 300;

/// SplitMix64 with Box-Muller normals: deterministic data without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u1, u2) = (self.uniform().max(1e-12), self.uniform());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

/// Points on 50 clusters, each a center plus a random 16-dimensional subspace, plus a
/// little isotropic noise: structure like real text embeddings, whose intrinsic dimension
/// is far below their width. (Full-rank noise of the clusters' size would make every
/// cluster a ball of uniform random points, where HNSW recall means little.)
struct Data {
    centers: Vec<Vec<f32>>,
    bases: Vec<Vec<Vec<f32>>>,
    rng: Rng,
}

impl Data {
    fn new() -> Self {
        let mut rng = Rng(42);
        let centers = (0..CLUSTERS)
            .map(|_| (0..DIM).map(|_| rng.normal()).collect())
            .collect();
        let bases = (0..CLUSTERS)
            .map(|_| {
                (0..SUBSPACE)
                    .map(|_| (0..DIM).map(|_| SPREAD * rng.normal()).collect())
                    .collect()
            })
            .collect();
        Self {
            centers,
            bases,
            rng,
        }
    }
    /// A point of a random cluster: center + a random combination of its basis + noise.
    fn sample(&mut self) -> Vector {
        let c = (self.rng.next_u64() % CLUSTERS as u64) as usize;
        let mut v = self.centers[c].clone();
        for direction in &self.bases[c] {
            let a = self.rng.normal();
            for (x, d) in v.iter_mut().zip(direction) {
                *x += a * d;
            }
        }
        for x in &mut v {
            *x += NOISE * self.rng.normal();
        }
        Vector::from(v)
    }
}

fn rows(
    data: &mut Data,
    document: &neonhub::schema::ids::DocumentId,
    n: usize,
    start: usize,
) -> Vec<ChunkRow> {
    (start..start + n)
        .map(|i| ChunkRow {
            document_id: document.clone(),
            idx: Some(i as i32),
            text: format!("chunk {i}"),
            embedding: Some(data.sample()),
            metadata: Some(json!({ "bucket": i % 10, "rare": i % 100 == 7 })),
        })
        .collect()
}

struct Bench {
    url: DatabaseUrl,
    scope: TenantScope,
    /// The bench's user (owner of its documents).
    user: UserId,
    space: EmbeddingSpace,
    /// The indexed space's 100k-row dataset.
    dataset: DatasetId,
    queries: Vec<Vector>,
    report: Vec<(String, String)>,
}

fn per_second(n: usize, took: Duration) -> String {
    format!(
        "{:.0} rows/s ({n} rows in {:.2} s)",
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn exact(
    conn: &mut AsyncPgConnection,
    space: &EmbeddingSpace,
    q: &Vector,
    filter: &str,
) -> Vec<String> {
    use diesel::QueryableByName;
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Text)]
        id: String,
    }
    // No cast: this expression matches no ANN index, so the answer is exact.
    diesel::sql_query(format!(r#"SELECT id FROM chunks WHERE "embeddingSpaceId" = $1 {filter} ORDER BY embedding <=> $2 LIMIT 10"#))
        .bind::<Text, _>(space.id.as_str())
        .bind::<neonhub::schema::vector::sql_types::Vector, _>(q)
        .load::<Id>(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn setup() -> Bench {
    let admin = std::env::var("NEONHUB_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("NEONHUB_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = DatabaseUrl::parse(&admin).expect("bench database URL");
    let mut conn = admin.connect().await.expect("bench server");
    conn.batch_execute("DROP DATABASE IF EXISTS nh_bench WITH (FORCE)")
        .await
        .unwrap();
    conn.batch_execute("CREATE DATABASE nh_bench TEMPLATE template0")
        .await
        .unwrap();
    let url = admin.with_dbname("nh_bench");
    migrate::run_pending(&url).await.unwrap();
    let mut conn = url.connect().await.unwrap();
    let (org, user) = (OrganizationId::generate(), UserId::generate());
    conn.batch_execute(&format!(
        r#"INSERT INTO organizations (id, slug, name, "updatedAt") VALUES ('{org}', 'bench', 'Bench', now());
           INSERT INTO users (id, email, "updatedAt") VALUES ('{user}', 'bench@example.com', now());"#
    ))
    .await
    .unwrap();
    let scope = TenantScope::trusted_system(org);
    let mut report = Vec::new();
    let mut data = Data::new();
    let mut target = async |name: &str| {
        let space = EmbeddingSpace::create(
            &mut conn,
            &scope,
            &NewEmbeddingSpace {
                name,
                provider: "bench",
                model: "clustered",
                dimension: DIM as i32,
                metadata: None,
            },
        )
        .await
        .unwrap();
        let dataset = Dataset::create(
            &mut conn,
            &scope,
            &NewDataset {
                embedding_space_id: Some(&space.id),
                name,
                slug: name,
                kind: DatasetKind::Documents,
                description: None,
                source: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
        let document = Document::create(
            &mut conn,
            &scope,
            &NewDocument {
                dataset_id: Some(&dataset.id),
                owner_id: &user,
                embedding_space_id: Some(&space.id),
                title: name,
                content: "",
                status: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
        (space, dataset, document)
    };
    let (u_space, u_dataset, u_doc) = target("unnest").await;
    let (space, dataset, doc) = target("copy").await;

    // Ingest without an ANN index.
    let batches: Vec<Vec<ChunkRow>> = (0..ROWS / 5000)
        .map(|b| rows(&mut data, &u_doc.id, 5000, b * 5000))
        .collect();
    let started = Instant::now();
    for batch in &batches {
        Chunk::insert_many(
            &mut conn,
            &scope,
            IngestTarget {
                dataset: &u_dataset.id,
                space: &u_space.id,
            },
            batch,
        )
        .await
        .unwrap();
    }
    report.push((
        "ingest UNNEST, no ANN index".into(),
        per_second(ROWS, started.elapsed()),
    ));
    let batches: Vec<Vec<ChunkRow>> = (0..ROWS / 25_000)
        .map(|b| rows(&mut data, &doc.id, 25_000, b * 25_000))
        .collect();
    let started = Instant::now();
    for batch in &batches {
        Chunk::copy_in(
            &url,
            &scope,
            IngestTarget {
                dataset: &dataset.id,
                space: &space.id,
            },
            batch,
        )
        .await
        .unwrap();
    }
    report.push((
        "ingest COPY, no ANN index".into(),
        per_second(ROWS, started.elapsed()),
    ));

    let started = Instant::now();
    IndexManager::new(url.clone())
        .create(&scope, &space.id, &IndexSpec::default(), |_| {})
        .await
        .unwrap();
    report.push((
        format!("HNSW build ({:?}), 100k x 384", IndexSpec::default().method),
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    ));

    // Ingest with the index in place (each row is inserted into the HNSW graph).
    let with_index = WITH_INDEX_ROWS;
    let batch = rows(&mut data, &doc.id, with_index, ROWS);
    let started = Instant::now();
    Chunk::copy_in(
        &url,
        &scope,
        IngestTarget {
            dataset: &dataset.id,
            space: &space.id,
        },
        &batch,
    )
    .await
    .unwrap();
    report.push((
        "ingest COPY, with HNSW index".into(),
        per_second(with_index, started.elapsed()),
    ));
    let batch = rows(&mut data, &doc.id, with_index, ROWS + with_index);
    let started = Instant::now();
    for chunk in batch.chunks(1000) {
        Chunk::insert_many(
            &mut conn,
            &scope,
            IngestTarget {
                dataset: &dataset.id,
                space: &space.id,
            },
            chunk,
        )
        .await
        .unwrap();
    }
    report.push((
        "ingest UNNEST, with HNSW index".into(),
        per_second(with_index, started.elapsed()),
    ));
    conn.batch_execute("VACUUM ANALYZE chunks").await.unwrap();

    let queries = (0..QUERIES).map(|_| data.sample()).collect();
    Bench {
        url,
        scope,
        user,
        space,
        dataset: dataset.id,
        queries,
        report,
    }
}

async fn recall(
    b: &mut Bench,
    filter: &SearchFilter,
    sql_filter: &str,
    options: &SearchOptions,
) -> (f64, f64) {
    let mut conn = b.url.connect().await.unwrap();
    let (mut found, mut returned) = (0usize, 0usize);
    for q in &b.queries {
        let truth: HashSet<String> = exact(&mut conn, &b.space, q, sql_filter)
            .await
            .into_iter()
            .collect();
        let hits = Chunk::search(&mut conn, &b.scope, &b.space, q, filter, options)
            .await
            .unwrap();
        returned += hits.len();
        found += hits
            .iter()
            .filter(|h| truth.contains(h.row.id.as_str()))
            .count();
    }
    (
        found as f64 / (10 * b.queries.len()) as f64,
        returned as f64 / b.queries.len() as f64,
    )
}

/// What a user would write by hand (the baseline): `BEGIN; SET LOCAL hnsw.ef_search = ..`
/// in one simple-query message, the prepared k-NN query on the same index returning the
/// same columns as the repository's hits (no embedding), then `COMMIT`.
struct Raw {
    client: tokio_postgres::Client,
    query: tokio_postgres::Statement,
}

impl Raw {
    async fn new(b: &Bench) -> Self {
        let client = b.url.connect_raw(&ConnectOptions::default()).await.unwrap();
        let query = client
            .prepare(&format!(
                r#"SELECT id, "datasetId", "documentId", "embeddingSpaceId", idx, text, metadata, "createdAt",
                          (embedding::vector({DIM}) <=> $1)::float8 AS distance
                   FROM chunks WHERE "embeddingSpaceId" = '{space}'
                   ORDER BY embedding::vector({DIM}) <=> $1 LIMIT 10"#,
                space = b.space.id
            ))
            .await
            .unwrap();
        Self { client, query }
    }

    async fn search(&self, q: &Vector, ef: u32) -> usize {
        self.client
            .batch_execute(&format!("BEGIN; SET LOCAL hnsw.ef_search = {ef}"))
            .await
            .unwrap();
        let params: [&(dyn ToSql + Sync); 1] = [q];
        let rows = self.client.query(&self.query, &params).await.unwrap();
        self.client.batch_execute("COMMIT").await.unwrap();
        rows.len()
    }
}

/// The cost of row-level security, measured interleaved in one run: the same search and
/// point lookup as the application role (policies on) and as the owner (bypassed), and bulk
/// ingest as both.
async fn row_level_security(b: &mut Bench) {
    let mut owner = b.url.connect().await.unwrap();
    let password = Secret::new("nh_bench_app".to_owned());
    ensure_app_role(&mut owner, "nh_bench_app", Some(&password))
        .await
        .unwrap();
    let app_url = b.url.with_user("nh_bench_app", Some(&password));
    let mut app = app_url.connect().await.unwrap();
    let rare = SearchFilter {
        metadata: Some(json!({"rare": true})),
        ..SearchFilter::default()
    };
    for (label, filter) in [
        ("unfiltered", SearchFilter::default()),
        ("1 % filter", rare),
    ] {
        let (mut as_owner, mut as_app) = (Vec::new(), Vec::new());
        for i in 0..LATENCY_RUNS + 30 {
            let q = &b.queries[i % b.queries.len()];
            for app_first in [i % 2 == 0, i % 2 == 1] {
                let conn = if app_first { &mut app } else { &mut owner };
                let started = Instant::now();
                Chunk::search(
                    conn,
                    &b.scope,
                    &b.space,
                    q,
                    &filter,
                    &SearchOptions::default(),
                )
                .await
                .unwrap();
                if i >= 30 {
                    if app_first {
                        &mut as_app
                    } else {
                        &mut as_owner
                    }
                    .push(started.elapsed());
                }
            }
        }
        as_owner.sort();
        as_app.sort();
        let (o, a) = (percentile(&as_owner, 0.5), percentile(&as_app, 0.5));
        b.report.push((
            format!("search k=10 p50 {label}, application role / owner (goal <= 1.10x)"),
            format!(
                "{:.3} ms / {:.3} ms = {:.3}x",
                a.as_secs_f64() * 1e3,
                o.as_secs_f64() * 1e3,
                a.as_secs_f64() / o.as_secs_f64()
            ),
        ));
    }

    // A point lookup by primary key in the 100k-row chunks table.
    let ids: Vec<ChunkId> =
        Chunk::list_in_dataset(&mut owner, &b.scope, &b.dataset, &PageRequest::first(300))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| c.id)
            .collect();
    let (mut as_owner, mut as_app) = (Vec::new(), Vec::new());
    for (i, id) in ids.iter().cycle().take(LATENCY_RUNS * 2).enumerate() {
        for app_first in [i % 2 == 0, i % 2 == 1] {
            let conn = if app_first { &mut app } else { &mut owner };
            let started = Instant::now();
            Chunk::get(conn, &b.scope, id).await.unwrap();
            if app_first {
                &mut as_app
            } else {
                &mut as_owner
            }
            .push(started.elapsed());
        }
    }
    as_owner.sort();
    as_app.sort();
    let (o, a) = (percentile(&as_owner, 0.5), percentile(&as_app, 0.5));
    b.report.push((
        "Chunk::get p50 in 100k rows, application role / owner (goal <= +0.5 ms)".into(),
        format!(
            "{:.3} ms / {:.3} ms = {:+.3} ms",
            a.as_secs_f64() * 1e3,
            o.as_secs_f64() * 1e3,
            (a.as_secs_f64() - o.as_secs_f64()) * 1e3
        ),
    ));

    // Bulk ingest into a dataset of its own space (no ANN index), as both roles.
    let space = EmbeddingSpace::create(
        &mut owner,
        &b.scope,
        &NewEmbeddingSpace {
            name: "rls-ingest",
            provider: "bench",
            model: "m",
            dimension: DIM as i32,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let mut data = Data::new();
    for (who, url) in [("owner", &b.url), ("application role", &app_url)] {
        let mut conn = url.connect().await.unwrap();
        let dataset = Dataset::create(
            &mut conn,
            &b.scope,
            &NewDataset {
                embedding_space_id: Some(&space.id),
                name: who,
                slug: &format!("rls-{}", who.len()),
                kind: DatasetKind::Documents,
                description: None,
                source: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
        let document = Document::create(
            &mut conn,
            &b.scope,
            &NewDocument {
                dataset_id: Some(&dataset.id),
                owner_id: &b.user,
                embedding_space_id: Some(&space.id),
                title: "rls",
                content: "",
                status: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
        let target = IngestTarget {
            dataset: &dataset.id,
            space: &space.id,
        };
        let batch = rows(&mut data, &document.id, 20_000, 0);
        let started = Instant::now();
        Chunk::copy_in(url, &b.scope, target, &batch).await.unwrap();
        b.report.push((
            format!("ingest COPY as the {who}, no ANN index"),
            per_second(batch.len(), started.elapsed()),
        ));
        let batch = rows(&mut data, &document.id, 20_000, 20_000);
        let started = Instant::now();
        Chunk::insert_many(&mut conn, &b.scope, target, &batch)
            .await
            .unwrap();
        b.report.push((
            format!("ingest UNNEST as the {who}, no ANN index"),
            per_second(batch.len(), started.elapsed()),
        ));
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut b = rt.block_on(setup());
    let (repo_conn, raw) = rt.block_on(async {
        (
            Mutex::new(b.url.connect().await.unwrap()),
            Raw::new(&b).await,
        )
    });

    rt.block_on(async {
        // Interleaved, alternating which goes first (the second run of a query finds warmer
        // caches): the repository (one statement outside a transaction) beside the
        // hand-written minimal statement, at the default ef_search and at 40 and 100.
        for (label, ef) in [
            ("default (ef_search 200)", None),
            ("ef_search 40", Some(40u32)),
            ("ef_search 100", Some(100u32)),
        ] {
            let options = SearchOptions {
                ef_search: ef,
                ..SearchOptions::default()
            };
            let effective = options.effective_ef_search();
            let (mut repo, mut rawt) = (Vec::new(), Vec::new());
            for i in 0..LATENCY_RUNS + 30 {
                let q = &b.queries[i % b.queries.len()];
                let (mut t_repo, mut t_raw, mut hits, mut n) =
                    (Duration::ZERO, Duration::ZERO, 0, 0);
                for first_repo in [i % 2 == 0, i % 2 == 1] {
                    let started = Instant::now();
                    if first_repo {
                        hits = Chunk::search(
                            &mut *repo_conn.lock().await,
                            &b.scope,
                            &b.space,
                            q,
                            &SearchFilter::default(),
                            &options,
                        )
                        .await
                        .unwrap()
                        .len();
                        t_repo = started.elapsed();
                    } else {
                        n = raw.search(q, effective).await;
                        t_raw = started.elapsed();
                    }
                }
                assert_eq!(hits, n);
                if i >= 30 {
                    repo.push(t_repo);
                    rawt.push(t_raw);
                }
            }
            repo.sort();
            rawt.sort();
            let (r50, r95, w50, w95) = (
                percentile(&repo, 0.5),
                percentile(&repo, 0.95),
                percentile(&rawt, 0.5),
                percentile(&rawt, 0.95),
            );
            b.report.push((
                format!("search k=10 p50 / p95, {label}: repository / minimal hand-written"),
                format!(
                    "{:.3} / {:.3} ms, {:.3} / {:.3} ms",
                    r50.as_secs_f64() * 1e3,
                    r95.as_secs_f64() * 1e3,
                    w50.as_secs_f64() * 1e3,
                    w95.as_secs_f64() * 1e3
                ),
            ));
            b.report.push((
                format!("repository / minimal (p50), {label}"),
                format!("{:.3}x", r50.as_secs_f64() / w50.as_secs_f64()),
            ));
        }

        for (label, options) in [
            ("default (ef_search 20 x k = 200)", SearchOptions::default()),
            (
                "ef_search 40 (pgvector's default)",
                SearchOptions {
                    ef_search: Some(40),
                    ..SearchOptions::default()
                },
            ),
            (
                "ef_search 100",
                SearchOptions {
                    ef_search: Some(100),
                    ..SearchOptions::default()
                },
            ),
            (
                "ef_search 400",
                SearchOptions {
                    ef_search: Some(400),
                    ..SearchOptions::default()
                },
            ),
        ] {
            let (r, _) = recall(&mut b, &SearchFilter::default(), "", &options).await;
            b.report
                .push((format!("recall@10, {label}"), format!("{r:.3}")));
        }
        for (label, filter, sql) in [
            (
                "10 %",
                SearchFilter {
                    metadata: Some(json!({"bucket": 3})),
                    ..SearchFilter::default()
                },
                r#"AND metadata @> '{"bucket": 3}'"#,
            ),
            (
                "1 %",
                SearchFilter {
                    metadata: Some(json!({"rare": true})),
                    ..SearchFilter::default()
                },
                r#"AND metadata @> '{"rare": true}'"#,
            ),
        ] {
            for (mode, scan) in [
                ("iterative on", IterativeScan::StrictOrder),
                ("iterative off", IterativeScan::Off),
            ] {
                let options = SearchOptions {
                    iterative_scan: Some(scan),
                    ..SearchOptions::default()
                };
                let (r, rows) = recall(&mut b, &filter, sql, &options).await;
                b.report.push((
                    format!("filtered {label}, {mode}: rows returned (k=10) / recall@10"),
                    format!("{rows:.1} / {r:.3}"),
                ));
            }
        }
    });

    rt.block_on(row_level_security(&mut b));

    let table: String = std::iter::once("| measure | result |\n| --- | --- |\n".to_owned())
        .chain(b.report.iter().map(|(k, v)| format!("| {k} | {v} |\n")))
        .collect();
    println!("\n{table}");
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench.md"),
        &table,
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    let query = b.queries[1].clone();
    c.bench_function("search_k10/repository", |bencher| {
        bencher.to_async(&rt).iter(|| async {
            Chunk::search(
                &mut *repo_conn.lock().await,
                &b.scope,
                &b.space,
                &query,
                &SearchFilter::default(),
                &SearchOptions::default(),
            )
            .await
            .unwrap()
        })
    });
    c.bench_function("search_k10/minimal_hand_written", |bencher| {
        bencher.to_async(&rt).iter(|| raw.search(&query, 200))
    });
    c.final_summary();
}
