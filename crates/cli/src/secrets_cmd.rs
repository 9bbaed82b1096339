//! `neonhub secrets ...`: how the stored secrets are held, on the direct URL (the counts
//! cross organizations and users).

use clap::Subcommand;
use neonhub_schema::DatabaseUrl;
use neonhub_schema::seal::secrets_status;

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
}

/// Runs a `neonhub secrets` subcommand.
pub async fn run(direct: &DatabaseUrl, command: &SecretsCommand) -> Result<(), CliError> {
    let mut conn = direct.connect().await?;
    match command {
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
