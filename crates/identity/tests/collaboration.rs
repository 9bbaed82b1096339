//! User settings, team members, tasks, feedback and metric events; and two organizations
//! and two users that never reach each other's rows.

use chrono::Duration;
use neonhub_identity::*;
use neonhub_schema::TenantScope;
use neonhub_schema::ids::UserId;
use neonhub_schema::time;
use neonhub_testing::fixtures::identity::*;
use neonhub_testing::{TestDatabase, fixtures, test_connection};
use serde_json::json;

#[tokio::test]
async fn settings_are_created_with_the_catalog_defaults_on_first_read() {
    let mut conn = test_connection().await;
    let user = fixtures::user(&mut conn).await;
    let s = UserSettings::get(&mut conn, &user).await.unwrap();
    assert_eq!(
        (
            s.email_notifications,
            s.push_notifications,
            s.notification_frequency.as_str(),
            s.timezone.as_str()
        ),
        (true, false, "realtime", "UTC")
    );
    assert_eq!(
        (
            s.locale.as_str(),
            s.date_format.as_str(),
            s.data_retention,
            s.api_rate_limit
        ),
        ("en-US", "MM/DD/YYYY", 90, 1000)
    );
    assert!(s.allow_analytics && s.allow_personalization && s.webhook_secret.is_none());
    assert_eq!(
        UserSettings::get(&mut conn, &user).await.unwrap().id,
        s.id,
        "one row per user"
    );

    let secret = Secret::new("whsec_do-not-print-me");
    let changed = UserSettings::update(
        &mut conn,
        &user,
        &UserSettingsChanges {
            timezone: Some("Europe/Berlin"),
            webhook_secret: Some(Some(&secret)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(changed.timezone, "Europe/Berlin");
    assert_eq!(
        changed.webhook_secret.as_ref().map(Secret::expose),
        Some(secret.expose())
    );
    assert!(!format!("{changed:?}").contains("do-not-print"));
    let err = UserSettings::update(
        &mut conn,
        &user,
        &UserSettingsChanges {
            data_retention: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidSetting(_)), "{err}");
    let err = UserSettings::get(&mut conn, &UserId::generate())
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::UserNotFound(_)), "{err}");
}

#[tokio::test]
async fn concurrent_first_reads_make_one_settings_row() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let user = fixtures::user(&mut conn).await;
    let (mut a, mut b) = (db.connect_as_app().await, db.connect_as_app().await);
    let (ra, rb) = tokio::join!(
        UserSettings::get(&mut a, &user),
        UserSettings::get(&mut b, &user)
    );
    assert_eq!(ra.unwrap().id, rb.unwrap().id);
}

