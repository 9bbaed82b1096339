//! Brand voices: the embedding fits its space, the space is the brand's organization's
//! (refused here and by the database), and both searches go through the space's index.

use diesel_async::SimpleAsyncConnection;
use neonhub_campaigns::*;
use neonhub_rag::{
    Distance, EmbeddingSpace, IndexManager, IndexMethod, IndexSpec, IndexStorage,
    NewEmbeddingSpace, RagError, VectorTable, explain,
};
use neonhub_schema::TenantScope;
use neonhub_schema::Vector;
use neonhub_schema::ids::{BrandId, EmbeddingSpaceId};
use neonhub_testing::fixtures::identity::org;
use neonhub_testing::{TestDatabase, test_connection};
use serde_json::json;

const DIMS: i32 = 16;

async fn brand(conn: &mut diesel_async::AsyncPgConnection, s: &TenantScope, slug: &str) -> BrandId {
    Brand::create(
        conn,
        s,
        &NewBrand {
            name: Some(slug),
            slug: Some(slug),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id
}

async fn space(
    conn: &mut diesel_async::AsyncPgConnection,
    s: &TenantScope,
    dimension: i32,
) -> EmbeddingSpaceId {
    EmbeddingSpace::create(
        conn,
        s,
        &NewEmbeddingSpace {
            name: "voices",
            provider: "local",
            model: "toy",
            dimension,
            metadata: None,
        },
    )
    .await
    .unwrap()
    .id
}

fn voice<'a>(
    space: &'a EmbeddingSpaceId,
    v: &'a Vector,
    rules: &'a serde_json::Value,
) -> NewBrandVoice<'a> {
    NewBrandVoice {
        space,
        prompt_template: "Write like us",
        style_rules: rules,
        embedding: Some(v),
        metrics: None,
    }
}

