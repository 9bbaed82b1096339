//! Every public operation of `neonhub-agents`, in one table with the permission key it
//! needs: a scope lacking the key is refused with `Denied` naming it and nothing is
//! written; the key alone is enough; and run in another organization's scope (holding every
//! key), no operation reads, changes or links to this organization's rows. The table is
//! checked against the source, so an operation added without an entry (or without its
//! permission check) fails a test.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_agents::*;
use neonhub_schema::ids::{OrganizationId, UserId};
use neonhub_schema::{Denied, PERMISSIONS, PermissionSet, TenantScope, keys};
use neonhub_testing::fixtures::agents::{Workshop, workshop};
use neonhub_testing::fixtures::scoped_organization;
use neonhub_testing::{owner_do, test_connection};
use serde_json::json;

/// The rows the operations work on, all in one organization.
struct Fx {
    w: Workshop,
    capability: AgentCapability,
    execution: ToolExecution,
    job: TrainingJob,
    endpoint: InferenceEndpoint,
    queued: neonhub_schema::ids::AgentJobId,
}

/// An operation's outcome: how many of the fixture organization's rows it returned.
type Run<'a> = Pin<Box<dyn Future<Output = Result<usize, AgentError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

fn op<F>(f: F) -> Op
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Box::new(f)
}

/// One public operation: its name as the source scanner spells it, the key it needs,
/// whether it names a row of the fixture's organization (an operation that only creates
/// a row of its own, such as `Agent::create`, does not), and how to call it.
struct Case {
    name: &'static str,
    key: &'static str,
    names_a_row: bool,
    run: Op,
}

fn case(name: &'static str, key: &'static str, run: Op) -> Case {
    Case {
        name,
        key,
        names_a_row: true,
        run,
    }
}

fn own_row(name: &'static str, key: &'static str, run: Op) -> Case {
    Case {
        name,
        key,
        names_a_row: false,
        run,
    }
}

fn one<T>(r: Result<T, AgentError>) -> Result<usize, AgentError> {
    r.map(|_| 1)
}

fn found<T>(r: Result<Option<T>, AgentError>) -> Result<usize, AgentError> {
    r.map(|o| usize::from(o.is_some()))
}

fn page<T>(r: Result<Page<T>, AgentError>) -> Result<usize, AgentError> {
    r.map(|p| p.items.len())
}

fn new_agent(slug: &str) -> NewAgent<'_> {
    NewAgent {
        name: "N",
        slug,
        kind: AgentKind::Analyst,
        description: None,
        version: None,
        config: None,
    }
}

