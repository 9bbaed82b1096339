//! Read-replica bench: `scripts/bench.sh replicas` (or `cargo bench --bench replicas`). It
//! starts its own throwaway primary and streaming standby on loopback (`pg_basebackup -R`,
//! from the system's PostgreSQL binaries, as the tests do), so it needs no database URL.
//!
//! One run measures a read-mostly workload (8 clients, 16 user sessions, 10 % writes, every
//! read must see its session's writes) routed two ways over the same replica: by WAL
//! position (`Database::read(ReadAfter::mark(..))`) and by a fixed pin to the primary for
//! 2 s after a session's write (what Rails does), and reports the share of reads each sends
//! to the replica and the reads that missed their session's write. It writes
//! `target/neonhub-bench/replicas.json`, then criterion compares one routed read (the
//! replica's status check plus the query) with the same query on the primary's pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub::schema::replica::{ReadAfter, ServedBy, WriteMark, mark_write};
use neonhub::schema::{Database, DatabaseUrl, PoolConfig};
use neonhub_testing::{CLUSTER_PASSWORD, TestCluster, TestStandby};
use serde_json::{Value, json};

const CLIENTS: usize = 8;
const SESSIONS: usize = 16;
const OPS_PER_CLIENT: usize = 400;
const WRITE_SHARE: f64 = 0.10;
const RAILS_PIN: Duration = Duration::from_secs(2);

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn sees(conn: &mut AsyncPgConnection, id: i64) -> bool {
    let c: Count = diesel::sql_query("SELECT count(*) AS n FROM notes WHERE id = $1")
        .bind::<BigInt, _>(id)
        .get_result(conn)
        .await
        .unwrap();
    c.n == 1
}

/// A session: its write mark, its newest note and when it wrote it.
struct Session {
    mark: WriteMark,
    last_note: AtomicU64,
    last_write_ms: AtomicU64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// `ReadAfter::mark(session)`.
    Position,
    /// The primary for `RAILS_PIN` after the session's write, else any replica.
    TimePin,
}

