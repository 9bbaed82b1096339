//! `neonhub verify`: the smoke report of a live database, computed from it.

use diesel::sql_query;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::catalog::{Catalog, CatalogError, Extension};
use neonhub_schema::migrate::{self, MigrateError};
use neonhub_schema::pooler::{PoolerVerdict, check_pooler};
use neonhub_schema::roles::RlsStatus;
use neonhub_schema::{ConnectError, DatabaseUrl};

use crate::seed_data::seed_counts;

/// How many tables the migration chain builds, read from the expected catalog the
/// migrations are tested against (`crates/schema/expected_catalog.json`), so a migration
/// that adds a table changes this number with the catalog, not by hand.
pub fn expected_tables() -> usize {
    Catalog::expected().tables.len()
}
/// Extensions the schema needs.
pub const REQUIRED_EXTENSIONS: &[&str] = &["citext", "uuid-ossp", "vector"];

/// Why verification could not run at all (as opposed to running and finding problems).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Reading the catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Reading the migration status failed.
    #[error(transparent)]
    Migrations(#[from] MigrateError),
    /// A connection failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A count failed.
    #[error("counting rows failed: {0}")]
    Database(#[from] diesel::result::Error),
    /// The money checks or the ledger audit could not be read.
    #[error("auditing the budget ledger failed: {0}")]
    Ledger(#[from] neonhub_billing::BillingError),
}

/// Rows of one seeded table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeededTable {
    /// Table name.
    pub table: String,
    /// Rows it holds.
    pub rows: i64,
    /// Rows the seed creates in it.
    pub seed_rows: i64,
}

/// The report; `failures` lists every expectation that did not hold.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// `server_version`.
    pub server_version: String,
    /// Installed extensions.
    pub extensions: Vec<Extension>,
    /// Applied migrations.
    pub migrations_applied: usize,
    /// Pending migrations.
    pub migrations_pending: Vec<String>,
    /// Tables in `public` (bookkeeping excluded).
    pub tables: usize,
    /// Tables with at least one foreign key.
    pub tables_with_foreign_keys: usize,
    /// Tables with a unique index other than the primary key.
    pub tables_with_unique_indexes: usize,
    /// Tables with a non-unique index.
    pub tables_with_other_indexes: usize,
    /// Tables with any index besides the primary key.
    pub tables_with_any_secondary_index: usize,
    /// Tables with a jsonb column.
    pub tables_with_jsonb: usize,
    /// jsonb columns in all.
    pub jsonb_columns: usize,
    /// Tables with a vector column.
    pub tables_with_vectors: usize,
    /// ANN indexes (hnsw, ivfflat) as `table.index`.
    pub vector_indexes: Vec<String>,
    /// Row counts of the tables the seed writes.
    pub seeded_tables: Vec<SeededTable>,
    /// The pooler self-test at the database URL (only set by [`verify_url`]).
    pub pooler: Option<PoolerVerdict>,
    /// The read replicas given (`DATABASE_REPLICA_URLS`), as each answered; reported, never
    /// a failure (reads skip a replica that is unreachable, lagging or not a standby).
    pub replicas: Vec<ReplicaReport>,
    /// Whether the database URL's role is subject to row-level security (only set by
    /// [`verify_url`]).
    pub row_level_security: Option<RlsStatus>,
    /// The money CHECK constraints: validated, or the rows that keep them from it.
    pub money_checks: Vec<neonhub_billing::MoneyCheck>,
    /// The budget ledger's audit, one entry per organization with budgets.
    pub ledger: Vec<LedgerAudit>,
    /// The secret keys of `NEONHUB_SECRET_KEYS` this process would seal and open with.
    pub secret_keys: SecretKeysStatus,
    /// Failed expectations, each naming what is wrong.
    pub failures: Vec<String>,
}

/// Whether secrets can be sealed and opened: the configured key ids (the first seals), or
/// why there are none (unset, or an entry refused).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretKeysStatus {
    /// The key ids, the sealing key's first; empty when none is usable.
    pub ids: Vec<String>,
    /// Why no key is usable, if none is.
    pub problem: Option<String>,
}

impl SecretKeysStatus {
    /// The status of `NEONHUB_SECRET_KEYS` in this process's environment.
    pub fn from_env() -> Self {
        match neonhub_schema::seal::SecretKeys::from_env() {
            Ok(keys) => Self {
                ids: keys.ids().map(str::to_owned).collect(),
                problem: None,
            },
            Err(e) => Self {
                ids: Vec::new(),
                problem: Some(e.to_string()),
            },
        }
    }
}

