//! `neonhub secrets ...`: how the stored secrets are held, and re-sealing them under the
//! current key, on the direct URL (both cross organizations and users).

use clap::Subcommand;
use neonhub_schema::DatabaseUrl;
use neonhub_schema::seal::{SecretKeys, rotate, secrets_status};

use crate::{CliError, out, to_json};

/// `neonhub secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Counts the values of every secret column by the key that sealed them, and the values
    /// still in plain text.
    Status {
        /// Print the counts as JSON (top-level `plaintext` and `by_key`, then `columns`).
        #[arg(long)]
        json: bool,
    },
    /// Prints a new random key as an `id:base64key` entry for `NEONHUB_SECRET_KEYS` (to put
    /// first before a rotation). No database is needed.
    NewKey {
        /// The key's id (1 to 32 of A-Z, a-z, 0-9, _ and -).
        #[arg(long)]
        id: String,
    },
    /// Re-seals every secret under the first key of `NEONHUB_SECRET_KEYS`, and seals values
    /// still in plain text; online (batches of short statements, a value changed meanwhile
    /// is left as its writer left it). Afterwards keys no value names can be removed.
    Rotate {
        /// Rows per batch.
        #[arg(long, default_value_t = 1000)]
        batch: i64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `neonhub secrets new-key --id ID`: prints `ID:<32 random bytes, base64>`.
pub fn new_key(command: &SecretsCommand) -> Result<(), CliError> {
    if let SecretsCommand::NewKey { id } = command {
        let entry = format!("{id}:{}", SecretKeys::generate_key());
        // Parsed back, so a bad id is refused here rather than at the next startup.
        SecretKeys::parse(&entry)?;
        out!("{entry}");
    }
    Ok(())
}

/// Runs a `neonhub secrets` subcommand that needs the database.
pub async fn run(direct: &DatabaseUrl, command: &SecretsCommand) -> Result<(), CliError> {
    if let SecretsCommand::Rotate { .. } = command {
        // Checked before connecting: a bad key list is a startup error, not a half run.
        SecretKeys::from_env()?;
    }
    let mut conn = direct.connect().await?;
    match command {
        SecretsCommand::Rotate { batch, json } => {
            let keys = SecretKeys::from_env()?;
            let report = rotate(&mut conn, &keys, *batch)
                .await
                .map_err(CliError::Secrets)?;
            if *json {
                out!("{}", to_json(&report));
            } else {
                out!(
                    "rotated to key {}: {} re-sealed, {} plain-text sealed, {} changed concurrently (left as written), {} unreadable",
                    report.key_id,
                    report.resealed,
                    report.sealed_plaintext,
                    report.changed_concurrently,
                    report.unreadable
                );
                for problem in &report.problems {
                    out!("  {problem}");
                }
            }
            if report.unreadable > 0 {
                return Err(CliError::Unreadable(report.unreadable));
            }
        }
        // Answered by `new_key` before any URL is read.
        SecretsCommand::NewKey { .. } => new_key(command)?,
        SecretsCommand::Status { json } => {
            let status = secrets_status(&mut conn).await.map_err(CliError::Secrets)?;
            if *json {
                out!("{}", to_json(&status));
                return Ok(());
            }
            out!("{:<34} {:>10}  sealed, by key", "column", "plaintext");
            for c in &status.columns {
                let keys: Vec<String> = c.by_key.iter().map(|(k, n)| format!("{k} {n}")).collect();
                out!(
                    "{:<34} {:>10}  {}",
                    format!("{}.{}", c.table, c.column),
                    c.plaintext,
                    keys.join(", ")
                );
            }
            let keys: Vec<String> = status
                .by_key
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            out!(
                "plain text {}; sealed {}",
                status.plaintext,
                if keys.is_empty() {
                    "none".to_owned()
                } else {
                    keys.join(", ")
                }
            );
        }
    }
    Ok(())
}
