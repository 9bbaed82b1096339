//! Bad and hostile input to `neonhub-identity`: every failure typed and named, no panic,
//! nothing left behind (the reproductions of the Bad input II battery).

use chrono::NaiveDate;
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, sql_query};
use diesel_async::RunQueryDsl;
use neonhub_identity::*;
use neonhub_schema::ids::OrganizationId;
use neonhub_schema::{Denied, InvalidData};
use neonhub_testing::fixtures::identity::*;
use neonhub_testing::test_connection;
use serde_json::json;

/// `err` names the unknown `label` read from `column`.
fn unknown_label(err: &IdentityError, column: &str, label: &str) {
    match err {
        IdentityError::Invalid(InvalidData::UnknownLabel {
            column: c,
            label: l,
        }) if c == column && l.label == label => {}
        other => panic!("expected unknown label {label:?} in {column}, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_labels_read_back_are_typed_and_named() {
    let mut conn = test_connection().await;
    let o = Org::builder()
        .member(DefaultRole::Member)
        .build(&mut conn)
        .await;
    let owner = authorize(&mut conn, &o.org.id, &o.owner, keys::TASKS_WRITE)
        .await
        .unwrap();
    let task = Task::create(
        &mut conn,
        &owner,
        &NewTask {
            title: "t",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let feedback = Feedback::open(
        &mut conn,
        &owner,
        &NewFeedback {
            kind: "bug",
            title: "t",
            description: "d",
            ..Default::default()
        },
    )
    .await
    .unwrap();

    neonhub_testing::as_owner(
        &mut conn,
        &format!(
            "UPDATE tasks SET status = 'blocked' WHERE id = '{}'",
            task.id
        ),
    )
    .await;
    let err = Task::get(&mut conn, &owner, &task.id).await.unwrap_err();
    unknown_label(&err, "status", "blocked");
    assert!(
        err.to_string().contains("tasks.status"),
        "names the table: {err}"
    );
    neonhub_testing::as_owner(
        &mut conn,
        &format!(
            "UPDATE tasks SET status = 'todo', priority = 'critical' WHERE id = '{}'",
            task.id
        ),
    )
    .await;
    unknown_label(
        &Task::get(&mut conn, &owner, &task.id).await.unwrap_err(),
        "priority",
        "critical",
    );

    neonhub_testing::as_owner(
        &mut conn,
        &format!(
            "UPDATE feedback SET status = 'wontfix' WHERE id = '{}'",
            feedback.id
        ),
    )
    .await;
    unknown_label(
        &Feedback::list(&mut conn, &owner, None).await.unwrap_err(),
        "status",
        "wontfix",
    );

    // A membership status nobody knows: authorize refuses it as invalid data, not an outage.
    let member = o.member(DefaultRole::Member);
    neonhub_testing::as_owner(
        &mut conn,
        &format!(
            r#"UPDATE organization_members SET status = 'banned' WHERE "userId" = '{member}'"#
        ),
    )
    .await;
    match authorize(&mut conn, &o.org.id, member, keys::TASKS_READ).await {
        Err(Denied::Invalid(InvalidData::UnknownLabel { label, .. })) => {
            assert_eq!(label.label, "banned")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_input_is_a_client_error_not_an_outage() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    // A NUL in the organization id: invalid, named, not Unavailable.
    match authorize(
        &mut conn,
        &OrganizationId::from_string("org\0x"),
        &o.owner,
        keys::TASKS_READ,
    )
    .await
    {
        Err(Denied::Invalid(InvalidData::NulByte { field })) => {
            assert!(field.contains("organizations"), "{field}")
        }
        other => panic!("{other:?}"),
    }
    let secret = "a".repeat(64);
    assert!(matches!(
        ApiKey::verify(&mut conn, &format!("nhk_ab\0c_{secret}"), keys::TASKS_READ).await,
        Err(ApiKeyRejected::Malformed)
    ));
    let err = Session::by_token(&mut conn, "tok\0en").await.unwrap_err();
    assert!(
        matches!(&err, IdentityError::Invalid(InvalidData::NulByte { field }) if field == "session token"),
        "{err}"
    );
    let owner = authorize(&mut conn, &o.org.id, &o.owner, keys::TASKS_WRITE)
        .await
        .unwrap();
    let err = Task::create(
        &mut conn,
        &owner,
        &NewTask {
            title: "a\0b",
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, IdentityError::Invalid(InvalidData::NulByte { field }) if field == "title"),
        "{err}"
    );
    let ancient = NaiveDate::from_ymd_opt(-4800, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let err = Task::create(
        &mut conn,
        &owner,
        &NewTask {
            title: "old",
            due_date: Some(ancient),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, IdentityError::Invalid(InvalidData::OutOfRange(m)) if m.contains("dueDate")),
        "{err}"
    );
    // The connection is still usable.
    Task::for_assignee(&mut conn, &owner, &o.owner, None)
        .await
        .unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_hundred_thousand_metric_events_go_in_one_call_or_not_at_all() {
    // Metric events are written by system code only (row-level security: read-only to
    // the application role), so this test acts as the owner.
    let mut conn = neonhub_testing::owner_test_connection().await;
    let meta = json!({"path": "/"});
    let events: Vec<NewMetricEvent<'_>> = (0..100_000)
        .map(|_| NewMetricEvent {
            kind: "page_view",
            meta: &meta,
        })
        .collect();
    let before: Count = sql_query("SELECT count(*) AS n FROM metric_events")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        MetricEvent::insert_many(&mut conn, &events).await.unwrap(),
        100_000
    );
    let after: Count = sql_query("SELECT count(*) AS n FROM metric_events")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(after.n - before.n, 100_000);

    // One bad event (its position named) and nothing of the batch is written.
    let bad = json!({"path": "\u{0}"});
    let mut events = events;
    events[99_999] = NewMetricEvent {
        kind: "page_view",
        meta: &bad,
    };
    match MetricEvent::insert_many(&mut conn, &events).await {
        Err(IdentityError::BatchRow {
            position: 99_999, ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let last: Count = sql_query("SELECT count(*) AS n FROM metric_events")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(last.n, after.n);
}
