//! `examples/service.rs` driven in process (tower's `oneshot`, no socket): every status
//! code it answers, a cross-tenant request and a bad vector, with the pool connecting as
//! the application role so row-level security judges every query.

#[allow(dead_code, clippy::all)]
#[path = "../examples/service.rs"]
mod service;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use neonhub::identity::{ApiKey, DefaultRole, NewApiKey, authorize, keys};
use neonhub::schema::{Database, PoolConfig};
use neonhub_testing::TestDatabase;
use neonhub_testing::fixtures::identity::Org;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Call<'a> {
    method: &'a str,
    path: String,
    user: Option<&'a str>,
    key: Option<&'a str>,
    body: Option<Value>,
}

fn call(method: &str, path: String) -> Call<'_> {
    Call {
        method,
        path,
        user: None,
        key: None,
        body: None,
    }
}

impl<'a> Call<'a> {
    fn user(mut self, user: &'a str) -> Self {
        self.user = Some(user);
        self
    }
    fn key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }
    fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    async fn send(self, app: &axum::Router) -> (StatusCode, Value) {
        let mut request = Request::builder().method(self.method).uri(&self.path);
        if let Some(user) = self.user {
            request = request.header("x-user-id", user);
        }
        if let Some(key) = self.key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = match self.body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_service_answers_each_status_and_keeps_tenants_apart() {
    let db = TestDatabase::migrated().await;
    let mut owner_conn = db.connect().await;
    let a = Org::builder()
        .member(DefaultRole::Viewer)
        .build(&mut owner_conn)
        .await;
    let b = Org::builder().build(&mut owner_conn).await;
    let manage = authorize(&mut owner_conn, &a.org.id, &a.owner, keys::API_KEYS_MANAGE)
        .await
        .unwrap();
    let read_key = ApiKey::issue(
        &mut owner_conn,
        &manage,
        &NewApiKey {
            name: "search widget",
            scopes: &[keys::KNOWLEDGE_READ],
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let read_key = read_key.token.expose();

    let app_url = db.url().with_user(neonhub_testing::APP_ROLE, None);
    let state = service::AppState {
        db: Database::new(app_url, Some(db.url().clone()), &PoolConfig::default()),
    };
    let app = service::router(state);
    let (org_a, owner_a, viewer_a) = (
        a.org.id.as_str(),
        a.owner.as_str(),
        a.member(DefaultRole::Viewer).as_str(),
    );
    let owner_b = b.owner.as_str();

    let (status, body) = call("GET", "/health".into()).send(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["migrations"].as_u64().unwrap() >= 10, "{body}");

    // A space: made once (201), then found (200); another dimension is a conflict (409).
    let space = json!({"provider": "local", "model": "hash-3", "dimension": 3});
    let put_space = || call("PUT", format!("/orgs/{org_a}/spaces/docs"));
    let (status, body) = put_space()
        .user(owner_a)
        .json(space.clone())
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = put_space()
        .user(owner_a)
        .json(space.clone())
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::OK);
    let wider = json!({"provider": "local", "model": "hash-3", "dimension": 4});
    let (status, body) = put_space().user(owner_a).json(wider).send(&app).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("dimension"),
        "{body}"
    );

    // Ingest: the owner may (201), the viewer may not (403), nobody anonymous (401).
    let ingest = |vector: Value| {
        json!({"space": "docs", "dataset": "handbook", "title": "Care",
               "chunks": [{"text": "neon care", "embedding": vector},
                          {"text": "neon sales", "embedding": [0.0, 1.0, 0.0]}]})
    };
    let documents = format!("/orgs/{org_a}/documents");
    let (status, body) = call("POST", documents.clone())
        .user(owner_a)
        .json(ingest(json!([1.0, 0.0, 0.0])))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["chunks"], 2);
    let (status, body) = call("POST", documents.clone())
        .user(viewer_a)
        .json(ingest(json!([1.0, 0.0, 0.0])))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("knowledge:write"),
        "{body}"
    );
    let (status, _) = call("POST", documents.clone())
        .json(ingest(json!([1.0, 0.0, 0.0])))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A bad vector (wrong dimension; a non-finite one cannot even be sent as JSON): 400,
    // naming the row, and nothing of that document's chunks is written.
    let (status, body) = call("POST", documents.clone())
        .user(owner_a)
        .json(ingest(json!([1.0, 0.0])))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("row 0"), "{body}");
    // A space that does not exist: 404.
    let (status, _) = call("POST", documents.clone())
        .user(owner_a)
        .json(json!({"space": "nope", "dataset": "h", "title": "t", "chunks": []}))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Search with the read-only API key: the nearest chunk first; appended positions 0, 1.
    let search = format!("/orgs/{org_a}/search");
    let query = json!({"space": "docs", "vector": [1.0, 0.1, 0.0], "k": 5});
    let (status, body) = call("POST", search.clone())
        .key(read_key)
        .json(query.clone())
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hits: Vec<service::SearchHit> = serde_json::from_value(body).unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0].text, "neon care");
    let mut positions: Vec<i32> = hits.iter().map(|h| h.idx).collect();
    positions.sort_unstable();
    assert_eq!(positions, [0, 1]);
    // The read key cannot write (403) and a malformed key is not accepted (401).
    let (status, _) = call("POST", documents.clone())
        .key(read_key)
        .json(ingest(json!([1.0, 0.0, 0.0])))
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call("POST", search.clone())
        .key("nh_not-a-key")
        .json(query.clone())
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Cross-tenant: B's owner on A's paths is not a member (403); A's key on B's paths is
    // refused (403); B's own space of the same name is B's, and holds none of A's chunks.
    let (status, body) = call("POST", search.clone())
        .user(owner_b)
        .json(query.clone())
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let org_b = b.org.id.as_str();
    let (status, _) = call("POST", format!("/orgs/{org_b}/search"))
        .key(read_key)
        .json(query.clone())
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call("PUT", format!("/orgs/{org_b}/spaces/docs"))
        .user(owner_b)
        .json(space)
        .send(&app)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "B's own space of the same name"
    );
    let (status, body) = call("POST", format!("/orgs/{org_b}/search"))
        .user(owner_b)
        .json(query)
        .send(&app)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!([]), "B sees none of A's chunks");

    // The database going away: 503 from the probe, no detail leaked.
    let gone = service::router(service::AppState {
        db: Database::new(
            neonhub::schema::DatabaseUrl::parse("postgres://nobody@127.0.0.1:1/none").unwrap(),
            None,
            &PoolConfig {
                connection_timeout: std::time::Duration::from_millis(300),
                ..PoolConfig::default()
            },
        ),
    });
    let (status, body) = call("GET", "/health".into()).send(&gone).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        !body["error"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );
}
