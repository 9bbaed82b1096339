#![doc = include_str!("../README.md")]

mod consent;
mod erase;
mod error;
mod event;
mod identity;
pub mod limits;
mod memory;
mod merge;
mod note;
mod objective;
mod person;
mod suppression;
mod topic;

pub use consent::{Consent, ContactDecision, ContactReason, NewConsent};
pub use error::CrmError;
pub use event::{Event, EventFilter, MAX_BATCH, NewEvent};
pub use identity::{NewPersonIdentity, PersonIdentity};
pub use memory::{Memory, NewMemory};
pub use neonhub_rag::{Hit, SearchOptions};
pub use neonhub_schema::enums::ConsentStatus;
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use note::PersonNote;
pub use objective::{NewPersonObjective, PersonObjective};
pub use person::{ErasureReport, MergeReport, NewPerson, Person};
pub use suppression::{Screened, Suppression, SuppressionMatch};
pub use topic::PersonTopic;
