//! Opening connections: every one is UTC, named, time-limited, and retried briefly.

use std::str::FromStr;
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use tokio_postgres::config::{Host, SslMode};

/// How connections are opened.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `application_name` reported to the server (visible in `pg_stat_activity`).
    pub application_name: String,
    /// `statement_timeout` of every session; zero disables it.
    pub statement_timeout: Duration,
    /// How long to keep retrying a server that refuses or is starting up (Neon wakes from
    /// scale-to-zero in a few seconds).
    pub retry_budget: Duration,
    /// The limit for one connection attempt, startup handshake included, so a port that
    /// accepts TCP but never answers as PostgreSQL cannot hang us.
    pub attempt_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            application_name: "neonhub".to_owned(),
            statement_timeout: Duration::from_secs(60),
            retry_budget: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a connection could not be opened. Messages name the server, never the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Nothing answered at the address (refused, unresolvable, timed out).
    #[error("cannot reach PostgreSQL at {target}: {reason}")]
    Unreachable {
        /// host:port of the server.
        target: String,
        /// What the network said.
        reason: String,
    },
    /// The server answered and refused us (bad credentials, unknown database, ...).
    #[error("PostgreSQL at {target} refused the connection: {reason}")]
    Rejected {
        /// host:port of the server.
        target: String,
        /// The server's message.
        reason: String,
    },
    /// Something answered that does not speak PostgreSQL's protocol, or the TLS handshake failed.
    #[error("{target} did not complete a PostgreSQL handshake: {reason}")]
    Handshake {
        /// host:port of the server.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The URL requires TLS and the server does not offer it.
    #[error("the URL requires TLS (sslmode=require) but the server at {target} does not offer it")]
    TlsUnavailable {
        /// host:port of the server.
        target: String,
    },
    /// The server's certificate was refused under `sslmode=verify-ca` or `verify-full`
    /// (an unknown issuer, another host's name, expired), or the trusted roots could not
    /// be loaded (the error names the file).
    #[error("TLS ({mode}) to {target}: {reason}")]
    Certificate {
        /// host:port of the server.
        target: String,
        /// The `sslmode`.
        mode: &'static str,
        /// What was wrong with the certificate or the roots.
        reason: String,
    },
    /// The session settings could not be applied.
    #[error("connected to {target}, but setting up the session failed: {reason}")]
    Setup {
        /// host:port of the server.
        target: String,
        /// What went wrong.
        reason: String,
    },
}

impl ConnectError {
    /// Whether waiting and trying again may help (the server is down, starting, or waking).
    fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            // 57P03: the database system is starting up / not yet accepting connections.
            Self::Rejected { reason, .. } => {
                reason.contains("starting up") || reason.contains("57P03")
            }
            _ => false,
        }
    }
}

/// The parsed form of a database URL, kept so errors can name the server.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: tokio_postgres::Config,
    target: String,
    verification: crate::tls::Verification,
}

impl std::fmt::Debug for DatabaseUrl {
    // The URL may carry a password: show only where it points.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl DatabaseUrl {
    /// Parses a `postgres://` URL or a `key=value` connection string.
    pub fn parse(url: &str) -> Result<Self, ConnectError> {
        if url.trim().is_empty() {
            return Err(ConnectError::InvalidUrl("the URL is empty".to_owned()));
        }
        let (url, verification) =
            crate::tls::split_verification(url).map_err(ConnectError::InvalidUrl)?;
        let config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
        if config.get_hosts().is_empty() {
            return Err(ConnectError::InvalidUrl("the URL names no host".to_owned()));
        }
        let target = describe_target(&config);
        Ok(Self {
            config,
            target,
            verification,
        })
    }

    /// How the server's certificate is checked when the URL asks for TLS: `sslmode=require`
    /// encrypts without checking it; `verify-ca` and `verify-full` check it (see
    /// [`crate::tls`]).
    pub fn verification(&self) -> &crate::tls::Verification {
        &self.verification
    }

    /// The TLS connector for this URL's `sslmode`, its roots loaded.
    fn tls_connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect, ConnectError> {
        crate::tls::connector(&self.verification).map_err(|reason| ConnectError::Certificate {
            target: self.target.clone(),
            mode: self.verification.mode(),
            reason,
        })
    }

    /// `host:port/dbname` of the server, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The database name, if the URL names one.
    pub fn dbname(&self) -> Option<&str> {
        self.config.get_dbname()
    }

