//! Hybrid search: where the text and vector rankings disagree, fusion shows both.

use neonhub_rag::*;
use neonhub_schema::ids::BrandId;
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::test_connection;

#[tokio::test]
async fn fusion_combines_rankings_that_disagree_and_weights_move_it() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    // The query vector is nearest to B, then C, then A; the text matches A best, then C.
    let chunks = [
        (
            0,
            "Neon sign repair: a step by step repair guide for neon signs",
            v(&[0.0, 0.0, 1.0]),
        ),
        (
            1,
            "Keep the studio lights maintained and dust free",
            v(&[1.0, 0.0, 0.0]),
        ),
        (2, "Which neon sign should you buy", v(&[0.7, 0.0, 0.7])),
    ];
    let mut ids = Vec::new();
    for (idx, text, vector) in &chunks {
        let mut new = new_chunk(&t, *idx, Some(vector));
        new.text = text;
        ids.push(Chunk::create(&mut conn, &t.scope, &new).await.unwrap().id);
    }
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let query = v(&[1.0, 0.0, 0.05]);
    let text = "neon sign";
    let order = |hits: &[HybridHit]| hits.iter().map(|h| h.chunk.id.clone()).collect::<Vec<_>>();

    let vector_only = Chunk::search(
        &mut conn,
        &t.scope,
        &t.space,
        &query,
        &SearchFilter::default(),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        vector_only.iter().map(|h| &h.row.id).collect::<Vec<_>>(),
        [b, c, a]
    );

    let fused = Chunk::hybrid_search(
        &mut conn,
        &t.scope,
        &t.space,
        &query,
        text,
        &SearchFilter::default(),
        &HybridOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        order(&fused),
        [a.clone(), c.clone(), b.clone()],
        "{fused:#?}"
    );
    assert_eq!(
        (fused[0].vector_rank, fused[0].text_rank),
        (Some(3), Some(1))
    );
    assert_eq!(
        (fused[2].vector_rank, fused[2].text_rank),
        (Some(1), None),
        "B has no text match"
    );
    let expected_a = 1.0 / 63.0 + 1.0 / 61.0;
    assert!(
        (fused[0].score - expected_a).abs() < 1e-9,
        "{} != {expected_a}",
        fused[0].score
    );

    let text_off = HybridOptions {
        text_weight: 0.0,
        ..HybridOptions::default()
    };
    let by_vector = Chunk::hybrid_search(
        &mut conn,
        &t.scope,
        &t.space,
        &query,
        text,
        &SearchFilter::default(),
        &text_off,
    )
    .await
    .unwrap();
    assert_eq!(order(&by_vector), [b.clone(), c.clone(), a.clone()]);
    let vector_off = HybridOptions {
        vector_weight: 0.0,
        ..HybridOptions::default()
    };
    let by_text = Chunk::hybrid_search(
        &mut conn,
        &t.scope,
        &t.space,
        &query,
        text,
        &SearchFilter::default(),
        &vector_off,
    )
    .await
    .unwrap();
    assert_eq!(order(&by_text)[..2], [a.clone(), c.clone()]);
}