/// One organization's ledger audit ([`neonhub_billing::audit_all`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerAudit {
    /// The organization.
    pub organization: String,
    /// What the audit checked and found.
    pub report: neonhub_billing::AuditReport,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Reads the report from the database; seed counts are expectations only with `expect_seed`.
pub async fn verify(
    conn: &mut AsyncPgConnection,
    expect_seed: bool,
) -> Result<VerifyReport, VerifyError> {
    let catalog = Catalog::read(conn).await?;
    let status = migrate::status_on(conn).await?;
    let tables = catalog.tables.values();
    let count = |pred: &dyn Fn(&neonhub_schema::catalog::Table) -> bool| {
        tables.clone().filter(|t| pred(t)).count()
    };
    let jsonb_columns = tables
        .clone()
        .flat_map(|t| &t.columns)
        .filter(|c| c.sql_type == "jsonb")
        .count();
    let vector_indexes = catalog
        .tables
        .iter()
        .flat_map(|(name, t)| {
            t.indexes
                .iter()
                .filter(|i| matches!(i.method.as_str(), "hnsw" | "ivfflat"))
                .map(move |i| format!("{name}.{}", i.name))
        })
        .collect();

    let mut seeded_tables = Vec::new();
    for (table, expected) in &seed_counts() {
        let n = if catalog.tables.contains_key(*table) {
            // Table names come from our own constant list, never from input.
            sql_query(format!("SELECT count(*) AS n FROM public.{table}"))
                .get_result::<Count>(conn)
                .await?
                .n
        } else {
            0
        };
        seeded_tables.push(SeededTable {
            table: (*table).to_owned(),
            rows: n,
            seed_rows: *expected,
        });
    }

    let mut report = VerifyReport {
        server_version: catalog.server_version.clone(),
        extensions: catalog.extensions.clone(),
        migrations_applied: status.applied.len(),
        migrations_pending: status.pending,
        tables: catalog.tables.len(),
        tables_with_foreign_keys: count(&|t| !t.foreign_keys.is_empty()),
        tables_with_unique_indexes: count(&|t| !t.unique.is_empty()),
        tables_with_other_indexes: count(&|t| !t.indexes.is_empty()),
        tables_with_any_secondary_index: count(&|t| !t.unique.is_empty() || !t.indexes.is_empty()),
        tables_with_jsonb: count(&|t| t.columns.iter().any(|c| c.sql_type == "jsonb")),
        jsonb_columns,
        tables_with_vectors: count(&|t| t.columns.iter().any(|c| c.sql_type == "vector")),
        vector_indexes,
        seeded_tables,
        pooler: None,
        replicas: Vec::new(),
        row_level_security: None,
        money_checks: Vec::new(),
        ledger: Vec::new(),
        secret_keys: SecretKeysStatus::from_env(),
        failures: Vec::new(),
    };
    // The money checks and the audit read across tenants: on this (the owner's, direct)
    // connection. Before the billing migration there is nothing to check.
    if !report
        .migrations_pending
        .iter()
        .any(|m| m.contains("budget_ledger"))
    {
        report.money_checks = neonhub_billing::money_checks(conn).await?;
        report.ledger = neonhub_billing::audit_all(conn)
            .await?
            .into_iter()
            .map(|(org, report)| LedgerAudit {
                organization: org.to_string(),
                report,
            })
            .collect();
    }
    report.failures = failures(&report, &catalog, expect_seed);
    Ok(report)
}

/// [`verify`] on a fresh connection to the direct URL (counts and migrations are system
/// work, which row-level security would hide from the application role), then, on the
/// application `url`, whether its role is subject to row-level security and the pooler
/// self-test. A broken pooler is a failed expectation, an inconclusive one is reported only;
/// so is a role that bypasses row-level security unless `require_rls`.
pub async fn verify_url(
    url: &DatabaseUrl,
    direct: &DatabaseUrl,
    replicas: &[DatabaseUrl],
    expect_seed: bool,
    require_rls: bool,
) -> Result<VerifyReport, VerifyError> {
    let mut owner = direct.connect().await?;
    let mut report = verify(&mut owner, expect_seed).await?;
    if !replicas.is_empty() {
        let primary = neonhub_schema::replica::commit_position(&mut owner)
            .await
            .map_err(CatalogError::Query)?;
        report.replicas = check_replicas(primary, replicas).await;
    }
    let rls = RlsStatus::read(&mut url.connect().await?)
        .await
        .map_err(CatalogError::Query)?;
    if let (true, Some(why)) = (require_rls, &rls.bypass) {
        report.failures.push(format!(
            "row-level security is not enforced for role {}: {why}",
            rls.role
        ));
    }
    report.row_level_security = Some(rls);
    let verdict = check_pooler(url).await?;
    if let PoolerVerdict::Broken(_) = &verdict {
        report.failures.push(format!("pooler {verdict}"));
    }
    report.pooler = Some(verdict);
    Ok(report)
}

