//! Every public operation of `neonhub-rag` names one permission key and checks it before it
//! touches the database: a scope lacking the key is refused with `Denied` naming it, and
//! nothing is written. The list below is checked against the source, so an operation
//! added without an entry (or without its check) fails this test.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_rag::*;
use neonhub_schema::enums::{ConversationKind, MessageRole};
use neonhub_schema::ids::UserId;
use neonhub_schema::{DatabaseUrl, Denied, PERMISSIONS, PermissionSet, TenantScope, keys};
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::test_connection;
use serde_json::json;

/// The rows an operation works on.
struct Fx {
    t: Tenant,
    chunk: Chunk,
    conversation: Conversation,
    message: Message,
    /// Nothing listens here: an operation that connects before checking fails differently.
    nowhere: DatabaseUrl,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<(), RagError>> + 'a>>;
type Op = Box<dyn for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a>>;

fn op<F>(f: F) -> Op
where
    F: for<'a> Fn(&'a mut AsyncPgConnection, &'a TenantScope, &'a Fx) -> Run<'a> + 'static,
{
    Box::new(f)
}

fn index_spec() -> IndexSpec {
    IndexSpec {
        table: VectorTable::Chunks,
        distance: Distance::Cosine,
        method: IndexMethod::default(),
        storage: IndexStorage::Full,
    }
}

