//! `neonhub leads dedupe [--apply]`: duplicate leads of an adopted database (one
//! organization and email, case-insensitively), merged by `neonhub-campaigns`'s documented
//! rule, then the unique index that keeps them one; on the direct URL (system work across
//! organizations).

use clap::Subcommand;
use neonhub_campaigns::{create_leads_email_key, duplicate_leads, merge_duplicate_leads};
use neonhub_schema::DatabaseUrl;

use crate::{CliError, out, to_json};

/// `neonhub leads` subcommands.
#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Lists the duplicate leads and which of each group stays; with `--apply`, merges them
    /// (one transaction: touchpoints moved, counts summed, empty fields filled, the others
    /// deleted) and then creates the unique index on (organization, email).
    Dedupe {
        /// Merge and create the index (without it, nothing is changed).
        #[arg(long)]
        apply: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `neonhub leads` subcommand.
pub async fn run(direct: &DatabaseUrl, command: &LeadsCommand) -> Result<(), CliError> {
    let mut conn = direct.connect().await?;
    let LeadsCommand::Dedupe { apply, json } = command;
    if !apply {
        let groups = duplicate_leads(&mut conn).await?;
        if *json {
            out!("{}", to_json(&groups));
        } else {
            for g in &groups {
                out!(
                    "organization {} email {}: keeps {}, merges {}",
                    g.organization_id,
                    g.email,
                    g.survivor,
                    g.merged.join(", ")
                );
            }
            out!(
                "{} duplicate group(s); run with --apply to merge them and create the unique index",
                groups.len()
            );
        }
        return Ok(());
    }
    let report = merge_duplicate_leads(&mut conn).await?;
    let created = create_leads_email_key(&mut conn).await?;
    if *json {
        out!(
            "{}",
            to_json(&serde_json::json!({"merged": report, "unique_index_created": created}))
        );
    } else {
        out!(
            "merged {} group(s): {} lead(s) deleted, {} touchpoint(s) moved; unique index {}",
            report.groups.len(),
            report.leads_deleted,
            report.touchpoints_moved,
            if created {
                "created"
            } else {
                "already present"
            }
        );
    }
    Ok(())
}
