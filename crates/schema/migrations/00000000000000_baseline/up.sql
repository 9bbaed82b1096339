-- NeonHub baseline: builds the reference catalog (reference/neonhub_catalog.json) exactly,
-- names of tables, columns, constraints and indexes included, plus the uuid-ossp extension
-- that the deployment enables. Later migrations add; they never change what is here.

CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;

-- Enum types (labels in the reference's order)
CREATE TYPE public."AgentKind" AS ENUM ('COPILOT', 'WORKFLOW', 'ANALYST');
CREATE TYPE public."AgentStatus" AS ENUM ('DRAFT', 'ACTIVE', 'PAUSED', 'DISABLED');
CREATE TYPE public."BudgetAllocationStatus" AS ENUM ('planned', 'approved', 'executing', 'completed', 'cancelled');
CREATE TYPE public."BudgetTransactionType" AS ENUM ('allocate', 'spend', 'reserve', 'refund', 'adjustment');
CREATE TYPE public."CampaignStatus" AS ENUM ('draft', 'scheduled', 'active', 'paused', 'completed', 'archived');
CREATE TYPE public."ConnectorKind" AS ENUM ('EMAIL', 'SMS', 'WHATSAPP', 'REDDIT', 'INSTAGRAM', 'FACEBOOK', 'X', 'YOUTUBE', 'TIKTOK', 'GOOGLE_ADS', 'GOOGLE_SEARCH_CONSOLE', 'SHOPIFY', 'STRIPE', 'SLACK', 'DISCORD', 'LINKEDIN');
CREATE TYPE public."ConsentStatus" AS ENUM ('granted', 'revoked', 'denied', 'pending');
CREATE TYPE public."ContentKind" AS ENUM ('article', 'email', 'social_script', 'ad_copy');
CREATE TYPE public."ConversationKind" AS ENUM ('support', 'campaign', 'planning', 'ad_hoc');
CREATE TYPE public."DatasetKind" AS ENUM ('documents', 'faq', 'analytics');
CREATE TYPE public."MarketingCampaignStatus" AS ENUM ('draft', 'scheduled', 'active', 'paused', 'completed', 'archived');
CREATE TYPE public."MarketingCampaignType" AS ENUM ('email', 'social', 'ppc', 'content', 'seo', 'display', 'video', 'influencer', 'event', 'other');
CREATE TYPE public."MarketingLeadGrade" AS ENUM ('A', 'B', 'C', 'D', 'F');
CREATE TYPE public."MarketingLeadStatus" AS ENUM ('new', 'contacted', 'qualified', 'nurturing', 'converted', 'lost', 'unqualified');
CREATE TYPE public."MarketingTouchpointType" AS ENUM ('page_view', 'email_open', 'email_click', 'ad_impression', 'ad_click', 'social_view', 'social_click', 'form_submit', 'download', 'video_view', 'call', 'chat');
CREATE TYPE public."MessageRole" AS ENUM ('system', 'user', 'assistant', 'tool');
CREATE TYPE public."TrainStatus" AS ENUM ('queued', 'running', 'completed', 'failed', 'cancelled');

CREATE TABLE public.ab_tests (
    id text NOT NULL,
    "campaignId" text NOT NULL,
    name text NOT NULL,
    variants jsonb NOT NULL,
    winner text,
    metrics jsonb NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),
    CONSTRAINT ab_tests_pkey PRIMARY KEY (id)
);

CREATE TABLE public.accounts (
    id text NOT NULL,
    "userId" text NOT NULL,
    type text NOT NULL,
    provider text NOT NULL,
    "providerAccountId" text NOT NULL,
    refresh_token text,
    access_token text,
    expires_at integer,
    token_type text,
    scope text,
    id_token text,
    session_state text,
    CONSTRAINT accounts_pkey PRIMARY KEY (id)
);

