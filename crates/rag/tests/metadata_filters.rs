//! Typed metadata conditions against hand-computed results: equality (nested, numbers by
//! value, booleans), `IN` (also with 100,000 values), numeric and time ranges that skip
//! values of another type or an impossible date, existence and negation; bad conditions are
//! typed errors.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use neonhub_rag::*;
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::{as_owner, test_connection};

const ROWS: i64 = 200;

/// Row `g` (1..=200): `n` = g (a string "g" when g % 11 == 0), `team` = growth / brand /
/// ops by g % 3 (absent when g % 7 == 0), `flag` = g even, `author.name` = ann (g even) or
/// bob, `at` = 2026-01-(g % 28 + 1) (not a date when g % 10 == 8, February 30 when
/// g % 10 == 9).
async fn corpus(conn: &mut AsyncPgConnection) -> Tenant {
    let t = tenant_with(conn, 4).await;
    as_owner(
        conn,
        &format!(
            r#"INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, metadata, "createdAt")
               SELECT 'm{org}-' || g, '{ds}', '{doc}', '{sp}', g, 'chunk ' || g,
                      ARRAY[1, g, g % 7, 1]::real[]::vector,
                      jsonb_strip_nulls(jsonb_build_object(
                        'n', CASE WHEN g % 11 = 0 THEN to_jsonb(g::text) ELSE to_jsonb(g) END,
                        'team', CASE WHEN g % 7 = 0 THEN NULL ELSE (ARRAY['growth','brand','ops'])[g % 3 + 1] END,
                        'flag', g % 2 = 0,
                        'author', jsonb_build_object('name', CASE WHEN g % 2 = 0 THEN 'ann' ELSE 'bob' END),
                        'at', CASE WHEN g % 10 = 8 THEN 'not a date'
                                   WHEN g % 10 = 9 THEN '2026-02-30T00:00:00Z'
                                   ELSE '2026-01-' || lpad((g % 28 + 1)::text, 2, '0') || 'T12:00:00+02:00' END)),
                      now()
               FROM generate_series(1, {ROWS}) g"#,
            org = t.scope.organization_id(),
            ds = t.dataset.id,
            doc = t.document.id,
            sp = t.space.id
        ),
    )
    .await;
    t
}

fn team(g: i64) -> Option<&'static str> {
    (g % 7 != 0).then(|| ["growth", "brand", "ops"][(g % 3) as usize])
}

