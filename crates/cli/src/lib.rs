#![doc = include_str!("../README.md")]

pub mod drift;
pub mod index_cmd;
pub mod jobs_cmd;
pub mod leads_cmd;
pub mod secrets_cmd;
pub mod seed;
pub mod seed_data;
pub mod verify;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use neonhub_schema::catalog::Catalog;
use neonhub_schema::migrate::{self, MigrateError};
use neonhub_schema::pooler::{PoolerVerdict, check_pooler};
use neonhub_schema::{ConnectError, DatabaseUrl};

use crate::seed::{SeedError, SeedReport};
use crate::verify::{VerifyError, VerifyReport};

/// Prints a line to stdout. A reader that went away (`neonhub verify | head`) is not an
/// error worth a panic: the rest of the output is simply dropped.
#[macro_export]
#[doc(hidden)]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Prints a line to stderr, with the same care as [`out!`]: a closed stderr
/// (`neonhub index create ... 2>&1 | head -1`) must not panic the process halfway through
/// a build.
#[macro_export]
#[doc(hidden)]
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Exit code: the command did what it was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: the operation failed (a migration failed, a refusal, a failed check).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command line was wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: no usable database (missing or malformed URL, unreachable, refused).
pub const EXIT_NO_DATABASE: u8 = 3;

