//! Every repository function, validation and error variant against a real database.

use neonhub_rag::*;
use neonhub_schema::enums::{ConversationKind, DatasetKind, MessageRole};
use neonhub_testing::fixtures::rag::*;
use neonhub_testing::test_connection;
use serde_json::json;

#[tokio::test]
async fn spaces_round_trip_and_validate() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    assert_eq!(
        EmbeddingSpace::get(&mut conn, &t.scope, &t.space.id)
            .await
            .unwrap(),
        t.space
    );

    let bad = |name, provider, model, dimension| NewEmbeddingSpace {
        name,
        provider,
        model,
        dimension,
        metadata: None,
    };
    for (new, expected) in [
        (bad("a", "openai", "m", 0), "dimension 0 is out of range"),
        (
            bad("a", "openai", "m", 16001),
            "dimension 16001 is out of range",
        ),
        (
            bad("", "openai", "m", 8),
            "invalid embedding space name: empty",
        ),
        (
            bad("a", " openai", "m", 8),
            "invalid embedding space provider: leading or trailing whitespace",
        ),
        (
            bad("a", "open ai", "m", 8),
            "invalid embedding space provider: only ASCII",
        ),
        (
            bad("a", "openai", "", 8),
            "invalid embedding space model: empty",
        ),
    ] {
        let err = EmbeddingSpace::create(&mut conn, &t.scope, &new)
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with(expected),
            "{err} (expected {expected})"
        );
    }
    let max = EmbeddingSpace::create(
        &mut conn,
        &t.scope,
        &bad("big", "openai", "text-embedding-3-large", 4000),
    )
    .await
    .unwrap();
    assert_eq!(max.dimension, 4000);
    let dup = EmbeddingSpace::create(&mut conn, &t.scope, &bad("toy", "openai", "m", 8))
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, RagError::DuplicateSpaceName(n) if n == "toy"),
        "{dup}"
    );

    std::thread::sleep(std::time::Duration::from_millis(3));
    let meta = json!({"owner": "ml"});
    let renamed = EmbeddingSpace::update(
        &mut conn,
        &t.scope,
        &max.id,
        &EmbeddingSpaceChanges {
            name: Some("large"),
            metadata: Some(Some(&meta)),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.metadata.as_ref()),
        ("large", Some(&meta))
    );
    assert!(renamed.updated_at > max.updated_at, "updatedAt not set");
    let clash = EmbeddingSpace::update(
        &mut conn,
        &t.scope,
        &max.id,
        &EmbeddingSpaceChanges {
            name: Some("toy"),
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(clash, RagError::DuplicateSpaceName(_)), "{clash}");

    let page = EmbeddingSpace::list(&mut conn, &t.scope, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["large", "toy"]
    );
    EmbeddingSpace::delete(&mut conn, &t.scope, &max.id)
        .await
        .unwrap();
    let gone = EmbeddingSpace::get(&mut conn, &t.scope, &max.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            gone,
            RagError::NotFound {
                entity: "embedding space",
                ..
            }
        ),
        "{gone}"
    );
    assert!(matches!(
        EmbeddingSpace::delete(&mut conn, &t.scope, &max.id).await,
        Err(RagError::NotFound { .. })
    ));
}