/// As the application role (row-level security on), the text side matches and ranks on the
/// stored tsvector's narrow copy (`chunk_search_vectors`) through its GIN index (inside
/// `nh_chunk_text_matches`: `@@` is not leakproof, so the policies would keep it off the
/// index in place), the vector side goes through the space's HNSW index, the rows are read
/// by primary key, and nothing scans either table; the statement computes no `to_tsvector`.
#[tokio::test(flavor = "multi_thread")]
async fn hybrid_uses_the_stored_tsvector_and_both_indexes() {
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
    let db = neonhub_testing::TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant(&mut owner).await;
    owner
        .batch_execute(&format!(
            r#"SELECT setseed(0.3);
               INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, "createdAt")
               SELECT 'h' || g, '{ds}', '{doc}', '{sp}', g,
                      'word' || (g % 500) || ' other' || (g % 37) || ' filler text',
                      ARRAY[random(), random(), random()]::real[]::vector, now()
               FROM generate_series(1, 5000) g;
               ANALYZE chunks;"#,
            ds = t.dataset.id,
            doc = t.document.id,
            sp = t.space.id
        ))
        .await
        .unwrap();
    // As (auto)vacuum leaves a table: the rows moved out of the GIN index's pending list and
    // its statistics current (a pending list of every row made the index look dearer than
    // the space's btree to the planner).
    owner
        .batch_execute("VACUUM ANALYZE chunks, chunk_search_vectors")
        .await
        .unwrap();
    let hnsw = cosine_hnsw_index(db.url(), &t.scope, &t.space.id).await;
    let statement = hybrid_statement(
        &t.scope,
        &t.space,
        &v(&[1.0, 0.0, 0.0]),
        "word7",
        &SearchFilter::default(),
        &HybridOptions::default(),
    )
    .unwrap();
    assert!(!statement.sql.contains("to_tsvector"), "{}", statement.sql);
    #[derive(diesel::QueryableByName, Debug)]
    struct Scans {
        #[diesel(sql_type = BigInt)]
        gin: i64,
        #[diesel(sql_type = BigInt)]
        hnsw: i64,
        #[diesel(sql_type = BigInt)]
        table: i64,
        #[diesel(sql_type = BigInt)]
        copy: i64,
    }
    let mut app = db.connect_as_app().await;
    // On 5,000 short rows a sequential scan costs less than any index: off, the plans show
    // which indexes the statement can use as this role (on 100k chunks the planner picks
    // them by itself: the bench).
    app.batch_execute("SET enable_seqscan = off").await.unwrap();
    let (hits, scans) = app
        .transaction(async |tx| {
            let hits = Chunk::hybrid_search(
                tx,
                &t.scope,
                &t.space,
                &v(&[1.0, 0.0, 0.0]),
                "word7",
                &SearchFilter::default(),
                &HybridOptions::default(),
            )
            .await
            .unwrap();
            // This transaction's scans, as the server counted them.
            let scans: Scans = diesel::sql_query(format!(
                "SELECT pg_stat_get_xact_numscans('public.\"chunk_search_vectors_embeddingSpaceId_searchVector_idx\"'::regclass) AS gin, \
                        pg_stat_get_xact_numscans('public.{hnsw}'::regclass) AS hnsw, \
                        pg_stat_get_xact_numscans('public.chunks'::regclass) AS table, \
                        pg_stat_get_xact_numscans('public.chunk_search_vectors'::regclass) AS copy"
            ))
            .get_result(tx)
            .await?;
            Ok::<_, diesel::result::Error>((hits, scans))
        })
        .await
        .unwrap();
    assert!(hits.iter().any(|h| h.text_rank.is_some()), "no text match");
    assert!(
        hits.iter().any(|h| h.vector_rank.is_some()),
        "no vector match"
    );
    assert!(scans.gin >= 1 && scans.hnsw >= 1, "{scans:?}");
    assert_eq!(scans.table, 0, "a sequential scan of chunks: {scans:?}");
    assert_eq!(
        scans.copy, 0,
        "a sequential scan of the text copy: {scans:?}"
    );
}