#[tokio::test]
async fn team_directory_entries_are_for_members_only() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let user = member(&mut conn, &o, DefaultRole::Member, true).await;
    let entry = TeamMember::add(&mut conn, &o.scope, &user, Some("Editor"), Some("Content"))
        .await
        .unwrap();
    assert_eq!(
        (entry.role.as_str(), entry.status.as_str()),
        ("Editor", "active")
    );
    assert_eq!(entry.invited_by.as_deref(), Some(o.owner.as_str()));
    let dup = TeamMember::add(&mut conn, &o.scope, &user, None, None)
        .await
        .unwrap_err();
    assert!(matches!(dup, IdentityError::AlreadyMember(_)), "{dup}");
    let stranger = fixtures::user(&mut conn).await;
    let err = TeamMember::add(&mut conn, &o.scope, &stranger, None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NotAMember(_)), "{err}");

    let changed = TeamMember::update(
        &mut conn,
        &o.scope,
        &user,
        &TeamMemberChanges {
            department: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(changed.department, None);
    assert_eq!(
        TeamMember::list(&mut conn, &o.scope).await.unwrap(),
        [changed]
    );
    // Members read the directory but cannot change it.
    let as_member = scope_of(&mut conn, &o, &user, keys::MEMBERS_READ).await;
    assert_eq!(
        TeamMember::list(&mut conn, &as_member).await.unwrap().len(),
        1
    );
    let err = TeamMember::remove(&mut conn, &as_member, &user)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Denied(_)), "{err}");
    TeamMember::remove(&mut conn, &o.scope, &user)
        .await
        .unwrap();
    assert!(
        TeamMember::list(&mut conn, &o.scope)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tasks_are_created_assigned_completed_and_listed_by_assignee_and_due_date() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let worker = member(&mut conn, &o, DefaultRole::Member, true).await;
    let as_worker = scope_of(&mut conn, &o, &worker, keys::TASKS_WRITE).await;
    let now = time::now();
    let due = |h| Some(now + Duration::hours(h));
    let mk = |title, due_date, assignee| NewTask {
        title,
        due_date,
        assignee,
        tags: &["launch"],
        ..Default::default()
    };

    let late = Task::create(
        &mut conn,
        &o.scope,
        &mk("write brief", due(48), Some(&worker)),
    )
    .await
    .unwrap();
    let soon = Task::create(
        &mut conn,
        &as_worker,
        &mk("review copy", due(2), Some(&worker)),
    )
    .await
    .unwrap();
    let undated = Task::create(&mut conn, &o.scope, &mk("someday", None, Some(&worker)))
        .await
        .unwrap();
    let mine = Task::create(&mut conn, &o.scope, &mk("owner's", due(1), None))
        .await
        .unwrap();
    assert_eq!(
        (soon.status, soon.priority, soon.created_by_id.clone()),
        (TaskStatus::Todo, TaskPriority::Medium, worker.clone())
    );
    assert_eq!(soon.tags, Some(vec![Some("launch".to_owned())]));

    let listed: Vec<_> = Task::for_assignee(&mut conn, &o.scope, &worker, None)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        listed,
        [soon.id.clone(), late.id.clone(), undated.id.clone()]
    );
    let due_today: Vec<_> = Task::due_before(&mut conn, &o.scope, now + Duration::hours(24))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(due_today, [mine.id.clone(), soon.id.clone()]);

    let done = Task::complete(&mut conn, &as_worker, &soon.id)
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Done);
    let first = done.completed_at.unwrap();
    assert_eq!(
        Task::complete(&mut conn, &as_worker, &soon.id)
            .await
            .unwrap()
            .completed_at,
        Some(first)
    );
    assert_eq!(
        Task::for_assignee(&mut conn, &o.scope, &worker, Some(TaskStatus::Done))
            .await
            .unwrap()
            .len(),
        1
    );
    let due_today: Vec<_> = Task::due_before(&mut conn, &o.scope, now + Duration::hours(24))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        due_today,
        std::slice::from_ref(&mine.id),
        "done tasks are not due"
    );

    let reassigned = Task::assign(&mut conn, &o.scope, &mine.id, Some(&worker))
        .await
        .unwrap();
    assert_eq!(reassigned.assignee_id.as_ref(), Some(&worker));
    assert_eq!(
        Task::assign(&mut conn, &o.scope, &mine.id, None)
            .await
            .unwrap()
            .assignee_id,
        None
    );
    let outsider = fixtures::user(&mut conn).await;
    let err = Task::assign(&mut conn, &o.scope, &mine.id, Some(&outsider))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NotAMember(_)), "{err}");
    let viewer = member(&mut conn, &o, DefaultRole::Viewer, true).await;
    let as_viewer = scope_of(&mut conn, &o, &viewer, keys::CONTENT_READ).await;
    let err = Task::create(&mut conn, &as_viewer, &mk("nope", None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::Denied(_)), "{err}");
    let system = TenantScope::trusted_system(o.org.id.clone());
    let err = Task::create(&mut conn, &system, &mk("by whom?", None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::UserActorRequired(_)), "{err}");
}

