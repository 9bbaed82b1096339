//! The connection pool: diesel-async over bb8, every connection opened by
//! [`DatabaseUrl::connect_with`] so pooled ones get the same session settings and TLS.

use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};

use crate::connection::{ConnectOptions, DatabaseUrl};

/// A pool of application connections.
pub type PgPool = Pool<AsyncPgConnection>;

/// A connection checked out of a [`PgPool`] (`pool.get().await?`); derefs to
/// [`AsyncPgConnection`], so `&mut *conn` is what repository functions take.
pub type PooledConnection<'a> =
    bb8::PooledConnection<'a, AsyncDieselConnectionManager<AsyncPgConnection>>;

/// Why a checkout from a [`PgPool`] failed: the pool's timeout passed with every connection
/// busy (`RunError::TimedOut`), or opening a connection failed (`RunError::User`).
pub type PoolError = bb8::RunError<diesel_async::pooled_connection::PoolError>;

/// Pool settings. The defaults suit a service behind Neon's scale-to-zero: idle
/// connections are closed before the compute suspends, and none lives forever.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a checkout waits for a connection before failing.
    pub connection_timeout: Duration,
    /// Idle connections are closed after this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Connections are closed after this long in any case (`None`: never).
    pub max_lifetime: Option<Duration>,
    /// How each connection is opened.
    pub connect: ConnectOptions,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 10,
            connection_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            max_lifetime: Some(Duration::from_secs(1800)),
            connect: ConnectOptions::default(),
        }
    }
}

/// A pool of plain tokio-postgres clients, for the work diesel-async cannot do (binary COPY:
/// `neonhub_rag::Chunk::copy_in` takes `&mut pool.get().await?`). Same settings, limits and
/// health check as [`PgPool`]; clients go back to it when the checkout is dropped.
pub type RawPool = bb8::Pool<RawClientManager>;

/// Why a checkout from a [`RawPool`] failed.
pub type RawPoolError = bb8::RunError<RawClientError>;

/// Why [`RawClientManager`] could not open or check a client.
#[derive(Debug, thiserror::Error)]
pub enum RawClientError {
    /// Opening the connection failed.
    #[error(transparent)]
    Connect(#[from] crate::ConnectError),
    /// The health check (an empty query) failed.
    #[error("the pooled connection failed its check: {0}")]
    Check(#[from] tokio_postgres::Error),
}

/// Opens [`RawPool`]'s clients with [`DatabaseUrl::connect_raw`] (so TLS, time zone and
/// timeouts are those of every other connection) and checks them with an empty query.
#[derive(Debug, Clone)]
pub struct RawClientManager {
    url: DatabaseUrl,
    options: ConnectOptions,
}

impl bb8::ManageConnection for RawClientManager {
    type Connection = tokio_postgres::Client;
    type Error = RawClientError;

    async fn connect(&self) -> Result<Self::Connection, Self::Error> {
        Ok(self.url.connect_raw(&self.options).await?)
    }

    async fn is_valid(&self, client: &mut Self::Connection) -> Result<(), Self::Error> {
        client.simple_query("").await?;
        Ok(())
    }

    fn has_broken(&self, client: &mut Self::Connection) -> bool {
        client.is_closed()
    }
}

/// Builds a [`RawPool`] for `url` with `config`'s limits (usually a small one beside the
/// application's [`PgPool`]: bulk loads are few and long).
pub fn build_raw_pool(url: &DatabaseUrl, config: &PoolConfig) -> RawPool {
    let manager = RawClientManager {
        url: url.clone(),
        options: config.connect.clone(),
    };
    configured(config).build_unchecked(manager)
}

/// A pool builder with `config`'s limits, every checkout health-checked. bb8 enforces
/// idle_timeout and max_lifetime only in its reaper, which runs every 30 s by default; a
/// rate derived from the shortest limit makes the limits mean what they say.
fn configured<M: bb8::ManageConnection>(config: &PoolConfig) -> bb8::Builder<M> {
    let shortest = [config.idle_timeout, config.max_lifetime]
        .into_iter()
        .flatten()
        .min();
    let reaper_rate = shortest.map_or(Duration::from_secs(30), |d| {
        (d / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
    });
    bb8::Pool::builder()
        .reaper_rate(reaper_rate)
        .max_size(config.max_size)
        .connection_timeout(config.connection_timeout)
        .idle_timeout(config.idle_timeout)
        .max_lifetime(config.max_lifetime)
        .test_on_check_out(true)
}

/// Builds a pool for `url`. Connections open lazily; every checkout is health-checked
/// (a round trip), so a connection the server dropped is replaced, not handed out.
pub fn build_pool(url: &DatabaseUrl, config: &PoolConfig) -> PgPool {
    let (url, options) = (url.clone(), config.connect.clone());
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    manager_config.custom_setup = Box::new(move |_| {
        let (url, options) = (url.clone(), options.clone());
        Box::pin(async move {
            url.connect_with(&options)
                .await
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))
        })
    });
    // The manager's own URL is unused: custom_setup connects from the parsed DatabaseUrl.
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config("", manager_config);
    configured(config).build_unchecked(manager)
}