/// Every public operation that takes a scope, with the key it needs.
fn operations() -> Vec<(&'static str, &'static str, Op)> {
    use keys::{KNOWLEDGE_READ as READ, KNOWLEDGE_WRITE as WRITE};
    vec![
        (
            "EmbeddingSpace::create",
            WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    let new = NewEmbeddingSpace {
                        name: "other",
                        provider: "local",
                        model: "m",
                        dimension: 3,
                        metadata: None,
                    };
                    EmbeddingSpace::create(c, s, &new).await.map(drop)
                })
            }),
        ),
        (
            "EmbeddingSpace::get_or_create",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewEmbeddingSpace {
                        name: &f.t.space.name,
                        provider: &f.t.space.provider,
                        model: &f.t.space.model,
                        dimension: f.t.space.dimension,
                        metadata: None,
                    };
                    EmbeddingSpace::get_or_create(c, s, &new).await.map(drop)
                })
            }),
        ),
        (
            "EmbeddingSpace::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { EmbeddingSpace::get(c, s, &f.t.space.id).await.map(drop) })
            }),
        ),
        (
            "EmbeddingSpace::by_name",
            READ,
            op(|c, s, _| {
                Box::pin(async move { EmbeddingSpace::by_name(c, s, "toy").await.map(drop) })
            }),
        ),
        (
            "EmbeddingSpace::list",
            READ,
            op(|c, s, _| {
                Box::pin(async move {
                    EmbeddingSpace::list(c, s, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "EmbeddingSpace::update",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    EmbeddingSpace::update(
                        c,
                        s,
                        &f.t.space.id,
                        &EmbeddingSpaceChanges {
                            name: Some("renamed"),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "EmbeddingSpace::set_text_search_language",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    EmbeddingSpace::set_text_search_language(c, s, &f.t.space.id, "simple")
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "EmbeddingSpace::delete",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move { EmbeddingSpace::delete(c, s, &f.t.space.id).await })
            }),
        ),
        (
            "Dataset::create",
            WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    let new = NewDataset {
                        embedding_space_id: None,
                        name: "D",
                        slug: "d2",
                        kind: neonhub_schema::enums::DatasetKind::Documents,
                        description: None,
                        source: None,
                        metadata: None,
                    };
                    Dataset::create(c, s, &new).await.map(drop)
                })
            }),
        ),
        (
            "Dataset::get_or_create",
            WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    let new = NewDataset {
                        embedding_space_id: None,
                        name: "D",
                        slug: "d3",
                        kind: neonhub_schema::enums::DatasetKind::Documents,
                        description: None,
                        source: None,
                        metadata: None,
                    };
                    Dataset::get_or_create(c, s, &new).await.map(drop)
                })
            }),
        ),
        (
            "Dataset::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { Dataset::get(c, s, &f.t.dataset.id).await.map(drop) })
            }),
        ),
        (
            "Dataset::by_slug",
            READ,
            op(|c, s, _| Box::pin(async move { Dataset::by_slug(c, s, "docs").await.map(drop) })),
        ),
        (
            "Dataset::list",
            READ,
            op(|c, s, _| {
                Box::pin(
                    async move { Dataset::list(c, s, &PageRequest::default()).await.map(drop) },
                )
            }),
        ),
        (
            "Dataset::update",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    Dataset::update(
                        c,
                        s,
                        &f.t.dataset.id,
                        &DatasetChanges {
                            name: Some("renamed"),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Dataset::delete",
            WRITE,
            op(|c, s, f| Box::pin(async move { Dataset::delete(c, s, &f.t.dataset.id).await })),
        ),
        (
            "Document::create",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    let new = NewDocument {
                        dataset_id: None,
                        owner_id: &f.t.user,
                        embedding_space_id: None,
                        title: "T",
                        content: "C",
                        status: None,
                        metadata: None,
                    };
                    Document::create(c, s, &new).await.map(drop)
                })
            }),
        ),
        (
            "Document::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { Document::get(c, s, &f.t.document.id).await.map(drop) })
            }),
        ),
        (
            "Document::list",
            READ,
            op(|c, s, _| {
                Box::pin(async move {
                    Document::list(c, s, None, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Document::update",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    Document::update(
                        c,
                        s,
                        &f.t.document.id,
                        &DocumentChanges {
                            title: Some("renamed"),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Document::delete",
            WRITE,
            op(|c, s, f| Box::pin(async move { Document::delete(c, s, &f.t.document.id).await })),
        ),
        (
            "Chunk::create",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move { Chunk::create(c, s, &f.t.chunk(99, None)).await.map(drop) })
            }),
        ),
        (
            "Chunk::get",
            READ,
            op(|c, s, f| Box::pin(async move { Chunk::get(c, s, &f.chunk.id).await.map(drop) })),
        ),
        (
            "Chunk::list_in_dataset",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    Chunk::list_in_dataset(c, s, &f.t.dataset.id, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Chunk::list_in_document",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    Chunk::list_in_document(c, s, &f.t.document.id, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Chunk::update",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    Chunk::update(
                        c,
                        s,
                        &f.chunk.id,
                        &ChunkChanges {
                            text: Some("changed"),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Chunk::delete",
            WRITE,
            op(|c, s, f| Box::pin(async move { Chunk::delete(c, s, &f.chunk.id).await })),
        ),
        (
            "Chunk::search",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    Chunk::search(
                        c,
                        s,
                        &f.t.space,
                        &v(&[1.0, 0.0, 0.0]),
                        &SearchFilter::default(),
                        &SearchOptions::default(),
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Chunk::hybrid_search",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    Chunk::hybrid_search(
                        c,
                        s,
                        &f.t.space,
                        &v(&[1.0, 0.0, 0.0]),
                        "neon",
                        &SearchFilter::default(),
                        &HybridOptions::default(),
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Chunk::insert_many",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    let rows = [ChunkRow {
                        document_id: f.t.document.id.clone(),
                        idx: Some(50),
                        text: "bulk".into(),
                        embedding: None,
                        metadata: None,
                    }];
                    let target = IngestTarget {
                        dataset: &f.t.dataset.id,
                        space: &f.t.space.id,
                    };
                    Chunk::insert_many(c, s, target, &rows).await.map(drop)
                })
            }),
        ),
        (
            "Chunk::copy_in",
            WRITE,
            op(|_, s, f| {
                Box::pin(async move {
                    let rows = [ChunkRow {
                        document_id: f.t.document.id.clone(),
                        idx: Some(51),
                        text: "copy".into(),
                        embedding: None,
                        metadata: None,
                    }];
                    let target = IngestTarget {
                        dataset: &f.t.dataset.id,
                        space: &f.t.space.id,
                    };
                    let mut client = neonhub_testing::shared_url()
                        .connect_raw(&Default::default())
                        .await?;
                    Chunk::copy_in(&mut client, s, target, &rows)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Conversation::create",
            WRITE,
            op(|c, s, _| {
                Box::pin(async move {
                    let new = NewConversation {
                        kind: ConversationKind::Planning,
                        title: None,
                        created_by_id: None,
                        metadata: None,
                    };
                    Conversation::create(c, s, &new).await.map(drop)
                })
            }),
        ),
        (
            "Conversation::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { Conversation::get(c, s, &f.conversation.id).await.map(drop) })
            }),
        ),
        (
            "Conversation::list",
            READ,
            op(|c, s, _| {
                Box::pin(async move {
                    Conversation::list(c, s, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Conversation::update",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    Conversation::update(
                        c,
                        s,
                        &f.conversation.id,
                        &ConversationChanges {
                            title: Some(Some("renamed")),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Conversation::delete",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move { Conversation::delete(c, s, &f.conversation.id).await })
            }),
        ),
        (
            "Message::create",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    let body = json!({"text": "more"});
                    let new = NewMessage {
                        author_id: None,
                        role: MessageRole::User,
                        content_json: &body,
                        embedding: None,
                        embedding_space_id: None,
                        metadata: None,
                    };
                    Message::create(c, s, &f.conversation.id, &new)
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Message::get",
            READ,
            op(|c, s, f| {
                Box::pin(async move { Message::get(c, s, &f.message.id).await.map(drop) })
            }),
        ),
        (
            "Message::list",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    Message::list(c, s, &f.conversation.id, &PageRequest::default())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "Message::update",
            WRITE,
            op(|c, s, f| {
                Box::pin(async move {
                    let body = json!({"text": "edited"});
                    Message::update(
                        c,
                        s,
                        &f.message.id,
                        &MessageChanges {
                            content_json: Some(&body),
                            ..Default::default()
                        },
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "Message::delete",
            WRITE,
            op(|c, s, f| Box::pin(async move { Message::delete(c, s, &f.message.id).await })),
        ),
        (
            "Message::search",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    Message::search(
                        c,
                        s,
                        &f.t.space,
                        &v(&[1.0, 0.0, 0.0]),
                        &SearchFilter::default(),
                        &SearchOptions::default(),
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "vector_search",
            READ,
            op(|c, s, f| {
                Box::pin(async move {
                    vector_search::<Chunk>(
                        c,
                        s,
                        VectorTable::Chunks,
                        &f.t.space,
                        &v(&[1.0, 0.0, 0.0]),
                        &SearchFilter::default(),
                        &SearchOptions::default(),
                    )
                    .await
                    .map(drop)
                })
            }),
        ),
        (
            "IndexManager::create",
            WRITE,
            op(|_, s, f| {
                Box::pin(async move {
                    IndexManager::new(f.nowhere.clone())
                        .create(s, &f.t.space.id, &index_spec(), |_| {})
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "IndexManager::rebuild",
            WRITE,
            op(|_, s, f| {
                Box::pin(async move {
                    IndexManager::new(f.nowhere.clone())
                        .rebuild(s, &f.t.space.id, &index_spec(), |_| {})
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "IndexManager::drop",
            WRITE,
            op(|_, s, f| {
                Box::pin(async move {
                    IndexManager::new(f.nowhere.clone())
                        .drop(s, &f.t.space.id, &index_spec())
                        .await
                        .map(drop)
                })
            }),
        ),
        (
            "IndexManager::list",
            READ,
            op(|_, s, f| {
                Box::pin(async move {
                    IndexManager::new(f.nowhere.clone())
                        .list(s, Some(&f.t.space.id))
                        .await
                        .map(drop)
                })
            }),
        ),
    ]
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Rows in the crate's tables (a fingerprint good enough to see a write).
async fn rows(conn: &mut AsyncPgConnection) -> i64 {
    sql_query(
        "SELECT (SELECT count(*) FROM embedding_spaces) + (SELECT count(*) FROM datasets)
              + (SELECT count(*) FROM documents) + (SELECT count(*) FROM chunks)
              + (SELECT count(*) FROM conversations) + (SELECT count(*) FROM messages)
              + (SELECT count(*) FROM embedding_spaces WHERE name <> 'toy')
              + (SELECT count(*) FROM datasets WHERE name <> 'Docs')
              + (SELECT count(*) FROM documents WHERE title <> 'Neon care')
              + (SELECT count(*) FROM chunks WHERE text <> 'chunk text')
              + (SELECT count(*) FROM conversations WHERE title IS NOT NULL)
              + (SELECT count(*) FROM messages WHERE \"contentJson\" <> '{\"text\": \"hi\"}') AS n",
    )
    .get_result::<Rows>(conn)
    .await
    .unwrap()
    .n
}

async fn fixture(conn: &mut AsyncPgConnection) -> Fx {
    let t = tenant(conn).await;
    let chunk = Chunk::create(conn, &t.scope, &t.chunk(0, Some(&v(&[1.0, 0.0, 0.0]))))
        .await
        .unwrap();
    let conversation = Conversation::create(
        conn,
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
    let message = Message::create(
        conn,
        &t.scope,
        &conversation.id,
        &NewMessage {
            author_id: None,
            role: MessageRole::User,
            content_json: &body,
            embedding: None,
            embedding_space_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    Fx {
        t,
        chunk,
        conversation,
        message,
        nowhere: DatabaseUrl::parse("postgres://nobody@127.0.0.1:1/nowhere").unwrap(),
    }
}

/// A member's scope holding every catalogue key but `missing`.
fn scope_without(fx: &Fx, missing: &str) -> TenantScope {
    TenantScope::for_member(
        fx.t.scope.organization_id().clone(),
        UserId::generate(),
        PermissionSet::of(PERMISSIONS.iter().map(|p| p.key).filter(|k| *k != missing)),
    )
}

#[test]
fn every_public_operation_is_listed_with_the_key_its_source_checks_first() {
    let listed: BTreeMap<String, String> = operations()
        .into_iter()
        .map(|(name, key, _)| (name.to_owned(), key.to_owned()))
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
    let before = rows(&mut conn).await;
    for (name, key, run) in operations() {
        let scope = scope_without(&fx, key);
        let err = run(&mut conn, &scope, &fx).await.unwrap_err();
        assert!(
            matches!(&err, RagError::Denied(Denied::MissingPermission { key: k, .. }) if k == key),
            "{name} without {key}: {err}"
        );
        assert_eq!(
            rows(&mut conn).await,
            before,
            "{name} wrote although refused"
        );
    }
}

#[tokio::test]
async fn the_listed_key_alone_is_enough() {
    let mut conn = test_connection().await;
    let fx = fixture(&mut conn).await;
    for (name, key, run) in operations() {
        // These use connections of their own (to `nowhere` here, which retries for
        // seconds; a real index build or COPY would not see this test's open transaction).
        if name.starts_with("IndexManager::") || name == "Chunk::copy_in" {
            continue;
        }
        let scope = TenantScope::for_member(
            fx.t.scope.organization_id().clone(),
            UserId::generate(),
            PermissionSet::of([key]),
        );
        // Whatever else may fail (a row an earlier entry deleted), it is not the permission.
        if let Err(RagError::Denied(denied)) = run(&mut conn, &scope, &fx).await {
            panic!("{name} with {key} alone: {denied}");
        }
    }
}