/// A read replica as `verify` found it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicaReport {
    /// Host, port and database (never the password).
    pub target: String,
    /// What it answered.
    #[serde(flatten)]
    pub state: ReplicaState,
}

/// What a replica answered.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReplicaState {
    /// A standby: the position it replayed, how far that is behind the primary's position
    /// read just before, and its lag ([`neonhub_schema::replica::ReplicaStatus::lag`]).
    Standby {
        /// Its `pg_last_wal_replay_lsn()`.
        replayed: Option<String>,
        /// Bytes of WAL between that and the primary's position (0 when caught up).
        bytes_behind: Option<u64>,
        /// Milliseconds of lag; `None` when unknown (reads skip it).
        lag_ms: Option<u64>,
    },
    /// It answers but is not a standby (a primary, or promoted): reads skip it.
    NotStandby,
    /// No answer: reads skip it.
    Unreachable {
        /// Why (names the server, never the password).
        reason: String,
    },
}

impl std::fmt::Display for ReplicaReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            ReplicaState::Standby {
                replayed,
                bytes_behind,
                lag_ms,
            } => {
                let replayed = replayed.as_deref().unwrap_or("nothing");
                let behind = bytes_behind.map_or("?".to_owned(), |b| b.to_string());
                let lag = lag_ms.map_or("unknown (reads skip it)".to_owned(), |ms| {
                    format!("{ms} ms")
                });
                write!(
                    f,
                    "{}: standby, replayed {replayed} ({behind} bytes behind the primary), lag {lag}",
                    self.target
                )
            }
            ReplicaState::NotStandby => {
                write!(f, "{}: not a standby (reads skip it)", self.target)
            }
            ReplicaState::Unreachable { reason } => {
                write!(f, "{}: unreachable (reads skip it): {reason}", self.target)
            }
        }
    }
}

/// Asks each replica for its state, within a few seconds each, against the primary's
/// position `primary`.
pub async fn check_replicas(
    primary: neonhub_schema::replica::Lsn,
    replicas: &[DatabaseUrl],
) -> Vec<ReplicaReport> {
    let options = neonhub_schema::ConnectOptions {
        retry_budget: std::time::Duration::ZERO,
        attempt_timeout: std::time::Duration::from_secs(3),
        ..neonhub_schema::ConnectOptions::default()
    };
    let mut out = Vec::new();
    for url in replicas {
        let state = match url.connect_with(&options).await {
            Err(e) => ReplicaState::Unreachable {
                reason: e.to_string(),
            },
            Ok(mut conn) => match neonhub_schema::replica::replica_status(&mut conn).await {
                Err(e) => ReplicaState::Unreachable {
                    reason: e.to_string(),
                },
                Ok(status) if !status.standby => ReplicaState::NotStandby,
                Ok(status) => ReplicaState::Standby {
                    replayed: status.replayed.map(|l| l.to_string()),
                    bytes_behind: status.replayed.map(|l| primary.0.saturating_sub(l.0)),
                    lag_ms: status
                        .lag
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                },
            },
        };
        out.push(ReplicaReport {
            target: url.target().to_owned(),
            state,
        });
    }
    out
}

