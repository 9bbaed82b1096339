#![doc = include_str!("../README.md")]

mod account;
mod api_key;
mod audit;
mod authorize;
mod error;
mod feedback;
mod membership;
mod metric;
mod organization;
mod role;
pub mod seed;
mod session;
mod settings;
mod task;
mod team;
mod token;
mod user;
mod verification;

pub use account::{Account, NewAccount};
pub use api_key::{ApiKey, ApiKeyRejected, IssuedApiKey, KEY_PREFIX, NewApiKey, VerifiedApiKey};
pub use audit::{AuditEntry, AuditFilter, NewAuditEntry, actions};
pub use authorize::{authorize, check};
pub use error::IdentityError;
pub use feedback::{Feedback, FeedbackStatus, NewFeedback};
pub use membership::Membership;
pub use metric::{MetricEvent, NewMetricEvent};
pub use neonhub_schema::Secret;
pub use neonhub_schema::enums::MemberStatus;
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
/// The permission catalogue, now in `neonhub-schema` (every domain crate names its keys
/// there); re-exported under its old path.
pub use neonhub_schema::permissions::{
    self as catalogue, DefaultRole, Denied, PERMISSIONS, PermissionDef, PermissionSet, keys,
};
pub use organization::{
    DefaultRoles, InstalledDefaults, NewOrganization, Organization, OrganizationChanges,
};
pub use role::{NewRole, Permission, Role};
pub use session::Session;
pub use settings::{UserSettings, UserSettingsChanges};
pub use task::{NewTask, Task, TaskPriority, TaskStatus};
pub use team::{TeamMember, TeamMemberChanges};
pub use user::{NewUser, User, UserChanges, normalize_email};
pub use verification::{TokenRejected, VerificationToken};