#[tokio::test]
async fn feedback_is_opened_responded_to_and_resolved() {
    let mut conn = test_connection().await;
    let o = org(&mut conn).await;
    let user = member(&mut conn, &o, DefaultRole::Member, true).await;
    let as_user = scope_of(&mut conn, &o, &user, keys::CONTENT_READ).await;
    let new = NewFeedback {
        kind: "bug",
        title: "Export fails",
        description: "CSV export times out",
        rating: Some(2),
        ..Default::default()
    };
    let f = Feedback::open(&mut conn, &as_user, &new).await.unwrap();
    assert_eq!(
        (f.status, f.organization_id.as_ref(), &f.user_id),
        (FeedbackStatus::Open, Some(&o.org.id), &user)
    );
    let err = Feedback::open(
        &mut conn,
        &as_user,
        &NewFeedback {
            rating: Some(6),
            ..new.clone()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidRating(6)), "{err}");

    let err = Feedback::respond(&mut conn, &as_user, &f.id, "thanks")
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::Denied(_)),
        "members do not handle feedback: {err}"
    );
    let responded = Feedback::respond(&mut conn, &o.scope, &f.id, "Fixed in 2.3")
        .await
        .unwrap();
    assert_eq!(
        (responded.status, responded.response.as_deref()),
        (FeedbackStatus::InProgress, Some("Fixed in 2.3"))
    );
    let resolved = Feedback::resolve(&mut conn, &o.scope, &f.id).await.unwrap();
    assert_eq!(resolved.status, FeedbackStatus::Resolved);
    assert!(resolved.resolved_at.is_some());
    assert_eq!(
        Feedback::resolve(&mut conn, &o.scope, &f.id)
            .await
            .unwrap()
            .resolved_at,
        resolved.resolved_at
    );
    assert_eq!(
        Feedback::list(&mut conn, &o.scope, Some(FeedbackStatus::Resolved))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        Feedback::list(&mut conn, &o.scope, Some(FeedbackStatus::Open))
            .await
            .unwrap()
            .is_empty()
    );

    // Product feedback with no organization belongs to its user alone.
    let personal = Feedback::open_personal(
        &mut conn,
        &user,
        &NewFeedback {
            kind: "idea",
            ..new.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(personal.organization_id, None);
    assert_eq!(
        Feedback::personal(&mut conn, &user).await.unwrap(),
        std::slice::from_ref(&personal)
    );
    assert!(
        Feedback::personal(&mut conn, &o.owner)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Feedback::list(&mut conn, &o.scope, None)
            .await
            .unwrap()
            .iter()
            .all(|x| x.id != personal.id)
    );
    let err = Feedback::respond(&mut conn, &o.scope, &personal.id, "hi")
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn metric_events_are_inserted_in_one_statement_and_counted_by_type_in_a_window() {
    // Metric events are written by system code only (row-level security: read-only to
    // the application role), so this test acts as the owner.
    let mut conn = neonhub_testing::owner_test_connection().await;
    let kind_a = format!("page_view_{}", UserId::generate());
    let kind_b = format!("agent_run_{}", UserId::generate());
    let meta = json!({ "path": "/" });
    let before = time::now() - Duration::milliseconds(1);
    let events: Vec<_> = (0..250)
        .map(|i| NewMetricEvent {
            kind: if i % 5 == 0 { &kind_b } else { &kind_a },
            meta: &meta,
        })
        .collect();
    assert_eq!(
        MetricEvent::insert_many(&mut conn, &events).await.unwrap(),
        250
    );
    assert_eq!(MetricEvent::insert_many(&mut conn, &[]).await.unwrap(), 0);
    let after = time::now() + Duration::milliseconds(1);
    let counts: Vec<_> = MetricEvent::count_by_type(&mut conn, before, after)
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, _)| *k == kind_a || *k == kind_b)
        .collect();
    assert_eq!(counts, [(kind_a.clone(), 200), (kind_b.clone(), 50)]);
    let earlier = MetricEvent::count_by_type(&mut conn, before - Duration::hours(1), before)
        .await
        .unwrap();
    assert!(
        earlier.iter().all(|(k, _)| *k != kind_a && *k != kind_b),
        "the window excludes them"
    );
}

