//! Read replicas on a real streaming standby (`pg_basebackup -R` from a throwaway primary,
//! both on loopback): read-your-writes by WAL position never reads stale, the replica
//! serves what it may, lagging or stopped replicas are skipped, and bad replica URLs are
//! named at startup.

use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_schema::replica::{Lsn, ReadAfter, ReplicaConfig, ServedBy, WriteMark, mark_write};
use neonhub_schema::{Database, DatabaseUrl, PoolConfig, SetupError};
use neonhub_testing::{CLUSTER_PASSWORD, TestCluster};

/// The application's role on the throwaway primary (no superuser: the position and status
/// functions must work for it), and its table.
const APP: &str = "replica_app";

async fn primary_with_notes() -> (TestCluster, String) {
    let primary = TestCluster::start(false);
    let mut admin = DatabaseUrl::parse(&primary.url(CLUSTER_PASSWORD, ""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {APP} LOGIN PASSWORD '{CLUSTER_PASSWORD}';
             CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);
             GRANT SELECT, INSERT ON notes TO {APP};"
        ))
        .await
        .unwrap();
    let url = primary
        .url(CLUSTER_PASSWORD, "")
        .replace("//postgres:", &format!("//{APP}:"));
    (primary, url)
}

fn app_url(cluster: &TestCluster) -> DatabaseUrl {
    DatabaseUrl::parse(
        &cluster
            .url(CLUSTER_PASSWORD, "")
            .replace("//postgres:", &format!("//{APP}:")),
    )
    .unwrap()
}

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

async fn write(db: &Database, id: i64) -> Lsn {
    let mut conn = db.get().await.unwrap();
    diesel::sql_query("INSERT INTO notes (id, body) VALUES ($1, 'note')")
        .bind::<BigInt, _>(id)
        .execute(&mut conn)
        .await
        .unwrap();
    let mark = WriteMark::new();
    mark_write(&mut conn, &mark).await.unwrap()
}