async fn found(
    conn: &mut AsyncPgConnection,
    t: &Tenant,
    conditions: Vec<MetaCondition>,
) -> BTreeSet<i64> {
    let filter = SearchFilter {
        conditions,
        ..SearchFilter::default()
    };
    let hits = Chunk::search(
        conn,
        &t.scope,
        &t.space,
        &v(&[1.0, 1.0, 1.0, 1.0]),
        &filter,
        &SearchOptions {
            k: ROWS,
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    hits.into_iter().map(|h| i64::from(h.row.idx)).collect()
}

fn expected(keep: impl Fn(i64) -> bool) -> BTreeSet<i64> {
    (1..=ROWS).filter(|&g| keep(g)).collect()
}

#[tokio::test]
async fn each_operator_matches_the_hand_computed_rows() {
    let mut conn = test_connection().await;
    let t = corpus(&mut conn).await;
    let cases: Vec<(&str, Vec<MetaCondition>, BTreeSet<i64>)> = vec![
        (
            "team = growth",
            vec![MetaCondition::eq(["team"], "growth")],
            expected(|g| team(g) == Some("growth")),
        ),
        (
            "author.name = ann (nested)",
            vec![MetaCondition::eq(["author", "name"], "ann")],
            expected(|g| g % 2 == 0),
        ),
        (
            "n = 5.0 (numbers by value)",
            vec![MetaCondition::eq(["n"], 5.0)],
            expected(|g| g == 5),
        ),
        (
            "flag is not true",
            vec![!MetaCondition::eq(["flag"], true)],
            expected(|g| g % 2 == 1),
        ),
        (
            "team in (brand, ops)",
            vec![MetaCondition::is_in(["team"], ["brand", "ops"])],
            expected(|g| matches!(team(g), Some("brand" | "ops"))),
        ),
        (
            "team not in (brand, ops): rows without a team too",
            vec![!MetaCondition::is_in(["team"], ["brand", "ops"])],
            expected(|g| !matches!(team(g), Some("brand" | "ops"))),
        ),
        (
            "10 <= n < 50, strings skipped",
            vec![MetaCondition::number(["n"], Some(10.0), Some(50.0))],
            expected(|g| (10..50).contains(&g) && g % 11 != 0),
        ),
        (
            "n >= 190",
            vec![MetaCondition::number(["n"], Some(190.0), None)],
            expected(|g| g >= 190 && g % 11 != 0),
        ),
        (
            "Jan 10 <= at < Jan 20 (UTC), bad dates skipped",
            vec![MetaCondition::time(
                ["at"],
                Some(Utc.with_ymd_and_hms(2026, 1, 10, 10, 0, 0).unwrap()),
                Some(Utc.with_ymd_and_hms(2026, 1, 20, 10, 0, 0).unwrap()),
            )],
            // 12:00 at +02:00 is 10:00 UTC: day d is in [10, 20).
            expected(|g| g % 10 != 8 && g % 10 != 9 && (10..20).contains(&(g % 28 + 1))),
        ),
        (
            "at is a real instant",
            vec![MetaCondition::time(["at"], None, None)],
            expected(|g| g % 10 != 8 && g % 10 != 9),
        ),
        (
            "no team",
            vec![!MetaCondition::exists(["team"])],
            expected(|g| g % 7 == 0),
        ),
        (
            "team = growth and n < 100 (conditions combine)",
            vec![
                MetaCondition::eq(["team"], "growth"),
                MetaCondition::number(["n"], None, Some(100.0)),
            ],
            expected(|g| team(g) == Some("growth") && g < 100 && g % 11 != 0),
        ),
    ];
    for (name, conditions, want) in cases {
        assert!(!want.is_empty(), "{name}: the case must select something");
        assert_eq!(found(&mut conn, &t, conditions).await, want, "{name}");
    }
}

#[tokio::test]
async fn an_in_with_a_hundred_thousand_values_works_and_more_is_refused() {
    let mut conn = test_connection().await;
    let t = corpus(&mut conn).await;
    let mut values: Vec<String> = (0..99_999).map(|i| format!("v{i}")).collect();
    values.push("ops".to_owned());
    assert_eq!(values.len(), MAX_IN_VALUES);
    assert_eq!(
        found(
            &mut conn,
            &t,
            vec![MetaCondition::is_in(["team"], values.clone())]
        )
        .await,
        expected(|g| team(g) == Some("ops"))
    );
    values.push("one too many".to_owned());
    let err = search_with(&mut conn, &t, MetaCondition::is_in(["team"], values)).await;
    assert!(
        matches!(&err, RagError::InvalidFilter(m) if m.contains("100001 values")),
        "{err}"
    );
    assert_eq!(err.status_hint().code(), 400);
}

async fn search_with(
    conn: &mut AsyncPgConnection,
    t: &Tenant,
    condition: MetaCondition,
) -> RagError {
    Chunk::search(
        conn,
        &t.scope,
        &t.space,
        &v(&[1.0, 1.0, 1.0, 1.0]),
        &SearchFilter::default().with_condition(condition),
        &SearchOptions::default(),
    )
    .await
    .unwrap_err()
}

#[tokio::test]
async fn bad_conditions_are_typed_errors_naming_the_problem() {
    let mut conn = test_connection().await;
    let t = corpus(&mut conn).await;
    let long = "k".repeat(10 * 1024);
    let cases = [
        (MetaCondition::eq([long.as_str()], "x"), "10240 bytes"),
        (
            MetaCondition::eq(Vec::<String>::new(), "x"),
            "at least one key",
        ),
        (
            MetaCondition::eq((0..40).map(|i| i.to_string()), "x"),
            "40 keys",
        ),
        (MetaCondition::eq(["n"], f64::NAN), "not a finite number"),
        (
            MetaCondition::number(["n"], Some(5.0), Some(5.0)),
            "range is empty",
        ),
        (
            MetaCondition::number(["n"], Some(f64::INFINITY), None),
            "not a finite number",
        ),
        (
            MetaCondition::time(
                ["at"],
                Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()),
                Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            ),
            "range is empty",
        ),
    ];
    for (condition, needle) in cases {
        let err = search_with(&mut conn, &t, condition).await;
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert_eq!(err.status_hint().code(), 400, "{err}");
    }
    // A NUL in a key or a value is refused as the database would refuse it, named.
    let err = search_with(&mut conn, &t, MetaCondition::eq(["a\u{0}b"], "x")).await;
    assert_eq!(err.status_hint().code(), 400, "{err}");
    let err = search_with(&mut conn, &t, MetaCondition::eq(["team"], "x\u{0}")).await;
    assert_eq!(err.status_hint().code(), 400, "{err}");
    // And nothing was left broken: the connection still searches.
    conn.batch_execute("SELECT 1").await.unwrap();
    assert!(
        !found(&mut conn, &t, vec![MetaCondition::exists(["team"])])
            .await
            .is_empty()
    );
}