/// A space's language decides how its chunks and the query are parsed: German stems
/// "Häuser" to the "Haus" a query asks for, English does not. Setting it recomputes the
/// chunks already there; chunks added later get it from the trigger (COPY included); an
/// unknown language is a typed error that changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_spaces_text_search_language_is_honoured() {
    let db = neonhub_testing::TestDatabase::migrated().await;
    let t = tenant(&mut db.connect().await).await;
    let mut conn = db.connect_as_app().await;
    let (x, z) = (v(&[1.0, 0.0, 0.0]), v(&[0.0, 0.0, 1.0]));
    let mut first = new_chunk(&t, 0, Some(&x));
    first.text = "Die alten Häuser am Hafen";
    let first = Chunk::create(&mut conn, &t.scope, &first).await.unwrap();
    let text_only = HybridOptions {
        vector_weight: 0.0,
        ..HybridOptions::default()
    };
    let text_matches = async |conn: &mut diesel_async::AsyncPgConnection,
                              space: &EmbeddingSpace| {
        Chunk::hybrid_search(
            conn,
            &t.scope,
            space,
            &v(&[0.0, 1.0, 0.0]),
            "Haus",
            &SearchFilter::default(),
            &text_only,
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.text_rank.is_some())
        .map(|h| h.chunk.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(t.space.text_search_config, "english");
    assert!(text_matches(&mut conn, &t.space).await.is_empty());

    let err = EmbeddingSpace::set_text_search_language(&mut conn, &t.scope, &t.space.id, "klingon")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RagError::UnknownTextSearchLanguage(ref l) if l == "klingon"),
        "{err}"
    );
    let unchanged = EmbeddingSpace::get(&mut conn, &t.scope, &t.space.id)
        .await
        .unwrap();
    assert_eq!(unchanged.text_search_config, "english");

    let german =
        EmbeddingSpace::set_text_search_language(&mut conn, &t.scope, &t.space.id, "german")
            .await
            .unwrap();
    assert_eq!(german.text_search_config, "german");
    assert_eq!(
        text_matches(&mut conn, &german).await,
        vec![first.id.clone()]
    );
    // Chunks written afterwards, one by one and by COPY, are parsed in German too.
    let mut second = new_chunk(&t, 1, Some(&z));
    second.text = "Ein Haus";
    let second = Chunk::create(&mut conn, &t.scope, &second).await.unwrap();
    let copied = ChunkRow {
        document_id: t.document.id.clone(),
        idx: Some(2),
        text: "Zwei Häuser".into(),
        embedding: Some(v(&[0.5, 0.5, 0.0])),
        metadata: None,
    };
    let target = IngestTarget {
        dataset: &t.dataset.id,
        space: &t.space.id,
    };
    Chunk::copy_in(
        &mut db.app_url().connect_raw(&Default::default()).await.unwrap(),
        &t.scope,
        target,
        std::slice::from_ref(&copied),
    )
    .await
    .unwrap();
    let mut found = text_matches(&mut conn, &german).await;
    found.sort();
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&first.id) && found.contains(&second.id));
}

#[derive(diesel::QueryableByName, Debug)]
#[diesel(table_name = neonhub_schema::schema::brand_voices)]
struct VoiceRow {
    id: String,
}

