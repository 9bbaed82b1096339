//! A service built on the crates, as a new user writes it: an API key issued for
//! `knowledge:read` reads the organization's knowledge and cannot write it.

use neonhub::identity::{ApiKey, NewApiKey, authorize, keys};
use neonhub::rag::{Dataset, Document, NewDocument, PageRequest, RagError};
use neonhub::schema::Denied;
use neonhub_testing::fixtures::identity::Org;
use neonhub_testing::fixtures::rag::tenant;
use neonhub_testing::test_connection;

#[tokio::test]
async fn a_knowledge_read_key_cannot_create_or_delete_a_document() {
    let mut conn = test_connection().await;
    let org = Org::builder().build(&mut conn).await;
    let owner = authorize(&mut conn, &org.org.id, &org.owner, keys::API_KEYS_MANAGE)
        .await
        .unwrap();
    let issued = ApiKey::issue(
        &mut conn,
        &owner,
        &NewApiKey {
            name: "search widget",
            scopes: &[keys::KNOWLEDGE_READ],
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let verified = ApiKey::verify(&mut conn, issued.token.expose(), keys::KNOWLEDGE_READ)
        .await
        .unwrap();
    let scope = verified.scope;
    assert!(scope.permissions().contains(keys::KNOWLEDGE_READ));
    assert!(!scope.permissions().contains(keys::KNOWLEDGE_WRITE));

    // Reading works.
    Dataset::list(&mut conn, &scope, &PageRequest::default())
        .await
        .unwrap();
    // Writing is refused, naming the key, although the key's member (the owner) may write.
    let err = Document::create(
        &mut conn,
        &scope,
        &NewDocument {
            dataset_id: None,
            owner_id: &org.owner,
            embedding_space_id: None,
            title: "Injected",
            content: "should never be stored",
            status: None,
            metadata: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, RagError::Denied(Denied::MissingPermission { key, .. }) if key == keys::KNOWLEDGE_WRITE),
        "{err}"
    );
    let documents = Document::list(&mut conn, &scope, None, &PageRequest::default())
        .await
        .unwrap();
    assert!(documents.items.is_empty(), "nothing was written");

    // A key of another organization's document is not reachable either (the scope is the
    // key's organization), and deleting needs knowledge:write all the same.
    let other = tenant(&mut conn).await;
    let err = Document::delete(&mut conn, &scope, &other.document.id)
        .await
        .unwrap_err();
    assert!(matches!(err, RagError::Denied(_)), "{err}");
}
