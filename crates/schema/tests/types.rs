//! The Rust types agree with the database: enums, citext, typed ids, timestamps, vectors.

use diesel::prelude::{ExpressionMethods, IntoSql, QueryDsl};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{QueryableByName, sql_query};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use neonhub_schema::catalog::Catalog;
use neonhub_schema::enums::*;
use neonhub_schema::ids::{KeywordId, OrganizationId};
use neonhub_schema::schema::{keywords, organizations, sql_types};
use neonhub_schema::{Citext, Vector, time};
use neonhub_testing::{TestDatabase, test_connection};

/// These tests are about types, written around the repositories: as the owner, whom
/// row-level security does not judge.
async fn owner_connection() -> diesel_async::AsyncPgConnection {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = test_connection().await;
    conn.batch_execute("RESET ROLE").await.unwrap();
    conn
}

/// Runs `$body` for every enum type, with `$ty` the Rust enum and `$sql` its SQL type.
macro_rules! for_each_enum {
    ($m:ident) => {
        $m!(AgentKind);
        $m!(AgentStatus);
        $m!(BudgetAllocationStatus);
        $m!(BudgetTransactionType);
        $m!(CampaignStatus);
        $m!(ConnectorKind);
        $m!(ConsentStatus);
        $m!(ContentKind);
        $m!(ConversationKind);
        $m!(DatasetKind);
        $m!(MarketingCampaignStatus);
        $m!(MarketingCampaignType);
        $m!(MarketingLeadGrade);
        $m!(MarketingLeadStatus);
        $m!(MarketingTouchpointType);
        $m!(MessageRole);
        $m!(TrainStatus);
    };
}

#[test]
fn rust_enums_carry_the_reference_labels_in_order() {
    let reference = Catalog::reference();
    let mut seen = 0;
    macro_rules! check {
        ($ty:ident) => {
            let db = reference
                .enums
                .iter()
                .find(|e| e.name == $ty::SQL_TYPE)
                .expect($ty::SQL_TYPE);
            let rust: Vec<&str> = $ty::ALL.iter().map(|v| v.as_str()).collect();
            assert_eq!(rust, db.labels, "{}", $ty::SQL_TYPE);
            for v in $ty::ALL {
                assert_eq!(v.as_str().parse::<$ty>().unwrap(), *v);
                assert_eq!(
                    serde_json::to_string(v).unwrap(),
                    format!("\"{}\"", v.as_str())
                );
            }
            seen += 1;
        };
    }
    for_each_enum!(check);
    assert_eq!(seen, reference.enums.len());
}

#[tokio::test]
async fn every_enum_label_round_trips_through_postgres() {
    let mut conn = owner_connection().await;
    macro_rules! round_trip {
        ($ty:ident) => {
            for v in $ty::ALL {
                let back: $ty = diesel::select(v.into_sql::<sql_types::$ty>())
                    .get_result(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(back, *v);
            }
        };
    }
    for_each_enum!(round_trip);
}

#[test]
fn parsing_an_unknown_label_names_it() {
    let err = "GHOST".parse::<AgentKind>().unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"unknown label "GHOST" for enum type AgentKind"#
    );
}

#[derive(QueryableByName, Debug)]
struct RoleRow {
    #[diesel(sql_type = sql_types::MessageRole)]
    #[allow(dead_code)]
    role: MessageRole,
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_label_from_the_database_is_an_error_not_a_panic() {
    // Enum values added in a transaction cannot be used before it commits: own database.
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    conn.batch_execute(r#"ALTER TYPE "MessageRole" ADD VALUE 'critic'"#)
        .await
        .unwrap();
    let err = sql_query(r#"SELECT 'critic'::"MessageRole" AS role"#)
        .get_result::<RoleRow>(&mut conn)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DieselError::DeserializationError(_)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(r#"unknown label "critic" for enum type MessageRole"#),
        "{err}"
    );
    // Known labels of the same type still read.
    let ok = sql_query(r#"SELECT 'tool'::"MessageRole" AS role"#)
        .get_result::<RoleRow>(&mut conn)
        .await
        .unwrap();
    assert_eq!(ok.role, MessageRole::Tool);
}

#[tokio::test]
async fn citext_compares_case_insensitively_and_keeps_spelling() {
    let mut conn = owner_connection().await;
    let now = time::now();
    let id: KeywordId = diesel::insert_into(keywords::table)
        .values((
            keywords::term.eq(Citext::new("Custom Neon Signs")),
            keywords::intent.eq("commercial"),
            keywords::createdAt.eq(now),
            keywords::updatedAt.eq(now),
        ))
        .returning(keywords::id)
        .get_result(&mut conn)
        .await
        .unwrap();
    let (found, term): (KeywordId, Citext) = keywords::table
        .filter(keywords::term.eq(Citext::new("CUSTOM neon SIGNS")))
        .select((keywords::id, keywords::term))
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(found, id);
    assert_eq!(term.as_str(), "Custom Neon Signs");
    assert_eq!(term, Citext::new("custom neon signs"));

    let duplicate = diesel::insert_into(keywords::table)
        .values((
            keywords::term.eq(Citext::new("custom NEON signs")),
            keywords::intent.eq("commercial"),
            keywords::createdAt.eq(now),
            keywords::updatedAt.eq(now),
        ))
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(
        matches!(
            duplicate,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
        ),
        "{duplicate:?}"
    );
}

#[tokio::test]
async fn typed_ids_and_millisecond_timestamps_round_trip() {
    let mut conn = owner_connection().await;
    let generated = OrganizationId::generate();
    assert_eq!(
        uuid::Uuid::parse_str(generated.as_str())
            .unwrap()
            .get_version_num(),
        7
    );
    let cuid = OrganizationId::from_string("clx1q2w3e0000abcd1234efgh");
    let now = time::now();
    assert_eq!(
        now.and_utc().timestamp_subsec_nanos() % 1_000_000,
        0,
        "not truncated to ms"
    );
    for (id, slug) in [(&generated, "generated"), (&cuid, "cuid")] {
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(id),
                organizations::slug.eq(slug),
                organizations::name.eq(slug),
                organizations::createdAt.eq(now),
                organizations::updatedAt.eq(now),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let rows: Vec<(OrganizationId, chrono::NaiveDateTime)> = organizations::table
        .filter(organizations::id.eq_any([&generated, &cuid]))
        .order(organizations::slug)
        .select((organizations::id, organizations::createdAt))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, vec![(cuid, now), (generated, now)]);
}

#[derive(QueryableByName)]
struct VectorRow {
    #[diesel(sql_type = neonhub_schema::vector::sql_types::Vector)]
    v: Vector,
}

#[tokio::test]
async fn vectors_round_trip() {
    let mut conn = owner_connection().await;
    let row: VectorRow = sql_query("SELECT $1::vector AS v")
        .bind::<neonhub_schema::vector::sql_types::Vector, _>(Vector::from(vec![0.25, -1.5, 3.0]))
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.v.to_vec(), vec![0.25, -1.5, 3.0]);
}
