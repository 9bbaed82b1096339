//! Bad and hostile input to `neonhub-rag`: every failure typed and named, no panic,
//! nothing left behind (the reproductions of the Bad input II battery).

use chrono::NaiveDate;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_rag::*;
use neonhub_schema::enums::{ConversationKind, MessageRole};
use neonhub_schema::ids::{DatasetId, EmbeddingSpaceId};
use neonhub_schema::{InvalidData, TenantScope};
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::{TestDatabase, fixtures, test_connection};
use serde_json::json;

fn option_named(result: Result<impl std::fmt::Debug, RagError>, option: &str) {
    match result {
        Err(RagError::InvalidOption { option: o, .. }) if o == option => {}
        other => panic!("expected InvalidOption {option}, got {other:?}"),
    }
}

/// `r` is a NUL byte refused in `field` (directly, or in a batch row).
fn nul<T>(r: Result<T, RagError>, field: &str) {
    match r {
        Err(RagError::Invalid(InvalidData::NulByte { field: f })) if f.contains(field) => {}
        Err(RagError::BatchRow { source, .. }) if matches!(&*source, RagError::Invalid(InvalidData::NulByte { field: f }) if f.contains(field)) =>
            {}
        Err(other) => panic!("expected a NUL byte in {field}, got {other:?}"),
        Ok(_) => panic!("expected a NUL byte in {field}, got Ok"),
    }
}

