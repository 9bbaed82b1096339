//! Bad input gets a typed error naming the problem, and nothing is written.

use neonhub_agents::*;
use neonhub_schema::InvalidData;
use neonhub_testing::fixtures::agents::{Workshop, workshop};
use neonhub_testing::fixtures::scoped_organization;
use neonhub_testing::{as_owner, test_connection};
use serde_json::{Value, json};

fn agent(slug: &str) -> NewAgent<'_> {
    NewAgent {
        name: "A",
        slug,
        kind: AgentKind::Workflow,
        description: None,
        version: None,
        config: None,
    }
}

async fn agent_count(conn: &mut diesel_async::AsyncPgConnection, w: &Workshop) -> usize {
    Agent::list(conn, &w.scope, &PageRequest::first(500))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn a_slug_that_is_empty_huge_or_not_url_safe_is_refused() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let huge = "a".repeat(10 * 1024);
    for slug in ["", huge.as_str()] {
        let err = Agent::create(&mut conn, &w.scope, &agent(slug))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AgentError::Invalid(InvalidData::Length { field, len, min: 1, max: 128 })
                if field == "slug" && *len == slug.len()),
            "{err:?}"
        );
    }
    for slug in ["Has Space", "UPPER", "emoji-😀", "a/b", "nul\0"] {
        let err = Agent::create(&mut conn, &w.scope, &agent(slug))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                AgentError::Invalid(InvalidData::Slug { .. } | InvalidData::NulByte { .. })
            ),
            "{slug:?}: {err:?}"
        );
    }
    // The same rule on update and for tools and endpoints.
    let err = Agent::update(
        &mut conn,
        &w.scope,
        &w.agent.id,
        &AgentChanges {
            slug: Some(""),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::Length { .. })),
        "{err:?}"
    );
    let err = Tool::create(
        &mut conn,
        &w.scope,
        &NewTool {
            agent_id: None,
            name: "T",
            slug: &huge,
            description: None,
            input_schema: None,
            output_schema: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::Length { .. })),
        "{err:?}"
    );
    assert_eq!(
        agent_count(&mut conn, &w).await,
        1,
        "only the workshop's agent exists"
    );
    assert_eq!(
        Agent::get(&mut conn, &w.scope, &w.agent.id)
            .await
            .unwrap()
            .slug,
        "mailer"
    );
}

