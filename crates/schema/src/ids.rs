//! Typed ids, one per table, so an id of one table cannot be passed where another's is due.
//!
//! Text ids accept any string (existing NeonHub databases hold cuid ids); new ones are
//! time-ordered UUIDv7 text generated here, since the database has no id defaults. The
//! three serial tables get `i32` ids that the database assigns.

use crate::{int_id, text_id};

text_id!(AbTestId, "ab_tests");
text_id!(AccountId, "accounts");
text_id!(ActionConfigId, "action_configs");
text_id!(AgentCapabilityId, "agent_capabilities");
text_id!(AgentConfigId, "agent_configs");
text_id!(AgentJobId, "agent_jobs");
text_id!(AgentRunMetricId, "agent_run_metrics");
text_id!(AgentRunId, "agent_runs");
text_id!(AgentId, "agents");
text_id!(ApiKeyId, "api_keys");
text_id!(AuditLogId, "audit_logs");
text_id!(BrandAssetId, "brand_assets");
text_id!(BrandVoiceId, "brand_voices");
text_id!(BrandId, "brands");
text_id!(BudgetAllocationId, "budget_allocations");
text_id!(BudgetLedgerEntryId, "budget_ledger");
text_id!(BudgetProfileId, "budget_profiles");
text_id!(BudgetReservationId, "budget_reservations");
text_id!(BudgetTransactionId, "budget_transactions");
text_id!(CampaignMetricId, "campaign_metrics");
text_id!(CampaignId, "campaigns");
text_id!(ChunkId, "chunks");
text_id!(ConnectorAuthId, "connector_auths");
text_id!(ConnectorId, "connectors");
text_id!(ContentId, "content");
text_id!(ContentDraftId, "content_drafts");
text_id!(ConversationId, "conversations");
text_id!(CredentialId, "credentials");
text_id!(DatasetId, "datasets");
text_id!(DocumentId, "documents");
text_id!(EmailSequenceId, "email_sequences");
text_id!(EmbeddingSpaceId, "embedding_spaces");
text_id!(EventId, "events");
text_id!(FeedbackId, "feedback");
text_id!(InferenceEndpointId, "inference_endpoints");
text_id!(InvoiceId, "invoices");
text_id!(LinkGraphEdgeId, "link_graph");
text_id!(MarketingCampaignId, "marketing_campaigns");
text_id!(MarketingLeadId, "marketing_leads");
text_id!(MarketingMetricId, "marketing_metrics");
text_id!(MarketingTouchpointId, "marketing_touchpoints");
text_id!(MemEmbeddingId, "mem_embeddings");
text_id!(MessageId, "messages");
text_id!(MetricEventId, "metric_events");
text_id!(ModelVersionId, "model_versions");
text_id!(OrganizationMemberId, "organization_members");
text_id!(OrganizationPermissionId, "organization_permissions");
text_id!(OrganizationRoleId, "organization_roles");
text_id!(OrganizationId, "organizations");
text_id!(PaymentId, "payments");
text_id!(PayoutId, "payouts");
text_id!(PersonId, "people");
text_id!(PersonConsentId, "person_consents");
text_id!(PersonIdentityId, "person_identities");
text_id!(PersonNoteId, "person_notes");
text_id!(PersonObjectiveId, "person_objectives");
text_id!(PersonSuppressionId, "person_suppressions");
text_id!(PersonTopicId, "person_topics");
text_id!(SeoMetricId, "seo_metrics");
text_id!(SessionId, "sessions");
text_id!(SnippetId, "snippet_library");
text_id!(SocialPostId, "social_posts");
text_id!(SubscriptionId, "subscriptions");
text_id!(TaskId, "tasks");
text_id!(TeamMemberId, "team_members");
text_id!(ToolExecutionId, "tool_executions");
text_id!(ToolId, "tools");
text_id!(TrainingJobId, "training_jobs");
text_id!(TriggerConfigId, "trigger_configs");
text_id!(UsageRecordId, "usage_records");
text_id!(UserSettingsId, "user_settings");
text_id!(UserId, "users");

int_id!(EditorialCalendarEntryId, "editorial_calendar");
int_id!(KeywordId, "keywords");
int_id!(PersonaId, "personas");