#[tokio::test]
async fn rows_without_an_embedding_are_never_vector_candidates() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let near = v(&[1.0, 0.0, 0.0]);
    Chunk::create(&mut conn, &t.scope, &t.chunk(0, Some(&near)))
        .await
        .unwrap();
    let mut bare = t.chunk(1, None);
    bare.text = "neon transformer without a vector";
    let bare = Chunk::create(&mut conn, &t.scope, &bare).await.unwrap();

    let hits = Chunk::search(
        &mut conn,
        &t.scope,
        &t.space,
        &near,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(hits.len(), 1, "only the embedded chunk");

    let fused = Chunk::hybrid_search(
        &mut conn,
        &t.scope,
        &t.space,
        &near,
        "transformer",
        &SearchFilter::default(),
        &HybridOptions::default(),
    )
    .await
    .unwrap();
    let bare_hit = fused
        .iter()
        .find(|h| h.chunk.id == bare.id)
        .expect("found by its text");
    assert_eq!(
        bare_hit.vector_rank, None,
        "no vector rank without a vector"
    );
    assert!(bare_hit.text_rank.is_some());

    // Messages: one with, one without an embedding in the space.
    let conversation = Conversation::create(
        &mut conn,
        &t.scope,
        &NewConversation {
            kind: ConversationKind::Planning,
            title: None,
            created_by_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let body = json!({"text": "hi"});
    for embedding in [Some(&near), None] {
        Message::create(
            &mut conn,
            &t.scope,
            &conversation.id,
            &NewMessage {
                author_id: None,
                role: MessageRole::User,
                content_json: &body,
                embedding,
                embedding_space_id: Some(&t.space.id),
                metadata: None,
            },
        )
        .await
        .unwrap();
    }
    let hits = Message::search(
        &mut conn,
        &t.scope,
        &t.space,
        &near,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(hits.len(), 1);
}

#[tokio::test]
async fn search_options_out_of_range_are_named_never_clamped() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let q = v(&[1.0, 0.0, 0.0]);
    let f = SearchFilter::default();
    for k in [0, -5, i64::MIN, MAX_K + 1] {
        let o = SearchOptions {
            k,
            ..SearchOptions::default()
        };
        option_named(
            Chunk::search(&mut conn, &t.scope, &t.space, &q, &f, &o).await,
            "k",
        );
    }
    for ef in [0, 1001, u32::MAX] {
        let o = SearchOptions {
            ef_search: Some(ef),
            ..SearchOptions::default()
        };
        option_named(
            Chunk::search(&mut conn, &t.scope, &t.space, &q, &f, &o).await,
            "ef_search",
        );
    }
    let o = SearchOptions {
        probes: Some(0),
        ..SearchOptions::default()
    };
    option_named(
        Chunk::search(&mut conn, &t.scope, &t.space, &q, &f, &o).await,
        "probes",
    );

    let hybrid = |change: &dyn Fn(&mut HybridOptions)| {
        let mut o = HybridOptions::default();
        change(&mut o);
        o
    };
    for (options, name) in [
        (hybrid(&|o| o.candidates = 0), "candidates"),
        (hybrid(&|o| o.candidates = -1), "candidates"),
        (hybrid(&|o| o.rrf_k = f64::NAN), "rrf_k"),
        (hybrid(&|o| o.rrf_k = -1.0), "rrf_k"),
        (hybrid(&|o| o.text_weight = f64::NAN), "text_weight"),
        (
            hybrid(&|o| o.vector_weight = f64::INFINITY),
            "vector_weight",
        ),
        (hybrid(&|o| o.search.k = 0), "k"),
    ] {
        option_named(
            Chunk::hybrid_search(&mut conn, &t.scope, &t.space, &q, "neon", &f, &options).await,
            name,
        );
    }
    // The connection is still usable: nothing was sent.
    Chunk::search(
        &mut conn,
        &t.scope,
        &t.space,
        &q,
        &f,
        &SearchOptions::default(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn nul_bytes_are_refused_naming_the_field_before_the_database_sees_them() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    nul(
        Dataset::get(&mut conn, &t.scope, &DatasetId::from_string("a\0b")).await,
        "datasets",
    );
    let mut bad = t.chunk(5, None);
    bad.text = "bad\0text";
    nul(Chunk::create(&mut conn, &t.scope, &bad).await, "text");
    let metadata = json!({"note": "x\u{0}y"});
    let mut bad = t.chunk(6, None);
    bad.metadata = Some(&metadata);
    nul(Chunk::create(&mut conn, &t.scope, &bad).await, "metadata");
    let new = NewDataset {
        embedding_space_id: None,
        name: "N\0",
        slug: "n",
        kind: neonhub_schema::enums::DatasetKind::Documents,
        description: None,
        source: None,
        metadata: None,
    };
    nul(Dataset::create(&mut conn, &t.scope, &new).await, "name");
    nul(
        Chunk::search(
            &mut conn,
            &t.scope,
            &t.space,
            &v(&[1.0, 0.0, 0.0]),
            &SearchFilter::default().with(ParentFilter::Dataset(DatasetId::from_string("\0"))),
            &SearchOptions::default(),
        )
        .await,
        "datasetId",
    );
    nul(
        Chunk::hybrid_search(
            &mut conn,
            &t.scope,
            &t.space,
            &v(&[1.0, 0.0, 0.0]),
            "a\0",
            &SearchFilter::default(),
            &HybridOptions::default(),
        )
        .await,
        "text",
    );
    // A batch names the row.
    let rows: Vec<ChunkRow> = (0..1000)
        .map(|i| ChunkRow {
            document_id: t.document.id.clone(),
            idx: Some(i),
            text: if i == 999 { "x\0".into() } else { "ok".into() },
            embedding: None,
            metadata: None,
        })
        .collect();
    let target = IngestTarget {
        dataset: &t.dataset.id,
        space: &t.space.id,
    };
    match Chunk::insert_many(&mut conn, &t.scope, target, &rows).await {
        Err(RagError::BatchRow { position: 999, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        Chunk::list_in_dataset(&mut conn, &t.scope, &t.dataset.id, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_repeated_index_in_a_batch_names_the_dataset_and_a_timestamp_out_of_range_its_field() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let row = |idx| ChunkRow {
        document_id: t.document.id.clone(),
        idx: Some(idx),
        text: "t".into(),
        embedding: None,
        metadata: None,
    };
    let target = IngestTarget {
        dataset: &t.dataset.id,
        space: &t.space.id,
    };
    let err = Chunk::insert_many(&mut conn, &t.scope, target, &[row(45000), row(45000)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains(t.dataset.id.as_str()), "{err}");

    let ancient = NaiveDate::from_ymd_opt(-5000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let filter = SearchFilter {
        created_from: Some(ancient),
        ..SearchFilter::default()
    };
    let err = Chunk::search(
        &mut conn,
        &t.scope,
        &t.space,
        &v(&[1.0, 0.0, 0.0]),
        &filter,
        &SearchOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, RagError::Invalid(InvalidData::OutOfRange(m)) if m.contains("created_from")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_in_names_the_servers_refusal_and_the_row() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let t = tenant(&mut conn).await;
    let target = IngestTarget {
        dataset: &t.dataset.id,
        space: &t.space.id,
    };
    // Refused up front: a NUL byte, with its row.
    let mut rows: Vec<ChunkRow> = (0..1000)
        .map(|i| ChunkRow {
            document_id: t.document.id.clone(),
            idx: Some(i),
            text: "ok".into(),
            embedding: None,
            metadata: None,
        })
        .collect();
    rows[999].metadata = Some(json!({"k": "\u{0}"}));
    let mut client = db.url().connect_raw(&Default::default()).await.unwrap();
    match Chunk::copy_in(&mut client, &t.scope, target, &rows).await {
        Err(RagError::BatchRow {
            position: 999,
            source,
        }) => {
            assert!(
                matches!(*source, RagError::Invalid(InvalidData::NulByte { .. })),
                "{source}"
            )
        }
        other => panic!("{other:?}"),
    }
    // Refused by the server (a text whose tsvector exceeds 1 MB): its message and row.
    rows[999].metadata = None;
    let words: Vec<String> = (0..200_000).map(|i| format!("w{i}x")).collect();
    rows[500].text = words.join(" ");
    let err = Chunk::copy_in(&mut client, &t.scope, target, &rows)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("row 500") && message.contains("tsvector"),
        "{message}"
    );
    let n: Count = sql_query("SELECT count(*) AS n FROM chunks")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(n.n, 0, "nothing of the batch was written");

    // The same refusal through UNNEST, where the server names no row: found by halving.
    match Chunk::insert_many(&mut conn, &t.scope, target, &rows).await {
        Err(RagError::BatchRow {
            position: 500,
            source,
        }) => {
            assert!(source.to_string().contains("tsvector"), "{source}")
        }
        other => panic!("{other:?}"),
    }
    let n: Count = sql_query("SELECT count(*) AS n FROM chunks")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(n.n, 0, "nothing of the batch was written");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Nullable<Text>)]
    org: Option<String>,
}

async fn current_org(conn: &mut AsyncPgConnection) -> Option<String> {
    sql_query("SELECT current_setting('app.current_org', true) AS org")
        .get_result::<Setting>(conn)
        .await
        .unwrap()
        .org
}

#[tokio::test]
async fn a_nested_scope_of_another_organization_restores_the_outer_one() {
    let mut conn = test_connection().await;
    let a = tenant(&mut conn).await;
    let b = fixtures::scoped_organization(&mut conn).await;
    let inside = b
        .transaction(&mut conn, async |tx| {
            // A's repository call inside B's scope transaction...
            Dataset::list(tx, &a.scope, &PageRequest::default()).await?;
            // ...and B's organization is still the one set for the rest of it.
            Ok::<_, RagError>(current_org(tx).await)
        })
        .await
        .unwrap();
    assert_eq!(inside.as_deref(), Some(b.organization_id().as_str()));
    // A failing nested call rolls its setting back as well.
    let after_error = b
        .transaction(&mut conn, async |tx| {
            Dataset::get(tx, &a.scope, &DatasetId::generate())
                .await
                .unwrap_err();
            Ok::<_, RagError>(current_org(tx).await)
        })
        .await
        .unwrap();
    assert_eq!(after_error.as_deref(), Some(b.organization_id().as_str()));
}

#[tokio::test]
async fn a_space_id_with_a_nul_byte_is_named_even_as_an_index_target() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let scope = TenantScope::trusted_system(fixtures::organization(&mut conn).await);
    conn.batch_execute("SELECT 1").await.unwrap();
    let err = EmbeddingSpace::get(&mut conn, &scope, &EmbeddingSpaceId::from_string("s\0"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RagError::Invalid(InvalidData::NulByte { .. })),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_label_added_to_a_postgresql_enum_is_named() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    // Committed (a new enum label cannot be used in the transaction that adds it).
    conn.batch_execute(r#"ALTER TYPE "DatasetKind" ADD VALUE 'GRAPH'"#)
        .await
        .unwrap();
    let scope = neonhub_schema::TenantScope::trusted_system(
        neonhub_testing::fixtures::organization(&mut conn).await,
    );
    conn.batch_execute(&format!(
        r#"INSERT INTO datasets (id, "organizationId", name, slug, kind, "updatedAt") VALUES ('g', '{}', 'G', 'g', 'GRAPH', now())"#,
        scope.organization_id()
    ))
    .await
    .unwrap();
    let err = Dataset::list(&mut conn, &scope, &PageRequest::default())
        .await
        .unwrap_err();
    match err {
        RagError::Invalid(InvalidData::UnknownLabel { column, label }) => {
            assert_eq!((column.as_str(), label.label.as_str()), ("kind", "GRAPH"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_page_limit_out_of_range_is_refused_not_clamped() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    for limit in [0, -5, i64::MIN, 501] {
        let err = Dataset::list(&mut conn, &t.scope, &PageRequest::first(limit))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RagError::Invalid(InvalidData::OutOfRange(m)) if m.contains("page limit")),
            "{limit}: {err}"
        );
    }
    assert_eq!(
        Dataset::list(&mut conn, &t.scope, &PageRequest::first(500))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}
