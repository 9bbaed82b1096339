#![doc = include_str!("../README.md")]

mod ab;
mod analytics;
mod attribution;
mod brand;
mod campaign;
mod content;
mod dedupe;
mod editorial;
mod error;
pub mod limits;
mod marketing;
mod schedule;
mod voice;

pub use ab::{AbTest, Evaluation, MAX_VARIANTS, MIN_EXPOSURES, VariantResult, two_proportion_z};
pub use analytics::{DailyFigures, MAX_SEO_BATCH, MarketingMetric, NewSeoMetric, SeoMetric};
pub use attribution::{Attribution, ChannelAttribution, Model, Target};
pub use brand::{Brand, BrandAsset, NewBrand};
pub use campaign::{
    Campaign, CampaignChanges, CampaignMetric, MetricRollup, NewCampaign, NewMetric,
    transition_allowed,
};
pub use content::{
    Content, ContentDraft, NewContent, NewDraft, NewSnippet, Snippet, content_transition_allowed,
    draft_transition_allowed,
};
pub use dedupe::{
    DedupeReport, DuplicateGroup, LEADS_EMAIL_KEY, create_leads_email_key, duplicate_leads,
    merge_duplicate_leads,
};
pub use editorial::{CalendarEntry, Keyword, Link, LinkSuggestion, NewCalendarEntry, Persona};
pub use error::CampaignError;
pub use marketing::{
    MarketingCampaign, MarketingLead, MarketingTouchpoint, NewLead, NewMarketingCampaign,
    NewTouchpoint, Results, lead_transition_allowed, marketing_transition_allowed,
};
pub use neonhub_rag::Hit;
pub use neonhub_schema::enums::{
    CampaignStatus, ContentKind, MarketingCampaignStatus, MarketingCampaignType,
    MarketingLeadGrade, MarketingLeadStatus, MarketingTouchpointType,
};
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use schedule::{EmailSequence, MAX_DUE, NewEmail, NewPost, Published, SocialPost};
pub use voice::{BrandVoice, NewBrandVoice};