/// A standby 2 s behind its primary (`recovery_min_apply_delay`). Over 6 s of writes, each
/// followed by a read of that write and a read of the write made 3 s before it, both
/// requiring their write's position: no read misses its write; the fresh reads fall back to
/// the primary, the older ones are served by the replica. A read willing to wait is served
/// by the replica once it catches up. A lag bound below the delay keeps stale-tolerant reads
/// off the replica while writes are pending.
#[tokio::test(flavor = "multi_thread")]
async fn read_your_writes_by_position_never_reads_stale_and_the_replica_serves_the_rest() {
    let (primary, primary_url) = primary_with_notes().await;
    let standby = primary.start_standby(Duration::from_secs(2));
    let primary_url = DatabaseUrl::parse(&primary_url).unwrap();
    let db = Database::new(primary_url.clone(), None, &PoolConfig::default())
        .with_replica(app_url(&standby));
    let strict = Database::new(primary_url, None, &PoolConfig::default())
        .with_replica(app_url(&standby))
        .with_replica_config(ReplicaConfig {
            max_lag: Duration::from_millis(500),
            ..ReplicaConfig::default()
        });

    let (mut stale, mut by_replica, mut by_primary, mut strict_by_replica) = (0, 0, 0, 0);
    let mut written: Vec<(i64, Lsn)> = Vec::new();
    for id in 0..60i64 {
        let lsn = write(&db, id).await;
        written.push((id, lsn));
        let mut reads = vec![(id, lsn)];
        if id >= 30 {
            reads.push(written[(id - 30) as usize]);
        }
        for (target, lsn) in reads {
            let mut read = db.read(ReadAfter::lsn(lsn)).await.unwrap();
            match read.served_by() {
                ServedBy::Replica(0) => by_replica += 1,
                ServedBy::Primary => by_primary += 1,
                other => panic!("{other:?}"),
            }
            if !sees(&mut read, target).await {
                stale += 1;
            }
        }
        // From the second second on, writes are always waiting on the standby (received,
        // not yet applied), so its lag is measured, and over the bound.
        if id >= 10 {
            let read = strict.read(ReadAfter::stale()).await.unwrap();
            if *read.served_by() != ServedBy::Primary {
                strict_by_replica += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stale, 0, "reads that missed their write");
    assert!(
        by_replica > 0,
        "the replica served none of the older writes' reads"
    );
    assert!(
        by_primary >= 60,
        "fresh writes' reads must fall back: {by_primary}"
    );
    assert_eq!(
        strict_by_replica, 0,
        "a replica 2 s behind is over a 500 ms lag bound"
    );

    // Waiting instead of falling back: served by the replica once it has the write.
    let lsn = write(&db, 1000).await;
    let started = Instant::now();
    let mut read = db
        .read(ReadAfter::lsn(lsn).waiting(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(*read.served_by(), ServedBy::Replica(0));
    assert!(sees(&mut read, 1000).await);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the replica cannot have it before its 2 s delay: {:?}",
        started.elapsed()
    );
}

/// A replica stopped mid-workload: reads go on, on the primary, without waiting for it
/// each time; a replica URL where nothing listens is skipped the same way.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_or_unreachable_replica_is_skipped_and_reads_continue_on_the_primary() {
    let (primary, primary_url) = primary_with_notes().await;
    let standby = primary.start_standby(Duration::ZERO);
    let primary_url = DatabaseUrl::parse(&primary_url).unwrap();
    let nowhere = {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        DatabaseUrl::parse(&format!("postgres://{APP}@127.0.0.1:{port}/postgres")).unwrap()
    };
    let config = PoolConfig {
        connection_timeout: Duration::from_millis(300),
        ..PoolConfig::default()
    };
    let db = Database::new(primary_url, None, &config)
        .with_replica(nowhere)
        .with_replica(app_url(&standby));
    let lsn = write(&db, 1).await;
    // The standby has it within a few seconds (no apply delay).
    let mut read = db
        .read(ReadAfter::lsn(lsn).waiting(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(*read.served_by(), ServedBy::Replica(1));
    assert!(sees(&mut read, 1).await);
    drop(read);
    let mut replica_reads = 0;
    for _ in 0..10 {
        let read = db.read(ReadAfter::stale()).await.unwrap();
        assert_ne!(
            *read.served_by(),
            ServedBy::Replica(0),
            "nothing listens there"
        );
        if *read.served_by() == ServedBy::Replica(1) {
            replica_reads += 1;
        }
    }
    assert_eq!(
        replica_reads, 10,
        "the live standby serves stale-tolerant reads"
    );

    standby.stop();
    let mut timings = Vec::new();
    for id in 2..12i64 {
        let lsn = write(&db, id).await;
        let started = Instant::now();
        let mut read = db.read(ReadAfter::stale()).await.unwrap();
        assert_eq!(*read.served_by(), ServedBy::Primary);
        assert!(sees(&mut read, id).await, "the primary has its own write");
        let read = db.read(ReadAfter::lsn(lsn)).await.unwrap();
        assert_eq!(*read.served_by(), ServedBy::Primary);
        timings.push(started.elapsed());
    }
    // The first read after the stop pays the check timeout; later ones skip the resting
    // replica at once.
    let later = timings[1..].iter().max().unwrap();
    assert!(*later < Duration::from_millis(400), "{timings:?}");
}

#[test]
fn a_malformed_replica_url_is_named_at_startup_without_its_password() {
    let vars = |name: &str| {
        match name {
        "DATABASE_URL" => Some("postgres://app:s3cret@127.0.0.1:5432/neonhub".to_owned()),
        "DATABASE_REPLICA_URLS" => Some(
            "postgres://app:s3cret@127.0.0.1:5433/neonhub, postgres://app:s3cret@127.0.0.1:notaport/neonhub"
                .to_owned(),
        ),
        _ => None,
    }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let err = Database::from_vars(vars).unwrap_err();
    assert!(
        matches!(err, SetupError::InvalidReplicaUrl { position: 2, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("DATABASE_REPLICA_URLS: entry 2"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    // Unreachable is not malformed: setup does not touch the network.
    let db = Database::from_vars(|name| match name {
        "DATABASE_URL" => Some("postgres://app@127.0.0.1:5432/neonhub".to_owned()),
        "DATABASE_REPLICA_URLS" => Some(
            "postgres://app@127.0.0.1:1/neonhub,,postgres://app@127.0.0.2:1/neonhub".to_owned(),
        ),
        "NEONHUB_REPLICA_MAX_LAG_MS" => Some("250".to_owned()),
        _ => None,
    })
    .unwrap();
    assert_eq!(db.replica_urls().len(), 2);
    let err = Database::from_vars(|name| match name {
        "DATABASE_URL" => Some("postgres://app@127.0.0.1:5432/neonhub".to_owned()),
        "NEONHUB_REPLICA_MAX_LAG_MS" => Some("soon".to_owned()),
        _ => None,
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("NEONHUB_REPLICA_MAX_LAG_MS"),
        "{err}"
    );
}
