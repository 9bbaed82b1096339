//! NeonHub's data layer: one facade over the workspace's crates.
//!
//! Depend on `neonhub` to get everything behind features, or on the individual
//! crates (`neonhub-schema`, and the domain crates as they land) to link only what a
//! service needs. See the repository README for the quick start.

pub use neonhub_schema as schema;

/// Identity: organizations, memberships, roles and permissions, `authorize`, the audit log.
#[cfg(feature = "identity")]
pub use neonhub_identity as identity;

/// Retrieval: embedding spaces, datasets, documents, chunks, conversations, messages.
#[cfg(feature = "rag")]
pub use neonhub_rag as rag;

/// Agents: agents, capabilities, configs, tools with validated contracts, runs, models,
/// training jobs and inference endpoints.
#[cfg(feature = "agents")]
pub use neonhub_agents as agents;

/// Billing: exact money, budget profiles with a ledger that cannot overspend, subscriptions
/// and quotas, Stripe webhooks, usage records.
#[cfg(feature = "billing")]
pub use neonhub_billing as billing;

/// Connectors: the connector catalog, users' connections with every token sealed at rest,
/// credentials, trigger and action configs, race-free token refresh.
#[cfg(feature = "connectors")]
pub use neonhub_connectors as connectors;

/// CRM: people and their identities, consent that decides contact, the event stream,
/// notes, topics, objectives and memory embeddings.
#[cfg(feature = "crm")]
pub use neonhub_crm as crm;

/// Campaigns: brands and their voice (searched by meaning through `rag`), campaigns through
/// their life, metrics, email sequences and social posts, A/B tests, content and snippets.
#[cfg(feature = "campaigns")]
pub use neonhub_campaigns as campaigns;