/// Every public operation that takes a scope, with the key it needs.
fn operations() -> Vec<Case> {
    use keys::{AGENTS_MANAGE as MANAGE, AGENTS_READ as READ, AGENTS_RUN as RUN};
    let first = PageRequest::default;
    vec![
        own_row(
            "Agent::create",
            MANAGE,
            op(|c, s, _| {
                Box::pin(async move { one(Agent::create(c, s, &new_agent("other")).await) })
            }),
        ),
        case(
            "Agent::get",
            READ,
            op(|c, s, f| Box::pin(async move { one(Agent::get(c, s, &f.w.agent.id).await) })),
        ),
        case(
            "Agent::by_slug",
            READ,
            op(|c, s, _| Box::pin(async move { found(Agent::by_slug(c, s, "mailer").await) })),
        ),
        case(
            "Agent::list",
            READ,
            op(move |c, s, _| Box::pin(async move { page(Agent::list(c, s, &first()).await) })),
        ),
        case(
            "Agent::update",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let changes = AgentChanges {
                        name: Some("Renamed"),
                        ..Default::default()
                    };
                    one(Agent::update(c, s, &f.w.agent.id, &changes).await)
                })
            }),
        ),
        case(
            "Agent::set_status",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(Agent::set_status(c, s, &f.w.agent.id, AgentStatus::Paused).await)
                })
            }),
        ),
        case(
            "AgentCapability::create",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewAgentCapability {
                        name: "extra",
                        config: None,
                    };
                    one(AgentCapability::create(c, s, &f.w.agent.id, &new).await)
                })
            }),
        ),
        case(
            "AgentCapability::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(AgentCapability::get(c, s, &f.capability.id).await) })
            }),
        ),
        case(
            "AgentCapability::list",
            READ,
            op(move |c, s, f| {
                Box::pin(
                    async move { page(AgentCapability::list(c, s, &f.w.agent.id, &first()).await) },
                )
            }),
        ),
        case(
            "AgentCapability::update",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let changes = AgentCapabilityChanges {
                        name: Some("renamed"),
                        ..Default::default()
                    };
                    one(AgentCapability::update(c, s, &f.capability.id, &changes).await)
                })
            }),
        ),
        case(
            "AgentConfig::set",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(AgentConfig::set(c, s, &f.w.agent.id, "cap", &json!(9)).await)
                })
            }),
        ),
        case(
            "AgentConfig::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { found(AgentConfig::get(c, s, &f.w.agent.id, "cap").await) })
            }),
        ),
        case(
            "AgentConfig::list",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    AgentConfig::list(c, s, &f.w.agent.id)
                        .await
                        .map(|v| v.len())
                })
            }),
        ),
        case(
            "Tool::create",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewTool {
                        agent_id: Some(&f.w.agent.id),
                        name: "T2",
                        slug: "t2",
                        description: None,
                        input_schema: None,
                        output_schema: None,
                    };
                    one(Tool::create(c, s, &new).await)
                })
            }),
        ),
        case(
            "Tool::get",
            READ,
            op(|c, s, f| Box::pin(async move { one(Tool::get(c, s, &f.w.tool.id).await) })),
        ),
        case(
            "Tool::by_slug",
            READ,
            op(|c, s, _| Box::pin(async move { found(Tool::by_slug(c, s, "send-email").await) })),
        ),
        case(
            "Tool::list",
            READ,
            op(move |c, s, _| Box::pin(async move { page(Tool::list(c, s, &first()).await) })),
        ),
        case(
            "Tool::update",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let changes = ToolChanges {
                        name: Some("Renamed"),
                        ..Default::default()
                    };
                    one(Tool::update(c, s, &f.w.tool.id, &changes).await)
                })
            }),
        ),
        case(
            "AgentRun::start",
            RUN,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewAgentRun {
                        agent_id: &f.w.agent.id,
                        dataset_id: None,
                        input: &json!({}),
                    };
                    one(AgentRun::start(c, s, &new).await)
                })
            }),
        ),
        case(
            "AgentRun::get",
            READ,
            op(|c, s, f| Box::pin(async move { one(AgentRun::get(c, s, &f.w.run.id).await) })),
        ),
        case(
            "AgentRun::list",
            READ,
            op(move |c, s, f| {
                Box::pin(async move { page(AgentRun::list(c, s, &f.w.agent.id, &first()).await) })
            }),
        ),
        case(
            "ToolExecution::start",
            RUN,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewToolExecution {
                        tool_id: &f.w.tool.id,
                        agent_run_id: Some(&f.w.run.id),
                        input: &json!({"to": "a@b.c", "subject": "s"}),
                        metadata: None,
                    };
                    one(ToolExecution::start(c, s, &new).await)
                })
            }),
        ),
        case(
            "ToolExecution::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(ToolExecution::get(c, s, &f.execution.id).await) })
            }),
        ),
        case(
            "ToolExecution::list",
            READ,
            op(move |c, s, f| {
                Box::pin(
                    async move { page(ToolExecution::list(c, s, &f.w.run.id, &first()).await) },
                )
            }),
        ),
        case(
            "ToolExecution::finish",
            RUN,
            op(|c, s, f| {
                Box::pin(async move {
                    let out = json!({"messageId": "m"});
                    one(ToolExecution::finish(
                        c,
                        s,
                        &f.execution.id,
                        RunStatus::Completed,
                        Some(&out),
                    )
                    .await)
                })
            }),
        ),
        case(
            "AgentRun::finish",
            RUN,
            op(|c, s, f| {
                Box::pin(async move {
                    let metrics = [NewAgentRunMetric {
                        name: "tokens",
                        value: Some(12.0),
                        metadata: None,
                    }];
                    let outcome = RunOutcome {
                        status: RunStatus::Completed,
                        output: None,
                        metrics: &metrics,
                    };
                    one(AgentRun::finish(c, s, &f.w.run.id, &outcome).await)
                })
            }),
        ),
        case(
            "AgentRun::metrics",
            READ,
            op(|c, s, f| {
                Box::pin(async move { AgentRun::metrics(c, s, &f.w.run.id).await.map(|v| v.len()) })
            }),
        ),
        own_row(
            "ModelVersion::create",
            MANAGE,
            op(|c, s, _| {
                Box::pin(async move {
                    let new = NewModelVersion {
                        name: "m",
                        provider: "p",
                        version: "2",
                        metadata: None,
                    };
                    one(ModelVersion::create(c, s, &new).await)
                })
            }),
        ),
        case(
            "ModelVersion::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(ModelVersion::get(c, s, &f.w.model.id).await) })
            }),
        ),
        case(
            "ModelVersion::list",
            READ,
            op(move |c, s, _| {
                Box::pin(async move { page(ModelVersion::list(c, s, &first()).await) })
            }),
        ),
        case(
            "ModelVersion::update",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let changes = ModelVersionChanges {
                        version: Some("3"),
                        ..Default::default()
                    };
                    one(ModelVersion::update(c, s, &f.w.model.id, &changes).await)
                })
            }),
        ),
        case(
            "TrainingJob::create",
            MANAGE,
            op(|c, s, f| {
                Box::pin(
                    async move { one(TrainingJob::create(c, s, &f.w.model.id, &json!({})).await) },
                )
            }),
        ),
        case(
            "TrainingJob::get",
            READ,
            op(|c, s, f| Box::pin(async move { one(TrainingJob::get(c, s, &f.job.id).await) })),
        ),
        case(
            "TrainingJob::list",
            READ,
            op(move |c, s, f| {
                Box::pin(
                    async move { page(TrainingJob::list(c, s, &f.w.model.id, &first()).await) },
                )
            }),
        ),
        case(
            "TrainingJob::set_status",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(TrainingJob::set_status(c, s, &f.job.id, TrainStatus::Running, None).await)
                })
            }),
        ),
        case(
            "InferenceEndpoint::create",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewInferenceEndpoint {
                        model_version_id: Some(&f.w.model.id),
                        name: "E2",
                        slug: "e2",
                        status: "draft",
                        config: None,
                    };
                    one(InferenceEndpoint::create(c, s, &new).await)
                })
            }),
        ),
        case(
            "InferenceEndpoint::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { one(InferenceEndpoint::get(c, s, &f.endpoint.id).await) })
            }),
        ),
        case(
            "InferenceEndpoint::by_slug",
            READ,
            op(|c, s, _| {
                Box::pin(async move { found(InferenceEndpoint::by_slug(c, s, "serve").await) })
            }),
        ),
        case(
            "InferenceEndpoint::list",
            READ,
            op(move |c, s, _| {
                Box::pin(async move { page(InferenceEndpoint::list(c, s, &first()).await) })
            }),
        ),
        case(
            "InferenceEndpoint::update",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let changes = InferenceEndpointChanges {
                        status: Some("active"),
                        ..Default::default()
                    };
                    one(InferenceEndpoint::update(c, s, &f.endpoint.id, &changes).await)
                })
            }),
        ),
        own_row(
            "ensure_agent",
            MANAGE,
            op(|c, s, _| {
                Box::pin(async move {
                    one(seed::ensure_agent(c, s, &new_agent("seeded"), AgentStatus::Active).await)
                })
            }),
        ),
        case(
            "ensure_capability",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewAgentCapability {
                        name: "seeded",
                        config: None,
                    };
                    one(seed::ensure_capability(c, s, &f.w.agent.id, &new).await)
                })
            }),
        ),
        case(
            "ensure_config",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    one(seed::ensure_config(c, s, &f.w.agent.id, "seeded", &json!(1)).await)
                })
            }),
        ),
        case(
            "ensure_tool",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewTool {
                        agent_id: Some(&f.w.agent.id),
                        name: "S",
                        slug: "seeded",
                        description: None,
                        input_schema: None,
                        output_schema: None,
                    };
                    one(seed::ensure_tool(c, s, &new).await)
                })
            }),
        ),
        case(
            "Job::enqueue",
            RUN,
            op(|c, s, _| {
                Box::pin(async move {
                    one(Job::enqueue(c, s, &NewJob::new("mailer", &json!({}))).await)
                })
            }),
        ),
        case(
            "Job::enqueue_many",
            RUN,
            op(|c, s, _| {
                Box::pin(async move {
                    let input = json!({});
                    let jobs = [NewJob::new("mailer", &input), NewJob::new("mailer", &input)];
                    Job::enqueue_many(c, s, &jobs).await.map(|ids| ids.len())
                })
            }),
        ),
        case(
            "Job::get",
            READ,
            op(|c, s, f| Box::pin(async move { one(Job::get(c, s, &f.queued).await) })),
        ),
        case(
            "Job::list",
            READ,
            op(move |c, s, _| Box::pin(async move { page(Job::list(c, s, None, &first()).await) })),
        ),
        case(
            "Job::cancel",
            RUN,
            op(|c, s, f| Box::pin(async move { one(Job::cancel(c, s, &f.queued).await) })),
        ),
        // Deletions last, so the key-alone run reaches every operation with its rows.
        case(
            "AgentConfig::delete",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move {
                    AgentConfig::delete(c, s, &f.w.agent.id, "cap")
                        .await
                        .map(usize::from)
                })
            }),
        ),
        case(
            "AgentCapability::delete",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move { one(AgentCapability::delete(c, s, &f.capability.id).await) })
            }),
        ),
        case(
            "TrainingJob::delete",
            MANAGE,
            op(|c, s, f| Box::pin(async move { one(TrainingJob::delete(c, s, &f.job.id).await) })),
        ),
        case(
            "InferenceEndpoint::delete",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move { one(InferenceEndpoint::delete(c, s, &f.endpoint.id).await) })
            }),
        ),
        case(
            "AgentRun::delete",
            MANAGE,
            op(|c, s, f| Box::pin(async move { one(AgentRun::delete(c, s, &f.w.run.id).await) })),
        ),
        case(
            "Tool::delete",
            MANAGE,
            op(|c, s, f| Box::pin(async move { one(Tool::delete(c, s, &f.w.tool.id).await) })),
        ),
        case(
            "ModelVersion::delete",
            MANAGE,
            op(|c, s, f| {
                Box::pin(async move { one(ModelVersion::delete(c, s, &f.w.model.id).await) })
            }),
        ),
        case(
            "Agent::delete",
            MANAGE,
            op(|c, s, f| Box::pin(async move { one(Agent::delete(c, s, &f.w.agent.id).await) })),
        ),
    ]
}

