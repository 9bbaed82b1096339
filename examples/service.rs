//! A small web service on the NeonHub crates: what a Rust team writes on its first day.
//!
//! `DATABASE_URL=postgres://neonhub_app:...@host/neonhub cargo run --example service`
//! then, with a user id from the seed (`neonhub seed` prints them):
//!
//! ```sh
//! curl -X PUT localhost:3000/orgs/$ORG/spaces/docs -H "x-user-id: $USER" \
//!      -H 'content-type: application/json' -d '{"provider":"local","model":"m","dimension":3}'
//! curl -X POST localhost:3000/orgs/$ORG/documents -H "x-user-id: $USER" -H 'content-type: application/json' \
//!      -d '{"space":"docs","dataset":"handbook","title":"Care","chunks":[{"text":"hi","embedding":[1,0,0]}]}'
//! curl -X POST localhost:3000/orgs/$ORG/search -H "authorization: Bearer $API_KEY" \
//!      -H 'content-type: application/json' -d '{"space":"docs","vector":[1,0,0],"k":3}'
//! ```
//!
//! Who calls: `authorization: Bearer <API key>` (its scopes, within its member's rights) or
//! `x-user-id` (a member of the organization in the path; a real service takes it from its
//! session). Errors answer with the status each crate error's `status_hint()` names.
//! `tests/service.rs` drives this router in process.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use neonhub::identity::{ApiKey, authorize};
use neonhub::rag::{
    Chunk, ChunkRow, Dataset, Document, EmbeddingSpace, IngestTarget, NewDataset, NewDocument,
    NewEmbeddingSpace, ParentFilter, SearchFilter, SearchOptions,
};
use neonhub::schema::enums::DatasetKind;
use neonhub::schema::ids::{OrganizationId, UserId};
use neonhub::schema::{Database, HasStatusHint, TenantScope, Vector, keys};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What every handler shares: the database (a pool inside; cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The pool and URLs, from `Database::from_env`.
    pub db: Database,
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/orgs/{org}/spaces/{name}", put(put_space))
        .route("/orgs/{org}/documents", post(ingest))
        .route("/orgs/{org}/search", post(search))
        .with_state(state)
}

/// An error as the client sees it: the status the crate's error hints at, and its message.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl<E: HasStatusHint + std::fmt::Display> From<E> for ApiError {
    fn from(e: E) -> Self {
        let status = StatusCode::from_u16(e.status_hint().code())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // A 5xx tells the client nothing of the internals; the log gets the detail.
        if status.is_server_error() {
            eprintln!("service error: {e}");
            return Self(status, "the service cannot answer right now".to_owned());
        }
        Self(status, e.to_string())
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    eprintln!("service error: {e}");
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database cannot be reached".to_owned(),
    )
}

/// The caller's scope for `org`, holding `permission`: an API key, or a member's user id.
async fn scope_for(
    db: &Database,
    headers: &HeaderMap,
    org: &str,
    permission: &str,
) -> Result<TenantScope, ApiError> {
    let mut conn = db.get().await.map_err(unavailable)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scope = if let Some(token) = header("authorization").and_then(|v| v.strip_prefix("Bearer "))
    {
        ApiKey::verify(&mut conn, token, permission).await?.scope
    } else if let Some(user) = header("x-user-id") {
        let (org, user) = (OrganizationId::from_string(org), UserId::from_string(user));
        authorize(&mut conn, &org, &user, permission).await?
    } else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "send an API key (authorization: Bearer ...) or x-user-id".to_owned(),
        ));
    };
    // A key of one organization does not open another's paths.
    if scope.organization_id().as_str() != org {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("this credential is not for organization {org}"),
        ));
    }
    Ok(scope)
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let health = state.db.health(Duration::from_secs(2)).await?;
    Ok(Json(json!({
        "status": "ok",
        "migrations": health.applied,
        "roundTripMs": health.round_trip.as_secs_f64() * 1000.0,
    })))
}

/// `PUT /orgs/{org}/spaces/{name}`: a space's settings.
#[derive(Debug, Deserialize)]
pub struct SpaceBody {
    provider: String,
    model: String,
    dimension: i32,
}

async fn put_space(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<SpaceBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let scope = scope_for(&state.db, &headers, &org, keys::KNOWLEDGE_WRITE).await?;
    let mut conn = state.db.get().await.map_err(unavailable)?;
    let new = NewEmbeddingSpace {
        name: &name,
        provider: &body.provider,
        model: &body.model,
        dimension: body.dimension,
        metadata: None,
    };
    let (space, made) = EmbeddingSpace::get_or_create(&mut conn, &scope, &new).await?;
    let status = if made {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "id": space.id, "name": space.name, "dimension": space.dimension })),
    ))
}

