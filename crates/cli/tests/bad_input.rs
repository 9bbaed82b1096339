//! The CLI under hostile conditions: closed output pipes, no database, bad index options,
//! usage errors. Never a panic (exit 101); always a documented exit code and one line.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use neonhub_rag::{EmbeddingSpace, NewEmbeddingSpace};
use neonhub_schema::TenantScope;
use neonhub_testing::{TestDatabase, fixtures};

/// Every command, with the arguments it needs to reach the database.
const COMMANDS: &[&[&str]] = &[
    &["migrate"],
    &["migrate", "--revert", "1"],
    &["status"],
    &["seed"],
    &["verify"],
    &["secrets", "status"],
    &["secrets", "rotate"],
    &["drift"],
    &["adopt"],
    &["check-pooler"],
    &["catalog"],
    &["index", "list", "--org", "primary"],
    &["index", "create", "--org", "primary", "--space", "toy"],
    &["jobs", "stats"],
    &["jobs", "retry", "01a217b9-0000-7000-8000-000000000000"],
    &["up"],
];

fn command(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_neonhub"));
    c.args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .env_remove("RUST_LOG")
        // A valid key (32 zero bytes), so `secrets rotate` gets as far as the database.
        .env(
            "NEONHUB_SECRET_KEYS",
            "t:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        );
    c
}

/// Runs with stdout and stderr as pipes whose reading ends are closed at once: every
/// write the command makes fails with EPIPE.
fn run_with_closed_output(url: &str, args: &[&str]) -> std::process::Child {
    let mut child = command(url, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_command_exits_3_without_a_database_even_with_closed_output() {
    // Nothing listens on port 1: connection refused (retried for the connect budget).
    let unreachable = "postgres://nobody@127.0.0.1:1/nowhere";
    let children: Vec<_> = COMMANDS
        .iter()
        .map(|args| (args, run_with_closed_output(unreachable, args)))
        .collect();
    for (args, mut child) in children {
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(3), "neonhub {args:?}: {status}");
    }
}

#[test]
fn every_command_exits_3_against_a_server_that_is_not_postgresql() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let url = format!("postgres://nobody@127.0.0.1:{port}/nowhere");
    for args in COMMANDS {
        let out = command(&url, args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "neonhub {args:?}: {}",
            text(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
}

#[test]
fn a_usage_error_is_one_line_and_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args(["verify", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("--no-such-flag"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn index_options_are_checked_before_anything_is_built_and_a_refused_build_leaves_nothing() {
    let db = TestDatabase::migrated().await;
    let url = db.url_string();
    let mut conn = db.connect().await;
    let org = fixtures::organization(&mut conn).await;
    EmbeddingSpace::create(
        &mut conn,
        &TenantScope::trusted_system(org.clone()),
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
    let create = ["index", "create", "--org", &slug, "--space", "toy"];
    for (extra, named) in [
        (
            &["--m", "64", "--ef-construction", "10"][..],
            "ef_construction",
        ),
        (&["--m", "1"][..], "m = 1"),
        (
            &["--maintenance-work-mem", "lots"][..],
            "maintenance_work_mem",
        ),
        (
            &["--maintenance-work-mem", "1'; DROP TABLE chunks; --"][..],
            "maintenance_work_mem",
        ),
        (&["--method", "ivfflat", "--lists", "0"][..], "lists"),
    ] {
        let out = command(&url, &[&create[..], extra].concat())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(named),
            "{extra:?} should name {named}: {stderr}"
        );
    }
    // The server refuses what cannot be checked up front (more memory than it may
    // allocate): the INVALID leftover is dropped and the error names the setting.
    let out = command(
        &url,
        &[&create[..], &["--maintenance-work-mem", "1TB"][..]].concat(),
    )
    .output()
    .unwrap();
    if out.status.code() != Some(0) {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("maintenance_work_mem"),
            "{}",
            text(&out)
        );
    }
    let list = command(&url, &["index", "list", "--org", &slug])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        !listed.contains("invalid"),
        "no INVALID index is left: {listed}"
    );

    // A build with its output closed completes (no panic, no abandoned INVALID index).
    let status = run_with_closed_output(&url, &create).wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    let list = command(&url, &["index", "list", "--org", &slug])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("valid") && !listed.contains("invalid"),
        "{listed}"
    );
}

/// The test server's URL for `db` with `role` as the user (trust or the same password).
fn url_as(db_url: &str, role: &str) -> String {
    let (scheme, rest) = db_url.split_once("://").expect("a URL");
    let after_user = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}@{after_user}")
}

#[tokio::test(flavor = "multi_thread")]
async fn app_role_is_idempotent_and_verify_requires_row_level_security() {
    use diesel::sql_types::Text;
    use diesel::{QueryableByName, sql_query};
    use diesel_async::RunQueryDsl;

    #[derive(QueryableByName)]
    struct Privileges {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let db = TestDatabase::migrated().await;
    let url = db.url_string();
    let mut conn = db.connect().await;
    let role = "nh_cli_test_app";
    let snapshot = async |conn: &mut diesel_async::AsyncPgConnection| {
        sql_query(format!(
            "SELECT coalesce(string_agg(t.tablename || ':' || has_table_privilege('{role}', 'public.' || quote_ident(t.tablename), 'INSERT')::text
                || has_table_privilege('{role}', 'public.' || quote_ident(t.tablename), 'SELECT')::text, ',' ORDER BY t.tablename), '')
               || (SELECT rolsuper::text || rolbypassrls::text || rolcreatedb::text || rolcreaterole::text FROM pg_roles WHERE rolname = '{role}') AS v
             FROM pg_tables t WHERE t.schemaname = 'public'"
        ))
        .get_result::<Privileges>(conn)
        .await
        .unwrap()
        .v
    };
    let first = command(&url, &["app-role", role]).output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let before = snapshot(&mut conn).await;
    assert!(
        before.contains("agents:truetrue") && before.ends_with("falsefalsefalsefalse"),
        "{before}"
    );
    assert!(
        before.contains("__diesel_schema_migrations:falsetrue"),
        "{before}"
    );
    let second = command(&url, &["app-role", role]).output().unwrap();
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("already present"),
        "{}",
        text(&second)
    );
    assert_eq!(
        snapshot(&mut conn).await,
        before,
        "a second run changes no privilege"
    );

    // As the owner/superuser, --require-rls fails and names why.
    let as_owner = command(&url, &["verify", "--require-rls"])
        .output()
        .unwrap();
    assert_eq!(as_owner.status.code(), Some(1), "{}", text(&as_owner));
    assert!(text(&as_owner).contains("superuser"), "{}", text(&as_owner));
    // As the application role (system work still on the direct URL as the owner): passes.
    let app_url = url_as(&url, role);
    let as_app = Command::new(env!("CARGO_BIN_EXE_neonhub"))
        .args([
            "verify",
            "--require-rls",
            "--database-url",
            &app_url,
            "--direct-database-url",
            &url,
        ])
        .env_remove("DATABASE_URL")
        .env_remove("DIRECT_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(as_app.status.code(), Some(0), "{}", text(&as_app));
    assert!(
        String::from_utf8_lossy(&as_app.stdout).contains(&format!(
            "row-level security          enforced for role {role}"
        )),
        "{}",
        text(&as_app)
    );
}
