//! What the repositories do with good input: upserts, run metrics and durations, pages
//! ordered on `startedAt`, deletions that cascade or detach as the foreign keys say.

use neonhub_agents::*;
use neonhub_testing::fixtures::agents::workshop;
use neonhub_testing::{TestDatabase, test_connection};
use serde_json::json;

#[tokio::test]
async fn a_config_set_twice_keeps_one_row_with_the_later_value() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let first = AgentConfig::set(
        &mut conn,
        &w.scope,
        &w.agent.id,
        "daily_send_cap",
        &json!(5000),
    )
    .await
    .unwrap();
    let second = AgentConfig::set(
        &mut conn,
        &w.scope,
        &w.agent.id,
        "daily_send_cap",
        &json!(100),
    )
    .await
    .unwrap();
    assert_eq!(first.id, second.id, "the upsert keeps the row");
    assert_eq!(second.value, json!(100));
    assert!(second.updated_at >= first.updated_at);
    AgentConfig::set(&mut conn, &w.scope, &w.agent.id, "a_first", &json!(true))
        .await
        .unwrap();
    let keys: Vec<String> = AgentConfig::list(&mut conn, &w.scope, &w.agent.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(keys, ["a_first", "daily_send_cap"]);
    let got = AgentConfig::get(&mut conn, &w.scope, &w.agent.id, "daily_send_cap")
        .await
        .unwrap();
    assert_eq!(got.unwrap().value, json!(100));
    assert!(
        AgentConfig::delete(&mut conn, &w.scope, &w.agent.id, "a_first")
            .await
            .unwrap()
    );
    assert!(
        !AgentConfig::delete(&mut conn, &w.scope, &w.agent.id, "a_first")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn racing_config_sets_leave_one_row() {
    let db = TestDatabase::migrated().await;
    let mut setup = db.connect_as_app().await;
    let w = workshop(&mut setup).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut conn = db.connect_as_app().await;
        let (scope, agent) = (w.scope.clone(), w.agent.id.clone());
        tasks.push(tokio::spawn(async move {
            AgentConfig::set(&mut conn, &scope, &agent, "k", &json!(i)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let configs = AgentConfig::list(&mut setup, &w.scope, &w.agent.id)
        .await
        .unwrap();
    assert_eq!(configs.len(), 1);
}

#[tokio::test]
async fn a_finished_run_holds_its_status_output_metrics_and_duration() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let meta = json!({"model": "small"});
    let metrics = [
        NewAgentRunMetric {
            name: "tokens",
            value: Some(1200.0),
            metadata: Some(&meta),
        },
        NewAgentRunMetric {
            name: "cost_usd",
            value: Some(0.02),
            metadata: None,
        },
    ];
    let output = json!({"sent": 3});
    let run = AgentRun::finish(
        &mut conn,
        &w.scope,
        &w.run.id,
        &RunOutcome {
            status: RunStatus::Completed,
            output: Some(&output),
            metrics: &metrics,
        },
    )
    .await
    .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output, Some(output));
    let duration = run.duration().expect("a finished run has a duration");
    assert!(duration.num_milliseconds() >= 0);
    let summary = run.metrics.unwrap();
    assert_eq!(summary["durationMs"], json!(duration.num_milliseconds()));
    assert_eq!(summary["tokens"], json!(1200.0));
    let rows = AgentRun::metrics(&mut conn, &w.scope, &w.run.id)
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["cost_usd", "tokens"]);
    assert_eq!(rows[1].metadata, Some(meta));
}

#[tokio::test]
async fn runs_page_newest_first_on_their_start() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    for i in 0..5 {
        AgentRun::start(
            &mut conn,
            &w.scope,
            &NewAgentRun {
                agent_id: &w.agent.id,
                dataset_id: None,
                input: &json!({"i": i}),
            },
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = AgentRun::list(&mut conn, &w.scope, &w.agent.id, &request)
            .await
            .unwrap();
        seen.extend(page.items);
        match page.next {
            Some(cursor) => request = PageRequest::after(2, cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "five runs and the workshop's");
    let keys: Vec<_> = seen
        .iter()
        .map(|r| (r.started_at, r.id.to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "newest first, no repeats");
    sorted.dedup();
    assert_eq!(sorted.len(), 6);
}

#[tokio::test]
async fn deleting_an_agent_removes_its_own_rows_and_unassigns_its_tools() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    AgentCapability::create(
        &mut conn,
        &w.scope,
        &w.agent.id,
        &NewAgentCapability {
            name: "c",
            config: None,
        },
    )
    .await
    .unwrap();
    AgentConfig::set(&mut conn, &w.scope, &w.agent.id, "k", &json!(1))
        .await
        .unwrap();
    Agent::delete(&mut conn, &w.scope, &w.agent.id)
        .await
        .unwrap();
    assert!(matches!(
        Agent::get(&mut conn, &w.scope, &w.agent.id).await,
        Err(AgentError::NotFound { .. })
    ));
    assert!(matches!(
        AgentRun::get(&mut conn, &w.scope, &w.run.id).await,
        Err(AgentError::NotFound { .. })
    ));
    let tool = Tool::get(&mut conn, &w.scope, &w.tool.id).await.unwrap();
    assert_eq!(tool.agent_id, None, "the tool stays, unassigned");
    assert!(matches!(
        Agent::delete(&mut conn, &w.scope, &w.agent.id).await,
        Err(AgentError::NotFound { .. })
    ));
}

#[tokio::test]
async fn updates_change_what_they_name_and_nothing_else() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let cap = AgentCapability::create(
        &mut conn,
        &w.scope,
        &w.agent.id,
        &NewAgentCapability {
            name: "c",
            config: Some(&json!({"a": 1})),
        },
    )
    .await
    .unwrap();
    let same = AgentCapability::update(&mut conn, &w.scope, &cap.id, &Default::default())
        .await
        .unwrap();
    assert_eq!(same, cap);
    let cleared = AgentCapability::update(
        &mut conn,
        &w.scope,
        &cap.id,
        &AgentCapabilityChanges {
            config: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((cleared.name.as_str(), cleared.config), ("c", None));

    let renamed = Agent::update(
        &mut conn,
        &w.scope,
        &w.agent.id,
        &AgentChanges {
            slug: Some("mailer-2"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (renamed.slug.as_str(), renamed.name.as_str()),
        ("mailer-2", "Mailer")
    );
    assert_eq!(
        renamed.status,
        AgentStatus::Active,
        "update never moves the status"
    );
    assert!(
        Agent::by_slug(&mut conn, &w.scope, "mailer")
            .await
            .unwrap()
            .is_none()
    );

    let endpoint = InferenceEndpoint::create(
        &mut conn,
        &w.scope,
        &NewInferenceEndpoint {
            model_version_id: Some(&w.model.id),
            name: "Serve",
            slug: "serve",
            status: "draft",
            config: None,
        },
    )
    .await
    .unwrap();
    let live = InferenceEndpoint::update(
        &mut conn,
        &w.scope,
        &endpoint.id,
        &InferenceEndpointChanges {
            status: Some("active"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(live.status, "active");
    assert_eq!(
        InferenceEndpoint::by_slug(&mut conn, &w.scope, "serve")
            .await
            .unwrap(),
        Some(live)
    );
    ModelVersion::delete(&mut conn, &w.scope, &w.model.id)
        .await
        .unwrap();
    let detached = InferenceEndpoint::get(&mut conn, &w.scope, &endpoint.id)
        .await
        .unwrap();
    assert_eq!(
        detached.model_version_id, None,
        "the endpoint stays, detached"
    );
}