async fn fixture(conn: &mut AsyncPgConnection) -> Fx {
    let w = workshop(conn).await;
    let capability = AgentCapability::create(
        conn,
        &w.scope,
        &w.agent.id,
        &NewAgentCapability {
            name: "draft-copy",
            config: Some(&json!({"tone": "warm"})),
        },
    )
    .await
    .unwrap();
    AgentConfig::set(conn, &w.scope, &w.agent.id, "cap", &json!(5))
        .await
        .unwrap();
    let execution = ToolExecution::start(
        conn,
        &w.scope,
        &NewToolExecution {
            tool_id: &w.tool.id,
            agent_run_id: Some(&w.run.id),
            input: &json!({"to": "a@b.c", "subject": "s"}),
            metadata: None,
        },
    )
    .await
    .unwrap();
    let job = TrainingJob::create(conn, &w.scope, &w.model.id, &json!({"epochs": 1}))
        .await
        .unwrap();
    let endpoint = InferenceEndpoint::create(
        conn,
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
    // A queued job (enqueued as the owner: the fixture's scope acts for no user).
    let queued = neonhub_schema::ids::AgentJobId::generate();
    neonhub_testing::as_owner(
        conn,
        &format!(
            r#"INSERT INTO agent_jobs (id, "organizationId", agent, input, status, "createdAt", "updatedAt")
               VALUES ('{queued}', '{}', 'mailer', '{{}}', 'queued', now(), now())"#,
            w.scope.organization_id()
        ),
    )
    .await;
    Fx {
        w,
        capability,
        execution,
        job,
        endpoint,
        queued,
    }
}

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    digest: String,
}

