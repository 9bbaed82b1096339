#![doc = include_str!("../README.md")]

mod account;
mod api_key;
mod audit;
mod authorize;
pub mod catalogue;
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
pub use authorize::{Denied, authorize, check};
pub use catalogue::{DefaultRole, PERMISSIONS, PermissionDef, keys};
pub use error::IdentityError;
pub use feedback::{Feedback, FeedbackStatus, NewFeedback};
pub use membership::{MemberStatus, Membership};
pub use metric::{MetricEvent, NewMetricEvent};
pub use neonhub_schema::Secret;
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
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