/// Runs the workload under `policy`; returns (reads, served by the replica, stale reads,
/// seconds).
async fn workload(db: &Database, policy: Policy, first_id: i64) -> (u64, u64, u64, f64) {
    let sessions: Arc<Vec<Session>> = Arc::new(
        (0..SESSIONS)
            .map(|_| Session {
                mark: WriteMark::new(),
                last_note: AtomicU64::new(0),
                last_write_ms: AtomicU64::new(0),
            })
            .collect(),
    );
    let next_id = Arc::new(AtomicU64::new(first_id as u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (db, sessions, next_id) = (db.clone(), sessions.clone(), next_id.clone());
        tasks.push(tokio::spawn(async move {
            let (mut reads, mut replica, mut stale) = (0u64, 0u64, 0u64);
            // A fixed sequence per client (xorshift): both policies see the same workload.
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (client as u64 + 1);
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            for _ in 0..OPS_PER_CLIENT {
                let session = &sessions[(next() % SESSIONS as u64) as usize];
                if (next() % 1000) as f64 / 1000.0 < WRITE_SHARE {
                    let id = next_id.fetch_add(1, Ordering::Relaxed) as i64;
                    let mut conn = db.get().await.unwrap();
                    diesel::sql_query("INSERT INTO notes (id, body) VALUES ($1, 'note')")
                        .bind::<BigInt, _>(id)
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    mark_write(&mut conn, &session.mark).await.unwrap();
                    session.last_note.fetch_max(id as u64, Ordering::AcqRel);
                    session
                        .last_write_ms
                        .store(started.elapsed().as_millis() as u64, Ordering::Release);
                    continue;
                }
                let note = AtomicU64::load(&session.last_note, Ordering::Acquire) as i64;
                let after = match policy {
                    Policy::Position => ReadAfter::mark(&session.mark),
                    Policy::TimePin => {
                        let wrote = AtomicU64::load(&session.last_write_ms, Ordering::Acquire);
                        let pinned = note > 0
                            && started.elapsed().as_millis() as u64
                                <= wrote + RAILS_PIN.as_millis() as u64;
                        if pinned {
                            // Any position the replica cannot have yet: the primary serves.
                            ReadAfter::lsn(neonhub::schema::replica::Lsn(u64::MAX))
                        } else {
                            ReadAfter::stale()
                        }
                    }
                };
                let mut read = db.read(after).await.unwrap();
                reads += 1;
                if matches!(read.served_by(), ServedBy::Replica(_)) {
                    replica += 1;
                }
                if note > 0 && !sees(&mut read, note).await {
                    stale += 1;
                }
            }
            (reads, replica, stale)
        }));
    }
    let (mut reads, mut replica, mut stale) = (0, 0, 0);
    for t in tasks {
        let (r, s, x) = t.await.unwrap();
        reads += r;
        replica += s;
        stale += x;
    }
    (reads, replica, stale, started.elapsed().as_secs_f64())
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let primary = TestCluster::start(false);
    let url = DatabaseUrl::parse(&primary.url(CLUSTER_PASSWORD, "")).unwrap();
    runtime.block_on(async {
        let mut conn = url.connect().await.unwrap();
        conn.batch_execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL)")
            .await
            .unwrap();
    });
    let standby: TestStandby = primary.start_standby(Duration::ZERO);
    let replica_url = DatabaseUrl::parse(&standby.url(CLUSTER_PASSWORD, "")).unwrap();
    let config = PoolConfig {
        max_size: CLIENTS as u32,
        ..PoolConfig::default()
    };
    let db = runtime.block_on(async {
        Database::new(url.clone(), None, &config).with_replica(replica_url.clone())
    });

    let mut report = serde_json::Map::new();
    let mut rows = Vec::new();
    for (name, policy, first_id) in [
        ("by WAL position", Policy::Position, 1_000_000),
        ("Rails-style 2 s pin", Policy::TimePin, 2_000_000),
    ] {
        let (reads, replica, stale, secs) = runtime.block_on(workload(&db, policy, first_id));
        let share = replica as f64 / reads as f64;
        rows.push(format!(
            "| {name} | {:.1} % of {reads} reads | {stale} | {:.0} ops/s |",
            share * 100.0,
            (CLIENTS * OPS_PER_CLIENT) as f64 / secs
        ));
        report.insert(
            name.to_owned(),
            json!({"reads": reads, "replica_reads": replica, "replica_share": share, "stale_reads": stale,
                   "seconds": secs, "clients": CLIENTS, "sessions": SESSIONS, "write_share": WRITE_SHARE}),
        );
    }
    println!("\n| routing | reads served by the replica | stale reads | throughput |");
    println!("| --- | --- | --- | --- |");
    for r in &rows {
        println!("{r}");
    }

    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    let mut group = criterion.benchmark_group("replica read");
    let mark = WriteMark::new();
    runtime.block_on(async {
        let mut conn = db.get().await.unwrap();
        diesel::sql_query("INSERT INTO notes (id, body) VALUES (1, 'note') ON CONFLICT DO NOTHING")
            .execute(&mut conn)
            .await
            .unwrap();
        mark_write(&mut conn, &mark).await.unwrap();
        // Until the standby has it, so every routed read below is a replica read.
        let mut read = db
            .read(ReadAfter::mark(&mark).waiting(Duration::from_secs(30)))
            .await
            .unwrap();
        assert!(matches!(read.served_by(), ServedBy::Replica(_)));
        assert!(sees(&mut read, 1).await);
    });
    group.bench_function("Database::read (replica, position checked) + query", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut read = db.read(ReadAfter::mark(&mark)).await.unwrap();
            assert!(sees(&mut read, 1).await);
        })
    });
    group.bench_function("primary pool + query (baseline)", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut conn = db.get().await.unwrap();
            assert!(sees(&mut conn, 1).await);
        })
    });
    group.finish();
    let estimate = |id: &str| -> Option<f64> {
        let path = format!(
            "{}/target/criterion/replica read/{id}/new/estimates.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["median"]["point_estimate"].as_f64()
    };
    let routed = estimate("Database__read (replica, position checked) + query");
    let direct = estimate("primary pool + query (baseline)");
    report.insert(
        "criterion median ns".to_owned(),
        json!({"routed_replica_read": routed, "primary_read": direct}),
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/neonhub-bench");
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(
        format!("{dir}/replicas.json"),
        serde_json::to_string_pretty(&Value::Object(report)).unwrap(),
    );
    drop(standby);
}
