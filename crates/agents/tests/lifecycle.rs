//! The two state machines: every transition the lifecycle does not list is refused with
//! both states named and nothing changed, and of two racing transitions exactly one wins.

use neonhub_agents::*;
use neonhub_testing::fixtures::agents::workshop;
use neonhub_testing::fixtures::scoped_organization;
use neonhub_testing::{TestDatabase, test_connection};
use serde_json::json;

/// The shortest legal path from a new agent (DRAFT) to `status`.
fn path_to(status: AgentStatus) -> &'static [AgentStatus] {
    use AgentStatus::*;
    match status {
        Draft => &[],
        Active => &[Active],
        Paused => &[Active, Paused],
        Disabled => &[Active, Paused, Disabled],
    }
}

#[tokio::test]
async fn every_agent_transition_outside_the_lifecycle_is_refused() {
    let mut conn = test_connection().await;
    let scope = scoped_organization(&mut conn).await;
    let mut n = 0;
    let mut allowed = 0;
    for &from in AgentStatus::ALL {
        for &to in AgentStatus::ALL {
            n += 1;
            let slug = format!("agent-{n}");
            let agent = Agent::create(
                &mut conn,
                &scope,
                &NewAgent {
                    name: "A",
                    slug: &slug,
                    kind: AgentKind::Copilot,
                    description: None,
                    version: None,
                    config: None,
                },
            )
            .await
            .unwrap();
            assert_eq!(agent.status, AgentStatus::Draft, "a new agent is a draft");
            for &step in path_to(from) {
                Agent::set_status(&mut conn, &scope, &agent.id, step)
                    .await
                    .unwrap();
            }
            let result = Agent::set_status(&mut conn, &scope, &agent.id, to).await;
            let now = Agent::get(&mut conn, &scope, &agent.id).await.unwrap();
            if Agent::allows(from, to) {
                allowed += 1;
                assert_eq!(result.unwrap().status, to);
                assert_eq!(now.status, to);
            } else {
                match result {
                    Err(AgentError::AgentTransition { from: f, to: t, .. }) => {
                        assert_eq!((f, t), (from, to));
                        let message = AgentError::AgentTransition {
                            id: "x".into(),
                            from,
                            to,
                        }
                        .to_string();
                        assert!(
                            message.contains(&from.to_string())
                                && message.contains(&to.to_string())
                        );
                    }
                    other => panic!("{from} -> {to}: expected AgentTransition, got {other:?}"),
                }
                assert_eq!(
                    now.status, from,
                    "{from} -> {to} changed the row although refused"
                );
            }
        }
    }
    assert_eq!(
        allowed, 4,
        "DRAFT→ACTIVE, ACTIVE→PAUSED, PAUSED→ACTIVE, PAUSED→DISABLED"
    );
}

#[tokio::test]
async fn every_training_transition_outside_the_lifecycle_is_refused() {
    use TrainStatus::*;
    let mut conn = test_connection().await;
    let w = workshop(&mut conn).await;
    let path_to = |status: TrainStatus| -> &'static [TrainStatus] {
        match status {
            Queued => &[],
            Running => &[Running],
            Completed => &[Running, Completed],
            Failed => &[Running, Failed],
            Cancelled => &[Running, Cancelled],
        }
    };
    let mut allowed = 0;
    for &from in TrainStatus::ALL {
        for &to in TrainStatus::ALL {
            let job = TrainingJob::create(&mut conn, &w.scope, &w.model.id, &json!({"epochs": 3}))
                .await
                .unwrap();
            assert_eq!(job.status, Queued);
            for &step in path_to(from) {
                TrainingJob::set_status(&mut conn, &w.scope, &job.id, step, None)
                    .await
                    .unwrap();
            }
            let metrics = json!({"loss": 0.1});
            let result =
                TrainingJob::set_status(&mut conn, &w.scope, &job.id, to, Some(&metrics)).await;
            let now = TrainingJob::get(&mut conn, &w.scope, &job.id)
                .await
                .unwrap();
            if TrainingJob::allows(from, to) {
                allowed += 1;
                let moved = result.unwrap();
                assert_eq!((moved.status, now.status), (to, to));
                assert_eq!(now.completed_at.is_some(), to != Running);
                if to != Running {
                    assert_eq!(now.metrics, Some(metrics));
                }
            } else {
                assert!(
                    matches!(result, Err(AgentError::TrainingTransition { from: f, to: t, .. }) if (f, t) == (from, to)),
                    "{from} -> {to}: {result:?}"
                );
                assert_eq!(
                    now.status, from,
                    "{from} -> {to} changed the row although refused"
                );
            }
        }
    }
    assert_eq!(
        allowed, 4,
        "queued→running, running→completed|failed|cancelled"
    );
}