/// The `neonhub` command line.
#[derive(Debug, Parser)]
#[command(
    name = "neonhub",
    version,
    about = "Operate a NeonHub PostgreSQL + pgvector database"
)]
pub struct Cli {
    /// Application database URL (may be a transaction-mode pooler).
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Direct (non-pooled) URL for migrations and locks; defaults to the database URL.
    #[arg(
        long,
        global = true,
        env = "DIRECT_DATABASE_URL",
        hide_env_values = true
    )]
    pub direct_database_url: Option<String>,
    /// Read replicas, comma-separated (`verify` reports each one's state and lag).
    #[arg(
        long,
        global = true,
        env = "DATABASE_REPLICA_URLS",
        hide_env_values = true
    )]
    pub replica_urls: Option<String>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations (or revert the last ones with --revert).
    Migrate {
        /// Revert the last N applied migrations instead of applying.
        #[arg(long, value_name = "N")]
        revert: Option<usize>,
        /// Allow a revert to include the baseline, which drops every table and its data.
        #[arg(long, requires = "revert")]
        allow_drop_all_data: bool,
    },
    /// Show applied migrations with their times, and pending ones.
    Status,
    /// Create the demo organization, admin, connectors and agents (idempotent).
    Seed {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Report on the live database and check its expectations.
    Verify {
        /// Also expect the seed's rows.
        #[arg(long)]
        expect_seed: bool,
        /// Fail when the database URL's role bypasses row-level security (superuser,
        /// BYPASSRLS or the tables' owner).
        #[arg(long)]
        require_rls: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare the live database with the catalog the migrations build; exit 1 on drift.
    Drift {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take over a database built by NeonHub's own tooling: check its catalog, record the baseline, migrate.
    Adopt,
    /// Prove whether prepared statements survive the pooler at the database URL (exit 0 ok, 1 broken, 2 inconclusive).
    CheckPooler {
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the live catalog as JSON (`--normalized`: without server and extension versions).
    Catalog {
        /// Leave out what varies between servers, as the shipped expected catalog does.
        #[arg(long)]
        normalized: bool,
    },
    /// Create (or complete) the application role: LOGIN, subject to row-level security, with
    /// exactly the privileges the repositories need. Runs on the direct URL as the owner;
    /// a second run changes nothing.
    AppRole {
        /// The role's name (lower-case letters, digits, _).
        name: String,
        /// Read the role's password from this environment variable (never from the command line).
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Manage the vector indexes of an organization's embedding spaces.
    #[command(subcommand)]
    Index(index_cmd::IndexCommand),
    /// See and handle the agent job queue (on the direct URL).
    #[command(subcommand)]
    Jobs(jobs_cmd::JobsCommand),
    /// How the stored secrets are held: by sealing key, or still in plain text (on the
    /// direct URL).
    #[command(subcommand)]
    Secrets(secrets_cmd::SecretsCommand),
    /// Duplicate marketing leads of an adopted database: list, merge, then the unique
    /// index (on the direct URL).
    #[command(subcommand)]
    Leads(leads_cmd::LeadsCommand),
    /// Migrate, seed and verify, in that order.
    Up {
        /// Skip the seed (for environments that must not get the demo admin).
        #[arg(long)]
        no_seed: bool,
        /// Print the verify report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Everything a command can fail with; each maps to one exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// No usable database.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Migrating failed.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Seeding failed (and wrote nothing).
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// Verification could not run.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Verification ran and expectations failed.
    #[error("verify failed: {0}")]
    Expectations(String),
    /// The catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] neonhub_schema::catalog::CatalogError),
    /// The live catalog differs from the expected one.
    #[error("drift: {0} difference(s) from the expected catalog")]
    Drift(usize),
    /// A RAG operation failed.
    #[error(transparent)]
    Rag(#[from] neonhub_rag::RagError),
    /// The application role could not be made.
    #[error(transparent)]
    AppRole(#[from] neonhub_schema::roles::AppRoleError),
    /// An identity operation failed.
    #[error(transparent)]
    Identity(#[from] neonhub_identity::IdentityError),
    /// A job queue operation failed (a job not found, or in a status that forbids it).
    #[error(transparent)]
    Agents(#[from] neonhub_agents::AgentError),
    /// The secret columns could not be read or written.
    #[error("the secret columns: {0}")]
    Secrets(#[source] diesel::result::Error),
    /// `NEONHUB_SECRET_KEYS` is missing or malformed (a command that seals needs it).
    #[error(transparent)]
    SecretKeys(#[from] neonhub_schema::seal::KeyError),
    /// A rotation left values that do not open under any configured key.
    #[error("{0} secret value(s) do not open under any configured key and were left as they are")]
    Unreadable(i64),
    /// A campaigns operation failed (the leads' merge or their unique index).
    #[error(transparent)]
    Campaigns(#[from] neonhub_campaigns::CampaignError),
    /// An argument names something that does not exist.
    #[error("{0}")]
    Usage(String),
    /// The pooler self-test did not say ok.
    #[error("pooler {0}")]
    Pooler(PoolerVerdict),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        if self.no_database() {
            return EXIT_NO_DATABASE;
        }
        match self {
            Self::Pooler(verdict) => verdict.exit_code(),
            _ => EXIT_FAILED,
        }
    }

    /// Whether the command found no usable database, however deep the connection error
    /// sits: every command answers it with exit 3.
    fn no_database(&self) -> bool {
        matches!(
            self,
            Self::Connect(_)
                | Self::Migrate(MigrateError::Connect(_))
                | Self::Verify(
                    VerifyError::Connect(_) | VerifyError::Migrations(MigrateError::Connect(_)),
                )
                | Self::Rag(neonhub_rag::RagError::Connect(_))
                | Self::Agents(neonhub_agents::AgentError::Connect(_))
        )
    }
}

/// The URLs a command works with.
#[derive(Debug)]
struct Urls {
    app: DatabaseUrl,
    direct: DatabaseUrl,
    replicas: Vec<DatabaseUrl>,
}

impl Cli {
    fn urls(&self) -> Result<Urls, ConnectError> {
        let given = |u: &Option<String>| u.as_deref().filter(|u| !u.is_empty()).map(str::to_owned);
        let (app, direct) = (given(&self.database_url), given(&self.direct_database_url));
        let missing = || {
            ConnectError::InvalidUrl(
                "no database URL: set DATABASE_URL or pass --database-url".to_owned(),
            )
        };
        let app_text = app.clone().or_else(|| direct.clone()).ok_or_else(missing)?;
        let direct_text = direct.or(app).ok_or_else(missing)?;
        let mut replicas = Vec::new();
        for (i, entry) in self
            .replica_urls
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .enumerate()
        {
            if entry.trim().is_empty() {
                continue;
            }
            replicas.push(DatabaseUrl::parse(entry.trim()).map_err(|e| {
                ConnectError::InvalidUrl(format!(
                    "DATABASE_REPLICA_URLS entry {} (of the comma-separated list, from 1): {e}",
                    i + 1
                ))
            })?);
        }
        Ok(Urls {
            app: DatabaseUrl::parse(&app_text)?,
            direct: DatabaseUrl::parse(&direct_text)?,
            replicas,
        })
    }
}

/// Runs the command line `args` (program name first) and returns the process exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help and --version print in full; a usage error is one line, as every other
        // error (clap's message, without its usage block).
        Err(e) if e.use_stderr() => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            err!(
                "error: {} (see neonhub --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EXIT_OK);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            err!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(execute(&cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            err!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn execute(cli: &Cli) -> Result<(), CliError> {
    if let Command::Secrets(command @ secrets_cmd::SecretsCommand::NewKey { .. }) = &cli.command {
        // The one command that needs no database.
        return secrets_cmd::new_key(command);
    }
    let urls = cli.urls()?;
    match &cli.command {
        Command::Migrate {
            revert: Some(n),
            allow_drop_all_data,
        } => {
            let reverted = migrate::revert(&urls.direct, *n, *allow_drop_all_data)
                .await
                .inspect_err(print_partial)?;
            for name in &reverted {
                out!("reverted {name}");
            }
            out!(
                "{} migration(s) reverted on {}",
                reverted.len(),
                urls.direct.target()
            );
        }
        Command::Migrate { revert: None, .. } => drop(apply_migrations(&urls, true).await?),
        Command::Status => {
            let status = migrate::status(&urls.direct).await?;
            out!("database {}", urls.direct.target());
            for m in &status.applied {
                let name = m.name.as_deref().unwrap_or("(unknown to this build)");
                out!(
                    "applied  {}  {name}  at {} UTC",
                    m.version,
                    m.run_on.format("%Y-%m-%d %H:%M:%S")
                );
            }
            for name in &status.pending {
                out!("pending  {name}");
            }
            out!(
                "{} applied, {} pending",
                status.applied.len(),
                status.pending.len()
            );
        }
        Command::Seed { json } => {
            let report = run_seed(&urls).await?;
            if *json {
                out!("{}", to_json(&report));
            } else {
                print_seed(&report);
            }
        }
        Command::Verify {
            expect_seed,
            require_rls,
            json,
        } => run_verify(&urls, *expect_seed, *require_rls, *json).await?,
        Command::AppRole { name, password_env } => {
            let password = match password_env {
                Some(var) => Some(neonhub_schema::Secret::new(std::env::var(var).map_err(
                    |_| CliError::Usage(format!("the environment variable {var} is not set")),
                )?)),
                None => None,
            };
            let report = neonhub_schema::roles::ensure_app_role(
                &mut urls.direct.connect().await?,
                name,
                password.as_ref(),
            )
            .await?;
            out!(
                "application role {}: {}",
                report.role,
                if report.created {
                    "created"
                } else {
                    "already present, privileges checked"
                }
            );
        }
        Command::Drift { json } => {
            let report = drift::drift_of(&mut urls.direct.connect().await?).await?;
            if *json {
                out!("{}", to_json(&report));
            } else {
                out!("{report}");
            }
            if !report.differences.is_empty() {
                return Err(CliError::Drift(report.differences.len()));
            }
        }
        Command::Adopt => match migrate::adopt(&urls.direct)
            .await
            .inspect_err(print_partial)?
        {
            migrate::AdoptOutcome::AlreadyManaged => {
                out!(
                    "nothing to adopt: {} already records its migrations (use `neonhub migrate`)",
                    urls.direct.target()
                )
            }
            migrate::AdoptOutcome::Adopted { applied } => {
                out!(
                    "adopted {}: baseline recorded as applied",
                    urls.direct.target()
                );
                for name in &applied {
                    out!("applied {name}");
                }
            }
        },
        Command::CheckPooler { json } => {
            let verdict = check_pooler(&urls.app).await?;
            if *json {
                out!("{}", to_json(&verdict));
            } else {
                out!("pooler {verdict}");
            }
            if !matches!(verdict, PoolerVerdict::Ok(_)) {
                return Err(CliError::Pooler(verdict));
            }
        }
        Command::Index(command) => index_cmd::run(&urls.direct, command).await?,
        Command::Jobs(command) => jobs_cmd::run(&urls.direct, command).await?,
        Command::Secrets(command) => secrets_cmd::run(&urls.direct, command).await?,
        Command::Leads(command) => leads_cmd::run(&urls.direct, command).await?,
        Command::Catalog { normalized } => {
            let catalog = Catalog::read(&mut urls.direct.connect().await?).await?;
            let catalog = if *normalized {
                catalog.normalized()
            } else {
                catalog
            };
            out!("{}", catalog.to_json());
        }
        Command::Up { no_seed, json } => {
            let applied = apply_migrations(&urls, !*json).await?;
            let seeded = if *no_seed {
                None
            } else {
                Some(run_seed(&urls).await?)
            };
            if let (Some(report), false) = (&seeded, *json) {
                print_seed(report);
            }
            let report =
                verify::verify_url(&urls.app, &urls.direct, &urls.replicas, !*no_seed, false)
                    .await?;
            if *json {
                let up = serde_json::json!({"migrations_applied": applied, "seed": seeded, "verify": report});
                out!("{}", to_json(&up));
            } else {
                print_verify(&urls, &report);
            }
            expectations_met(&report)?;
        }
    }
    Ok(())
}

/// Applies pending migrations, printing what it applied when `print` is set.
async fn apply_migrations(urls: &Urls, print: bool) -> Result<Vec<String>, CliError> {
    let applied = migrate::run_pending(&urls.direct)
        .await
        .inspect_err(print_partial)?;
    if !print {
        return Ok(applied);
    }
    for name in &applied {
        out!("applied {name}");
    }
    if applied.is_empty() {
        out!("nothing to apply: {} is up to date", urls.direct.target());
    } else {
        out!(
            "{} migration(s) applied to {}",
            applied.len(),
            urls.direct.target()
        );
    }
    Ok(applied)
}

async fn run_seed(urls: &Urls) -> Result<SeedReport, CliError> {
    // System work: on the direct URL, as the owner (row-level security would hide the rows
    // the seed looks up from an application role).
    let mut conn = urls.direct.connect().await?;
    Ok(seed::seed(&mut conn).await?)
}

fn print_seed(report: &SeedReport) {
    for t in &report.tables {
        out!(
            "seed {:<22} {} created, {} existing",
            t.table,
            t.created,
            t.existing
        );
    }
    let a = &report.access;
    out!(
        "seed access: {} role(s), {} permission(s), {} grant(s) added{}",
        a.roles_added,
        a.permissions_added,
        a.grants_added,
        if a.admin_made_owner {
            "; admin made owner"
        } else {
            ""
        }
    );
    out!(
        "seed: {} row(s) created, {} already present",
        report.created(),
        report.existing()
    );
}

async fn run_verify(
    urls: &Urls,
    expect_seed: bool,
    require_rls: bool,
    json: bool,
) -> Result<(), CliError> {
    let report: VerifyReport = verify::verify_url(
        &urls.app,
        &urls.direct,
        &urls.replicas,
        expect_seed,
        require_rls,
    )
    .await?;
    if json {
        out!("{}", to_json(&report));
    } else {
        print_verify(urls, &report);
    }
    expectations_met(&report)
}

fn print_verify(urls: &Urls, report: &VerifyReport) {
    out!("database                    {}", urls.app.target());
    out!("{report}");
}

fn expectations_met(report: &VerifyReport) -> Result<(), CliError> {
    if report.failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Expectations(report.failures.join("; ")))
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("reports serialize")
}

/// A failed run still applied (or reverted) the migrations before the failing one: say so.
fn print_partial(e: &MigrateError) {
    if let MigrateError::Failed { applied, .. } = e {
        for name in applied {
            out!("done before the failure (kept): {name}");
        }
    }
}