/// `POST /orgs/{org}/documents`: a document and its chunks, appended to a dataset.
#[derive(Debug, Deserialize)]
pub struct IngestBody {
    space: String,
    dataset: String,
    title: String,
    chunks: Vec<ChunkBody>,
}

/// One chunk of an ingest.
#[derive(Debug, Deserialize)]
pub struct ChunkBody {
    text: String,
    embedding: Vector,
}

async fn ingest(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Json(body): Json<IngestBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let scope = scope_for(&state.db, &headers, &org, keys::KNOWLEDGE_WRITE).await?;
    let owner = scope.actor().user_id().cloned().ok_or_else(|| {
        ApiError(
            StatusCode::FORBIDDEN,
            "documents need a user as owner".into(),
        )
    })?;
    let mut conn = state.db.get().await.map_err(unavailable)?;
    let space = EmbeddingSpace::by_name(&mut conn, &scope, &body.space)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no space {:?}", body.space)))?;
    let (dataset, _) = Dataset::get_or_create(
        &mut conn,
        &scope,
        &NewDataset {
            embedding_space_id: Some(&space.id),
            name: &body.dataset,
            slug: &body.dataset,
            kind: DatasetKind::Documents,
            description: None,
            source: None,
            metadata: None,
        },
    )
    .await?;
    let content = body
        .chunks
        .iter()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    let document = Document::create(
        &mut conn,
        &scope,
        &NewDocument {
            dataset_id: Some(&dataset.id),
            owner_id: &owner,
            embedding_space_id: Some(&space.id),
            title: &body.title,
            content: &content,
            status: None,
            metadata: None,
        },
    )
    .await?;
    let rows: Vec<ChunkRow> = body
        .chunks
        .into_iter()
        .map(|c| ChunkRow {
            document_id: document.id.clone(),
            idx: None, // appended after the dataset's last chunk, race-free
            text: c.text,
            embedding: Some(c.embedding),
            metadata: None,
        })
        .collect();
    let target = IngestTarget {
        dataset: &dataset.id,
        space: &space.id,
    };
    let written = Chunk::insert_many(&mut conn, &scope, target, &rows).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "document": document.id, "dataset": dataset.id, "chunks": written })),
    ))
}

/// `POST /orgs/{org}/search`: the nearest chunks of a space.
#[derive(Debug, Deserialize)]
pub struct SearchBody {
    space: String,
    vector: Vector,
    #[serde(default = "ten")]
    k: i64,
    dataset: Option<String>,
}

fn ten() -> i64 {
    10
}

/// One search hit.
#[derive(Debug, Serialize, Deserialize)]
pub struct SearchHit {
    /// The chunk's id.
    pub id: String,
    /// Its document.
    pub document: String,
    /// Its position in the dataset.
    pub idx: i32,
    /// Its text.
    pub text: String,
    /// Distance to the query (smaller is nearer).
    pub distance: f64,
}

async fn search(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SearchBody>,
) -> Result<Json<Vec<SearchHit>>, ApiError> {
    let scope = scope_for(&state.db, &headers, &org, keys::KNOWLEDGE_READ).await?;
    let mut conn = state.db.get().await.map_err(unavailable)?;
    let space = EmbeddingSpace::by_name(&mut conn, &scope, &body.space)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no space {:?}", body.space)))?;
    let mut filter = SearchFilter::default();
    if let Some(dataset) = &body.dataset {
        filter = filter.with(ParentFilter::Dataset(
            neonhub::schema::ids::DatasetId::from_string(dataset),
        ));
    }
    let options = SearchOptions {
        k: body.k,
        ..SearchOptions::default()
    };
    let hits = Chunk::search(&mut conn, &scope, &space, &body.vector, &filter, &options).await?;
    Ok(Json(
        hits.into_iter()
            .map(|h| SearchHit {
                id: h.row.id.to_string(),
                document: h.row.document_id.to_string(),
                idx: h.row.idx,
                text: h.row.text,
                distance: h.distance,
            })
            .collect(),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::from_env()?;
    db.require_current_schema().await?;
    let addr = std::env::var("SERVICE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}");
    axum::serve(listener, router(AppState { db })).await?;
    Ok(())
}