/// A digest of every row of the crate's tables that belongs to `org` (or of every row,
/// with `None`), read as the owner so row-level security hides nothing.
async fn digest(conn: &mut AsyncPgConnection, org: Option<&OrganizationId>) -> String {
    let org = org.map_or("%".to_owned(), ToString::to_string);
    let sql = format!(
        r#"SELECT coalesce(md5(string_agg(r, '|' ORDER BY r)), '') AS digest FROM (
            SELECT a::text AS r FROM agents a WHERE a."organizationId" LIKE '{org}'
            UNION ALL SELECT c::text FROM agent_capabilities c JOIN agents a ON a.id = c."agentId" WHERE a."organizationId" LIKE '{org}'
            UNION ALL SELECT c::text FROM agent_configs c JOIN agents a ON a.id = c."agentId" WHERE a."organizationId" LIKE '{org}'
            UNION ALL SELECT t::text FROM tools t WHERE t."organizationId" LIKE '{org}'
            UNION ALL SELECT r::text FROM agent_runs r WHERE r."organizationId" LIKE '{org}'
            UNION ALL SELECT m::text FROM agent_run_metrics m JOIN agent_runs r ON r.id = m."agentRunId" WHERE r."organizationId" LIKE '{org}'
            UNION ALL SELECT e::text FROM tool_executions e JOIN tools t ON t.id = e."toolId" WHERE t."organizationId" LIKE '{org}'
            UNION ALL SELECT v::text FROM model_versions v WHERE v."organizationId" LIKE '{org}'
            UNION ALL SELECT j::text FROM training_jobs j JOIN model_versions v ON v.id = j."modelVersionId" WHERE v."organizationId" LIKE '{org}'
            UNION ALL SELECT p::text FROM inference_endpoints p WHERE p."organizationId" LIKE '{org}'
            UNION ALL SELECT j::text FROM agent_jobs j WHERE j."organizationId" LIKE '{org}'
        ) rows"#
    );
    owner_do(conn, async |c| {
        sql_query(sql).get_result::<Digest>(c).await.unwrap().digest
    })
    .await
}

