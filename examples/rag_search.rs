//! Retrieval end to end: a space, a small corpus, its index, and three searches.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/neonhub cargo run --example rag_search
//! cargo run --example rag_search -- --vectors my_vectors.jsonl   # bring your own embeddings
//! ```
//!
//! Without `--vectors`, texts are embedded by a deterministic toy embedder (feature hashing
//! of words into 256 dimensions): no model, no network, same vectors every run. A JSONL file
//! holds one `{"text": ..., "vector": [...], "metadata": {...}}` per line; lines with
//! `"query": true` are the queries (else the first vector is). Runs are repeatable: the
//! example's user, organization, space and dataset are reused, its documents and chunks
//! replaced. It signs in as an application would: the user and organization through
//! `neonhub-identity`, then a scope from `authorize`.

use std::error::Error;

use diesel_async::AsyncPgConnection;
use neonhub::identity::{
    IdentityError, NewOrganization, NewUser, Organization, User, authorize, keys,
};
use neonhub::rag::*;
use neonhub::schema::Vector;
use neonhub::schema::enums::DatasetKind;
use neonhub::schema::ids::UserId;
use neonhub::schema::{DatabaseUrl, TenantScope};
use serde_json::{Value, json};

const TOY_DIMENSION: usize = 256;
/// The example's organization (slug) and user (email), reused by every run.
const EXAMPLE_ORG: &str = "rag-example";
const EXAMPLE_EMAIL: &str = "rag-example@example.com";

const CORPUS: &[(&str, &str, &str)] = &[
    (
        "care",
        "maintenance",
        "Neon signs last for years when the transformer stays cool and ventilated.",
    ),
    (
        "care",
        "maintenance",
        "A flickering neon sign usually means a failing transformer or a loose electrode.",
    ),
    (
        "care",
        "maintenance",
        "Clean the glass tubes gently with a dry microfiber cloth, never with water.",
    ),
    (
        "care",
        "maintenance",
        "LED neon flex uses far less power than glass neon and runs cool to the touch.",
    ),
    (
        "events",
        "events",
        "A custom neon sign with the couple's names makes a wedding backdrop unforgettable.",
    ),
    (
        "events",
        "events",
        "Rent neon letters for launch parties; they photograph well and set the brand mood.",
    ),
    (
        "events",
        "events",
        "Event planners order neon backdrops four weeks ahead for custom colors.",
    ),
    (
        "events",
        "events",
        "Outdoor events need weatherproof neon with sealed power supplies.",
    ),
    (
        "hospitality",
        "hospitality",
        "Restaurants use neon menu boards to draw foot traffic after dark.",
    ),
    (
        "hospitality",
        "hospitality",
        "Hotel lobbies pair warm white neon with brand colors for check-in walls.",
    ),
    (
        "hospitality",
        "hospitality",
        "A bar's neon logo in the window doubles as a late-night beacon.",
    ),
    (
        "hospitality",
        "hospitality",
        "Cafes choose pastel neon to look good on customers' social posts.",
    ),
];

/// Feature hashing of lower-cased words into `dimension` buckets (signed), L2-normalised.
fn toy_embed(text: &str, dimension: usize) -> Vector {
    let mut v = vec![0.0f32; dimension];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in word.to_lowercase().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % dimension as u64) as usize] += sign;
    }
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    Vector::from(v.into_iter().map(|x| x / norm).collect::<Vec<_>>())
}

struct Item {
    document: String,
    text: String,
    vector: Vector,
    metadata: Value,
}

/// What the example ingests and asks.
struct Corpus {
    items: Vec<Item>,
    queries: Vec<(String, Vector)>,
    model: String,
}