#[tokio::test]
async fn datasets_and_documents_round_trip() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    assert_eq!(
        Dataset::get(&mut conn, &t.scope, &t.dataset.id)
            .await
            .unwrap(),
        t.dataset
    );
    assert_eq!(t.dataset.kind, DatasetKind::Documents);
    let faq = Dataset::create(
        &mut conn,
        &t.scope,
        &NewDataset {
            embedding_space_id: None,
            name: "FAQ",
            slug: "faq",
            kind: DatasetKind::Faq,
            description: Some("q&a"),
            source: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let dup = Dataset::create(
        &mut conn,
        &t.scope,
        &NewDataset {
            embedding_space_id: None,
            name: "x",
            slug: "docs",
            kind: DatasetKind::Faq,
            description: None,
            source: None,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&dup, RagError::DuplicateDatasetSlug(s) if s == "docs"),
        "{dup}"
    );
    let updated = Dataset::update(
        &mut conn,
        &t.scope,
        &faq.id,
        &DatasetChanges {
            kind: Some(DatasetKind::Analytics),
            description: Some(None),
            embedding_space_id: Some(Some(&t.space.id)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            updated.kind,
            updated.description.as_deref(),
            updated.embedding_space_id.as_ref()
        ),
        (DatasetKind::Analytics, None, Some(&t.space.id))
    );
    let clash = Dataset::update(
        &mut conn,
        &t.scope,
        &faq.id,
        &DatasetChanges {
            slug: Some("docs"),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(clash, RagError::DuplicateDatasetSlug(_)),
        "{clash}"
    );
    assert_eq!(
        Dataset::list(&mut conn, &t.scope, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    assert_eq!(
        Document::get(&mut conn, &t.scope, &t.document.id)
            .await
            .unwrap(),
        t.document
    );
    assert_eq!(t.document.status, "draft");
    let doc = Document::update(
        &mut conn,
        &t.scope,
        &t.document.id,
        &DocumentChanges {
            status: Some("published"),
            title: Some("Care"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (doc.status.as_str(), doc.title.as_str()),
        ("published", "Care")
    );
    let in_docs = Document::list(
        &mut conn,
        &t.scope,
        Some(&t.dataset.id),
        &PageRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(in_docs.items.len(), 1);
    assert!(
        Document::list(&mut conn, &t.scope, Some(&faq.id), &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    Document::delete(&mut conn, &t.scope, &t.document.id)
        .await
        .unwrap();
    Dataset::delete(&mut conn, &t.scope, &faq.id).await.unwrap();
    assert!(matches!(
        Document::get(&mut conn, &t.scope, &t.document.id).await,
        Err(RagError::NotFound {
            entity: "document",
            ..
        })
    ));
    assert!(matches!(
        Dataset::delete(&mut conn, &t.scope, &faq.id).await,
        Err(RagError::NotFound {
            entity: "dataset",
            ..
        })
    ));
}

#[tokio::test]
async fn chunks_check_parents_vectors_and_indexes() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let good = v(&[0.1, 0.2, 0.3]);
    let chunk = Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 0, Some(&good)))
        .await
        .unwrap();
    assert_eq!(chunk.embedding.as_ref(), Some(&good));
    assert_eq!(
        Chunk::get(&mut conn, &t.scope, &chunk.id).await.unwrap(),
        chunk
    );

    let dup = Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 0, None))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, RagError::DuplicateChunkIndex { idx: 0, .. }),
        "{dup}"
    );

    let (short, nan, inf, empty) = (
        v(&[0.1, 0.2]),
        v(&[0.1, f32::NAN, 0.3]),
        v(&[f32::INFINITY, 0.0, 0.0]),
        v(&[]),
    );
    let bad = [
        (
            Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 1, Some(&short))).await,
            "vector has 2 dimensions, the embedding space has 3",
        ),
        (
            Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 1, Some(&nan))).await,
            "vector component 1 is NaN",
        ),
        (
            Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 1, Some(&inf))).await,
            "vector component 0 is inf",
        ),
        (
            Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 1, Some(&empty))).await,
            "vector is empty",
        ),
    ];
    for (result, expected) in bad {
        let err = result.unwrap_err();
        assert!(
            err.to_string().starts_with(expected),
            "{err} (expected {expected})"
        );
    }

    // A document of another dataset, and a space other than the dataset's.
    let other_dataset = Dataset::create(
        &mut conn,
        &t.scope,
        &NewDataset {
            embedding_space_id: None,
            name: "Other",
            slug: "other",
            kind: DatasetKind::Faq,
            description: None,
            source: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let mut wrong_doc = new_chunk(&t, 5, None);
    wrong_doc.dataset_id = &other_dataset.id;
    let err = Chunk::create(&mut conn, &t.scope, &wrong_doc)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RagError::DocumentNotInDataset { .. }),
        "{err}"
    );
    let other_space = EmbeddingSpace::create(
        &mut conn,
        &t.scope,
        &NewEmbeddingSpace {
            name: "wide",
            provider: "local",
            model: "m",
            dimension: 8,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let mut wrong_space = new_chunk(&t, 6, None);
    wrong_space.embedding_space_id = &other_space.id;
    let err = Chunk::create(&mut conn, &t.scope, &wrong_space)
        .await
        .unwrap_err();
    assert!(matches!(err, RagError::SpaceMismatch { .. }), "{err}");

    let second = Chunk::create(&mut conn, &t.scope, &new_chunk(&t, 1, None))
        .await
        .unwrap();
    let in_dataset =
        Chunk::list_in_dataset(&mut conn, &t.scope, &t.dataset.id, &PageRequest::default())
            .await
            .unwrap();
    assert_eq!(
        in_dataset.items.iter().map(|c| c.idx).collect::<Vec<_>>(),
        [1, 0],
        "not newest first"
    );
    let in_document =
        Chunk::list_in_document(&mut conn, &t.scope, &t.document.id, &PageRequest::default())
            .await
            .unwrap();
    assert_eq!(in_document.items.len(), 2);

    let err = Chunk::update(
        &mut conn,
        &t.scope,
        &second.id,
        &ChunkChanges {
            embedding: Some(Some(&short)),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            RagError::DimensionMismatch {
                expected: 3,
                got: 2
            }
        ),
        "{err}"
    );
    let updated = Chunk::update(
        &mut conn,
        &t.scope,
        &second.id,
        &ChunkChanges {
            embedding: Some(Some(&good)),
            text: Some("new"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (updated.text.as_str(), updated.embedding.as_ref()),
        ("new", Some(&good))
    );
    Chunk::delete(&mut conn, &t.scope, &second.id)
        .await
        .unwrap();
    assert!(matches!(
        Chunk::get(&mut conn, &t.scope, &second.id).await,
        Err(RagError::NotFound {
            entity: "chunk",
            ..
        })
    ));
    // Nothing of the refused writes was stored: only the first chunk remains.
    let remaining =
        Chunk::list_in_dataset(&mut conn, &t.scope, &t.dataset.id, &PageRequest::default())
            .await
            .unwrap();
    assert_eq!(
        remaining
            .items
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        [chunk.id]
    );
}

#[tokio::test]
async fn conversations_and_messages_round_trip_with_vector_rules() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let conversation = Conversation::create(
        &mut conn,
        &t.scope,
        &NewConversation {
            kind: ConversationKind::Planning,
            title: Some("Q3"),
            created_by_id: Some(&t.user),
            metadata: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        Conversation::get(&mut conn, &t.scope, &conversation.id)
            .await
            .unwrap(),
        conversation
    );
    let content = json!({"text": "Plan the launch"});
    let embedding = v(&[1.0, 0.0, 0.0]);
    let without_space = Message::create(
        &mut conn,
        &t.scope,
        &conversation.id,
        &NewMessage {
            author_id: Some(&t.user),
            role: MessageRole::User,
            content_json: &content,
            embedding: Some(&embedding),
            embedding_space_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(without_space, RagError::VectorWithoutSpace),
        "{without_space}"
    );
    let message = Message::create(
        &mut conn,
        &t.scope,
        &conversation.id,
        &NewMessage {
            author_id: Some(&t.user),
            role: MessageRole::User,
            content_json: &content,
            embedding: Some(&embedding),
            embedding_space_id: Some(&t.space.id),
            metadata: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        Message::get(&mut conn, &t.scope, &message.id)
            .await
            .unwrap(),
        message
    );
    let reply = json!({"text": "Sure"});
    Message::create(
        &mut conn,
        &t.scope,
        &conversation.id,
        &NewMessage {
            author_id: None,
            role: MessageRole::Assistant,
            content_json: &reply,
            embedding: None,
            embedding_space_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let listed = Message::list(
        &mut conn,
        &t.scope,
        &conversation.id,
        &PageRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        listed.items.iter().map(|m| m.role).collect::<Vec<_>>(),
        [MessageRole::Assistant, MessageRole::User]
    );

    // Clearing the space of a message that keeps its vector is refused.
    let err = Message::update(
        &mut conn,
        &t.scope,
        &message.id,
        &MessageChanges {
            embedding_space_id: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RagError::VectorWithoutSpace), "{err}");
    let edited = json!({"text": "Plan the autumn launch"});
    let updated = Message::update(
        &mut conn,
        &t.scope,
        &message.id,
        &MessageChanges {
            content_json: Some(&edited),
            embedding: Some(None),
            embedding_space_id: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((updated.content_json, updated.embedding), (edited, None));

    let renamed = Conversation::update(
        &mut conn,
        &t.scope,
        &conversation.id,
        &ConversationChanges {
            status: Some("archived"),
            title: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((renamed.status.as_str(), renamed.title), ("archived", None));
    assert_eq!(
        Conversation::list(&mut conn, &t.scope, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    Message::delete(&mut conn, &t.scope, &message.id)
        .await
        .unwrap();
    assert!(matches!(
        Message::get(&mut conn, &t.scope, &message.id).await,
        Err(RagError::NotFound {
            entity: "message",
            ..
        })
    ));
    Conversation::delete(&mut conn, &t.scope, &conversation.id)
        .await
        .unwrap();
    assert!(matches!(
        Conversation::get(&mut conn, &t.scope, &conversation.id).await,
        Err(RagError::NotFound { .. })
    ));
}

#[tokio::test]
async fn keyset_pages_are_newest_first_and_stable_under_inserts() {
    let mut conn = test_connection().await;
    let t = tenant(&mut conn).await;
    let mut made = Vec::new();
    for i in 0..7 {
        let c = Conversation::create(
            &mut conn,
            &t.scope,
            &NewConversation {
                kind: ConversationKind::Support,
                title: Some(&format!("c{i}")),
                created_by_id: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
        made.push(c.id);
    }
    let first = Conversation::list(&mut conn, &t.scope, &PageRequest::first(3))
        .await
        .unwrap();
    // A row inserted between pages is newer than the cursor: it must not shift later pages.
    Conversation::create(
        &mut conn,
        &t.scope,
        &NewConversation {
            kind: ConversationKind::Support,
            title: Some("late"),
            created_by_id: None,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let second = Conversation::list(
        &mut conn,
        &t.scope,
        &PageRequest::after(3, first.next.clone().unwrap()),
    )
    .await
    .unwrap();
    let third = Conversation::list(
        &mut conn,
        &t.scope,
        &PageRequest::after(3, second.next.clone().unwrap()),
    )
    .await
    .unwrap();
    assert!(third.next.is_none());
    let seen: Vec<_> = [first.items, second.items, third.items]
        .concat()
        .into_iter()
        .map(|c| c.id)
        .collect();
    made.reverse();
    assert_eq!(seen, made, "pages skipped, repeated or misordered rows");
}
