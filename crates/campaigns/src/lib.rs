#![doc = include_str!("../README.md")]

mod ab;
mod brand;
mod campaign;
mod content;
mod error;
pub mod limits;
mod schedule;
mod voice;

pub use ab::{AbTest, Evaluation, MAX_VARIANTS, MIN_EXPOSURES, VariantResult, two_proportion_z};
pub use brand::{Brand, BrandAsset, NewBrand};
pub use campaign::{
    Campaign, CampaignChanges, CampaignMetric, MetricRollup, NewCampaign, NewMetric,
    transition_allowed,
};
pub use content::{
    Content, ContentDraft, NewContent, NewDraft, NewSnippet, Snippet, content_transition_allowed,
    draft_transition_allowed,
};
pub use error::CampaignError;
pub use neonhub_rag::Hit;
pub use neonhub_schema::enums::{CampaignStatus, ContentKind};
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use schedule::{EmailSequence, MAX_DUE, NewEmail, NewPost, Published, SocialPost};
pub use voice::{BrandVoice, NewBrandVoice};
