#![doc = include_str!("../README.md")]

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use neonhub_schema::migrate::{self, MigrateError};
use neonhub_schema::{ConnectError, DatabaseUrl};

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
}

/// The URLs a command works with.
#[derive(Debug)]
struct Urls {
    direct: DatabaseUrl,
}

impl Cli {
    fn urls(&self) -> Result<Urls, ConnectError> {
        let app = self.database_url.as_deref().filter(|u| !u.is_empty());
        let direct = self
            .direct_database_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .or(app)
            .ok_or_else(|| {
                ConnectError::InvalidUrl(
                    "no database URL: set DATABASE_URL or pass --database-url".to_owned(),
                )
            })?;
        if let Some(app) = app {
            DatabaseUrl::parse(app)?;
        }
        Ok(Urls {
            direct: DatabaseUrl::parse(direct)?,
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
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(execute(&cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &MigrateError) -> u8 {
    match e {
        MigrateError::Connect(_) => EXIT_NO_DATABASE,
        _ => EXIT_FAILED,
    }
}

async fn execute(cli: &Cli) -> Result<(), MigrateError> {
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
                println!("reverted {name}");
            }
            println!(
                "{} migration(s) reverted on {}",
                reverted.len(),
                urls.direct.target()
            );
            Ok(())
        }
        Command::Migrate { revert: None, .. } => {
            let applied = migrate::run_pending(&urls.direct)
                .await
                .inspect_err(print_partial)?;
            for name in &applied {
                println!("applied {name}");
            }
            if applied.is_empty() {
                println!("nothing to apply: {} is up to date", urls.direct.target());
            } else {
                println!(
                    "{} migration(s) applied to {}",
                    applied.len(),
                    urls.direct.target()
                );
            }
            Ok(())
        }
        Command::Status => {
            let status = migrate::status(&urls.direct).await?;
            println!("database {}", urls.direct.target());
            for m in &status.applied {
                let name = m.name.as_deref().unwrap_or("(unknown to this build)");
                println!(
                    "applied  {}  {name}  at {} UTC",
                    m.version,
                    m.run_on.format("%Y-%m-%d %H:%M:%S")
                );
            }
            for name in &status.pending {
                println!("pending  {name}");
            }
            println!(
                "{} applied, {} pending",
                status.applied.len(),
                status.pending.len()
            );
            Ok(())
        }
    }
}

/// A failed run still applied (or reverted) the migrations before the failing one: say so.
fn print_partial(e: &MigrateError) {
    if let MigrateError::Failed { applied, .. } = e {
        for name in applied {
            println!("done before the failure (kept): {name}");
        }
    }
}
