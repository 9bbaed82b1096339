//! Subscriptions, quotas, Stripe webhooks and usage records, as the application role.

use chrono::{NaiveDate, NaiveDateTime};
use neonhub_billing::stripe::{StripeInvoice, StripePayment, StripeSubscription};
use neonhub_billing::*;
use neonhub_schema::ids::UserId;
use neonhub_schema::{TenantScope, UserScope};
use neonhub_testing::fixtures::{scoped_organization, user};
use neonhub_testing::{TestDatabase, test_connection};
use serde_json::json;

fn at(day: u32, second: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .unwrap()
        .and_hms_opt(9, 0, second)
        .unwrap()
}

fn subscription_event<'a>(
    ids: &'a (String, String),
    event_at: NaiveDateTime,
    status: &'a str,
    period_day: u32,
) -> StripeSubscription<'a> {
    StripeSubscription {
        event_at,
        customer_id: &ids.0,
        subscription_id: &ids.1,
        price_id: "price_pro",
        product_id: "prod_pro",
        plan: "pro",
        status,
        current_period_start: at(period_day, 0),
        current_period_end: at(period_day + 1, 0),
        cancel_at_period_end: false,
        canceled_at: None,
        trial_ends_at: None,
        limits: Some([5, 1000, 100, 100]),
        metadata: None,
    }
}

