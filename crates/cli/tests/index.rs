//! `neonhub index list | create | drop | rebuild` end to end.

use std::process::{Command, Output};

use neonhub_rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub_schema::TenantScope;
use neonhub_testing::{TestDatabase, fixtures};

fn neonhub(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn index_commands_build_list_rebuild_and_drop() {
    let db = TestDatabase::migrated().await;
    let url = db.url_string();
    let mut conn = db.connect().await;
    let org = fixtures::organization(&mut conn).await;
    let scope = TenantScope::trusted_system(org.clone());
    EmbeddingSpace::create(
        &mut conn,
        &scope,
        &NewEmbeddingSpace {
            name: "toy",
            provider: "local",
            model: "m",
            dimension: 8,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let slug = format!("org-{org}");

    let create = neonhub(&url, &["index", "create", "--org", &slug, "--space", "toy"]);
    assert_eq!(create.status.code(), Some(0), "{}", text(&create));
    assert!(
        String::from_utf8_lossy(&create.stdout)
            .trim_end()
            .ends_with(": created"),
        "{}",
        text(&create)
    );
    let again = neonhub(&url, &["index", "create", "--org", &slug, "--space", "toy"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(": already_valid"),
        "{}",
        text(&again)
    );

    let list = neonhub(&url, &["index", "list", "--org", &slug]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("chunks")
            && listed.contains("valid")
            && listed.contains("1 managed vector index(es)"),
        "{listed}"
    );

    let rebuild = neonhub(
        &url,
        &["index", "rebuild", "--org", &slug, "--space", "toy"],
    );
    assert_eq!(rebuild.status.code(), Some(0), "{}", text(&rebuild));
    let drop = neonhub(&url, &["index", "drop", "--org", &slug, "--space", "toy"]);
    assert!(
        String::from_utf8_lossy(&drop.stdout).contains(": dropped"),
        "{}",
        text(&drop)
    );
    let drop_again = neonhub(&url, &["index", "drop", "--org", &slug, "--space", "toy"]);
    assert!(String::from_utf8_lossy(&drop_again.stdout).contains(": did not exist"));

    // Storages: a binary index has its own name; a halfvec index of a space wider than
    // pgvector indexes is refused, naming the way that works.
    let binary = ["index", "create", "--org", &slug, "--space", "toy"];
    let binary = neonhub(&url, &[&binary[..], &["--storage", "binary"]].concat());
    assert_eq!(binary.status.code(), Some(0), "{}", text(&binary));
    let list = neonhub(&url, &["index", "list", "--org", &slug]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("_cos_hnsw_bin") && listed.contains("1 managed vector index(es)"),
        "{listed}"
    );
    EmbeddingSpace::create(
        &mut conn,
        &scope,
        &NewEmbeddingSpace {
            name: "wide",
            provider: "local",
            model: "m",
            dimension: 5_000,
            metadata: None,
        },
    )
    .await
    .unwrap();
    let half = neonhub(
        &url,
        &[
            "index",
            "create",
            "--org",
            &slug,
            "--space",
            "wide",
            "--storage",
            "half",
        ],
    );
    assert_eq!(half.status.code(), Some(1), "{}", text(&half));
    let said = String::from_utf8_lossy(&half.stderr);
    assert!(
        said.contains("a half index cannot hold 5000-dimensional vectors")
            && said.contains("binary"),
        "{said}"
    );

    let unknown = neonhub(
        &url,
        &["index", "create", "--org", &slug, "--space", "nope"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains(r#"no embedding space "nope""#),
        "{}",
        text(&unknown)
    );
    let no_org = neonhub(&url, &["index", "list", "--org", "nobody"]);
    assert!(
        String::from_utf8_lossy(&no_org.stderr).contains(r#"no organization with slug "nobody""#),
        "{}",
        text(&no_org)
    );
}