#[tokio::test]
async fn two_organizations_and_two_users_never_reach_each_others_rows() {
    let mut conn = test_connection().await;
    let a = org(&mut conn).await;
    let b = org(&mut conn).await;
    let b_user = member(&mut conn, &b, DefaultRole::Member, true).await;
    let b_task = Task::create(
        &mut conn,
        &b.scope,
        &NewTask {
            title: "b's",
            assignee: Some(&b_user),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let b_feedback = Feedback::open(
        &mut conn,
        &b.scope,
        &NewFeedback {
            kind: "bug",
            title: "t",
            description: "d",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    TeamMember::add(&mut conn, &b.scope, &b_user, None, None)
        .await
        .unwrap();
    let b_key = ApiKey::issue(
        &mut conn,
        &b.scope,
        &NewApiKey {
            name: "b",
            scopes: &[keys::CRM_READ],
            expires_at: None,
        },
    )
    .await
    .unwrap();

    // a's scope finds none of b's rows and changes none.
    let nf = |e: IdentityError| {
        assert!(
            matches!(
                e,
                IdentityError::NotFound { .. } | IdentityError::NotAMember(_)
            ),
            "{e}"
        )
    };
    nf(Task::get(&mut conn, &a.scope, &b_task.id)
        .await
        .unwrap_err());
    nf(Task::complete(&mut conn, &a.scope, &b_task.id)
        .await
        .unwrap_err());
    nf(Task::assign(&mut conn, &a.scope, &b_task.id, None)
        .await
        .unwrap_err());
    nf(Feedback::respond(&mut conn, &a.scope, &b_feedback.id, "x")
        .await
        .unwrap_err());
    nf(Feedback::resolve(&mut conn, &a.scope, &b_feedback.id)
        .await
        .unwrap_err());
    nf(TeamMember::update(
        &mut conn,
        &a.scope,
        &b_user,
        &TeamMemberChanges {
            role: Some("x"),
            ..Default::default()
        },
    )
    .await
    .unwrap_err());
    nf(TeamMember::remove(&mut conn, &a.scope, &b_user)
        .await
        .unwrap_err());
    nf(ApiKey::revoke(&mut conn, &a.scope, &b_key.key.id)
        .await
        .unwrap_err());
    nf(TeamMember::add(&mut conn, &a.scope, &b_user, None, None)
        .await
        .unwrap_err());
    nf(Task::create(
        &mut conn,
        &a.scope,
        &NewTask {
            title: "x",
            assignee: Some(&b_user),
            ..Default::default()
        },
    )
    .await
    .unwrap_err());
    assert!(
        Task::for_assignee(&mut conn, &a.scope, &b_user, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Task::due_before(&mut conn, &a.scope, time::now() + Duration::days(999))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Feedback::list(&mut conn, &a.scope, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        TeamMember::list(&mut conn, &a.scope)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(ApiKey::list(&mut conn, &a.scope).await.unwrap().is_empty());
    // b's key acts in b only, as b's owner.
    let verified = ApiKey::verify(&mut conn, b_key.token.expose(), keys::CRM_READ)
        .await
        .unwrap();
    assert_eq!(verified.scope.organization_id(), &b.org.id);

    // b's rows are as they were.
    let t = Task::get(&mut conn, &b.scope, &b_task.id).await.unwrap();
    assert_eq!(
        (t.status, t.assignee_id.as_ref()),
        (TaskStatus::Todo, Some(&b_user))
    );
    assert_eq!(
        Feedback::list(&mut conn, &b.scope, None).await.unwrap()[0].status,
        FeedbackStatus::Open
    );
    assert_eq!(
        TeamMember::list(&mut conn, &b.scope).await.unwrap()[0].role,
        "Member"
    );
    assert!(
        ApiKey::list(&mut conn, &b.scope).await.unwrap()[0]
            .revoked_at
            .is_none()
    );

    // Two users: one's sessions, accounts, settings and personal feedback are not the other's.
    let (u1, u2) = (
        fixtures::user(&mut conn).await,
        fixtures::user(&mut conn).await,
    );
    let s1 = Session::create(&mut conn, &u1, time::now() + Duration::hours(1))
        .await
        .unwrap();
    let pid = UserId::generate().to_string();
    let acc = Account::link(
        &mut conn,
        &u1,
        &NewAccount {
            kind: "oauth",
            provider: "github",
            provider_account_id: &pid,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    UserSettings::update(
        &mut conn,
        &u1,
        &UserSettingsChanges {
            locale: Some("de-DE"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Feedback::open_personal(
        &mut conn,
        &u1,
        &NewFeedback {
            kind: "idea",
            title: "t",
            description: "d",
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(Session::delete_for_user(&mut conn, &u2).await.unwrap(), 0);
    assert_eq!(
        Session::by_token(&mut conn, s1.token.expose())
            .await
            .unwrap()
            .unwrap()
            .user_id,
        u1
    );
    assert!(Account::for_user(&mut conn, &u2).await.unwrap().is_empty());
    nf(Account::unlink(&mut conn, &u2, &acc.id).await.unwrap_err());
    assert_eq!(
        UserSettings::get(&mut conn, &u2).await.unwrap().locale,
        "en-US"
    );
    assert_eq!(
        UserSettings::get(&mut conn, &u1).await.unwrap().locale,
        "de-DE"
    );
    assert!(Feedback::personal(&mut conn, &u2).await.unwrap().is_empty());
    assert_eq!(Feedback::personal(&mut conn, &u1).await.unwrap().len(), 1);
}