#[tokio::test]
async fn a_taken_slug_is_a_typed_error() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let err = Agent::create(&mut conn, &w.scope, &agent("mailer"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::DuplicateSlug { entity: "agent", slug } if slug == "mailer"),
        "{err:?}"
    );
    // Another organization may use it.
    let other = scoped_organization(&mut conn).await;
    Agent::create(&mut conn, &other, &agent("mailer"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_config_value_of_ten_megabytes_is_refused() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let big = Value::String("x".repeat(10 * 1024 * 1024));
    let err = AgentConfig::set(&mut conn, &w.scope, &w.agent.id, "big", &big)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::Invalid(InvalidData::TooLarge { field, max, .. })
            if field == "value" && *max == limits::MAX_JSON_BYTES),
        "{err:?}"
    );
    let many = Value::Array(
        (0..200_000)
            .map(|i| json!({"i": i, "pad": "0123456789"}))
            .collect(),
    );
    let err = AgentConfig::set(&mut conn, &w.scope, &w.agent.id, "many", &many)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::TooLarge { .. })),
        "{err:?}"
    );
    let err = AgentConfig::set(&mut conn, &w.scope, &w.agent.id, "", &json!(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::Length { .. })),
        "{err:?}"
    );
    let err = AgentConfig::set(&mut conn, &w.scope, &w.agent.id, "k", &json!({"a\0": 1}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AgentError::Invalid(InvalidData::NulByte { .. })),
        "{err:?}"
    );
    assert!(
        AgentConfig::list(&mut conn, &w.scope, &w.agent.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_run_finished_twice_is_refused_and_keeps_its_first_outcome() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let metrics = [NewAgentRunMetric {
        name: "tokens",
        value: Some(120.0),
        metadata: None,
    }];
    let first = AgentRun::finish(
        &mut conn,
        &w.scope,
        &w.run.id,
        &RunOutcome {
            status: RunStatus::Completed,
            output: Some(&json!({"sent": 3})),
            metrics: &metrics,
        },
    )
    .await
    .unwrap();
    let again = [NewAgentRunMetric {
        name: "tokens",
        value: Some(1.0),
        metadata: None,
    }];
    let err = AgentRun::finish(
        &mut conn,
        &w.scope,
        &w.run.id,
        &RunOutcome {
            status: RunStatus::Failed,
            output: None,
            metrics: &again,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            AgentError::AlreadyFinished {
                status: RunStatus::Completed,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        AgentRun::get(&mut conn, &w.scope, &w.run.id).await.unwrap(),
        first
    );
    let rows = AgentRun::metrics(&mut conn, &w.scope, &w.run.id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the refused finish wrote metrics");
    assert_eq!(rows[0].value, Some(120.0));
    // A tool call cannot join a finished run.
    let err = ToolExecution::start(
        &mut conn,
        &w.scope,
        &NewToolExecution {
            tool_id: &w.tool.id,
            agent_run_id: Some(&w.run.id),
            input: &json!({"to": "a@b.c", "subject": "s"}),
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AgentError::AlreadyFinished { .. }), "{err:?}");
}

#[tokio::test]
async fn a_finish_that_is_not_an_end_or_a_metric_that_is_not_finite_is_refused() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    for status in [RunStatus::Queued, RunStatus::Running] {
        let err = AgentRun::finish(
            &mut conn,
            &w.scope,
            &w.run.id,
            &RunOutcome {
                status,
                output: None,
                metrics: &[],
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, AgentError::NotFinal(s) if s == status),
            "{err:?}"
        );
    }
    for value in [f64::NAN, f64::INFINITY] {
        let metrics = [NewAgentRunMetric {
            name: "m",
            value: Some(value),
            metadata: None,
        }];
        let err = AgentRun::finish(
            &mut conn,
            &w.scope,
            &w.run.id,
            &RunOutcome {
                status: RunStatus::Completed,
                output: None,
                metrics: &metrics,
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, AgentError::Invalid(InvalidData::OutOfRange(_))),
            "{err:?}"
        );
    }
    let run = AgentRun::get(&mut conn, &w.scope, &w.run.id).await.unwrap();
    assert_eq!((run.status, run.completed_at), (RunStatus::Running, None));
}

#[tokio::test]
async fn a_training_job_of_another_organizations_model_version_is_refused() {
    let mut conn = test_connection().await;
    let a = workshop(&mut conn).await;
    let b = workshop(&mut conn).await;
    let err = TrainingJob::create(&mut conn, &a.scope, &b.model.id, &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AgentError::ForeignParent { entity: "model version", id } if *id == b.model.id.to_string()),
        "{err:?}"
    );
    for w in [&a, &b] {
        let jobs = TrainingJob::list(&mut conn, &w.scope, &w.model.id, &PageRequest::default())
            .await
            .unwrap();
        assert!(jobs.items.is_empty(), "a job was written");
    }
    // The same for the other links: a run on another organization's dataset, a tool of its
    // agent, an endpoint of its model version.
    let dataset = neonhub_schema::ids::DatasetId::generate();
    as_owner(
        &mut conn,
        &format!(
            r#"INSERT INTO datasets (id, "organizationId", name, slug, kind, "createdAt", "updatedAt")
               VALUES ('{dataset}', '{}', 'D', 'd', 'documents', now(), now())"#,
            b.scope.organization_id()
        ),
    )
    .await;
    let err = AgentRun::start(
        &mut conn,
        &a.scope,
        &NewAgentRun {
            agent_id: &a.agent.id,
            dataset_id: Some(&dataset),
            input: &json!({}),
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::ForeignParent {
                entity: "dataset",
                ..
            }
        ),
        "{err:?}"
    );
    let err = Tool::create(
        &mut conn,
        &a.scope,
        &NewTool {
            agent_id: Some(&b.agent.id),
            name: "T",
            slug: "t",
            description: None,
            input_schema: None,
            output_schema: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::ForeignParent {
                entity: "agent",
                ..
            }
        ),
        "{err:?}"
    );
    let err = InferenceEndpoint::create(
        &mut conn,
        &a.scope,
        &NewInferenceEndpoint {
            model_version_id: Some(&b.model.id),
            name: "E",
            slug: "e",
            status: "draft",
            config: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::ForeignParent {
                entity: "model version",
                ..
            }
        ),
        "{err:?}"
    );
    let runs = AgentRun::list(&mut conn, &a.scope, &a.agent.id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "only the workshop's run");
}

#[tokio::test]
async fn a_run_of_an_agent_that_is_not_active_is_refused() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let draft = Agent::create(&mut conn, &w.scope, &agent("draft"))
        .await
        .unwrap();
    Agent::set_status(&mut conn, &w.scope, &w.agent.id, AgentStatus::Paused)
        .await
        .unwrap();
    for (id, status) in [
        (&draft.id, AgentStatus::Draft),
        (&w.agent.id, AgentStatus::Paused),
    ] {
        let err = AgentRun::start(
            &mut conn,
            &w.scope,
            &NewAgentRun {
                agent_id: id,
                dataset_id: None,
                input: &json!({}),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, AgentError::AgentNotActive { status: s, .. } if s == status),
            "{err:?}"
        );
    }
}
