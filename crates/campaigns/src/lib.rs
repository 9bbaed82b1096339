#![doc = include_str!("../README.md")]

mod brand;
mod campaign;
mod error;
pub mod limits;
mod schedule;
mod voice;

pub use brand::{Brand, BrandAsset, NewBrand};
pub use campaign::{
    Campaign, CampaignChanges, CampaignMetric, MetricRollup, NewCampaign, NewMetric,
    transition_allowed,
};
pub use error::CampaignError;
pub use neonhub_rag::Hit;
pub use neonhub_schema::enums::CampaignStatus;
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use schedule::{EmailSequence, MAX_DUE, NewEmail, NewPost, Published, SocialPost};
pub use voice::{BrandVoice, NewBrandVoice};