fn failures(report: &VerifyReport, catalog: &Catalog, expect_seed: bool) -> Vec<String> {
    let mut out = Vec::new();
    for ext in REQUIRED_EXTENSIONS {
        match catalog.extension_version(ext) {
            None => out.push(format!("extension {ext} is not installed")),
            Some(v)
                if *ext == "vector"
                    && migrate::evaluate_pgvector("", Some((None, Some(v)))).is_err() =>
            {
                out.push(format!("extension vector {v} is older than 0.8.0"))
            }
            Some(_) => {}
        }
    }
    for pending in &report.migrations_pending {
        out.push(format!("migration {pending} is pending"));
    }
    let expected_tables = expected_tables();
    if report.tables != expected_tables {
        out.push(format!(
            "{} tables, expected {expected_tables}",
            report.tables
        ));
    }
    for audit in &report.ledger {
        for violation in &audit.report.violations {
            out.push(format!(
                "budget ledger of organization {}: {violation}",
                audit.organization
            ));
        }
    }
    if expect_seed {
        for t in &report.seeded_tables {
            if t.rows < t.seed_rows {
                out.push(format!(
                    "{} holds {} rows, the seed creates {}",
                    t.table, t.rows, t.seed_rows
                ));
            }
        }
    }
    out
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "server                      PostgreSQL {}",
            self.server_version
        )?;
        let exts: Vec<String> = self
            .extensions
            .iter()
            .map(|e| format!("{} {}", e.name, e.version))
            .collect();
        writeln!(f, "extensions                  {}", exts.join(", "))?;
        writeln!(
            f,
            "migrations                  {} applied, {} pending",
            self.migrations_applied,
            self.migrations_pending.len()
        )?;
        writeln!(f, "tables                      {}", self.tables)?;
        writeln!(
            f,
            "  with foreign keys         {}",
            self.tables_with_foreign_keys
        )?;
        writeln!(
            f,
            "  with unique indexes       {}",
            self.tables_with_unique_indexes
        )?;
        writeln!(
            f,
            "  with non-unique indexes   {}",
            self.tables_with_other_indexes
        )?;
        writeln!(
            f,
            "  with any secondary index  {}",
            self.tables_with_any_secondary_index
        )?;
        writeln!(
            f,
            "  with jsonb columns        {} ({} columns)",
            self.tables_with_jsonb, self.jsonb_columns
        )?;
        writeln!(
            f,
            "  with vector columns       {}",
            self.tables_with_vectors
        )?;
        let vix = if self.vector_indexes.is_empty() {
            "none".to_owned()
        } else {
            self.vector_indexes.join(", ")
        };
        writeln!(f, "vector indexes              {vix}")?;
        if let Some(rls) = &self.row_level_security {
            match &rls.bypass {
                None => writeln!(
                    f,
                    "row-level security          enforced for role {}",
                    rls.role
                )?,
                Some(why) => writeln!(
                    f,
                    "row-level security          not enforced for role {} ({why})",
                    rls.role
                )?,
            }
        }
        if let Some(pooler) = &self.pooler {
            writeln!(f, "pooler                      {pooler}")?;
        }
        if !self.replicas.is_empty() {
            writeln!(f, "replicas                    {}", self.replicas.len())?;
            for r in &self.replicas {
                writeln!(f, "  {r}")?;
            }
        }
        let unvalidated: Vec<_> = self.money_checks.iter().filter(|c| !c.validated).collect();
        writeln!(
            f,
            "money checks                {} of {} validated",
            self.money_checks.len() - unvalidated.len(),
            self.money_checks.len()
        )?;
        for c in unvalidated {
            writeln!(
                f,
                "  {}.{}: NOT VALID, {} row(s) would not validate (fix them, then {})",
                c.table,
                c.constraint,
                c.violating_rows,
                c.validate_statement()
            )?;
        }
        if self.ledger.is_empty() {
            writeln!(f, "budget ledger               no budgets")?;
        }
        for audit in &self.ledger {
            let r = &audit.report;
            let verdict = if r.is_clean() {
                "proven".to_owned()
            } else {
                format!("{} violation(s)", r.violations.len())
            };
            let legacy = if r.unaudited.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} profile(s) with entries from before adoption",
                    r.unaudited.len()
                )
            };
            writeln!(
                f,
                "budget ledger               organization {}: {verdict} ({} profile(s), {} entries, {} chain(s){legacy})",
                audit.organization, r.profiles, r.entries, r.chains
            )?;
        }
        match &self.secret_keys.problem {
            None => writeln!(
                f,
                "secret keys                 {} (the first seals)",
                self.secret_keys.ids.join(", ")
            )?,
            Some(problem) => writeln!(f, "secret keys                 none usable: {problem}")?,
        }
        writeln!(f, "seeded tables (rows / seed)")?;
        for t in &self.seeded_tables {
            writeln!(f, "  {:<26}{} / {}", t.table, t.rows, t.seed_rows)?;
        }
        if self.failures.is_empty() {
            write!(f, "verify: ok")
        } else {
            writeln!(f, "verify: {} failed expectation(s)", self.failures.len())?;
            for failure in &self.failures {
                writeln!(f, "  FAILED {failure}")?;
            }
            Ok(())
        }
    }
}
