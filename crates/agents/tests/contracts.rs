//! Tool contracts: inputs and outputs are checked against the tool's JSON Schemas, a
//! violation names its JSON path, an invalid schema is refused when the tool is saved, and
//! a schema's remote `$ref` is never fetched.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use neonhub_agents::*;
use neonhub_testing::fixtures::agents::{Workshop, workshop};
use neonhub_testing::test_connection;
use serde_json::{Value, json};

async fn start(
    conn: &mut diesel_async::AsyncPgConnection,
    w: &Workshop,
    input: &Value,
) -> Result<ToolExecution, AgentError> {
    ToolExecution::start(
        conn,
        &w.scope,
        &NewToolExecution {
            tool_id: &w.tool.id,
            agent_run_id: Some(&w.run.id),
            input,
            metadata: None,
        },
    )
    .await
}

async fn executions(conn: &mut diesel_async::AsyncPgConnection, w: &Workshop) -> usize {
    ToolExecution::list(conn, &w.scope, &w.run.id, &PageRequest::default())
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn a_valid_input_and_output_pass() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let call = start(
        &mut conn,
        &w,
        &json!({"to": "ada@example.com", "subject": "Hi", "tags": ["launch"]}),
    )
    .await
    .unwrap();
    assert_eq!(call.status, RunStatus::Running);
    let done = ToolExecution::finish(
        &mut conn,
        &w.scope,
        &call.id,
        RunStatus::Completed,
        Some(&json!({"messageId": "m-1"})),
    )
    .await
    .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert!(done.completed_at.is_some());
}

#[tokio::test]
async fn an_invalid_input_is_refused_with_its_path_and_nothing_is_written() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let cases = [
        (
            json!({"to": "ada@example.com", "subject": "Hi", "tags": ["ok", 7]}),
            "/tags/1",
        ),
        (json!({"to": "not-an-email", "subject": "Hi"}), "/to"),
        (json!({"to": "ada@example.com", "subject": ""}), "/subject"),
        (json!({"to": "ada@example.com"}), ""),
        (json!("a string"), ""),
    ];
    for (input, path) in cases {
        match start(&mut conn, &w, &input).await {
            Err(AgentError::ContractViolation {
                tool,
                side,
                path: got,
                message,
            }) => {
                assert_eq!(tool, "send-email");
                assert_eq!(side, ContractSide::Input);
                assert_eq!(got, path, "{input}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{input}: expected a contract violation, got {other:?}"),
        }
    }
    assert_eq!(
        executions(&mut conn, &w).await,
        0,
        "a refused call was recorded"
    );
}

#[tokio::test]
async fn a_completed_output_must_satisfy_the_output_schema() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let call = start(&mut conn, &w, &json!({"to": "a@b.c", "subject": "s"}))
        .await
        .unwrap();
    for output in [Some(json!({"messageId": 42})), Some(json!({})), None] {
        let err = ToolExecution::finish(
            &mut conn,
            &w.scope,
            &call.id,
            RunStatus::Completed,
            output.as_ref(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                &err,
                AgentError::ContractViolation {
                    side: ContractSide::Output,
                    ..
                }
            ),
            "{output:?}: {err:?}"
        );
    }
    let still = ToolExecution::get(&mut conn, &w.scope, &call.id)
        .await
        .unwrap();
    assert_eq!(
        still.status,
        RunStatus::Running,
        "a refused finish changed the call"
    );
    // A failure's output is what the tool said went wrong, not its contract's result.
    let failed = ToolExecution::finish(
        &mut conn,
        &w.scope,
        &call.id,
        RunStatus::Failed,
        Some(&json!({"error": "SMTP 550"})),
    )
    .await
    .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
}

fn tool<'a>(slug: &'a str, input: Option<&'a Value>, output: Option<&'a Value>) -> NewTool<'a> {
    NewTool {
        agent_id: None,
        name: "T",
        slug,
        description: None,
        input_schema: input,
        output_schema: output,
    }
}

#[tokio::test]
async fn a_schema_that_is_not_a_json_schema_is_refused_when_the_tool_is_saved() {
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let invalid = [
        json!({"type": 12}),
        json!({"type": "objekt"}),
        json!({"properties": {"a": {"minLength": -1}}}),
        json!({"required": "to"}),
        json!(42),
    ];
    for schema in &invalid {
        for (input, output, field) in [
            (Some(schema), None, "inputSchema"),
            (None, Some(schema), "outputSchema"),
        ] {
            let err = Tool::create(&mut conn, &w.scope, &tool("bad", input, output))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, AgentError::InvalidSchema { field: f, .. } if *f == field),
                "{schema} as {field}: {err:?}"
            );
        }
        let err = Tool::update(
            &mut conn,
            &w.scope,
            &w.tool.id,
            &ToolChanges {
                input_schema: Some(Some(schema)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, AgentError::InvalidSchema { .. }), "{err:?}");
    }
    assert!(
        Tool::by_slug(&mut conn, &w.scope, "bad")
            .await
            .unwrap()
            .is_none()
    );
    let unchanged = Tool::get(&mut conn, &w.scope, &w.tool.id).await.unwrap();
    assert_eq!(unchanged, w.tool);
}

#[tokio::test]
async fn a_ref_to_a_url_is_refused_and_never_fetched() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/schema.json", listener.local_addr().unwrap());
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let remote = json!({"$ref": url});
    let nested = json!({"type": "object", "properties": {"to": {"$ref": url}}});
    for schema in [&remote, &nested] {
        let err = Tool::create(&mut conn, &w.scope, &tool("remote", Some(schema), None))
            .await
            .unwrap_err();
        assert!(matches!(err, AgentError::InvalidSchema { .. }), "{err:?}");
    }
    // A `$ref` inside the schema itself works: only remote documents are refused.
    let local = json!({
        "$defs": {"email": {"type": "string", "pattern": "@"}},
        "type": "object",
        "properties": {"to": {"$ref": "#/$defs/email"}}
    });
    let t = Tool::create(&mut conn, &w.scope, &tool("local", Some(&local), None))
        .await
        .unwrap();
    assert!(t.check_input(&json!({"to": "a@b"})).is_ok());
    let err = t.check_input(&json!({"to": "nope"})).unwrap_err();
    assert!(matches!(err, AgentError::ContractViolation { ref path, .. } if path == "/to"));

    std::thread::sleep(Duration::from_millis(100));
    match listener.accept() {
        Ok((mut stream, _)) => {
            let mut request = String::new();
            let _ = stream.read_to_string(&mut request);
            panic!("the validator connected to the $ref's server: {request:?}");
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
}