/// The corpus and queries: the toy embedder's, or the user's JSONL file.
fn load(vectors: Option<&str>) -> Result<Corpus, Box<dyn Error>> {
    let Some(path) = vectors else {
        let items = CORPUS
            .iter()
            .map(|(doc, topic, text)| Item {
                document: (*doc).to_owned(),
                text: (*text).to_owned(),
                vector: toy_embed(text, TOY_DIMENSION),
                metadata: json!({ "topic": topic }),
            })
            .collect();
        let queries = [
            "why is my neon sign flickering",
            "neon for a wedding",
            "neon menu board for a restaurant",
        ]
        .iter()
        .map(|q| ((*q).to_owned(), toy_embed(q, TOY_DIMENSION)))
        .collect();
        return Ok(Corpus {
            items,
            queries,
            model: format!("toy-hash-{TOY_DIMENSION}"),
        });
    };
    let (mut items, mut queries) = (Vec::new(), Vec::new());
    for (n, line) in std::fs::read_to_string(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let text = v["text"].as_str().unwrap_or_default().to_owned();
        let vector: Vec<f32> = serde_json::from_value(v["vector"].clone())
            .map_err(|e| format!("{path}:{}: vector: {e}", n + 1))?;
        if v["query"].as_bool() == Some(true) {
            queries.push((text, Vector::from(vector)));
        } else {
            let metadata = v.get("metadata").cloned().unwrap_or(json!({}));
            items.push(Item {
                document: "file".to_owned(),
                text,
                vector: Vector::from(vector),
                metadata,
            });
        }
    }
    if items.is_empty() {
        return Err(format!("{path}: no corpus lines").into());
    }
    if queries.is_empty() {
        queries.push((items[0].text.clone(), items[0].vector.clone()));
    }
    Ok(Corpus {
        items,
        queries,
        model: "user-vectors".to_owned(),
    })
}

/// The example's own organization and user (found or made), so it never touches real data.
/// The example's user and organization, made through `neonhub-identity` on the first run
/// and found on later ones; then, as an application does on every request, a scope from
/// `authorize` for the permission the example needs.
async fn sign_in(conn: &mut AsyncPgConnection) -> Result<(TenantScope, UserId), Box<dyn Error>> {
    let user = match User::by_email(conn, EXAMPLE_EMAIL).await {
        Ok(user) => user,
        Err(IdentityError::NotFound { .. }) => {
            User::create(
                conn,
                &NewUser {
                    email: EXAMPLE_EMAIL,
                    name: Some("RAG example"),
                    ..NewUser::default()
                },
            )
            .await?
        }
        Err(e) => return Err(e.into()),
    };
    let org = match Organization::by_slug(conn, &user.id, EXAMPLE_ORG).await? {
        Some(org) => org,
        None => {
            Organization::create(
                conn,
                &user.id,
                &NewOrganization {
                    slug: EXAMPLE_ORG,
                    name: "RAG example",
                    plan: None,
                    settings: None,
                },
            )
            .await?
        }
    };
    let scope = authorize(conn, &org.id, &user.id, keys::KNOWLEDGE_WRITE).await?;
    Ok((scope, user.id))
}

