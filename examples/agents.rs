//! Agents end to end: an agent taken from draft to active, a tool with JSON Schema
//! contracts, a run with tool executions and metrics, and a training job through its
//! states, all in the scope of the organization's owner.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example agents
//! ```
//!
//! Repeatable: the example's organization (`agents-example`) and its owner
//! (`grace@agents.example`) are deleted and made again on every run.

use std::error::Error;

use diesel_async::AsyncPgConnection;
use neonhub::agents::*;
use neonhub::identity::{NewOrganization, NewUser, Organization, User, authorize, keys};
use neonhub::schema::DatabaseUrl;
use serde_json::json;

const SLUG: &str = "agents-example";
const OWNER: &str = "grace@agents.example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .skip_while(|a| a != "--database-url")
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("set DATABASE_URL or pass --database-url")?;
    let mut conn = DatabaseUrl::parse(&url)?.connect().await?;
    let conn = &mut conn;
    start_over(conn).await?;
    let grace = User::create(
        conn,
        &NewUser {
            email: OWNER,
            name: Some("Grace Hopper"),
            ..Default::default()
        },
    )
    .await?;
    let new = NewOrganization {
        slug: SLUG,
        name: "Agents Example",
        plan: None,
        settings: None,
    };
    let org = Organization::create(conn, &grace.id, &new).await?;
    // The owner's scope: every function below checks its key (agents:manage, agents:run,
    // agents:read) against the permissions the owner's role grants.
    let scope = authorize(conn, &org.id, &grace.id, keys::AGENTS_MANAGE).await?;

    // An agent starts as a draft and runs only once active.
    let agent = Agent::create(
        conn,
        &scope,
        &NewAgent {
            name: "Email Campaign Agent",
            slug: "email-campaign-agent",
            kind: AgentKind::Workflow,
            description: Some("Plans and sends email campaigns."),
            version: Some("1.0.0"),
            config: Some(&json!({"maxSendsPerMinute": 200})),
        },
    )
    .await?;
    println!("agent {} is {}", agent.slug, agent.status);
    let draft_run = AgentRun::start(
        conn,
        &scope,
        &NewAgentRun {
            agent_id: &agent.id,
            dataset_id: None,
            input: &json!({}),
        },
    )
    .await;
    if let Err(refused) = draft_run {
        println!("  a run of the draft is refused: {refused}");
    }
    let agent = Agent::set_status(conn, &scope, &agent.id, AgentStatus::Active).await?;
    println!("agent {} is {}", agent.slug, agent.status);
    if let Err(refused) = Agent::set_status(conn, &scope, &agent.id, AgentStatus::Disabled).await {
        println!("  {refused} (pause it first)");
    }
    AgentCapability::create(
        conn,
        &scope,
        &agent.id,
        &NewAgentCapability {
            name: "deliverability-optimizer",
            config: Some(&json!({"checks": ["dkim", "spf"]})),
        },
    )
    .await?;
    AgentConfig::set(conn, &scope, &agent.id, "daily_send_cap", &json!(5000)).await?;

    // A tool with contracts: its schemas are compiled when it is saved.
    let input_schema = json!({
        "type": "object",
        "required": ["to", "subject"],
        "properties": {
            "to": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
            "subject": {"type": "string", "minLength": 1}
        }
    });
    let output_schema = json!({
        "type": "object",
        "required": ["messageId"],
        "properties": {"messageId": {"type": "string"}}
    });
    let tool = Tool::create(
        conn,
        &scope,
        &NewTool {
            agent_id: Some(&agent.id),
            name: "Email Delivery",
            slug: "email-delivery",
            description: Some("Sends one email."),
            input_schema: Some(&input_schema),
            output_schema: Some(&output_schema),
        },
    )
    .await?;
    let broken = json!({"type": "objekt"});
    let refused = Tool::update(
        conn,
        &scope,
        &tool.id,
        &ToolChanges {
            input_schema: Some(Some(&broken)),
            ..Default::default()
        },
    )
    .await;
    if let Err(refused) = refused {
        println!("tool {}: a broken schema is refused: {refused}", tool.slug);
    }

    // A run with two tool calls: one that meets the contract, one that does not.
    let run = AgentRun::start(
        conn,
        &scope,
        &NewAgentRun {
            agent_id: &agent.id,
            dataset_id: None,
            input: &json!({"campaign": "launch"}),
        },
    )
    .await?;
    let call = ToolExecution::start(
        conn,
        &scope,
        &NewToolExecution {
            tool_id: &tool.id,
            agent_run_id: Some(&run.id),
            input: &json!({"to": "ada@example.com", "subject": "Launch day"}),
            metadata: None,
        },
    )
    .await?;
    let done = ToolExecution::finish(
        conn,
        &scope,
        &call.id,
        RunStatus::Completed,
        Some(&json!({"messageId": "m-1"})),
    )
    .await?;
    println!("tool call {}: {}", done.id, done.status);
    let bad = ToolExecution::start(
        conn,
        &scope,
        &NewToolExecution {
            tool_id: &tool.id,
            agent_run_id: Some(&run.id),
            input: &json!({"to": "nobody", "subject": "Launch day"}),
            metadata: None,
        },
    )
    .await;
    if let Err(violation) = bad {
        println!("  refused: {violation}");
    }
    let metrics = [
        NewAgentRunMetric {
            name: "emails_sent",
            value: Some(1.0),
            metadata: None,
        },
        NewAgentRunMetric {
            name: "tokens",
            value: Some(812.0),
            metadata: Some(&json!({"model": "small"})),
        },
    ];
    let run = AgentRun::finish(
        conn,
        &scope,
        &run.id,
        &RunOutcome {
            status: RunStatus::Completed,
            output: Some(&json!({"sent": 1})),
            metrics: &metrics,
        },
    )
    .await?;
    println!(
        "run {}: {} in {} ms, metrics {}",
        run.id,
        run.status,
        run.duration().map_or(0, |d| d.num_milliseconds()),
        run.metrics
            .as_ref()
            .map_or(String::new(), |m| m.to_string())
    );
    let again = AgentRun::finish(
        conn,
        &scope,
        &run.id,
        &RunOutcome {
            status: RunStatus::Failed,
            output: None,
            metrics: &[],
        },
    )
    .await;
    if let Err(refused) = again {
        println!("  {refused}");
    }

    // A model version, trained: queued → running → completed, then served.
    let model = ModelVersion::create(
        conn,
        &scope,
        &NewModelVersion {
            name: "brand-voice",
            provider: "local",
            version: "2026-11",
            metadata: None,
        },
    )
    .await?;
    let job = TrainingJob::create(conn, &scope, &model.id, &json!({"epochs": 3})).await?;
    print!("training job {}: {}", job.id, job.status);
    let job = TrainingJob::set_status(conn, &scope, &job.id, TrainStatus::Running, None).await?;
    print!(" → {}", job.status);
    let loss = json!({"loss": 0.042});
    let job =
        TrainingJob::set_status(conn, &scope, &job.id, TrainStatus::Completed, Some(&loss)).await?;
    println!(" → {} ({})", job.status, loss);
    if let Err(refused) =
        TrainingJob::set_status(conn, &scope, &job.id, TrainStatus::Running, None).await
    {
        println!("  {refused}");
    }
    let endpoint = InferenceEndpoint::create(
        conn,
        &scope,
        &NewInferenceEndpoint {
            model_version_id: Some(&model.id),
            name: "Brand voice",
            slug: "brand-voice",
            status: "active",
            config: Some(&json!({"replicas": 1})),
        },
    )
    .await?;
    println!(
        "endpoint {} serves {} ({})",
        endpoint.slug, model.name, endpoint.status
    );
    Ok(())
}

/// Deletes what an earlier run left: the organization (its rows cascade) and the owner.
async fn start_over(conn: &mut AsyncPgConnection) -> Result<(), Box<dyn Error>> {
    if let Ok(grace) = User::by_email(conn, OWNER).await {
        if let Some(org) = Organization::by_slug(conn, &grace.id, SLUG).await? {
            let owner = authorize(conn, &org.id, &grace.id, keys::ORGANIZATION_DELETE).await?;
            Organization::delete(conn, &owner).await?;
        }
        User::delete(conn, &grace.id).await?;
    }
    Ok(())
}