async fn subscribed(conn: &mut diesel_async::AsyncPgConnection) -> (UserId, Subscription) {
    let u = user(conn).await;
    let ids = (format!("cus_{u}"), format!("sub_{u}"));
    let s = Subscription::sync(
        conn,
        &UserScope::trusted(u.clone()),
        &subscription_event(&ids, at(1, 0), "active", 1),
    )
    .await
    .unwrap();
    assert!(s.applied);
    (u, s.row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_consumers_never_pass_a_quota() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect_as_app().await;
    let (u, s) = subscribed(&mut conn).await;
    assert_eq!(s.usage(Quota::Campaigns), (0, 5));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (db_url, u) = (db.url().clone(), u.clone());
            tokio::spawn(async move {
                let mut c = db_url.connect().await.unwrap();
                diesel_async::SimpleAsyncConnection::batch_execute(
                    &mut c,
                    &format!("SET ROLE {}", neonhub_testing::APP_ROLE),
                )
                .await
                .unwrap();
                Subscription::consume(&mut c, &UserScope::trusted(u), Quota::Campaigns, 1).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(BillingError::QuotaExceeded {
                quota: Quota::Campaigns,
                limit: 5,
                requested: 1,
                ..
            }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 5);
    let scope = UserScope::trusted(u.clone());
    let now = Subscription::get(&mut conn, &scope).await.unwrap().unwrap();
    assert_eq!(now.usage(Quota::Campaigns), (5, 5));
    // Giving one back frees one; never below zero.
    Subscription::give_back(&mut conn, &scope, Quota::Campaigns, 1)
        .await
        .unwrap();
    assert!(matches!(
        Subscription::give_back(&mut conn, &scope, Quota::Campaigns, 5).await,
        Err(BillingError::BadInput { .. })
    ));
    assert!(matches!(
        Subscription::consume(&mut conn, &scope, Quota::Emails, 0).await,
        Err(BillingError::BadInput { .. })
    ));
    // A new period resets usage, once.
    let (rolled, yes) = Subscription::roll_over(&mut conn, &scope, at(2, 0), at(3, 0))
        .await
        .unwrap();
    assert!(yes);
    assert_eq!(rolled.usage(Quota::Campaigns), (0, 5));
    Subscription::consume(&mut conn, &scope, Quota::AgentCalls, 7)
        .await
        .unwrap();
    let (same, again) = Subscription::roll_over(&mut conn, &scope, at(2, 0), at(3, 0))
        .await
        .unwrap();
    assert!(!again);
    assert_eq!(same.usage(Quota::AgentCalls), (7, 100));
    // Another user has no subscription.
    let stranger = user(&mut conn).await;
    let err = Subscription::consume(&mut conn, &UserScope::trusted(stranger), Quota::Emails, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, BillingError::NotFound { .. }), "{err}");
}

/// One customer's webhook events (ids prefixed so two customers can replay the same story).
struct Story {
    ids: (String, String),
    invoice: String,
    intent: String,
}

impl Story {
    fn new(tag: &str) -> Self {
        Story {
            ids: (format!("cus_{tag}"), format!("sub_{tag}")),
            invoice: format!("in_{tag}"),
            intent: format!("pi_{tag}"),
        }
    }
}

#[derive(Clone, Copy)]
enum Event {
    Subscription(u32, &'static str, u32),
    Invoice(u32, &'static str, i64),
    Payment(u32, &'static str),
}

const EVENTS: [Event; 9] = [
    Event::Subscription(0, "incomplete", 1),
    Event::Subscription(1, "active", 1),
    Event::Invoice(1, "draft", 0),
    // The same second as the draft: the further status wins whichever arrives first.
    Event::Invoice(1, "open", 0),
    Event::Payment(2, "processing"),
    Event::Payment(3, "succeeded"),
    Event::Invoice(4, "paid", 4_900),
    Event::Subscription(5, "active", 2),
    Event::Subscription(6, "past_due", 2),
];

async fn deliver(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &UserScope,
    org: &TenantScope,
    story: &Story,
    e: Event,
) -> bool {
    match e {
        Event::Subscription(s, status, day) => {
            Subscription::sync(
                conn,
                user,
                &subscription_event(&story.ids, at(1, s), status, day),
            )
            .await
            .unwrap()
            .applied
        }
        Event::Invoice(s, status, paid) => {
            Invoice::sync(
                conn,
                user,
                &StripeInvoice {
                    event_at: at(1, s),
                    invoice_id: &story.invoice,
                    subscription_id: &story.ids.1,
                    payment_intent_id: Some(&story.intent),
                    amount_due: Money::new(4_900, Currency::USD).unwrap(),
                    amount_paid: Money::new(paid, Currency::USD).unwrap(),
                    status,
                    invoice_pdf: None,
                    hosted_invoice_url: None,
                    due_date: None,
                    paid_at: (paid > 0).then(|| at(1, s)),
                    metadata: Some(&json!({"attempt": s})),
                },
            )
            .await
            .unwrap()
            .applied
        }
        Event::Payment(s, status) => {
            Payment::sync(
                conn,
                org,
                &StripePayment {
                    event_at: at(1, s),
                    payment_intent_id: &story.intent,
                    status,
                    amount: Money::new(4_900, Currency::USD).unwrap(),
                    customer_id: Some(&story.ids.0),
                    budget_profile: None,
                    metadata: None,
                },
            )
            .await
            .unwrap()
            .applied
        }
    }
}

/// The rows a story left, without what differs between customers by construction.
async fn outcome(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &UserScope,
    org: &TenantScope,
    story: &Story,
) -> serde_json::Value {
    let s = Subscription::get(conn, user).await.unwrap().unwrap();
    let i = &Invoice::list(conn, user, 10).await.unwrap()[0];
    let p = Payment::by_stripe_id(conn, org, &story.intent)
        .await
        .unwrap()
        .unwrap();
    json!({
        "subscription": [s.status, s.current_period_start, s.current_period_end, s.campaigns_used, s.stripe_event_at],
        "invoice": [i.status, i.amount_due.minor(), i.amount_paid.minor(), i.paid_at, i.metadata, i.stripe_event_at],
        "payment": [p.status, p.amount.minor(), p.stripe_event_at],
    })
}

#[tokio::test]
async fn webhooks_delivered_twice_or_in_reverse_leave_the_same_rows() {
    let mut conn = test_connection().await;
    let mut results = Vec::new();
    for (tag, reverse) in [("forward", false), ("backward", true)] {
        let story = Story::new(&format!("{tag}{}", UserId::generate()));
        let user = UserScope::trusted(neonhub_testing::fixtures::user(&mut conn).await);
        let org = scoped_organization(&mut conn).await;
        let mut events = EVENTS.to_vec();
        if reverse {
            events.reverse();
        }
        let mut applied = 0;
        for e in events.iter().chain(events.iter()) {
            applied += usize::from(deliver(&mut conn, &user, &org, &story, *e).await);
        }
        // Each event applies at most once: the second delivery of the list changes nothing.
        assert!(applied <= EVENTS.len(), "{tag}: {applied} applications");
        if reverse {
            // Backwards, only the newest of each object applies (and the tie's winner).
            assert_eq!(applied, 3, "{tag}");
        }
        // Usage counted in the new period survives older events.
        Subscription::consume(&mut conn, &user, Quota::Campaigns, 2)
            .await
            .unwrap();
        for e in EVENTS {
            assert!(
                !deliver(&mut conn, &user, &org, &story, e).await,
                "{tag}: a replayed event applied"
            );
        }
        // A paid invoice never becomes open again, even from a newer event.
        assert!(
            !deliver(
                &mut conn,
                &user,
                &org,
                &story,
                Event::Invoice(30, "open", 0)
            )
            .await
        );
        results.push(outcome(&mut conn, &user, &org, &story).await);
        // The webhook handler finds the user from Stripe's ids alone.
        assert_eq!(
            Subscription::owner(&mut conn, &story.ids.0)
                .await
                .unwrap()
                .as_ref(),
            Some(user.user_id())
        );
        assert_eq!(
            Subscription::owner(&mut conn, &story.ids.1)
                .await
                .unwrap()
                .as_ref(),
            Some(user.user_id())
        );
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0]["invoice"][0], "paid");
    assert_eq!(results[0]["payment"][0], "succeeded");
    assert_eq!(results[0]["subscription"][0], "past_due");
    assert_eq!(
        Subscription::owner(&mut conn, "cus_nobody").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn unknown_statuses_and_bad_amounts_are_refused() {
    let mut conn = test_connection().await;
    let (u, _) = subscribed(&mut conn).await;
    let scope = UserScope::trusted(u.clone());
    let ids = (format!("cus_{u}"), format!("sub_{u}"));
    let err = Subscription::sync(
        &mut conn,
        &scope,
        &subscription_event(&ids, at(2, 0), "frozen", 1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            BillingError::BadInput {
                field: "status",
                ..
            }
        ),
        "{err}"
    );
    let org = scoped_organization(&mut conn).await;
    let err = Payment::sync(
        &mut conn,
        &org,
        &StripePayment {
            event_at: at(1, 0),
            payment_intent_id: "pi_x",
            status: "succeeded",
            amount: Money::new(-5, Currency::USD).unwrap(),
            customer_id: None,
            budget_profile: None,
            metadata: None,
        },
    )
    .await;
    assert!(
        matches!(
            err,
            Err(BillingError::Money(MoneyError::NotPositive {
                field: "amount",
                ..
            }))
        ),
        "{err:?}"
    );
    let err = Payment::by_stripe_id(&mut conn, &org, "pi_x")
        .await
        .unwrap();
    assert!(err.is_none(), "a refused payment was written");
}

#[tokio::test]
async fn usage_records_go_in_together_and_sum_by_resource() {
    let mut conn = test_connection().await;
    let (u, s) = subscribed(&mut conn).await;
    let scope = UserScope::trusted(u);
    let record = |t: &'static str, q: i32, c: Option<i32>, second: u32| NewUsageRecord {
        resource_type: t,
        resource_id: None,
        quantity: q,
        cost: c,
        at: at(1, second),
        metadata: None,
    };
    let batch = [
        record("email", 3, Some(2), 1),
        record("email", 2, None, 2),
        record("agent_call", 1, Some(40), 3),
        record("email", 9, Some(1), 59),
    ];
    assert_eq!(
        UsageRecord::record_many(&mut conn, &scope, &s.id, &batch)
            .await
            .unwrap(),
        4
    );
    let totals = UsageRecord::totals(&mut conn, &scope, &s.id, at(1, 0), at(1, 30))
        .await
        .unwrap();
    assert_eq!(
        totals,
        vec![
            UsageTotal {
                resource_type: "agent_call".into(),
                records: 1,
                quantity: 1,
                cost: 40
            },
            UsageTotal {
                resource_type: "email".into(),
                records: 2,
                quantity: 5,
                cost: 2
            },
        ]
    );
    // A bad record refuses the whole batch, naming its position.
    let bad = [record("email", 1, None, 4), record("email", 0, None, 5)];
    let err = UsageRecord::record_many(&mut conn, &scope, &s.id, &bad)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BillingError::BadInput { reason, .. } if reason.starts_with("record 1")),
        "{err}"
    );
    let totals = UsageRecord::totals(&mut conn, &scope, &s.id, at(1, 0), at(2, 0))
        .await
        .unwrap();
    assert_eq!(totals.iter().map(|t| t.records).sum::<i64>(), 4);
    // Another user can neither record on nor read this subscription.
    let other = UserScope::trusted(user(&mut conn).await);
    assert!(matches!(
        UsageRecord::record_many(&mut conn, &other, &s.id, &batch).await,
        Err(BillingError::NotFound { .. })
    ));
    assert!(matches!(
        UsageRecord::totals(&mut conn, &other, &s.id, at(1, 0), at(2, 0)).await,
        Err(BillingError::NotFound { .. })
    ));
}