CREATE TABLE public.action_configs (
    id text NOT NULL,
    "connectorAuthId" text NOT NULL,
    name text NOT NULL,
    "actionType" text NOT NULL,
    config jsonb NOT NULL,
    "isActive" boolean NOT NULL DEFAULT true,
    "lastExecutedAt" TIMESTAMP(3),
    "executionCount" integer NOT NULL DEFAULT 0,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT action_configs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.agent_capabilities (
    id text NOT NULL,
    "agentId" text NOT NULL,
    name text NOT NULL,
    config jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT agent_capabilities_pkey PRIMARY KEY (id)
);

CREATE TABLE public.agent_configs (
    id text NOT NULL,
    "agentId" text NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT agent_configs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.agent_jobs (
    id text NOT NULL,
    "organizationId" text,
    agent text NOT NULL,
    input jsonb NOT NULL,
    output jsonb,
    status text NOT NULL DEFAULT 'queued'::text,
    error text,
    metrics jsonb,
    "createdById" text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT agent_jobs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.agent_run_metrics (
    id text NOT NULL,
    "agentRunId" text NOT NULL,
    name text NOT NULL,
    value double precision,
    metadata jsonb,
    CONSTRAINT agent_run_metrics_pkey PRIMARY KEY (id)
);

CREATE TABLE public.agent_runs (
    id text NOT NULL,
    "agentId" text NOT NULL,
    "organizationId" text NOT NULL,
    "datasetId" text,
    status text NOT NULL DEFAULT 'queued'::text,
    input jsonb NOT NULL,
    output jsonb,
    metrics jsonb,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),
    CONSTRAINT agent_runs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.agents (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    kind "AgentKind" NOT NULL,
    status "AgentStatus" NOT NULL DEFAULT 'ACTIVE'::"AgentStatus",
    description text,
    version text,
    config jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT agents_pkey PRIMARY KEY (id)
);

CREATE TABLE public.api_keys (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "createdById" text NOT NULL,
    name text NOT NULL,
    "tokenHash" text NOT NULL,
    scopes text[] DEFAULT ARRAY[]::text[],
    "lastUsedAt" TIMESTAMP(3),
    "expiresAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id)
);

CREATE TABLE public.audit_logs (
    id text NOT NULL,
    "organizationId" text,
    "userId" text,
    "actorType" text,
    action text NOT NULL,
    "resourceId" text,
    "resourceType" text,
    "requestHash" text,
    metadata jsonb,
    ip text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT audit_logs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.brand_assets (
    id text NOT NULL,
    "brandId" text NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    url text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT brand_assets_pkey PRIMARY KEY (id)
);

CREATE TABLE public.brand_voices (
    id text NOT NULL,
    "brandId" text NOT NULL,
    "embeddingSpaceId" text NOT NULL,
    "promptTemplate" text NOT NULL,
    "styleRulesJson" jsonb NOT NULL,
    embedding vector,
    metrics jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT brand_voices_pkey PRIMARY KEY (id)
);

CREATE TABLE public.brands (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    description text,
    "mainColor" text,
    slogan text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT brands_pkey PRIMARY KEY (id)
);

CREATE TABLE public.budget_allocations (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "budgetProfileId" text NOT NULL,
    "campaignId" text,
    "objectiveId" text,
    channel text NOT NULL,
    amount double precision NOT NULL,
    currency text NOT NULL DEFAULT 'usd'::text,
    "windowStart" TIMESTAMP(3),
    "windowEnd" TIMESTAMP(3),
    status "BudgetAllocationStatus" NOT NULL DEFAULT 'planned'::"BudgetAllocationStatus",
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT budget_allocations_pkey PRIMARY KEY (id)
);

CREATE TABLE public.budget_ledger (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "budgetProfileId" text NOT NULL,
    "allocationId" text,
    "campaignId" text,
    "personId" text,
    "entryType" text NOT NULL,
    amount double precision NOT NULL,
    currency text NOT NULL DEFAULT 'usd'::text,
    "occurredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    metadata jsonb,
    CONSTRAINT budget_ledger_pkey PRIMARY KEY (id)
);

CREATE TABLE public.budget_profiles (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "brandId" text,
    name text NOT NULL,
    currency text NOT NULL DEFAULT 'usd'::text,
    "totalBudget" double precision,
    reserved double precision NOT NULL DEFAULT 0,
    spent double precision NOT NULL DEFAULT 0,
    constraints jsonb,
    settings jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT budget_profiles_pkey PRIMARY KEY (id)
);

CREATE TABLE public.budget_transactions (
    id text NOT NULL,
    "campaignId" text NOT NULL,
    "organizationId" text NOT NULL,
    type "BudgetTransactionType" NOT NULL,
    amount double precision NOT NULL,
    currency text NOT NULL DEFAULT 'USD'::text,
    channel text,
    description text,
    metadata jsonb,
    "balanceBefore" double precision NOT NULL,
    "balanceAfter" double precision NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" text,
    CONSTRAINT budget_transactions_pkey PRIMARY KEY (id)
);

CREATE TABLE public.campaign_metrics (
    id text NOT NULL,
    "campaignId" text NOT NULL,
    kind text NOT NULL,
    value double precision,
    payload jsonb,
    timestamp TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT campaign_metrics_pkey PRIMARY KEY (id)
);

CREATE TABLE public.campaigns (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "ownerId" text NOT NULL,
    name text NOT NULL,
    status "CampaignStatus" NOT NULL DEFAULT 'draft'::"CampaignStatus",
    type text NOT NULL,
    config jsonb,
    schedule jsonb,
    budget jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT campaigns_pkey PRIMARY KEY (id)
);

CREATE TABLE public.chunks (
    id text NOT NULL,
    "datasetId" text NOT NULL,
    "documentId" text NOT NULL,
    "embeddingSpaceId" text NOT NULL,
    idx integer NOT NULL,
    "text" text NOT NULL,
    embedding vector,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT chunks_pkey PRIMARY KEY (id)
);

CREATE TABLE public.connector_auths (
    id text NOT NULL,
    "userId" text NOT NULL,
    "connectorId" text NOT NULL,
    "organizationId" text,
    "accountId" text,
    "accountName" text,
    "accessToken" text,
    "refreshToken" text,
    "apiKey" text,
    "apiSecret" text,
    scope text,
    "tokenType" text,
    "expiresAt" TIMESTAMP(3),
    status text NOT NULL DEFAULT 'active'::text,
    "lastUsedAt" TIMESTAMP(3),
    "lastError" text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT connector_auths_pkey PRIMARY KEY (id)
);

CREATE TABLE public.connectors (
    id text NOT NULL,
    name text NOT NULL,
    "displayName" text NOT NULL,
    description text NOT NULL,
    category "ConnectorKind" NOT NULL,
    "iconUrl" text,
    "websiteUrl" text,
    "authType" text NOT NULL,
    "authConfig" jsonb NOT NULL,
    "isEnabled" boolean NOT NULL DEFAULT true,
    "isVerified" boolean NOT NULL DEFAULT false,
    triggers jsonb NOT NULL,
    actions jsonb NOT NULL,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT connectors_pkey PRIMARY KEY (id)
);

CREATE TABLE public.content (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "authorId" text,
    kind "ContentKind" NOT NULL,
    status text NOT NULL DEFAULT 'draft'::text,
    title text,
    body text,
    metadata jsonb,
    "publishedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT content_pkey PRIMARY KEY (id)
);

CREATE TABLE public.content_drafts (
    id text NOT NULL,
    "organizationId" text,
    title text NOT NULL,
    topic text NOT NULL,
    body text NOT NULL,
    tone text NOT NULL DEFAULT 'professional'::text,
    audience text,
    status text NOT NULL DEFAULT 'draft'::text,
    "createdById" text NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT content_drafts_pkey PRIMARY KEY (id)
);

CREATE TABLE public.conversations (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    kind "ConversationKind" NOT NULL DEFAULT 'support'::"ConversationKind",
    status text NOT NULL DEFAULT 'active'::text,
    title text,
    "createdById" text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT conversations_pkey PRIMARY KEY (id)
);

CREATE TABLE public.credentials (
    id text NOT NULL,
    "userId" text NOT NULL,
    provider text NOT NULL,
    "accountId" text,
    "accessToken" text,
    "refreshToken" text,
    "accessSecret" text,
    scope text,
    "tokenType" text,
    "expiresAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "lastUsedAt" TIMESTAMP(3),
    status text NOT NULL DEFAULT 'active'::text,
    CONSTRAINT credentials_pkey PRIMARY KEY (id)
);

CREATE TABLE public.datasets (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "embeddingSpaceId" text,
    name text NOT NULL,
    slug text NOT NULL,
    kind "DatasetKind" NOT NULL,
    description text,
    source text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT datasets_pkey PRIMARY KEY (id)
);

CREATE TABLE public.documents (
    id text NOT NULL,
    "datasetId" text,
    "organizationId" text NOT NULL,
    "ownerId" text NOT NULL,
    "embeddingSpaceId" text,
    title text NOT NULL,
    content text NOT NULL,
    status text NOT NULL DEFAULT 'draft'::text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT documents_pkey PRIMARY KEY (id)
);

CREATE TABLE public.editorial_calendar (
    id SERIAL,
    title text NOT NULL,
    "publishAt" TIMESTAMP(3) NOT NULL,
    priority integer,
    status text DEFAULT 'planned'::text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "personaId" integer,
    CONSTRAINT editorial_calendar_pkey PRIMARY KEY (id)
);

CREATE TABLE public.email_sequences (
    id text NOT NULL,
    "campaignId" text NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    variant text,
    "scheduledFor" TIMESTAMP(3),
    "sentAt" TIMESTAMP(3),
    metrics jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT email_sequences_pkey PRIMARY KEY (id)
);

CREATE TABLE public.embedding_spaces (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    name text NOT NULL,
    provider text NOT NULL,
    model text NOT NULL,
    dimension integer NOT NULL,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT embedding_spaces_pkey PRIMARY KEY (id)
);

CREATE TABLE public.events (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "personId" text NOT NULL,
    "campaignId" text,
    "objectiveId" text,
    channel text NOT NULL,
    type text NOT NULL,
    source text,
    "providerId" text,
    topic text,
    intent text,
    sentiment text,
    payload jsonb,
    metadata jsonb,
    "occurredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT events_pkey PRIMARY KEY (id)
);

CREATE TABLE public.feedback (
    id text NOT NULL,
    "organizationId" text,
    type text NOT NULL,
    category text,
    title text NOT NULL,
    description text NOT NULL,
    rating integer,
    status text NOT NULL DEFAULT 'open'::text,
    "userId" text NOT NULL,
    metadata jsonb,
    response text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "resolvedAt" TIMESTAMP(3),
    CONSTRAINT feedback_pkey PRIMARY KEY (id)
);

CREATE TABLE public.inference_endpoints (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "modelVersionId" text,
    name text NOT NULL,
    slug text NOT NULL,
    status text NOT NULL DEFAULT 'draft'::text,
    config jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT inference_endpoints_pkey PRIMARY KEY (id)
);

CREATE TABLE public.invoices (
    id text NOT NULL,
    "subscriptionId" text NOT NULL,
    "stripeInvoiceId" text NOT NULL,
    "stripePaymentIntentId" text,
    "amountDue" integer NOT NULL,
    "amountPaid" integer NOT NULL DEFAULT 0,
    currency text NOT NULL DEFAULT 'usd'::text,
    status text NOT NULL,
    "invoicePdf" text,
    "hostedInvoiceUrl" text,
    "dueDate" TIMESTAMP(3),
    "paidAt" TIMESTAMP(3),
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT invoices_pkey PRIMARY KEY (id)
);

CREATE TABLE public.keywords (
    id SERIAL,
    term citext NOT NULL,
    intent text NOT NULL,
    priority integer,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "personaId" integer,
    CONSTRAINT keywords_pkey PRIMARY KEY (id)
);

CREATE TABLE public.link_graph (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "sourceContentId" text NOT NULL,
    "targetContentId" text NOT NULL,
    "anchorText" text NOT NULL,
    similarity double precision,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT link_graph_pkey PRIMARY KEY (id)
);

CREATE TABLE public.marketing_campaigns (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "brandId" text,
    name text NOT NULL,
    description text,
    type "MarketingCampaignType" NOT NULL,
    status "MarketingCampaignStatus" NOT NULL DEFAULT 'draft'::"MarketingCampaignStatus",
    budget double precision,
    spent double precision NOT NULL DEFAULT 0,
    "startDate" TIMESTAMP(3) NOT NULL,
    "endDate" TIMESTAMP(3),
    impressions integer NOT NULL DEFAULT 0,
    clicks integer NOT NULL DEFAULT 0,
    conversions integer NOT NULL DEFAULT 0,
    revenue double precision NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT marketing_campaigns_pkey PRIMARY KEY (id)
);

CREATE TABLE public.marketing_leads (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    email text NOT NULL,
    "firstName" text,
    "lastName" text,
    company text,
    phone text,
    source text NOT NULL,
    medium text,
    campaign text,
    "campaignId" text,
    "utmParams" jsonb,
    score integer NOT NULL DEFAULT 0,
    grade "MarketingLeadGrade",
    status "MarketingLeadStatus" NOT NULL DEFAULT 'new'::"MarketingLeadStatus",
    "firstTouch" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastTouch" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "touchCount" integer NOT NULL DEFAULT 1,
    "pageViews" integer NOT NULL DEFAULT 0,
    "engagementScore" integer NOT NULL DEFAULT 0,
    "convertedAt" TIMESTAMP(3),
    "convertedValue" double precision,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT marketing_leads_pkey PRIMARY KEY (id)
);

CREATE TABLE public.marketing_metrics (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    date TIMESTAMP(3) NOT NULL,
    impressions integer NOT NULL DEFAULT 0,
    clicks integer NOT NULL DEFAULT 0,
    conversions integer NOT NULL DEFAULT 0,
    revenue double precision NOT NULL DEFAULT 0,
    cost double precision NOT NULL DEFAULT 0,
    "leadsGenerated" integer NOT NULL DEFAULT 0,
    "leadsCost" double precision NOT NULL DEFAULT 0,
    "channelBreakdown" jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT marketing_metrics_pkey PRIMARY KEY (id)
);

CREATE TABLE public.marketing_touchpoints (
    id text NOT NULL,
    "leadId" text NOT NULL,
    "campaignId" text,
    type "MarketingTouchpointType" NOT NULL,
    channel text NOT NULL,
    url text,
    referrer text,
    device text,
    location text,
    "sessionId" text,
    "eventData" jsonb,
    "attributionWeight" double precision NOT NULL DEFAULT 0,
    timestamp TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT marketing_touchpoints_pkey PRIMARY KEY (id)
);

CREATE TABLE public.mem_embeddings (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "personId" text NOT NULL,
    "sourceEventId" text,
    label text,
    embedding vector,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3),
    CONSTRAINT mem_embeddings_pkey PRIMARY KEY (id)
);

CREATE TABLE public.messages (
    id text NOT NULL,
    "conversationId" text NOT NULL,
    "authorId" text,
    role "MessageRole" NOT NULL,
    "contentJson" jsonb NOT NULL,
    embedding vector,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT messages_pkey PRIMARY KEY (id)
);

CREATE TABLE public.metric_events (
    id text NOT NULL,
    type text NOT NULL,
    meta jsonb NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT metric_events_pkey PRIMARY KEY (id)
);

CREATE TABLE public.model_versions (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    name text NOT NULL,
    provider text NOT NULL,
    version text NOT NULL,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT model_versions_pkey PRIMARY KEY (id)
);

CREATE TABLE public.organization_members (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "userId" text NOT NULL,
    "roleId" text,
    status text NOT NULL DEFAULT 'active'::text,
    "invitedById" text,
    "joinedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT organization_members_pkey PRIMARY KEY (id)
);

CREATE TABLE public.organization_permissions (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    key text NOT NULL,
    description text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT organization_permissions_pkey PRIMARY KEY (id)
);

CREATE TABLE public.organization_roles (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    description text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT organization_roles_pkey PRIMARY KEY (id)
);

CREATE TABLE public.organizations (
    id text NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    plan text NOT NULL DEFAULT 'starter'::text,
    settings jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT organizations_pkey PRIMARY KEY (id)
);

CREATE TABLE public.payments (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "budgetProfileId" text,
    "stripePaymentIntentId" text NOT NULL,
    status text NOT NULL,
    amount double precision NOT NULL,
    currency text NOT NULL DEFAULT 'usd'::text,
    "customerId" text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT payments_pkey PRIMARY KEY (id)
);

CREATE TABLE public.payouts (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "budgetProfileId" text,
    "partnerId" text NOT NULL,
    "stripeTransferId" text,
    status text NOT NULL,
    amount double precision NOT NULL,
    currency text NOT NULL DEFAULT 'usd'::text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processedAt" TIMESTAMP(3),
    CONSTRAINT payouts_pkey PRIMARY KEY (id)
);

CREATE TABLE public.people (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "externalId" text,
    "displayName" text,
    "primaryEmail" text,
    "primaryPhone" text,
    "primaryHandle" text,
    locale text,
    timezone text,
    "personaTags" text[] DEFAULT ARRAY[]::text[],
    attributes jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "lastSeenAt" TIMESTAMP(3),
    CONSTRAINT people_pkey PRIMARY KEY (id)
);

CREATE TABLE public.person_consents (
    id text NOT NULL,
    "personId" text NOT NULL,
    "organizationId" text NOT NULL,
    "campaignId" text,
    channel text NOT NULL,
    status "ConsentStatus" NOT NULL DEFAULT 'granted'::"ConsentStatus",
    source text,
    "collectedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3),
    evidence jsonb,
    metadata jsonb,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT person_consents_pkey PRIMARY KEY (id)
);

CREATE TABLE public.person_identities (
    id text NOT NULL,
    "personId" text NOT NULL,
    "organizationId" text NOT NULL,
    type text NOT NULL,
    value citext NOT NULL,
    channel text,
    "verifiedAt" TIMESTAMP(3),
    source text,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT person_identities_pkey PRIMARY KEY (id)
);

CREATE TABLE public.person_notes (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "personId" text NOT NULL,
    "authorId" text,
    body text NOT NULL,
    tags text[] DEFAULT ARRAY[]::text[],
    visibility text NOT NULL DEFAULT 'internal'::text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT person_notes_pkey PRIMARY KEY (id)
);

CREATE TABLE public.person_objectives (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "personId" text NOT NULL,
    title text NOT NULL,
    description text,
    status text NOT NULL DEFAULT 'active'::text,
    priority integer NOT NULL DEFAULT 0,
    "successMetric" text,
    "targetValue" double precision,
    "dueAt" TIMESTAMP(3),
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT person_objectives_pkey PRIMARY KEY (id)
);

CREATE TABLE public.person_topics (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "personId" text NOT NULL,
    name text NOT NULL,
    weight double precision NOT NULL DEFAULT 0,
    trend double precision DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT person_topics_pkey PRIMARY KEY (id)
);

CREATE TABLE public.personas (
    id SERIAL,
    name text NOT NULL,
    summary text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT personas_pkey PRIMARY KEY (id)
);

CREATE TABLE public.role_permissions (
    "roleId" text NOT NULL,
    "permissionId" text NOT NULL,
    CONSTRAINT role_permissions_pkey PRIMARY KEY ("roleId", "permissionId")
);

CREATE TABLE public.seo_metrics (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "contentId" text,
    url text NOT NULL,
    keyword text NOT NULL,
    impressions integer NOT NULL,
    clicks integer NOT NULL,
    ctr double precision NOT NULL,
    "avgPosition" double precision NOT NULL,
    date TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT seo_metrics_pkey PRIMARY KEY (id)
);

CREATE TABLE public.sessions (
    id text NOT NULL,
    "sessionToken" text NOT NULL,
    "userId" text NOT NULL,
    expires TIMESTAMP(3) NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (id)
);

CREATE TABLE public.snippet_library (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "brandId" text,
    channel text NOT NULL,
    name text NOT NULL,
    content text NOT NULL,
    tone text,
    "useCases" text[] DEFAULT ARRAY[]::text[],
    "winRate" double precision,
    "usageCount" integer NOT NULL DEFAULT 0,
    "lastWonAt" TIMESTAMP(3),
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT snippet_library_pkey PRIMARY KEY (id)
);

CREATE TABLE public.social_posts (
    id text NOT NULL,
    "campaignId" text NOT NULL,
    platform text NOT NULL,
    content text NOT NULL,
    "mediaUrls" jsonb,
    variant text,
    "scheduledFor" TIMESTAMP(3),
    "publishedAt" TIMESTAMP(3),
    "externalId" text,
    metrics jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT social_posts_pkey PRIMARY KEY (id)
);

CREATE TABLE public.subscriptions (
    id text NOT NULL,
    "userId" text NOT NULL,
    "stripeCustomerId" text NOT NULL,
    "stripeSubscriptionId" text NOT NULL,
    "stripePriceId" text NOT NULL,
    "stripeProductId" text NOT NULL,
    plan text NOT NULL,
    status text NOT NULL,
    "currentPeriodStart" TIMESTAMP(3) NOT NULL,
    "currentPeriodEnd" TIMESTAMP(3) NOT NULL,
    "cancelAtPeriodEnd" boolean NOT NULL DEFAULT false,
    "canceledAt" TIMESTAMP(3),
    "campaignsUsed" integer NOT NULL DEFAULT 0,
    "emailsSent" integer NOT NULL DEFAULT 0,
    "socialPosts" integer NOT NULL DEFAULT 0,
    "agentCalls" integer NOT NULL DEFAULT 0,
    "campaignLimit" integer NOT NULL DEFAULT 5,
    "emailLimit" integer NOT NULL DEFAULT 1000,
    "socialLimit" integer NOT NULL DEFAULT 100,
    "agentCallLimit" integer NOT NULL DEFAULT 100,
    "trialEndsAt" TIMESTAMP(3),
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (id)
);

CREATE TABLE public.tasks (
    id text NOT NULL,
    "organizationId" text,
    title text NOT NULL,
    description text,
    status text NOT NULL DEFAULT 'todo'::text,
    priority text NOT NULL DEFAULT 'medium'::text,
    "createdById" text NOT NULL,
    "assigneeId" text,
    "dueDate" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    tags text[],
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT tasks_pkey PRIMARY KEY (id)
);

CREATE TABLE public.team_members (
    id text NOT NULL,
    "organizationId" text,
    "userId" text NOT NULL,
    role text NOT NULL DEFAULT 'Member'::text,
    department text,
    status text NOT NULL DEFAULT 'active'::text,
    "invitedBy" text,
    "invitedAt" TIMESTAMP(3),
    "joinedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT team_members_pkey PRIMARY KEY (id)
);

CREATE TABLE public.tool_executions (
    id text NOT NULL,
    "toolId" text NOT NULL,
    "agentRunId" text,
    status text NOT NULL DEFAULT 'queued'::text,
    input jsonb,
    output jsonb,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),
    metadata jsonb,
    CONSTRAINT tool_executions_pkey PRIMARY KEY (id)
);

CREATE TABLE public.tools (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    description text,
    "inputSchema" jsonb,
    "outputSchema" jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "agentId" text,
    CONSTRAINT tools_pkey PRIMARY KEY (id)
);

CREATE TABLE public.training_jobs (
    id text NOT NULL,
    "modelVersionId" text NOT NULL,
    status "TrainStatus" NOT NULL DEFAULT 'queued'::"TrainStatus",
    config jsonb NOT NULL,
    metrics jsonb,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),
    CONSTRAINT training_jobs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.trigger_configs (
    id text NOT NULL,
    "connectorAuthId" text NOT NULL,
    name text NOT NULL,
    "triggerType" text NOT NULL,
    config jsonb NOT NULL,
    "isActive" boolean NOT NULL DEFAULT true,
    "lastTriggeredAt" TIMESTAMP(3),
    "triggerCount" integer NOT NULL DEFAULT 0,
    metadata jsonb,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT trigger_configs_pkey PRIMARY KEY (id)
);

CREATE TABLE public.usage_records (
    id text NOT NULL,
    "subscriptionId" text NOT NULL,
    "resourceType" text NOT NULL,
    "resourceId" text,
    quantity integer NOT NULL DEFAULT 1,
    cost integer,
    timestamp TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    metadata jsonb,
    CONSTRAINT usage_records_pkey PRIMARY KEY (id)
);

CREATE TABLE public.user_settings (
    id text NOT NULL,
    "userId" text NOT NULL,
    "brandVoice" jsonb,
    "emailNotifications" boolean NOT NULL DEFAULT true,
    "pushNotifications" boolean NOT NULL DEFAULT false,
    "notificationFrequency" text NOT NULL DEFAULT 'realtime'::text,
    timezone text NOT NULL DEFAULT 'UTC'::text,
    locale text NOT NULL DEFAULT 'en-US'::text,
    "dateFormat" text NOT NULL DEFAULT 'MM/DD/YYYY'::text,
    "dataRetention" integer NOT NULL DEFAULT 90,
    "allowAnalytics" boolean NOT NULL DEFAULT true,
    "allowPersonalization" boolean NOT NULL DEFAULT true,
    "apiRateLimit" integer NOT NULL DEFAULT 1000,
    "webhookUrl" text,
    "webhookSecret" text,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT user_settings_pkey PRIMARY KEY (id)
);

CREATE TABLE public.users (
    id text NOT NULL,
    email text NOT NULL,
    name text,
    image text,
    "emailVerified" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "stripeCustomerId" text,
    "isBetaUser" boolean NOT NULL DEFAULT false,
    CONSTRAINT users_pkey PRIMARY KEY (id)
);

CREATE TABLE public.verification_tokens (
    identifier text NOT NULL,
    token text NOT NULL,
    expires TIMESTAMP(3) NOT NULL
);

-- Unique indexes
CREATE UNIQUE INDEX "accounts_provider_providerAccountId_key" ON public.accounts USING btree (provider, "providerAccountId");
CREATE UNIQUE INDEX "agent_configs_agentId_key_key" ON public.agent_configs USING btree ("agentId", key);
CREATE UNIQUE INDEX "agents_organizationId_slug_key" ON public.agents USING btree ("organizationId", slug);
CREATE UNIQUE INDEX "api_keys_createdById_tokenHash_key" ON public.api_keys USING btree ("createdById", "tokenHash");
CREATE UNIQUE INDEX "api_keys_organizationId_tokenHash_key" ON public.api_keys USING btree ("organizationId", "tokenHash");
CREATE UNIQUE INDEX "brands_organizationId_slug_key" ON public.brands USING btree ("organizationId", slug);
CREATE UNIQUE INDEX "budget_profiles_organizationId_name_key" ON public.budget_profiles USING btree ("organizationId", name);
CREATE UNIQUE INDEX "chunks_datasetId_idx_key" ON public.chunks USING btree ("datasetId", idx);
CREATE UNIQUE INDEX "connector_auths_userId_connectorId_accountId_key" ON public.connector_auths USING btree ("userId", "connectorId", "accountId");
CREATE UNIQUE INDEX connectors_name_key ON public.connectors USING btree (name);
CREATE UNIQUE INDEX "credentials_userId_provider_accountId_key" ON public.credentials USING btree ("userId", provider, "accountId");
CREATE UNIQUE INDEX "datasets_organizationId_slug_key" ON public.datasets USING btree ("organizationId", slug);
CREATE UNIQUE INDEX "embedding_spaces_organizationId_name_key" ON public.embedding_spaces USING btree ("organizationId", name);
CREATE UNIQUE INDEX "inference_endpoints_organizationId_slug_key" ON public.inference_endpoints USING btree ("organizationId", slug);
CREATE UNIQUE INDEX "invoices_stripeInvoiceId_key" ON public.invoices USING btree ("stripeInvoiceId");
CREATE UNIQUE INDEX ux_keyword_term_ci ON public.keywords USING btree (term);
CREATE UNIQUE INDEX "link_graph_sourceContentId_targetContentId_anchorText_key" ON public.link_graph USING btree ("sourceContentId", "targetContentId", "anchorText");
CREATE UNIQUE INDEX "marketing_metrics_organizationId_date_key" ON public.marketing_metrics USING btree ("organizationId", date);
CREATE UNIQUE INDEX "organization_members_organizationId_userId_key" ON public.organization_members USING btree ("organizationId", "userId");
CREATE UNIQUE INDEX "organization_permissions_organizationId_key_key" ON public.organization_permissions USING btree ("organizationId", key);
CREATE UNIQUE INDEX "organization_roles_organizationId_slug_key" ON public.organization_roles USING btree ("organizationId", slug);
CREATE UNIQUE INDEX organizations_slug_key ON public.organizations USING btree (slug);
CREATE UNIQUE INDEX "payments_stripePaymentIntentId_key" ON public.payments USING btree ("stripePaymentIntentId");
CREATE UNIQUE INDEX "people_organizationId_externalId_key" ON public.people USING btree ("organizationId", "externalId");
CREATE UNIQUE INDEX "person_identities_organizationId_type_value_key" ON public.person_identities USING btree ("organizationId", type, value);
CREATE UNIQUE INDEX "person_topics_personId_name_key" ON public.person_topics USING btree ("personId", name);
CREATE UNIQUE INDEX personas_name_key ON public.personas USING btree (name);
CREATE UNIQUE INDEX "seo_metrics_organizationId_url_keyword_date_key" ON public.seo_metrics USING btree ("organizationId", url, keyword, date);
CREATE UNIQUE INDEX "sessions_sessionToken_key" ON public.sessions USING btree ("sessionToken");
CREATE UNIQUE INDEX "snippet_library_organizationId_name_channel_key" ON public.snippet_library USING btree ("organizationId", name, channel);
CREATE UNIQUE INDEX "subscriptions_stripeCustomerId_key" ON public.subscriptions USING btree ("stripeCustomerId");
CREATE UNIQUE INDEX "subscriptions_stripeSubscriptionId_key" ON public.subscriptions USING btree ("stripeSubscriptionId");
CREATE UNIQUE INDEX "subscriptions_userId_key" ON public.subscriptions USING btree ("userId");
CREATE UNIQUE INDEX "team_members_userId_organizationId_key" ON public.team_members USING btree ("userId", "organizationId");
CREATE UNIQUE INDEX "tools_organizationId_slug_key" ON public.tools USING btree ("organizationId", slug);
CREATE UNIQUE INDEX "user_settings_userId_key" ON public.user_settings USING btree ("userId");
CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email);
CREATE UNIQUE INDEX "users_stripeCustomerId_key" ON public.users USING btree ("stripeCustomerId");
CREATE UNIQUE INDEX verification_tokens_identifier_token_key ON public.verification_tokens USING btree (identifier, token);
CREATE UNIQUE INDEX verification_tokens_token_key ON public.verification_tokens USING btree (token);

-- Plain indexes
CREATE INDEX "ab_tests_campaignId_idx" ON public.ab_tests USING btree ("campaignId");
CREATE INDEX "action_configs_connectorAuthId_isActive_idx" ON public.action_configs USING btree ("connectorAuthId", "isActive");
CREATE INDEX agent_jobs_agent_idx ON public.agent_jobs USING btree (agent);
CREATE INDEX "agent_jobs_createdAt_idx" ON public.agent_jobs USING btree ("createdAt");
CREATE INDEX agent_jobs_status_idx ON public.agent_jobs USING btree (status);
CREATE INDEX "agent_runs_agentId_startedAt_idx" ON public.agent_runs USING btree ("agentId", "startedAt");
CREATE INDEX audit_logs_action_idx ON public.audit_logs USING btree (action);
CREATE INDEX "audit_logs_organizationId_createdAt_idx" ON public.audit_logs USING btree ("organizationId", "createdAt");
CREATE INDEX "audit_logs_userId_createdAt_idx" ON public.audit_logs USING btree ("userId", "createdAt");
CREATE INDEX "budget_allocations_budgetProfileId_idx" ON public.budget_allocations USING btree ("budgetProfileId");
CREATE INDEX "budget_allocations_campaignId_idx" ON public.budget_allocations USING btree ("campaignId");
CREATE INDEX "budget_allocations_organizationId_status_idx" ON public.budget_allocations USING btree ("organizationId", status);
CREATE INDEX "budget_ledger_allocationId_idx" ON public.budget_ledger USING btree ("allocationId");
CREATE INDEX "budget_ledger_budgetProfileId_idx" ON public.budget_ledger USING btree ("budgetProfileId");
CREATE INDEX "budget_ledger_organizationId_occurredAt_idx" ON public.budget_ledger USING btree ("organizationId", "occurredAt");
CREATE INDEX "budget_profiles_brandId_idx" ON public.budget_profiles USING btree ("brandId");
CREATE INDEX "budget_transactions_campaignId_idx" ON public.budget_transactions USING btree ("campaignId");
CREATE INDEX "budget_transactions_createdAt_idx" ON public.budget_transactions USING btree ("createdAt");
CREATE INDEX "budget_transactions_organizationId_idx" ON public.budget_transactions USING btree ("organizationId");
CREATE INDEX budget_transactions_type_idx ON public.budget_transactions USING btree (type);
CREATE INDEX "campaign_metrics_campaignId_kind_timestamp_idx" ON public.campaign_metrics USING btree ("campaignId", kind, "timestamp");
CREATE INDEX "campaigns_organizationId_status_idx" ON public.campaigns USING btree ("organizationId", status);
CREATE INDEX "chunks_embeddingSpaceId_idx" ON public.chunks USING btree ("embeddingSpaceId");
CREATE INDEX "connector_auths_userId_connectorId_idx" ON public.connector_auths USING btree ("userId", "connectorId");
CREATE INDEX "content_drafts_createdAt_idx" ON public.content_drafts USING btree ("createdAt");
CREATE INDEX "content_drafts_createdById_status_idx" ON public.content_drafts USING btree ("createdById", status);
CREATE INDEX "conversations_organizationId_createdAt_idx" ON public.conversations USING btree ("organizationId", "createdAt");
CREATE INDEX "credentials_userId_provider_idx" ON public.credentials USING btree ("userId", provider);
CREATE INDEX "email_sequences_campaignId_scheduledFor_idx" ON public.email_sequences USING btree ("campaignId", "scheduledFor");
CREATE INDEX "events_organizationId_channel_type_idx" ON public.events USING btree ("organizationId", channel, type);
CREATE INDEX "events_organizationId_occurredAt_idx" ON public.events USING btree ("organizationId", "occurredAt");
CREATE INDEX "events_personId_occurredAt_idx" ON public.events USING btree ("personId", "occurredAt");
CREATE INDEX "feedback_createdAt_idx" ON public.feedback USING btree ("createdAt");
CREATE INDEX feedback_type_status_idx ON public.feedback USING btree (type, status);
CREATE INDEX "feedback_userId_status_idx" ON public.feedback USING btree ("userId", status);
CREATE INDEX "invoices_subscriptionId_status_idx" ON public.invoices USING btree ("subscriptionId", status);
CREATE INDEX ix_keyword_persona ON public.keywords USING btree ("personaId");
CREATE INDEX "link_graph_organizationId_idx" ON public.link_graph USING btree ("organizationId");
CREATE INDEX "marketing_campaigns_organizationId_status_idx" ON public.marketing_campaigns USING btree ("organizationId", status);
CREATE INDEX "marketing_campaigns_startDate_endDate_idx" ON public.marketing_campaigns USING btree ("startDate", "endDate");
CREATE INDEX marketing_leads_email_idx ON public.marketing_leads USING btree (email);
CREATE INDEX "marketing_leads_organizationId_status_idx" ON public.marketing_leads USING btree ("organizationId", status);
CREATE INDEX marketing_leads_score_idx ON public.marketing_leads USING btree (score);
CREATE INDEX marketing_leads_source_medium_idx ON public.marketing_leads USING btree (source, medium);
CREATE INDEX marketing_metrics_date_idx ON public.marketing_metrics USING btree (date);
CREATE INDEX "marketing_touchpoints_campaignId_idx" ON public.marketing_touchpoints USING btree ("campaignId");
CREATE INDEX marketing_touchpoints_channel_type_idx ON public.marketing_touchpoints USING btree (channel, type);
CREATE INDEX "marketing_touchpoints_leadId_timestamp_idx" ON public.marketing_touchpoints USING btree ("leadId", "timestamp");
CREATE INDEX "mem_embeddings_organizationId_idx" ON public.mem_embeddings USING btree ("organizationId");
CREATE INDEX "mem_embeddings_personId_createdAt_idx" ON public.mem_embeddings USING btree ("personId", "createdAt");
CREATE INDEX "messages_conversationId_createdAt_idx" ON public.messages USING btree ("conversationId", "createdAt");
CREATE INDEX "messages_role_createdAt_idx" ON public.messages USING btree (role, "createdAt");
CREATE INDEX "metric_events_createdAt_idx" ON public.metric_events USING btree ("createdAt");
CREATE INDEX metric_events_type_idx ON public.metric_events USING btree (type);
CREATE INDEX "payments_organizationId_status_idx" ON public.payments USING btree ("organizationId", status);
CREATE INDEX "payouts_organizationId_status_idx" ON public.payouts USING btree ("organizationId", status);
CREATE INDEX "people_organizationId_lastSeenAt_idx" ON public.people USING btree ("organizationId", "lastSeenAt");
CREATE INDEX "people_organizationId_primaryEmail_idx" ON public.people USING btree ("organizationId", "primaryEmail");
CREATE INDEX "people_organizationId_primaryPhone_idx" ON public.people USING btree ("organizationId", "primaryPhone");
CREATE INDEX "person_consents_organizationId_channel_idx" ON public.person_consents USING btree ("organizationId", channel);
CREATE INDEX "person_consents_personId_channel_idx" ON public.person_consents USING btree ("personId", channel);
CREATE INDEX "person_identities_personId_type_idx" ON public.person_identities USING btree ("personId", type);
CREATE INDEX "person_notes_organizationId_idx" ON public.person_notes USING btree ("organizationId");
CREATE INDEX "person_notes_personId_createdAt_idx" ON public.person_notes USING btree ("personId", "createdAt");
CREATE INDEX "person_objectives_organizationId_status_idx" ON public.person_objectives USING btree ("organizationId", status);
CREATE INDEX "person_objectives_personId_status_idx" ON public.person_objectives USING btree ("personId", status);
CREATE INDEX "person_topics_organizationId_name_idx" ON public.person_topics USING btree ("organizationId", name);
CREATE INDEX seo_metrics_keyword_date_idx ON public.seo_metrics USING btree (keyword, date);
CREATE INDEX "seo_metrics_organizationId_date_idx" ON public.seo_metrics USING btree ("organizationId", date);
CREATE INDEX seo_metrics_url_date_idx ON public.seo_metrics USING btree (url, date);
CREATE INDEX "snippet_library_brandId_idx" ON public.snippet_library USING btree ("brandId");
CREATE INDEX "snippet_library_organizationId_channel_idx" ON public.snippet_library USING btree ("organizationId", channel);
CREATE INDEX "social_posts_campaignId_platform_scheduledFor_idx" ON public.social_posts USING btree ("campaignId", platform, "scheduledFor");
CREATE INDEX "tasks_assigneeId_status_idx" ON public.tasks USING btree ("assigneeId", status);
CREATE INDEX "tasks_createdById_status_idx" ON public.tasks USING btree ("createdById", status);
CREATE INDEX "tasks_dueDate_idx" ON public.tasks USING btree ("dueDate");
CREATE INDEX team_members_role_status_idx ON public.team_members USING btree (role, status);
CREATE INDEX "trigger_configs_connectorAuthId_isActive_idx" ON public.trigger_configs USING btree ("connectorAuthId", "isActive");
CREATE INDEX "usage_records_subscriptionId_resourceType_timestamp_idx" ON public.usage_records USING btree ("subscriptionId", "resourceType", "timestamp");

-- Foreign keys
ALTER TABLE public.ab_tests ADD CONSTRAINT "ab_tests_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.campaigns(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.accounts ADD CONSTRAINT "accounts_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.action_configs ADD CONSTRAINT "action_configs_connectorAuthId_fkey" FOREIGN KEY ("connectorAuthId") REFERENCES public.connector_auths(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.agent_capabilities ADD CONSTRAINT "agent_capabilities_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES public.agents(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.agent_configs ADD CONSTRAINT "agent_configs_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES public.agents(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.agent_jobs ADD CONSTRAINT "agent_jobs_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.agent_jobs ADD CONSTRAINT "agent_jobs_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.agent_run_metrics ADD CONSTRAINT "agent_run_metrics_agentRunId_fkey" FOREIGN KEY ("agentRunId") REFERENCES public.agent_runs(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.agent_runs ADD CONSTRAINT "agent_runs_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES public.agents(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.agent_runs ADD CONSTRAINT "agent_runs_datasetId_fkey" FOREIGN KEY ("datasetId") REFERENCES public.datasets(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.agent_runs ADD CONSTRAINT "agent_runs_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.agents ADD CONSTRAINT "agents_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.api_keys ADD CONSTRAINT "api_keys_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.api_keys ADD CONSTRAINT "api_keys_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.audit_logs ADD CONSTRAINT "audit_logs_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.audit_logs ADD CONSTRAINT "audit_logs_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.brand_assets ADD CONSTRAINT "brand_assets_brandId_fkey" FOREIGN KEY ("brandId") REFERENCES public.brands(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.brand_voices ADD CONSTRAINT "brand_voices_brandId_fkey" FOREIGN KEY ("brandId") REFERENCES public.brands(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.brand_voices ADD CONSTRAINT "brand_voices_embeddingSpaceId_fkey" FOREIGN KEY ("embeddingSpaceId") REFERENCES public.embedding_spaces(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.brands ADD CONSTRAINT "brands_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_allocations ADD CONSTRAINT "budget_allocations_budgetProfileId_fkey" FOREIGN KEY ("budgetProfileId") REFERENCES public.budget_profiles(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_allocations ADD CONSTRAINT "budget_allocations_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.marketing_campaigns(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_allocations ADD CONSTRAINT "budget_allocations_objectiveId_fkey" FOREIGN KEY ("objectiveId") REFERENCES public.person_objectives(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_allocations ADD CONSTRAINT "budget_allocations_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_ledger ADD CONSTRAINT "budget_ledger_allocationId_fkey" FOREIGN KEY ("allocationId") REFERENCES public.budget_allocations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_ledger ADD CONSTRAINT "budget_ledger_budgetProfileId_fkey" FOREIGN KEY ("budgetProfileId") REFERENCES public.budget_profiles(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_ledger ADD CONSTRAINT "budget_ledger_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.marketing_campaigns(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_ledger ADD CONSTRAINT "budget_ledger_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_ledger ADD CONSTRAINT "budget_ledger_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_profiles ADD CONSTRAINT "budget_profiles_brandId_fkey" FOREIGN KEY ("brandId") REFERENCES public.brands(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_profiles ADD CONSTRAINT "budget_profiles_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_transactions ADD CONSTRAINT "budget_transactions_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.campaigns(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.budget_transactions ADD CONSTRAINT "budget_transactions_createdBy_fkey" FOREIGN KEY ("createdBy") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.budget_transactions ADD CONSTRAINT "budget_transactions_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.campaign_metrics ADD CONSTRAINT "campaign_metrics_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.campaigns(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.campaigns ADD CONSTRAINT "campaigns_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.campaigns ADD CONSTRAINT "campaigns_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.chunks ADD CONSTRAINT "chunks_datasetId_fkey" FOREIGN KEY ("datasetId") REFERENCES public.datasets(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.chunks ADD CONSTRAINT "chunks_documentId_fkey" FOREIGN KEY ("documentId") REFERENCES public.documents(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.chunks ADD CONSTRAINT "chunks_embeddingSpaceId_fkey" FOREIGN KEY ("embeddingSpaceId") REFERENCES public.embedding_spaces(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.connector_auths ADD CONSTRAINT "connector_auths_connectorId_fkey" FOREIGN KEY ("connectorId") REFERENCES public.connectors(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.connector_auths ADD CONSTRAINT "connector_auths_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.connector_auths ADD CONSTRAINT "connector_auths_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.content ADD CONSTRAINT "content_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.content ADD CONSTRAINT "content_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.content_drafts ADD CONSTRAINT "content_drafts_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.content_drafts ADD CONSTRAINT "content_drafts_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.conversations ADD CONSTRAINT "conversations_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.conversations ADD CONSTRAINT "conversations_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.credentials ADD CONSTRAINT "credentials_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.datasets ADD CONSTRAINT "datasets_embeddingSpaceId_fkey" FOREIGN KEY ("embeddingSpaceId") REFERENCES public.embedding_spaces(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.datasets ADD CONSTRAINT "datasets_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.documents ADD CONSTRAINT "documents_datasetId_fkey" FOREIGN KEY ("datasetId") REFERENCES public.datasets(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.documents ADD CONSTRAINT "documents_embeddingSpaceId_fkey" FOREIGN KEY ("embeddingSpaceId") REFERENCES public.embedding_spaces(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.documents ADD CONSTRAINT "documents_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.documents ADD CONSTRAINT "documents_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.editorial_calendar ADD CONSTRAINT "editorial_calendar_personaId_fkey" FOREIGN KEY ("personaId") REFERENCES public.personas(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.email_sequences ADD CONSTRAINT "email_sequences_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.campaigns(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.embedding_spaces ADD CONSTRAINT "embedding_spaces_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.events ADD CONSTRAINT "events_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.marketing_campaigns(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.events ADD CONSTRAINT "events_objectiveId_fkey" FOREIGN KEY ("objectiveId") REFERENCES public.person_objectives(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.events ADD CONSTRAINT "events_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.events ADD CONSTRAINT "events_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.feedback ADD CONSTRAINT "feedback_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.feedback ADD CONSTRAINT "feedback_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.inference_endpoints ADD CONSTRAINT "inference_endpoints_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES public.model_versions(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.inference_endpoints ADD CONSTRAINT "inference_endpoints_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.invoices ADD CONSTRAINT "invoices_subscriptionId_fkey" FOREIGN KEY ("subscriptionId") REFERENCES public.subscriptions(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.keywords ADD CONSTRAINT "keywords_personaId_fkey" FOREIGN KEY ("personaId") REFERENCES public.personas(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.link_graph ADD CONSTRAINT "link_graph_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.link_graph ADD CONSTRAINT "link_graph_sourceContentId_fkey" FOREIGN KEY ("sourceContentId") REFERENCES public.content(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.link_graph ADD CONSTRAINT "link_graph_targetContentId_fkey" FOREIGN KEY ("targetContentId") REFERENCES public.content(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.marketing_campaigns ADD CONSTRAINT "marketing_campaigns_brandId_fkey" FOREIGN KEY ("brandId") REFERENCES public.brands(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.marketing_campaigns ADD CONSTRAINT "marketing_campaigns_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.marketing_leads ADD CONSTRAINT "marketing_leads_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.marketing_campaigns(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.marketing_leads ADD CONSTRAINT "marketing_leads_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.marketing_metrics ADD CONSTRAINT "marketing_metrics_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.marketing_touchpoints ADD CONSTRAINT "marketing_touchpoints_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.marketing_campaigns(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.marketing_touchpoints ADD CONSTRAINT "marketing_touchpoints_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES public.marketing_leads(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.mem_embeddings ADD CONSTRAINT "mem_embeddings_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.mem_embeddings ADD CONSTRAINT "mem_embeddings_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.mem_embeddings ADD CONSTRAINT "mem_embeddings_sourceEventId_fkey" FOREIGN KEY ("sourceEventId") REFERENCES public.events(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.messages ADD CONSTRAINT "messages_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.messages ADD CONSTRAINT "messages_conversationId_fkey" FOREIGN KEY ("conversationId") REFERENCES public.conversations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.model_versions ADD CONSTRAINT "model_versions_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.organization_members ADD CONSTRAINT "organization_members_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.organization_members ADD CONSTRAINT "organization_members_roleId_fkey" FOREIGN KEY ("roleId") REFERENCES public.organization_roles(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.organization_members ADD CONSTRAINT "organization_members_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.organization_permissions ADD CONSTRAINT "organization_permissions_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.organization_roles ADD CONSTRAINT "organization_roles_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.payments ADD CONSTRAINT "payments_budgetProfileId_fkey" FOREIGN KEY ("budgetProfileId") REFERENCES public.budget_profiles(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.payments ADD CONSTRAINT "payments_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.payouts ADD CONSTRAINT "payouts_budgetProfileId_fkey" FOREIGN KEY ("budgetProfileId") REFERENCES public.budget_profiles(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.payouts ADD CONSTRAINT "payouts_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.people ADD CONSTRAINT "people_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_consents ADD CONSTRAINT "person_consents_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.marketing_campaigns(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.person_consents ADD CONSTRAINT "person_consents_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_consents ADD CONSTRAINT "person_consents_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_identities ADD CONSTRAINT "person_identities_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_identities ADD CONSTRAINT "person_identities_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_notes ADD CONSTRAINT "person_notes_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.person_notes ADD CONSTRAINT "person_notes_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_notes ADD CONSTRAINT "person_notes_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_objectives ADD CONSTRAINT "person_objectives_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_objectives ADD CONSTRAINT "person_objectives_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_topics ADD CONSTRAINT "person_topics_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.person_topics ADD CONSTRAINT "person_topics_personId_fkey" FOREIGN KEY ("personId") REFERENCES public.people(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.role_permissions ADD CONSTRAINT "role_permissions_permissionId_fkey" FOREIGN KEY ("permissionId") REFERENCES public.organization_permissions(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.role_permissions ADD CONSTRAINT "role_permissions_roleId_fkey" FOREIGN KEY ("roleId") REFERENCES public.organization_roles(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.seo_metrics ADD CONSTRAINT "seo_metrics_contentId_fkey" FOREIGN KEY ("contentId") REFERENCES public.content(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.seo_metrics ADD CONSTRAINT "seo_metrics_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.sessions ADD CONSTRAINT "sessions_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.snippet_library ADD CONSTRAINT "snippet_library_brandId_fkey" FOREIGN KEY ("brandId") REFERENCES public.brands(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.snippet_library ADD CONSTRAINT "snippet_library_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.social_posts ADD CONSTRAINT "social_posts_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES public.campaigns(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.subscriptions ADD CONSTRAINT "subscriptions_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.tasks ADD CONSTRAINT "tasks_assigneeId_fkey" FOREIGN KEY ("assigneeId") REFERENCES public.users(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.tasks ADD CONSTRAINT "tasks_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.tasks ADD CONSTRAINT "tasks_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.team_members ADD CONSTRAINT "team_members_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.team_members ADD CONSTRAINT "team_members_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.tool_executions ADD CONSTRAINT "tool_executions_agentRunId_fkey" FOREIGN KEY ("agentRunId") REFERENCES public.agent_runs(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.tool_executions ADD CONSTRAINT "tool_executions_toolId_fkey" FOREIGN KEY ("toolId") REFERENCES public.tools(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.tools ADD CONSTRAINT "tools_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES public.agents(id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE public.tools ADD CONSTRAINT "tools_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organizations(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.training_jobs ADD CONSTRAINT "training_jobs_modelVersionId_fkey" FOREIGN KEY ("modelVersionId") REFERENCES public.model_versions(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.trigger_configs ADD CONSTRAINT "trigger_configs_connectorAuthId_fkey" FOREIGN KEY ("connectorAuthId") REFERENCES public.connector_auths(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.usage_records ADD CONSTRAINT "usage_records_subscriptionId_fkey" FOREIGN KEY ("subscriptionId") REFERENCES public.subscriptions(id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE public.user_settings ADD CONSTRAINT "user_settings_userId_fkey" FOREIGN KEY ("userId") REFERENCES public.users(id) ON DELETE CASCADE ON UPDATE CASCADE;
