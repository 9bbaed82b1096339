#![doc = include_str!("../README.md")]

mod action;
mod auth;
mod catalog;
mod credential;
mod error;
mod trigger;

pub use action::{ActionConfig, NewActionConfig};
pub use auth::{
    AuthStatus, AuthTokens, ConnectorAuth, MAX_ERROR_LEN, NewConnectorAuth, RefreshedTokens,
};
pub use catalog::{CATALOG, Connector, ConnectorDefinition, Upserted};
pub use credential::{Credential, CredentialTokens, NewCredential};
pub use error::ConnectorError;
pub use neonhub_schema::Secret;
pub use neonhub_schema::enums::ConnectorKind;
pub use neonhub_schema::seal::{SealError, SecretKeys};
pub use trigger::{NewTriggerConfig, TriggerConfig};

/// The largest trigger or action config, serialized, in bytes: 1 MiB.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