/// Two connections of the application role race the same change, released together.
#[tokio::test]
async fn of_two_racing_transitions_exactly_one_wins() {
    let db = TestDatabase::migrated().await;
    let mut setup = db.connect_as_app().await;
    let w = workshop(&mut setup).await;
    let draft = Agent::create(
        &mut setup,
        &w.scope,
        &NewAgent {
            name: "Racer",
            slug: "racer",
            kind: AgentKind::Analyst,
            description: None,
            version: None,
            config: None,
        },
    )
    .await
    .unwrap();
    let job = TrainingJob::create(&mut setup, &w.scope, &w.model.id, &json!({}))
        .await
        .unwrap();
    TrainingJob::set_status(&mut setup, &w.scope, &job.id, TrainStatus::Running, None)
        .await
        .unwrap();

    for round in 0..5 {
        // Agents: two activations of one draft (round 0), then pause/disable races.
        let (mut a, mut b) = (db.connect_as_app().await, db.connect_as_app().await);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let (to_a, to_b) = match round {
            0 => (AgentStatus::Active, AgentStatus::Active),
            1 => (AgentStatus::Paused, AgentStatus::Paused),
            2 => (AgentStatus::Active, AgentStatus::Disabled),
            _ => (AgentStatus::Paused, AgentStatus::Active),
        };
        let before = Agent::get(&mut setup, &w.scope, &draft.id)
            .await
            .unwrap()
            .status;
        let (scope_a, scope_b) = (w.scope.clone(), w.scope.clone());
        let (id_a, id_b) = (draft.id.clone(), draft.id.clone());
        let (ba, bb) = (barrier.clone(), barrier.clone());
        let ta = tokio::spawn(async move {
            ba.wait().await;
            Agent::set_status(&mut a, &scope_a, &id_a, to_a).await
        });
        let tb = tokio::spawn(async move {
            bb.wait().await;
            Agent::set_status(&mut b, &scope_b, &id_b, to_b).await
        });
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        let wins = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        let legal = [to_a, to_b]
            .iter()
            .filter(|to| Agent::allows(before, **to))
            .count();
        // Two changes that chain (ACTIVE → PAUSED, then PAUSED → ACTIVE) may both win, one
        // after the other: each conditional UPDATE saw the other's result.
        let chained =
            |x: AgentStatus, y: AgentStatus| Agent::allows(before, x) && Agent::allows(x, y);
        if legal == 0 {
            assert_eq!(wins, 0, "round {round}: nothing legal from {before}");
        } else if wins == 2 {
            assert!(
                chained(to_a, to_b) || chained(to_b, to_a),
                "round {round} from {before}: both won without a legal chain: {ra:?} / {rb:?}"
            );
        } else {
            assert_eq!(wins, 1, "round {round} from {before}: {ra:?} / {rb:?}");
            let loser = if ra.is_ok() { &rb } else { &ra };
            assert!(
                matches!(loser, Err(AgentError::AgentTransition { .. })),
                "round {round}: the loser got {loser:?}"
            );
        }
        let winners: Vec<AgentStatus> = [ra, rb]
            .into_iter()
            .filter_map(Result::ok)
            .map(|a| a.status)
            .collect();
        let after = Agent::get(&mut setup, &w.scope, &draft.id).await.unwrap();
        if !winners.is_empty() {
            assert!(
                winners.contains(&after.status),
                "round {round}: ended {} after {winners:?}",
                after.status
            );
        }
    }

    // Training: completed and cancelled race from running; one end only.
    let (mut a, mut b) = (db.connect_as_app().await, db.connect_as_app().await);
    let (scope_a, scope_b) = (w.scope.clone(), w.scope.clone());
    let (id_a, id_b) = (job.id.clone(), job.id.clone());
    let ta = tokio::spawn(async move {
        TrainingJob::set_status(&mut a, &scope_a, &id_a, TrainStatus::Completed, None).await
    });
    let tb = tokio::spawn(async move {
        TrainingJob::set_status(&mut b, &scope_b, &id_b, TrainStatus::Cancelled, None).await
    });
    let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
    assert_eq!(
        [&ra, &rb].iter().filter(|r| r.is_ok()).count(),
        1,
        "{ra:?} / {rb:?}"
    );
    let end = TrainingJob::get(&mut setup, &w.scope, &job.id)
        .await
        .unwrap();
    let winner = ra.or(rb).unwrap();
    assert_eq!(end.status, winner.status);
}

/// The race the conditional update exists for, made certain: the second change waits on
/// the first one's row lock, then finds the status it expected gone.
#[tokio::test]
async fn a_change_that_waited_on_a_concurrent_one_is_refused_with_what_it_found() {
    use diesel_async::AsyncConnection;
    let db = TestDatabase::migrated().await;
    let mut setup = db.connect_as_app().await;
    let w = workshop(&mut setup).await;
    Agent::set_status(&mut setup, &w.scope, &w.agent.id, AgentStatus::Paused)
        .await
        .unwrap();
    let mut first = db.connect_as_app().await;
    let (tx_started, started) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (scope, id) = (w.scope.clone(), w.agent.id.clone());
    let holder = tokio::spawn(async move {
        first
            .transaction::<_, AgentError, _>(async |tx| {
                Agent::set_status(tx, &scope, &id, AgentStatus::Disabled).await?;
                tx_started.send(()).unwrap();
                released.await.unwrap();
                Ok(())
            })
            .await
    });
    started.await.unwrap();
    let mut second = db.connect_as_app().await;
    let (scope, id) = (w.scope.clone(), w.agent.id.clone());
    let waiter = tokio::spawn(async move {
        Agent::set_status(&mut second, &scope, &id, AgentStatus::Active).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !waiter.is_finished(),
        "the second change must wait for the first's lock"
    );
    release.send(()).unwrap();
    holder.await.unwrap().unwrap();
    match waiter.await.unwrap() {
        Err(AgentError::AgentTransition { from, to, .. }) => {
            assert_eq!((from, to), (AgentStatus::Disabled, AgentStatus::Active));
        }
        other => panic!("expected the loser refused from DISABLED, got {other:?}"),
    }
}