    /// The same server and database as another user (the application role, say), with
    /// `password` when given; the password is never part of [`DatabaseUrl::target`].
    pub fn with_user(&self, user: &str, password: Option<&crate::Secret>) -> Self {
        let mut config = self.config.clone();
        config.user(user);
        if let Some(password) = password {
            config.password(password.expose());
        }
        Self {
            target: describe_target(&config),
            config,
            verification: self.verification.clone(),
        }
    }

    /// The driver's configuration.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The same server with another database name.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut config = self.config.clone();
        config.dbname(dbname);
        Self {
            target: describe_target(&config),
            config,
            verification: self.verification.clone(),
        }
    }

    /// Opens a connection with [`ConnectOptions::default`].
    pub async fn connect(&self) -> Result<AsyncPgConnection, ConnectError> {
        self.connect_with(&ConnectOptions::default()).await
    }

    /// Opens a connection, retrying transient failures with backoff within the budget.
    pub async fn connect_with(
        &self,
        options: &ConnectOptions,
    ) -> Result<AsyncPgConnection, ConnectError> {
        retrying(options, || self.connect_once(options)).await
    }

    async fn connect_once(
        &self,
        options: &ConnectOptions,
    ) -> Result<AsyncPgConnection, ConnectError> {
        let mut config = self.config.clone();
        config.application_name(&options.application_name);
        config.connect_timeout(options.attempt_timeout);
        let attempt = async {
            let setup = |e: diesel::ConnectionError| ConnectError::Setup {
                target: self.target.clone(),
                reason: e.to_string(),
            };
            // TLS only when the URL requires it: `prefer` (the driver's default) stays plain,
            // so local and pooled connections pay no handshake they did not ask for.
            if config.get_ssl_mode() == SslMode::Require {
                let connector = self.tls_connector()?;
                let (client, connection) = config
                    .connect(connector)
                    .await
                    .map_err(|e| self.classify(&e))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection)
                    .await
                    .map_err(setup)
            } else {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.classify(&e))?;
                AsyncPgConnection::try_from_client_and_connection(client, connection)
                    .await
                    .map_err(setup)
            }
        };
        let mut conn = tokio::time::timeout(options.attempt_timeout, attempt)
            .await
            .map_err(|_| ConnectError::Handshake {
                target: self.target.clone(),
                reason: format!("no PostgreSQL answer within {:?}", options.attempt_timeout),
            })??;
        // diesel-async already sets TimeZone UTC and UTF8; the timeout is ours. A session SET
        // (not a startup option) because transaction-mode poolers reject unknown startup options.
        conn.batch_execute(&format!(
            "SET statement_timeout = {}",
            options.statement_timeout.as_millis()
        ))
        .await
        .map_err(|e| ConnectError::Setup {
            target: self.target.clone(),
            reason: e.to_string(),
        })?;
        Ok(conn)
    }

    /// Opens a plain tokio-postgres client with the same settings (TLS, UTC, name,
    /// timeout, retries): for work diesel-async cannot do, such as binary COPY. The
    /// connection task is spawned on the current runtime.
    pub async fn connect_raw(
        &self,
        options: &ConnectOptions,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        retrying(options, || self.connect_raw_once(options)).await
    }

    async fn connect_raw_once(
        &self,
        options: &ConnectOptions,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        let mut config = self.config.clone();
        config.application_name(&options.application_name);
        config.connect_timeout(options.attempt_timeout);
        let attempt = async {
            if config.get_ssl_mode() == SslMode::Require {
                let (client, connection) = config
                    .connect(self.tls_connector()?)
                    .await
                    .map_err(|e| self.classify(&e))?;
                tokio::spawn(connection);
                Ok::<_, ConnectError>(client)
            } else {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.classify(&e))?;
                tokio::spawn(connection);
                Ok(client)
            }
        };
        let client = tokio::time::timeout(options.attempt_timeout, attempt)
            .await
            .map_err(|_| ConnectError::Handshake {
                target: self.target.clone(),
                reason: format!("no PostgreSQL answer within {:?}", options.attempt_timeout),
            })??;
        client
            .batch_execute(&format!(
                "SET TimeZone = 'UTC'; SET statement_timeout = {}",
                options.statement_timeout.as_millis()
            ))
            .await
            .map_err(|e| ConnectError::Setup {
                target: self.target.clone(),
                reason: e.to_string(),
            })?;
        Ok(client)
    }

    /// Opens a connection that `LISTEN`s on `channel` and delivers each notification's
    /// payload to [`Listener::recv`]. Use the direct URL: a transaction-mode pooler drops
    /// notifications (and so anything waiting for them must also poll).
    pub async fn listen(
        &self,
        channel: &str,
        options: &ConnectOptions,
    ) -> Result<Listener, ConnectError> {
        crate::InvalidData::check_text("channel", channel).map_err(|e| ConnectError::Setup {
            target: self.target.clone(),
            reason: e.to_string(),
        })?;
        let mut config = self.config.clone();
        config.application_name(&options.application_name);
        config.connect_timeout(options.attempt_timeout);
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let attempt = async {
            if config.get_ssl_mode() == SslMode::Require {
                let (client, connection) = config
                    .connect(self.tls_connector()?)
                    .await
                    .map_err(|e| self.classify(&e))?;
                tokio::spawn(forward_notifications(connection, sender));
                Ok::<_, ConnectError>(client)
            } else {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| self.classify(&e))?;
                tokio::spawn(forward_notifications(connection, sender));
                Ok(client)
            }
        };
        let client = tokio::time::timeout(options.attempt_timeout, attempt)
            .await
            .map_err(|_| ConnectError::Handshake {
                target: self.target.clone(),
                reason: format!("no PostgreSQL answer within {:?}", options.attempt_timeout),
            })??;
        let quoted = channel.replace('"', "\"\"");
        client
            .batch_execute(&format!("LISTEN \"{quoted}\""))
            .await
            .map_err(|e| ConnectError::Setup {
                target: self.target.clone(),
                reason: e.to_string(),
            })?;
        Ok(Listener {
            _client: client,
            receiver,
        })
    }

    fn classify(&self, e: &tokio_postgres::Error) -> ConnectError {
        let target = self.target.clone();
        if let Some(db) = e.as_db_error() {
            return ConnectError::Rejected {
                target,
                reason: format!("{} ({})", db.message(), db.code().code()),
            };
        }
        let text = e.to_string();
        let mut chain = text.clone();
        let mut next = std::error::Error::source(e);
        while let Some(s) = next {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            next = s.source();
        }
        if chain.contains("server does not support TLS") {
            return ConnectError::TlsUnavailable { target };
        }
        if let Some(at) = chain.find("invalid peer certificate") {
            return ConnectError::Certificate {
                target,
                mode: self.verification.mode(),
                reason: chain[at..].to_owned(),
            };
        }
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                // The driver reports bytes that are not PostgreSQL's protocol as io errors
                // too, so only network-level kinds (and failed name lookups) mean unreachable.
                let network = matches!(
                    io.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | TimedOut
                        | NotFound
                        | AddrNotAvailable
                        | HostUnreachable
                        | NetworkUnreachable
                        | NotConnected
                ) || io.to_string().contains("lookup");
                return if network {
                    ConnectError::Unreachable {
                        target,
                        reason: io.to_string(),
                    }
                } else {
                    ConnectError::Handshake {
                        target,
                        reason: format!("not a PostgreSQL server? ({io})"),
                    }
                };
            }
            source = s.source();
        }
        if text.contains("timed out") || text.contains("timeout") {
            return ConnectError::Unreachable {
                target,
                reason: text,
            };
        }
        ConnectError::Handshake {
            target,
            reason: text,
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the retry budget is spent, with
/// exponential backoff (100 ms doubling to 1 s) between transient failures.
async fn retrying<T, F, Fut>(options: &ConnectOptions, mut attempt: F) -> Result<T, ConnectError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConnectError>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && started.elapsed() + delay < options.retry_budget => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_dbname() {
        Some(db) => format!("{host}:{port}/{db}"),
        None => format!("{host}:{port}"),
    }
}

/// A connection listening on one channel ([`DatabaseUrl::listen`]).
pub struct Listener {
    // Kept so the session (and its LISTEN) lives as long as the listener.
    _client: tokio_postgres::Client,
    receiver: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// The next notification's payload; `None` once the connection is gone.
    pub async fn recv(&mut self) -> Option<String> {
        self.receiver.recv().await
    }
}

/// Drives a listening connection, passing notifications on until it or the receiver ends.
async fn forward_notifications<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    sender: tokio::sync::mpsc::UnboundedSender<String>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        if let tokio_postgres::AsyncMessage::Notification(n) = message
            && sender.send(n.payload().to_owned()).is_err()
        {
            return;
        }
    }
}