#[tokio::test]
async fn a_voice_fits_its_space_and_the_space_is_the_brands_organizations() {
    let mut conn = test_connection().await;
    let acme = org(&mut conn).await;
    let globex = org(&mut conn).await;
    let s = &acme.scope;
    let b = brand(&mut conn, s, "acme").await;
    let sp = space(&mut conn, s, 3).await;
    let theirs = space(&mut conn, &globex.scope, 3).await;
    let rules = json!({"tone": "warm"});
    // Wrong dimension, a non-finite value, an empty template: typed errors, nothing written.
    let wrong = Vector::from(vec![1.0, 0.0]);
    assert!(matches!(
        BrandVoice::create(&mut conn, s, &b, &voice(&sp, &wrong, &rules)).await,
        Err(CampaignError::Rag(RagError::DimensionMismatch {
            expected: 3,
            got: 2
        }))
    ));
    let nan = Vector::from(vec![1.0, f32::NAN, 0.0]);
    assert!(matches!(
        BrandVoice::create(&mut conn, s, &b, &voice(&sp, &nan, &rules)).await,
        Err(CampaignError::Rag(RagError::NonFiniteVector {
            position: 1,
            ..
        }))
    ));
    let ok = Vector::from(vec![1.0, 0.0, 0.0]);
    let empty = NewBrandVoice {
        prompt_template: "",
        ..voice(&sp, &ok, &rules)
    };
    assert!(matches!(
        BrandVoice::create(&mut conn, s, &b, &empty).await,
        Err(CampaignError::Invalid(_))
    ));
    // Another organization's space: refused, naming it.
    assert!(matches!(
        BrandVoice::create(&mut conn, s, &b, &voice(&theirs, &ok, &rules)).await,
        Err(CampaignError::ForeignParent {
            entity: "embedding space",
            ..
        })
    ));
    assert!(BrandVoice::list(&mut conn, s, &b).await.unwrap().is_empty());
    BrandVoice::create(&mut conn, s, &b, &voice(&sp, &ok, &rules))
        .await
        .unwrap();
    assert_eq!(BrandVoice::list(&mut conn, s, &b).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_database_refuses_a_voice_whose_space_is_another_organizations() {
    let db = TestDatabase::migrated().await;
    let mut owner = db.connect().await;
    let acme = org(&mut owner).await;
    let globex = org(&mut owner).await;
    let b = brand(&mut owner, &acme.scope, "acme").await;
    let theirs = space(&mut owner, &globex.scope, 3).await;
    let mine = space(&mut owner, &acme.scope, 3).await;
    // As the owner (no row-level security): the trigger is what refuses it.
    let insert = |sp: &EmbeddingSpaceId| {
        format!(
            r#"INSERT INTO brand_voices (id, "brandId", "embeddingSpaceId", "promptTemplate", "styleRulesJson", "updatedAt")
               VALUES ('v-{sp}', '{b}', '{sp}', 'x', '{{}}', now())"#
        )
    };
    let err = owner.batch_execute(&insert(&theirs)).await.unwrap_err();
    assert!(
        err.to_string().contains("is not the organization of brand"),
        "{err}"
    );
    owner.batch_execute(&insert(&mine)).await.unwrap();
    let err = owner
        .batch_execute(&format!(
            r#"UPDATE brand_voices SET "embeddingSpaceId" = '{theirs}' WHERE id = 'v-{mine}'"#
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("is not the organization of brand"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn voice_searches_use_the_spaces_index() {
    let db = TestDatabase::migrated().await;
    let mut conn = db.connect().await;
    let acme = org(&mut conn).await;
    let s = &acme.scope;
    let (ours, other) = (
        brand(&mut conn, s, "ours").await,
        brand(&mut conn, s, "other").await,
    );
    let sp = space(&mut conn, s, DIMS).await;
    conn.batch_execute(&format!(
        r#"SELECT setseed(0.7);
           INSERT INTO brand_voices (id, "brandId", "embeddingSpaceId", "promptTemplate", "styleRulesJson", embedding, "updatedAt")
           SELECT 'v' || g, CASE WHEN g % 5 = 0 THEN '{other}' ELSE '{ours}' END, '{sp}', 'template ' || g, '{{}}',
                  (SELECT array_agg(sin((g % 40) * 1.3 + d * 0.7) + (random() - 0.5) * 0.2 ORDER BY d)::real[]
                     FROM generate_series(1, {DIMS}) d)::vector,
                  now()
           FROM generate_series(1, 5000) g;
           ANALYZE brand_voices;"#
    ))
    .await
    .unwrap();
    let spec = IndexSpec {
        table: VectorTable::BrandVoices,
        distance: Distance::Cosine,
        method: IndexMethod::default(),
        storage: IndexStorage::Full,
    };
    IndexManager::new(db.url().clone())
        .create(s, &sp, &spec, |_| {})
        .await
        .unwrap();
    let index = IndexManager::index_name(&sp, &spec);
    let space = EmbeddingSpace::get(&mut conn, s, &sp).await.unwrap();
    let query = Vector::from(
        (1..=DIMS)
            .map(|d| (d as f32 * 0.7).sin())
            .collect::<Vec<f32>>(),
    );
    for (what, brand) in [("closest", Some(&ours)), ("sounds_like", None)] {
        let statement = BrandVoice::search_statement(s, &space, &query, brand, 5).unwrap();
        let plan = explain(&mut conn, &statement).await.unwrap();
        assert!(
            plan.contains(&format!("Index Scan using {index}")),
            "{what} does not use {index}:\n{plan}"
        );
    }
    // And the searches answer: nearest first, the brand's own only.
    let mut app = db.connect_as_app().await;
    let hits = BrandVoice::closest(&mut app, s, &ours, &sp, &query, 5)
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.row.brand_id == ours));
    assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
    let any = BrandVoice::sounds_like(&mut app, s, &sp, &query, 5)
        .await
        .unwrap();
    assert_eq!(any.len(), 5);
    assert!(any[0].distance <= hits[0].distance);
}
