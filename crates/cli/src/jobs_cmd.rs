//! `neonhub jobs ...`: the agent job queue seen and handled by an operator, on the direct
//! URL (the queue crosses organizations).

use clap::Subcommand;
use neonhub_agents::queue;
use neonhub_schema::DatabaseUrl;
use neonhub_schema::ids::AgentJobId;

use crate::{CliError, out, to_json};

/// `neonhub jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Counts by status and agent, the oldest queued job's wait, dead and orphaned jobs.
    Stats {
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a dead or cancelled job again, with fresh attempts.
    Retry {
        /// The job's id.
        id: String,
    },
    /// Delete a dead or cancelled job, or one whose organization was deleted.
    Discard {
        /// The job's id.
        id: String,
    },
    /// Cancel a queued or running job (its worker's completion is refused).
    Cancel {
        /// The job's id.
        id: String,
    },
}

/// Runs a `neonhub jobs` subcommand.
pub async fn run(direct: &DatabaseUrl, command: &JobsCommand) -> Result<(), CliError> {
    let mut conn = direct.connect().await?;
    match command {
        JobsCommand::Stats { json } => {
            let stats = queue::stats(&mut conn).await?;
            if *json {
                out!("{}", to_json(&stats));
                return Ok(());
            }
            out!("{:<10} {:<32} {:>10}", "status", "agent", "jobs");
            for line in &stats.by_status_and_agent {
                out!("{:<10} {:<32} {:>10}", line.status, line.agent, line.jobs);
            }
            match stats.oldest_queued_age_secs {
                Some(age) => out!("oldest queued job waiting {age:.1} s"),
                None => out!("no queued job is due"),
            }
            out!(
                "dead {}, orphaned (organization deleted) {}, rescues {}",
                stats.dead,
                stats.orphaned,
                stats.rescues
            );
        }
        JobsCommand::Retry { id } => {
            let job = queue::retry(&mut conn, &AgentJobId::from_string(id)).await?;
            out!("job {} queued again ({})", job.id, job.agent);
        }
        JobsCommand::Discard { id } => {
            let job = queue::discard(&mut conn, &AgentJobId::from_string(id)).await?;
            out!("job {} discarded (was {})", job.id, job.status);
        }
        JobsCommand::Cancel { id } => {
            let job = queue::cancel(&mut conn, &AgentJobId::from_string(id)).await?;
            out!("job {} cancelled", job.id);
        }
    }
    Ok(())
}
