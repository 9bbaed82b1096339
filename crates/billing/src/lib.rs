#![doc = include_str!("../README.md")]

mod allocation;
pub mod audit;
mod entries;
mod error;
pub mod ledger;
pub mod limits;
pub mod money;
mod profile;
mod quota;
mod statements;
pub mod stripe;
mod subscription;
mod usage;

pub use allocation::{BudgetAllocation, NewBudgetAllocation};
pub use audit::{AuditReport, MoneyCheck, Violation, audit_all, money_checks};
pub use entries::{BudgetReservation, BudgetTransaction, LedgerEntry, OccurredAt};
pub use error::BillingError;
pub use ledger::{Balance, EntryType, LedgerRequest, Receipt};
pub use money::{Currency, MAX_MINOR, Money, MoneyError};
pub use neonhub_schema::enums::{BudgetAllocationStatus, BudgetTransactionType};
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use profile::{BudgetProfile, BudgetProfileChanges, NewBudgetProfile};
pub use quota::Quota;
pub use stripe::{
    Invoice, Payment, Payout, StripeInvoice, StripePayment, StripePayout, StripeSubscription,
    Synced,
};
pub use subscription::{MAX_QUOTA_STEP, Subscription};
pub use usage::{NewUsageRecord, UsageRecord, UsageTotal};
