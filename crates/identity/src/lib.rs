#![doc = include_str!("../README.md")]

mod audit;
mod authorize;
pub mod catalogue;
mod error;
mod membership;
mod organization;
mod role;

pub use audit::{AuditEntry, AuditFilter, NewAuditEntry, actions};
pub use authorize::{Denied, authorize, check};
pub use catalogue::{DefaultRole, PERMISSIONS, PermissionDef, keys};
pub use error::IdentityError;
pub use membership::{MemberStatus, Membership};
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use organization::{
    DefaultRoles, InstalledDefaults, NewOrganization, Organization, OrganizationChanges,
};
pub use role::{NewRole, Permission, Role};