#[tokio::test]
async fn messages_and_brand_voices_search_through_the_same_machinery() {
    use neonhub_schema::enums::{ConversationKind, MessageRole};
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let conversation = Conversation::create(
        &mut conn,
        &t.scope,
        &NewConversation {
            kind: ConversationKind::Support,
            title: None,
            created_by_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let body = serde_json::json!({"text": "hi"});
    let mut ids = Vec::new();
    for vector in [
        v(&[1.0, 0.0, 0.0]),
        v(&[0.0, 1.0, 0.0]),
        v(&[0.9, 0.1, 0.0]),
    ] {
        let m = Message::create(
            &mut conn,
            &t.scope,
            &conversation.id,
            &NewMessage {
                author_id: None,
                role: MessageRole::User,
                content_json: &body,
                embedding: Some(&vector),
                embedding_space_id: Some(&t.space.id),
                metadata: None,
            },
        )
        .await
        .unwrap();
        ids.push(m.id);
    }
    let filter = SearchFilter::default().with(ParentFilter::Conversation(conversation.id.clone()));
    let hits: Vec<Hit<Message>> = vector_search(
        &mut conn,
        &t.scope,
        VectorTable::Messages,
        &t.space,
        &v(&[1.0, 0.05, 0.0]),
        &filter,
        &SearchOptions {
            k: 2,
            ..SearchOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.row.id.clone()).collect::<Vec<_>>(),
        [ids[0].clone(), ids[2].clone()]
    );

    // Brand voices belong to the campaigns crate; the search takes its row type.
    neonhub_testing::as_owner(&mut conn, &format!(
        r#"INSERT INTO brands (id, "organizationId", name, slug, "updatedAt") VALUES ('b1', '{org}', 'B', 'b', now());
           INSERT INTO brand_voices (id, "brandId", "embeddingSpaceId", "promptTemplate", "styleRulesJson", embedding, "updatedAt")
           VALUES ('warm', 'b1', '{space}', 'p', '{{}}', '[1,0,0]', now()), ('cold', 'b1', '{space}', 'p', '{{}}', '[0,0,1]', now());"#,
        org = t.scope.organization_id(),
        space = t.space.id
    ))
    .await;
    let voices: Vec<Hit<VoiceRow>> = vector_search(
        &mut conn,
        &t.scope,
        VectorTable::BrandVoices,
        &t.space,
        &v(&[0.0, 0.1, 1.0]),
        &SearchFilter::default().with(ParentFilter::Brand(BrandId::from_string("b1"))),
        &SearchOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        voices.iter().map(|h| h.row.id.as_str()).collect::<Vec<_>>(),
        ["cold", "warm"]
    );
    let err = vector_search::<VoiceRow>(
        &mut conn,
        &t.scope,
        VectorTable::BrandVoices,
        &t.space,
        &v(&[0.0, 0.1, 1.0]),
        &SearchFilter {
            metadata: Some(serde_json::json!({})),
            ..SearchFilter::default()
        },
        &SearchOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RagError::InvalidFilter(_)), "{err}");
}

/// Outside a transaction a hybrid search is one statement, and every guard in it (the
/// vector side's, the text side's, the language lookup's) sets the tenant before its side
/// runs: PostgreSQL may run either side first (a full hash join builds its inner side's
/// table before reading the outer one), and the text side's function reads the
/// organization from that setting. Filtered or not.
#[tokio::test]
async fn every_guard_of_a_one_statement_hybrid_search_sets_the_tenant() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    for filter in [
        SearchFilter::default(),
        SearchFilter::default().with(ParentFilter::Dataset(t.dataset.id.clone())),
    ] {
        let statement = hybrid_statement(
            &t.scope,
            &t.space,
            &v(&[1.0, 0.0, 0.0]),
            "neon",
            &filter,
            &HybridOptions::default(),
        )
        .unwrap();
        let inline = statement.inline(&t.scope).sql;
        let guards = inline
            .matches("FROM public.embedding_spaces s WHERE ")
            .count();
        let tenant_set = inline.matches("set_config('app.current_org', $").count();
        assert!(guards >= 3, "{inline}");
        assert_eq!(tenant_set, guards, "{inline}");
        // k and the candidate count are literals, so a generic plan can be kept.
        assert!(
            inline.contains("LIMIT 50") && inline.contains("LIMIT 10"),
            "{inline}"
        );
    }
}

