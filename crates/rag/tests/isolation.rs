//! Two organizations: nothing done in one's scope reads, changes or links to the other's rows.

use neonhub_rag::*;
use neonhub_schema::enums::{ConversationKind, DatasetKind, MessageRole};
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::test_connection;
use serde_json::json;

fn assert_hidden<T: std::fmt::Debug>(result: Result<T, RagError>, what: &str) {
    match result {
        Err(RagError::NotFound { .. }) | Err(RagError::ForeignParent { .. }) => {}
        other => panic!("{what}: expected the other tenant's row to be invisible, got {other:?}"),
    }
}

#[tokio::test]
async fn one_tenant_cannot_read_change_delete_or_link_to_anothers_rows() {
    let mut conn = test_connection().await;
    let a = tenant(&mut conn).await;
    let b = tenant(&mut conn).await;
    let vec3 = v(&[0.5, 0.5, 0.5]);
    let b_chunk = Chunk::create(&mut conn, &b.scope, &new_chunk(&b, 0, Some(&vec3)))
        .await
        .unwrap();
    let b_conv = Conversation::create(
        &mut conn,
        &b.scope,
        &NewConversation {
            kind: ConversationKind::Support,
            title: Some("b"),
            created_by_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let hello = json!({"text": "hello"});
    let b_msg = Message::create(
        &mut conn,
        &b.scope,
        &b_conv.id,
        &NewMessage {
            author_id: None,
            role: MessageRole::User,
            content_json: &hello,
            embedding: None,
            embedding_space_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let a_conv = Conversation::create(
        &mut conn,
        &a.scope,
        &NewConversation {
            kind: ConversationKind::Support,
            title: Some("a"),
            created_by_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let s = &a.scope;

    // get
    assert_hidden(
        EmbeddingSpace::get(&mut conn, s, &b.space.id).await,
        "get space",
    );
    assert_hidden(
        Dataset::get(&mut conn, s, &b.dataset.id).await,
        "get dataset",
    );
    assert_hidden(
        Document::get(&mut conn, s, &b.document.id).await,
        "get document",
    );
    assert_hidden(Chunk::get(&mut conn, s, &b_chunk.id).await, "get chunk");
    assert_hidden(
        Conversation::get(&mut conn, s, &b_conv.id).await,
        "get conversation",
    );
    assert_hidden(Message::get(&mut conn, s, &b_msg.id).await, "get message");

    // list: only A's rows; B's parents are refused
    let page = PageRequest::default();
    assert!(
        EmbeddingSpace::list(&mut conn, s, &page)
            .await
            .unwrap()
            .items
            .iter()
            .all(|x| x.organization_id == *s.organization_id())
    );
    assert_eq!(
        Dataset::list(&mut conn, s, &page).await.unwrap().items,
        vec![a.dataset.clone()]
    );
    assert_eq!(
        Document::list(&mut conn, s, None, &page)
            .await
            .unwrap()
            .items,
        vec![a.document.clone()]
    );
    assert_eq!(
        Conversation::list(&mut conn, s, &page).await.unwrap().items,
        vec![a_conv.clone()]
    );
    assert_hidden(
        Chunk::list_in_dataset(&mut conn, s, &b.dataset.id, &page).await,
        "list chunks of B's dataset",
    );
    assert_hidden(
        Chunk::list_in_document(&mut conn, s, &b.document.id, &page).await,
        "list chunks of B's document",
    );
    assert_hidden(
        Message::list(&mut conn, s, &b_conv.id, &page).await,
        "list messages of B's conversation",
    );

    // update
    assert_hidden(
        EmbeddingSpace::update(
            &mut conn,
            s,
            &b.space.id,
            &EmbeddingSpaceChanges {
                name: Some("stolen"),
                metadata: None,
            },
        )
        .await,
        "update space",
    );
    assert_hidden(
        Dataset::update(
            &mut conn,
            s,
            &b.dataset.id,
            &DatasetChanges {
                name: Some("stolen"),
                ..Default::default()
            },
        )
        .await,
        "update dataset",
    );
    assert_hidden(
        Document::update(
            &mut conn,
            s,
            &b.document.id,
            &DocumentChanges {
                title: Some("stolen"),
                ..Default::default()
            },
        )
        .await,
        "update document",
    );
    assert_hidden(
        Chunk::update(
            &mut conn,
            s,
            &b_chunk.id,
            &ChunkChanges {
                text: Some("stolen"),
                ..Default::default()
            },
        )
        .await,
        "update chunk",
    );
    assert_hidden(
        Conversation::update(
            &mut conn,
            s,
            &b_conv.id,
            &ConversationChanges {
                status: Some("stolen"),
                ..Default::default()
            },
        )
        .await,
        "update conversation",
    );
    let stolen = json!({"text": "stolen"});
    assert_hidden(
        Message::update(
            &mut conn,
            s,
            &b_msg.id,
            &MessageChanges {
                content_json: Some(&stolen),
                ..Default::default()
            },
        )
        .await,
        "update message",
    );

    // delete
    assert_hidden(
        Message::delete(&mut conn, s, &b_msg.id).await,
        "delete message",
    );
    assert_hidden(
        Chunk::delete(&mut conn, s, &b_chunk.id).await,
        "delete chunk",
    );
    assert_hidden(
        Conversation::delete(&mut conn, s, &b_conv.id).await,
        "delete conversation",
    );
    assert_hidden(
        Document::delete(&mut conn, s, &b.document.id).await,
        "delete document",
    );
    assert_hidden(
        Dataset::delete(&mut conn, s, &b.dataset.id).await,
        "delete dataset",
    );
    assert_hidden(
        EmbeddingSpace::delete(&mut conn, s, &b.space.id).await,
        "delete space",
    );

    // cross-tenant references are refused, naming the parent
    let refs = [
        (
            Dataset::create(
                &mut conn,
                s,
                &NewDataset {
                    embedding_space_id: Some(&b.space.id),
                    name: "x",
                    slug: "x",
                    kind: DatasetKind::Faq,
                    description: None,
                    source: None,
                    metadata: None,
                },
            )
            .await
            .map(drop),
            "embedding space",
        ),
        (
            Dataset::update(
                &mut conn,
                s,
                &a.dataset.id,
                &DatasetChanges {
                    embedding_space_id: Some(Some(&b.space.id)),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
            "embedding space",
        ),
        (
            Document::create(
                &mut conn,
                s,
                &NewDocument {
                    dataset_id: Some(&b.dataset.id),
                    owner_id: &a.user,
                    embedding_space_id: None,
                    title: "t",
                    content: "c",
                    status: None,
                    metadata: None,
                },
            )
            .await
            .map(drop),
            "dataset",
        ),
        (
            Document::create(
                &mut conn,
                s,
                &NewDocument {
                    dataset_id: None,
                    owner_id: &a.user,
                    embedding_space_id: Some(&b.space.id),
                    title: "t",
                    content: "c",
                    status: None,
                    metadata: None,
                },
            )
            .await
            .map(drop),
            "embedding space",
        ),
        (
            Chunk::create(
                &mut conn,
                s,
                &NewChunk {
                    dataset_id: &b.dataset.id,
                    ..new_chunk(&a, 9, None)
                },
            )
            .await
            .map(drop),
            "dataset",
        ),
        (
            Chunk::create(
                &mut conn,
                s,
                &NewChunk {
                    document_id: &b.document.id,
                    ..new_chunk(&a, 9, None)
                },
            )
            .await
            .map(drop),
            "document",
        ),
        (
            Chunk::create(
                &mut conn,
                s,
                &NewChunk {
                    embedding_space_id: &b.space.id,
                    ..new_chunk(&a, 9, None)
                },
            )
            .await
            .map(drop),
            "embedding space",
        ),
        (
            Message::create(
                &mut conn,
                s,
                &b_conv.id,
                &NewMessage {
                    author_id: None,
                    role: MessageRole::User,
                    content_json: &hello,
                    embedding: None,
                    embedding_space_id: None,
                    metadata: None,
                },
            )
            .await
            .map(drop),
            "conversation",
        ),
        (
            Message::create(
                &mut conn,
                s,
                &a_conv.id,
                &NewMessage {
                    author_id: None,
                    role: MessageRole::User,
                    content_json: &hello,
                    embedding: Some(&vec3),
                    embedding_space_id: Some(&b.space.id),
                    metadata: None,
                },
            )
            .await
            .map(drop),
            "embedding space",
        ),
    ];
    for (i, (result, entity)) in refs.into_iter().enumerate() {
        match result {
            Err(RagError::ForeignParent { entity: e, .. }) if e == entity => {}
            other => panic!("reference {i}: expected ForeignParent({entity}), got {other:?}"),
        }
    }
    // A wrote nothing: still one dataset, one document, no chunk, one conversation without messages.
    assert_eq!(
        Dataset::list(&mut conn, s, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        Document::list(&mut conn, s, None, &page)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        Chunk::list_in_dataset(&mut conn, s, &a.dataset.id, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        Message::list(&mut conn, s, &a_conv.id, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // B's rows are exactly as they were.
    assert_eq!(
        EmbeddingSpace::get(&mut conn, &b.scope, &b.space.id)
            .await
            .unwrap(),
        b.space
    );
    assert_eq!(
        Dataset::get(&mut conn, &b.scope, &b.dataset.id)
            .await
            .unwrap(),
        b.dataset
    );
    assert_eq!(
        Document::get(&mut conn, &b.scope, &b.document.id)
            .await
            .unwrap(),
        b.document
    );
    assert_eq!(
        Chunk::get(&mut conn, &b.scope, &b_chunk.id).await.unwrap(),
        b_chunk
    );
    assert_eq!(
        Conversation::get(&mut conn, &b.scope, &b_conv.id)
            .await
            .unwrap(),
        b_conv
    );
    assert_eq!(
        Message::get(&mut conn, &b.scope, &b_msg.id).await.unwrap(),
        b_msg
    );
}