fn print_hits(title: &str, hits: &[Hit<Chunk>]) {
    println!("\n{title}");
    for h in hits {
        println!("  {:.4}  {}", h.distance, h.row.text);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let url = flag("--database-url")
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .ok_or("set DATABASE_URL or pass --database-url")?;
    let direct = std::env::var("DIRECT_DATABASE_URL").unwrap_or_else(|_| url.clone());
    let (url, direct) = (DatabaseUrl::parse(&url)?, DatabaseUrl::parse(&direct)?);
    let vectors = flag("--vectors");
    let Corpus {
        items,
        queries,
        model,
    } = load(vectors.as_deref())?;
    let dimension = items[0].vector.as_slice().len() as i32;

    let mut conn = url.connect().await?;
    let (scope, user) = sign_in(&mut conn).await?;
    let space_name = format!("example-{model}");
    let space = match EmbeddingSpace::by_name(&mut conn, &scope, &space_name).await? {
        Some(space) => space,
        None => {
            EmbeddingSpace::create(
                &mut conn,
                &scope,
                &NewEmbeddingSpace {
                    name: &space_name,
                    provider: "example",
                    model: &model,
                    dimension,
                    metadata: None,
                },
            )
            .await?
        }
    };
    let slug = format!("example-{model}");
    let dataset = match Dataset::by_slug(&mut conn, &scope, &slug).await? {
        Some(dataset) => {
            // Repeatable runs: the dataset starts empty (a document's chunks go with it).
            loop {
                let page = Document::list(
                    &mut conn,
                    &scope,
                    Some(&dataset.id),
                    &PageRequest::first(500),
                )
                .await?;
                for document in &page.items {
                    Document::delete(&mut conn, &scope, &document.id).await?;
                }
                if page.next.is_none() {
                    break;
                }
            }
            dataset
        }
        None => {
            Dataset::create(
                &mut conn,
                &scope,
                &NewDataset {
                    embedding_space_id: Some(&space.id),
                    name: "Example corpus",
                    slug: &slug,
                    kind: DatasetKind::Documents,
                    description: None,
                    source: Some("examples/rag_search.rs"),
                    metadata: None,
                },
            )
            .await?
        }
    };

    let mut documents = std::collections::BTreeMap::new();
    for item in &items {
        if !documents.contains_key(&item.document) {
            let doc = Document::create(
                &mut conn,
                &scope,
                &NewDocument {
                    dataset_id: Some(&dataset.id),
                    owner_id: &user,
                    embedding_space_id: Some(&space.id),
                    title: &item.document,
                    content: "",
                    status: Some("published"),
                    metadata: None,
                },
            )
            .await?;
            documents.insert(item.document.clone(), doc.id);
        }
    }
    let rows: Vec<ChunkRow> = items
        .iter()
        .enumerate()
        .map(|(i, item)| ChunkRow {
            document_id: documents[&item.document].clone(),
            idx: Some(i as i32),
            text: item.text.clone(),
            embedding: Some(item.vector.clone()),
            metadata: Some(item.metadata.clone()),
        })
        .collect();
    let written = Chunk::insert_many(
        &mut conn,
        &scope,
        IngestTarget {
            dataset: &dataset.id,
            space: &space.id,
        },
        &rows,
    )
    .await?;
    println!("ingested {written} chunks into space {space_name} ({dimension} dimensions)");

    let outcome = IndexManager::new(direct)
        .create(&scope, &space.id, &IndexSpec::default(), |_| {})
        .await?;
    println!(
        "index {}: {outcome:?}",
        IndexManager::index_name(&space.id, &IndexSpec::default())
    );

    let (question, query) = &queries[0];
    let plain = Chunk::search(
        &mut conn,
        &scope,
        &space,
        query,
        &SearchFilter::default(),
        &SearchOptions {
            k: 3,
            ..SearchOptions::default()
        },
    )
    .await?;
    print_hits(&format!("plain search: {question:?}"), &plain);

    let (question, query) = queries.get(1).unwrap_or(&queries[0]);
    let topic = items[items.len() / 2].metadata.get("topic").cloned();
    let filter = SearchFilter {
        metadata: topic.map(|t| json!({ "topic": t })),
        ..SearchFilter::default()
    };
    let filtered = Chunk::search(
        &mut conn,
        &scope,
        &space,
        query,
        &filter,
        &SearchOptions {
            k: 3,
            ..SearchOptions::default()
        },
    )
    .await?;
    print_hits(
        &format!(
            "filtered search: {question:?} where metadata @> {}",
            filter.metadata.clone().unwrap_or_default()
        ),
        &filtered,
    );

    let (question, query) = queries.get(2).unwrap_or(&queries[0]);
    let fused = Chunk::hybrid_search(
        &mut conn,
        &scope,
        &space,
        query,
        question,
        &SearchFilter::default(),
        &HybridOptions {
            search: SearchOptions {
                k: 3,
                ..SearchOptions::default()
            },
            ..HybridOptions::default()
        },
    )
    .await?;
    println!("\nhybrid search: {question:?}");
    let rank = |r: Option<i64>| r.map_or_else(|| "-".to_owned(), |r| format!("#{r}"));
    for h in &fused {
        println!(
            "  {:.4}  (vector {}, text {})  {}",
            h.score,
            rank(h.vector_rank),
            rank(h.text_rank),
            h.chunk.text
        );
    }
    if plain.is_empty() || fused.is_empty() {
        return Err("a search returned nothing".into());
    }
    Ok(())
}