fn scope_without(fx: &Fx, missing: &str) -> TenantScope {
    TenantScope::for_member(
        fx.w.scope.organization_id().clone(),
        UserId::generate(),
        PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != missing)),
    )
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|case| (case.name.to_owned(), case.key.to_owned()))
        .collect();
    assert_eq!(
        listed,
        neonhub_testing::source::keys_required_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
    );
}

#[tokio::test]
async fn a_scope_lacking_the_key_is_refused_and_writes_nothing() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let before = digest(&mut conn, None).await;
    for case in operations() {
        let scope = scope_without(&fx, case.key);
        let err = (case.run)(&mut conn, &scope, &fx).await.unwrap_err();
        assert!(
            matches!(&err, AgentError::Denied(Denied::MissingPermission { key: k, .. }) if k == case.key),
            "{} without {}: {err}",
            case.name,
            case.key
        );
        assert_eq!(
            digest(&mut conn, None).await,
            before,
            "{} wrote although refused",
            case.name
        );
    }
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    for case in operations() {
        let scope = TenantScope::for_member(
            fx.w.scope.organization_id().clone(),
            UserId::generate(),
            PermissionSet::of([case.key]),
        );
        // Whatever else may fail (a row an earlier entry deleted), it is not the permission.
        if let Err(AgentError::Denied(denied)) = (case.run)(&mut conn, &scope, &fx).await {
            panic!("{} with {} alone: {denied}", case.name, case.key);
        }
    }
}

#[tokio::test]
async fn another_organization_reads_changes_and_links_to_none_of_its_rows() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    let org = fx.w.scope.organization_id().clone();
    // A member scope holding every key: a job needs a creator to act for.
    let other = TenantScope::for_member(
        scoped_organization(&mut conn)
            .await
            .organization_id()
            .clone(),
        UserId::generate(),
        PermissionSet::of(PERMISSIONS.iter().map(|p| p.key)),
    );
    let before = digest(&mut conn, Some(&org)).await;
    let mut refused = 0;
    // The operations that make rows of the other organization's own go last, so every
    // finder and list before them sees an organization holding nothing: any row returned
    // is this one's.
    let mut cases = operations();
    cases.sort_by_key(|case| !case.names_a_row);
    for case in cases {
        let outcome = (case.run)(&mut conn, &other, &fx).await;
        if case.names_a_row {
            match outcome {
                Err(
                    AgentError::NotFound { .. }
                    | AgentError::ForeignParent { .. }
                    | AgentError::UnknownAgent(_),
                ) => refused += 1,
                Err(AgentError::BatchRow { source, .. })
                    if matches!(*source, AgentError::UnknownAgent(_)) =>
                {
                    refused += 1
                }
                Ok(0) => {}
                other => panic!("{} in another organization: {other:?}", case.name),
            }
        } else {
            outcome.unwrap_or_else(|e| panic!("{} in its own organization: {e}", case.name));
        }
        assert_eq!(
            digest(&mut conn, Some(&org)).await,
            before,
            "{} from another organization changed this one's rows",
            case.name
        );
    }
    assert!(refused >= 35, "only {refused} operations were refused");
}
