#![doc = include_str!("../README.md")]

mod macros;

pub mod catalog;
pub mod citext;
pub mod connection;
pub mod database;
pub mod enums;
pub mod error;
pub mod explain;
pub mod ids;
pub mod migrate;
pub mod page;
pub mod permissions;
pub mod pool;
pub mod pooler;
pub mod replica;
pub mod roles;
pub mod seal;
pub mod secret;
pub mod status;
pub mod tenant;
pub mod time;
pub mod tls;
pub mod vector;

/// The generated Diesel schema (`diesel print-schema`; never edit by hand).
#[allow(missing_docs, non_snake_case)]
#[rustfmt::skip]
pub mod schema;

mod verification_tokens_table;
pub use verification_tokens_table::verification_tokens;

pub use citext::Citext;
pub use connection::{ConnectError, ConnectOptions, DatabaseUrl, Listener};
pub use database::{Database, Health, HealthError, SetupError, health};
pub use error::{
    InvalidData, MAX_SLUG_LEN, UnknownEnumLabel, foreign_key_violation, unique_violation,
};
pub use migrate::{MIGRATIONS, MigrateError};
pub use permissions::{Denied, PERMISSIONS, PermissionSet, keys};
pub use pool::{
    PgPool, PoolConfig, PoolError, PooledConnection, RawClientError, RawClientManager, RawPool,
    RawPoolError, build_pool, build_raw_pool,
};

/// Diesel's query error (`diesel::result::Error`), what the crates' `Database(..)`
/// variants carry, for matching without a direct diesel dependency.
pub use diesel::result::{DatabaseErrorKind, Error as DieselError};
/// The connection every repository function takes (diesel-async over tokio-postgres).
/// Re-exported, with the pool's types above, so a service names them through our crates and
/// their versions stay ours to move.
pub use diesel_async::AsyncPgConnection;
pub use secret::Secret;
pub use status::{HasStatusHint, StatusHint};
pub use tenant::{Actor, TenantScope, TransactionWork, UserScope};
pub use vector::Vector;
/// The diesel and diesel-async versions the crates are built on, for services that write
/// queries of their own next to ours.
pub use {diesel, diesel_async};