/// The text side reads `chunk_search_vectors`, a narrow copy of each chunk's tsvector kept by
/// statement triggers on chunks: every way the application role writes chunks (one row,
/// UNNEST, COPY, text and metadata updates, deletes of a chunk and of a document) leaves
/// the copy equal to the chunks, a space's language change reaches it, the application
/// role cannot write the copy itself, and TRUNCATE empties it.
#[tokio::test(flavor = "multi_thread")]
async fn the_text_copy_follows_every_write_to_chunks() {
    use diesel::sql_types::BigInt;
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let db = neonhub_testing::TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let t = tenant(&mut owner).await;
    // Rows of one side without an equal row on the other (id, space and tsvector), and the
    // copy's size.
    let differences = async |owner: &mut diesel_async::AsyncPgConnection| -> (i64, i64) {
        let diff: N = diesel::sql_query(
            r#"SELECT count(*) AS n FROM chunks c FULL JOIN chunk_search_vectors v ON v."chunkId" = c.id
               WHERE c.id IS NULL OR v."chunkId" IS NULL OR v."embeddingSpaceId" <> c."embeddingSpaceId"
                  OR v."searchVector" <> c."searchVector""#,
        )
        .get_result(owner)
        .await
        .unwrap();
        let size: N = diesel::sql_query("SELECT count(*) AS n FROM chunk_search_vectors")
            .get_result(owner)
            .await
            .unwrap();
        (diff.n, size.n)
    };
    let mut app = db.connect_as_app().await;
    let (x, y) = (v(&[1.0, 0.0, 0.0]), v(&[0.0, 1.0, 0.0]));
    let mut one = new_chunk(&t, 0, Some(&x));
    one.text = "lighthouse keepers log";
    let one = Chunk::create(&mut app, &t.scope, &one).await.unwrap();
    let target = IngestTarget {
        dataset: &t.dataset.id,
        space: &t.space.id,
    };
    let rows = |start: i32, n: i32| -> Vec<ChunkRow> {
        (start..start + n)
            .map(|i| ChunkRow {
                document_id: t.document.id.clone(),
                idx: Some(i),
                text: format!("harbour pilot {i}"),
                embedding: Some(y.clone()),
                metadata: None,
            })
            .collect()
    };
    Chunk::insert_many(&mut app, &t.scope, target, &rows(100, 50))
        .await
        .unwrap();
    let pool = neonhub_schema::build_raw_pool(&db.app_url(), &Default::default());
    let mut client = pool.get().await.unwrap();
    Chunk::copy_in(&mut client, &t.scope, target, &rows(200, 50))
        .await
        .unwrap();
    assert_eq!(differences(&mut owner).await, (0, 101));

    let changed = Chunk::update(
        &mut app,
        &t.scope,
        &one.id,
        &ChunkChanges {
            text: Some("foghorn signal"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let metadata = serde_json::json!({"tag": "x"});
    Chunk::update(
        &mut app,
        &t.scope,
        &changed.id,
        &ChunkChanges {
            metadata: Some(Some(&metadata)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(differences(&mut owner).await, (0, 101));
    let fog = Chunk::hybrid_search(
        &mut app,
        &t.scope,
        &t.space,
        &y,
        "foghorn",
        &SearchFilter::default(),
        &HybridOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        fog.iter()
            .filter(|h| h.text_rank.is_some())
            .map(|h| &h.chunk.id)
            .collect::<Vec<_>>(),
        [&one.id],
        "the updated text is what the text side matches"
    );

    EmbeddingSpace::set_text_search_language(&mut app, &t.scope, &t.space.id, "simple")
        .await
        .unwrap();
    assert_eq!(differences(&mut owner).await, (0, 101));
    let simple: N = diesel::sql_query(
        "SELECT count(*) AS n FROM chunk_search_vectors WHERE \"searchVector\" = to_tsvector('simple', (SELECT text FROM chunks WHERE id = \"chunkId\"))",
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!(simple.n, 101, "the copy follows the space's language");

    Chunk::delete(&mut app, &t.scope, &one.id).await.unwrap();
    assert_eq!(differences(&mut owner).await, (0, 100));

    // Written only by the triggers: the application role's own writes are refused.
    for sql in [
        format!(
            "INSERT INTO chunk_search_vectors VALUES ('forged', '{}', to_tsvector('forged'))",
            t.space.id
        ),
        "UPDATE chunk_search_vectors SET \"searchVector\" = to_tsvector('forged')".to_owned(),
        "DELETE FROM chunk_search_vectors".to_owned(),
    ] {
        let err = app.batch_execute(&sql).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }

    Document::delete(&mut app, &t.scope, &t.document.id)
        .await
        .unwrap();
    assert_eq!(differences(&mut owner).await, (0, 0));

    let second = Document::create(
        &mut app,
        &t.scope,
        &NewDocument {
            dataset_id: Some(&t.dataset.id),
            owner_id: &t.user,
            embedding_space_id: Some(&t.space.id),
            title: "Second",
            content: "",
            status: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let again: Vec<ChunkRow> = rows(300, 5)
        .into_iter()
        .map(|r| ChunkRow {
            document_id: second.id.clone(),
            ..r
        })
        .collect();
    Chunk::insert_many(&mut app, &t.scope, target, &again)
        .await
        .unwrap();
    assert_eq!(differences(&mut owner).await, (0, 5));
    owner.batch_execute("TRUNCATE chunks").await.unwrap();
    assert_eq!(differences(&mut owner).await, (0, 0));
}
