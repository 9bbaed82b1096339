// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "AgentKind"))]
    pub struct AgentKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "AgentStatus"))]
    pub struct AgentStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "BudgetAllocationStatus"))]
    pub struct BudgetAllocationStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "BudgetTransactionType"))]
    pub struct BudgetTransactionType;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "CampaignStatus"))]
    pub struct CampaignStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "ConnectorKind"))]
    pub struct ConnectorKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "ConsentStatus"))]
    pub struct ConsentStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "ContentKind"))]
    pub struct ContentKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "ConversationKind"))]
    pub struct ConversationKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "DatasetKind"))]
    pub struct DatasetKind;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "MarketingCampaignStatus"))]
    pub struct MarketingCampaignStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "MarketingCampaignType"))]
    pub struct MarketingCampaignType;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "MarketingLeadGrade"))]
    pub struct MarketingLeadGrade;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "MarketingLeadStatus"))]
    pub struct MarketingLeadStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "MarketingTouchpointType"))]
    pub struct MarketingTouchpointType;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "MessageRole"))]
    pub struct MessageRole;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "TrainStatus"))]
    pub struct TrainStatus;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    ab_tests (id) {
        id -> Text,
        campaignId -> Text,
        name -> Text,
        variants -> Jsonb,
        winner -> Nullable<Text>,
        metrics -> Jsonb,
        startedAt -> Timestamp,
        completedAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    accounts (id) {
        id -> Text,
        userId -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        provider -> Text,
        providerAccountId -> Text,
        refresh_token -> Nullable<Text>,
        access_token -> Nullable<Text>,
        expires_at -> Nullable<Int4>,
        token_type -> Nullable<Text>,
        scope -> Nullable<Text>,
        id_token -> Nullable<Text>,
        session_state -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    action_configs (id) {
        id -> Text,
        connectorAuthId -> Text,
        name -> Text,
        actionType -> Text,
        config -> Jsonb,
        isActive -> Bool,
        lastExecutedAt -> Nullable<Timestamp>,
        executionCount -> Int4,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    agent_capabilities (id) {
        id -> Text,
        agentId -> Text,
        name -> Text,
        config -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    agent_configs (id) {
        id -> Text,
        agentId -> Text,
        key -> Text,
        value -> Jsonb,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    agent_jobs (id) {
        id -> Text,
        organizationId -> Nullable<Text>,
        agent -> Text,
        input -> Jsonb,
        output -> Nullable<Jsonb>,
        status -> Text,
        error -> Nullable<Text>,
        metrics -> Nullable<Jsonb>,
        createdById -> Nullable<Text>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        runAt -> Timestamp,
        priority -> Int4,
        attempt -> Int4,
        maxAttempts -> Int4,
        leaseOwner -> Nullable<Text>,
        leaseExpiresAt -> Nullable<Timestamp>,
        leaseEpoch -> Int8,
        errors -> Jsonb,
        uniqueKey -> Nullable<Text>,
        rescues -> Int4,
        maxRescues -> Int4,
        finishedAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    agent_run_metrics (id) {
        id -> Text,
        agentRunId -> Text,
        name -> Text,
        value -> Nullable<Float8>,
        metadata -> Nullable<Jsonb>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    agent_runs (id) {
        id -> Text,
        agentId -> Text,
        organizationId -> Text,
        datasetId -> Nullable<Text>,
        status -> Text,
        input -> Jsonb,
        output -> Nullable<Jsonb>,
        metrics -> Nullable<Jsonb>,
        startedAt -> Timestamp,
        completedAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::AgentKind;
    use super::sql_types::AgentStatus;

    agents (id) {
        id -> Text,
        organizationId -> Text,
        name -> Text,
        slug -> Text,
        kind -> AgentKind,
        status -> AgentStatus,
        description -> Nullable<Text>,
        version -> Nullable<Text>,
        config -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    api_keys (id) {
        id -> Text,
        organizationId -> Text,
        createdById -> Text,
        name -> Text,
        tokenHash -> Text,
        scopes -> Nullable<Array<Nullable<Text>>>,
        lastUsedAt -> Nullable<Timestamp>,
        expiresAt -> Nullable<Timestamp>,
        revokedAt -> Nullable<Timestamp>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    audit_logs (id) {
        id -> Text,
        organizationId -> Nullable<Text>,
        userId -> Nullable<Text>,
        actorType -> Nullable<Text>,
        action -> Text,
        resourceId -> Nullable<Text>,
        resourceType -> Nullable<Text>,
        requestHash -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        ip -> Nullable<Text>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    brand_assets (id) {
        id -> Text,
        brandId -> Text,
        kind -> Text,
        name -> Text,
        url -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    brand_voices (id) {
        id -> Text,
        brandId -> Text,
        embeddingSpaceId -> Text,
        promptTemplate -> Text,
        styleRulesJson -> Jsonb,
        embedding -> Nullable<Vector>,
        metrics -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    brands (id) {
        id -> Text,
        organizationId -> Text,
        name -> Text,
        slug -> Text,
        description -> Nullable<Text>,
        mainColor -> Nullable<Text>,
        slogan -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::BudgetAllocationStatus;

    budget_allocations (id) {
        id -> Text,
        organizationId -> Text,
        budgetProfileId -> Text,
        campaignId -> Nullable<Text>,
        objectiveId -> Nullable<Text>,
        channel -> Text,
        amount -> Float8,
        currency -> Text,
        windowStart -> Nullable<Timestamp>,
        windowEnd -> Nullable<Timestamp>,
        status -> BudgetAllocationStatus,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    budget_ledger (id) {
        id -> Text,
        organizationId -> Text,
        budgetProfileId -> Text,
        allocationId -> Nullable<Text>,
        campaignId -> Nullable<Text>,
        personId -> Nullable<Text>,
        entryType -> Text,
        amount -> Float8,
        currency -> Text,
        occurredAt -> Timestamp,
        metadata -> Nullable<Jsonb>,
        spentDelta -> Nullable<Int8>,
        reservedDelta -> Nullable<Int8>,
        reservationId -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    budget_profiles (id) {
        id -> Text,
        organizationId -> Text,
        brandId -> Nullable<Text>,
        name -> Text,
        currency -> Text,
        totalBudget -> Nullable<Float8>,
        reserved -> Float8,
        spent -> Float8,
        constraints -> Nullable<Jsonb>,
        settings -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    budget_requests (organizationId, key) {
        organizationId -> Text,
        key -> Text,
        operation -> Text,
        request -> Jsonb,
        receipt -> Jsonb,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    budget_reservations (id) {
        id -> Text,
        organizationId -> Text,
        budgetProfileId -> Text,
        amount -> Int8,
        committed -> Nullable<Int8>,
        status -> Text,
        campaignId -> Nullable<Text>,
        marketingCampaignId -> Nullable<Text>,
        allocationId -> Nullable<Text>,
        createdAt -> Timestamp,
        closedAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::BudgetTransactionType;

    budget_transactions (id) {
        id -> Text,
        campaignId -> Text,
        organizationId -> Text,
        #[sql_name = "type"]
        type_ -> BudgetTransactionType,
        amount -> Float8,
        currency -> Text,
        channel -> Nullable<Text>,
        description -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        balanceBefore -> Float8,
        balanceAfter -> Float8,
        createdAt -> Timestamp,
        createdBy -> Nullable<Text>,
        sequence -> Nullable<Int8>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    campaign_metrics (id) {
        id -> Text,
        campaignId -> Text,
        kind -> Text,
        value -> Nullable<Float8>,
        payload -> Nullable<Jsonb>,
        timestamp -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::CampaignStatus;

    campaigns (id) {
        id -> Text,
        organizationId -> Text,
        ownerId -> Text,
        name -> Text,
        status -> CampaignStatus,
        #[sql_name = "type"]
        type_ -> Text,
        config -> Nullable<Jsonb>,
        schedule -> Nullable<Jsonb>,
        budget -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::Tsvector;

    chunk_search_vectors (chunkId) {
        chunkId -> Text,
        embeddingSpaceId -> Text,
        searchVector -> Tsvector,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::Tsvector;

    chunks (id) {
        id -> Text,
        datasetId -> Text,
        documentId -> Text,
        embeddingSpaceId -> Text,
        idx -> Int4,
        text -> Text,
        embedding -> Nullable<Vector>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        searchVector -> Nullable<Tsvector>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    connector_auths (id) {
        id -> Text,
        userId -> Text,
        connectorId -> Text,
        organizationId -> Nullable<Text>,
        accountId -> Nullable<Text>,
        accountName -> Nullable<Text>,
        accessToken -> Nullable<Text>,
        refreshToken -> Nullable<Text>,
        apiKey -> Nullable<Text>,
        apiSecret -> Nullable<Text>,
        scope -> Nullable<Text>,
        tokenType -> Nullable<Text>,
        expiresAt -> Nullable<Timestamp>,
        status -> Text,
        lastUsedAt -> Nullable<Timestamp>,
        lastError -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::ConnectorKind;

    connectors (id) {
        id -> Text,
        name -> Text,
        displayName -> Text,
        description -> Text,
        category -> ConnectorKind,
        iconUrl -> Nullable<Text>,
        websiteUrl -> Nullable<Text>,
        authType -> Text,
        authConfig -> Jsonb,
        isEnabled -> Bool,
        isVerified -> Bool,
        triggers -> Jsonb,
        actions -> Jsonb,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::ContentKind;

    content (id) {
        id -> Text,
        organizationId -> Text,
        authorId -> Nullable<Text>,
        kind -> ContentKind,
        status -> Text,
        title -> Nullable<Text>,
        body -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        publishedAt -> Nullable<Timestamp>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    content_drafts (id) {
        id -> Text,
        organizationId -> Nullable<Text>,
        title -> Text,
        topic -> Text,
        body -> Text,
        tone -> Text,
        audience -> Nullable<Text>,
        status -> Text,
        createdById -> Text,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::ConversationKind;

    conversations (id) {
        id -> Text,
        organizationId -> Text,
        kind -> ConversationKind,
        status -> Text,
        title -> Nullable<Text>,
        createdById -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    credentials (id) {
        id -> Text,
        userId -> Text,
        provider -> Text,
        accountId -> Nullable<Text>,
        accessToken -> Nullable<Text>,
        refreshToken -> Nullable<Text>,
        accessSecret -> Nullable<Text>,
        scope -> Nullable<Text>,
        tokenType -> Nullable<Text>,
        expiresAt -> Nullable<Timestamp>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        lastUsedAt -> Nullable<Timestamp>,
        status -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::DatasetKind;

    datasets (id) {
        id -> Text,
        organizationId -> Text,
        embeddingSpaceId -> Nullable<Text>,
        name -> Text,
        slug -> Text,
        kind -> DatasetKind,
        description -> Nullable<Text>,
        source -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    documents (id) {
        id -> Text,
        datasetId -> Nullable<Text>,
        organizationId -> Text,
        ownerId -> Text,
        embeddingSpaceId -> Nullable<Text>,
        title -> Text,
        content -> Text,
        status -> Text,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    editorial_calendar (id) {
        id -> Int4,
        title -> Text,
        publishAt -> Timestamp,
        priority -> Nullable<Int4>,
        status -> Nullable<Text>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        personaId -> Nullable<Int4>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    email_sequences (id) {
        id -> Text,
        campaignId -> Text,
        subject -> Text,
        body -> Text,
        variant -> Nullable<Text>,
        scheduledFor -> Nullable<Timestamp>,
        sentAt -> Nullable<Timestamp>,
        metrics -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    embedding_spaces (id) {
        id -> Text,
        organizationId -> Text,
        name -> Text,
        provider -> Text,
        model -> Text,
        dimension -> Int4,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        textSearchConfig -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    events (id) {
        id -> Text,
        organizationId -> Text,
        personId -> Text,
        campaignId -> Nullable<Text>,
        objectiveId -> Nullable<Text>,
        channel -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        source -> Nullable<Text>,
        providerId -> Nullable<Text>,
        topic -> Nullable<Text>,
        intent -> Nullable<Text>,
        sentiment -> Nullable<Text>,
        payload -> Nullable<Jsonb>,
        metadata -> Nullable<Jsonb>,
        occurredAt -> Timestamp,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    feedback (id) {
        id -> Text,
        organizationId -> Nullable<Text>,
        #[sql_name = "type"]
        type_ -> Text,
        category -> Nullable<Text>,
        title -> Text,
        description -> Text,
        rating -> Nullable<Int4>,
        status -> Text,
        userId -> Text,
        metadata -> Nullable<Jsonb>,
        response -> Nullable<Text>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        resolvedAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    inference_endpoints (id) {
        id -> Text,
        organizationId -> Text,
        modelVersionId -> Nullable<Text>,
        name -> Text,
        slug -> Text,
        status -> Text,
        config -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    invoices (id) {
        id -> Text,
        subscriptionId -> Text,
        stripeInvoiceId -> Text,
        stripePaymentIntentId -> Nullable<Text>,
        amountDue -> Int4,
        amountPaid -> Int4,
        currency -> Text,
        status -> Text,
        invoicePdf -> Nullable<Text>,
        hostedInvoiceUrl -> Nullable<Text>,
        dueDate -> Nullable<Timestamp>,
        paidAt -> Nullable<Timestamp>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        stripeEventAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    keywords (id) {
        id -> Int4,
        term -> Citext,
        intent -> Text,
        priority -> Nullable<Int4>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        personaId -> Nullable<Int4>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    link_graph (id) {
        id -> Text,
        organizationId -> Text,
        sourceContentId -> Text,
        targetContentId -> Text,
        anchorText -> Text,
        similarity -> Nullable<Float8>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::MarketingCampaignType;
    use super::sql_types::MarketingCampaignStatus;

    marketing_campaigns (id) {
        id -> Text,
        organizationId -> Text,
        brandId -> Nullable<Text>,
        name -> Text,
        description -> Nullable<Text>,
        #[sql_name = "type"]
        type_ -> MarketingCampaignType,
        status -> MarketingCampaignStatus,
        budget -> Nullable<Float8>,
        spent -> Float8,
        startDate -> Timestamp,
        endDate -> Nullable<Timestamp>,
        impressions -> Int4,
        clicks -> Int4,
        conversions -> Int4,
        revenue -> Float8,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::MarketingLeadGrade;
    use super::sql_types::MarketingLeadStatus;

    marketing_leads (id) {
        id -> Text,
        organizationId -> Text,
        email -> Text,
        firstName -> Nullable<Text>,
        lastName -> Nullable<Text>,
        company -> Nullable<Text>,
        phone -> Nullable<Text>,
        source -> Text,
        medium -> Nullable<Text>,
        campaign -> Nullable<Text>,
        campaignId -> Nullable<Text>,
        utmParams -> Nullable<Jsonb>,
        score -> Int4,
        grade -> Nullable<MarketingLeadGrade>,
        status -> MarketingLeadStatus,
        firstTouch -> Timestamp,
        lastTouch -> Timestamp,
        touchCount -> Int4,
        pageViews -> Int4,
        engagementScore -> Int4,
        convertedAt -> Nullable<Timestamp>,
        convertedValue -> Nullable<Float8>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    marketing_metrics (id) {
        id -> Text,
        organizationId -> Text,
        date -> Timestamp,
        impressions -> Int4,
        clicks -> Int4,
        conversions -> Int4,
        revenue -> Float8,
        cost -> Float8,
        leadsGenerated -> Int4,
        leadsCost -> Float8,
        channelBreakdown -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::MarketingTouchpointType;

    marketing_touchpoints (id) {
        id -> Text,
        leadId -> Text,
        campaignId -> Nullable<Text>,
        #[sql_name = "type"]
        type_ -> MarketingTouchpointType,
        channel -> Text,
        url -> Nullable<Text>,
        referrer -> Nullable<Text>,
        device -> Nullable<Text>,
        location -> Nullable<Text>,
        sessionId -> Nullable<Text>,
        eventData -> Nullable<Jsonb>,
        attributionWeight -> Float8,
        timestamp -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    mem_embeddings (id) {
        id -> Text,
        organizationId -> Text,
        personId -> Text,
        sourceEventId -> Nullable<Text>,
        label -> Nullable<Text>,
        embedding -> Nullable<Vector>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        expiresAt -> Nullable<Timestamp>,
        embeddingSpaceId -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::MessageRole;

    messages (id) {
        id -> Text,
        conversationId -> Text,
        authorId -> Nullable<Text>,
        role -> MessageRole,
        contentJson -> Jsonb,
        embedding -> Nullable<Vector>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        embeddingSpaceId -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    metric_events (id) {
        id -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        meta -> Jsonb,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    model_versions (id) {
        id -> Text,
        organizationId -> Text,
        name -> Text,
        provider -> Text,
        version -> Text,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    organization_members (id) {
        id -> Text,
        organizationId -> Text,
        userId -> Text,
        roleId -> Nullable<Text>,
        status -> Text,
        invitedById -> Nullable<Text>,
        joinedAt -> Timestamp,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    organization_permissions (id) {
        id -> Text,
        organizationId -> Text,
        key -> Text,
        description -> Nullable<Text>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    organization_roles (id) {
        id -> Text,
        organizationId -> Text,
        name -> Text,
        slug -> Text,
        description -> Nullable<Text>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    organizations (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        plan -> Text,
        settings -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    payments (id) {
        id -> Text,
        organizationId -> Text,
        budgetProfileId -> Nullable<Text>,
        stripePaymentIntentId -> Text,
        status -> Text,
        amount -> Float8,
        currency -> Text,
        customerId -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        stripeEventAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    payouts (id) {
        id -> Text,
        organizationId -> Text,
        budgetProfileId -> Nullable<Text>,
        partnerId -> Text,
        stripeTransferId -> Nullable<Text>,
        status -> Text,
        amount -> Float8,
        currency -> Text,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        processedAt -> Nullable<Timestamp>,
        stripeEventAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    people (id) {
        id -> Text,
        organizationId -> Text,
        externalId -> Nullable<Text>,
        displayName -> Nullable<Text>,
        primaryEmail -> Nullable<Text>,
        primaryPhone -> Nullable<Text>,
        primaryHandle -> Nullable<Text>,
        locale -> Nullable<Text>,
        timezone -> Nullable<Text>,
        personaTags -> Nullable<Array<Nullable<Text>>>,
        attributes -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        lastSeenAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::ConsentStatus;

    person_consents (id) {
        id -> Text,
        personId -> Text,
        organizationId -> Text,
        campaignId -> Nullable<Text>,
        channel -> Text,
        status -> ConsentStatus,
        source -> Nullable<Text>,
        collectedAt -> Timestamp,
        expiresAt -> Nullable<Timestamp>,
        evidence -> Nullable<Jsonb>,
        metadata -> Nullable<Jsonb>,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    person_identities (id) {
        id -> Text,
        personId -> Text,
        organizationId -> Text,
        #[sql_name = "type"]
        type_ -> Text,
        value -> Citext,
        channel -> Nullable<Text>,
        verifiedAt -> Nullable<Timestamp>,
        source -> Nullable<Text>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    person_notes (id) {
        id -> Text,
        organizationId -> Text,
        personId -> Text,
        authorId -> Nullable<Text>,
        body -> Text,
        tags -> Nullable<Array<Nullable<Text>>>,
        visibility -> Text,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    person_objectives (id) {
        id -> Text,
        organizationId -> Text,
        personId -> Text,
        title -> Text,
        description -> Nullable<Text>,
        status -> Text,
        priority -> Int4,
        successMetric -> Nullable<Text>,
        targetValue -> Nullable<Float8>,
        dueAt -> Nullable<Timestamp>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    person_suppressions (id) {
        id -> Text,
        organizationId -> Text,
        kind -> Text,
        keyId -> Text,
        hash -> Text,
        source -> Text,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    person_topics (id) {
        id -> Text,
        organizationId -> Text,
        personId -> Text,
        name -> Text,
        weight -> Float8,
        trend -> Nullable<Float8>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    personas (id) {
        id -> Int4,
        name -> Text,
        summary -> Nullable<Text>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    role_permissions (roleId, permissionId) {
        roleId -> Text,
        permissionId -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    seo_metrics (id) {
        id -> Text,
        organizationId -> Text,
        contentId -> Nullable<Text>,
        url -> Text,
        keyword -> Text,
        impressions -> Int4,
        clicks -> Int4,
        ctr -> Float8,
        avgPosition -> Float8,
        date -> Timestamp,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    sessions (id) {
        id -> Text,
        sessionToken -> Text,
        userId -> Text,
        expires -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    snippet_library (id) {
        id -> Text,
        organizationId -> Text,
        brandId -> Nullable<Text>,
        channel -> Text,
        name -> Text,
        content -> Text,
        tone -> Nullable<Text>,
        useCases -> Nullable<Array<Nullable<Text>>>,
        winRate -> Nullable<Float8>,
        usageCount -> Int4,
        lastWonAt -> Nullable<Timestamp>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    social_posts (id) {
        id -> Text,
        campaignId -> Text,
        platform -> Text,
        content -> Text,
        mediaUrls -> Nullable<Jsonb>,
        variant -> Nullable<Text>,
        scheduledFor -> Nullable<Timestamp>,
        publishedAt -> Nullable<Timestamp>,
        externalId -> Nullable<Text>,
        metrics -> Nullable<Jsonb>,
        createdAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    subscriptions (id) {
        id -> Text,
        userId -> Text,
        stripeCustomerId -> Text,
        stripeSubscriptionId -> Text,
        stripePriceId -> Text,
        stripeProductId -> Text,
        plan -> Text,
        status -> Text,
        currentPeriodStart -> Timestamp,
        currentPeriodEnd -> Timestamp,
        cancelAtPeriodEnd -> Bool,
        canceledAt -> Nullable<Timestamp>,
        campaignsUsed -> Int4,
        emailsSent -> Int4,
        socialPosts -> Int4,
        agentCalls -> Int4,
        campaignLimit -> Int4,
        emailLimit -> Int4,
        socialLimit -> Int4,
        agentCallLimit -> Int4,
        trialEndsAt -> Nullable<Timestamp>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        stripeEventAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    tasks (id) {
        id -> Text,
        organizationId -> Nullable<Text>,
        title -> Text,
        description -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        createdById -> Text,
        assigneeId -> Nullable<Text>,
        dueDate -> Nullable<Timestamp>,
        completedAt -> Nullable<Timestamp>,
        tags -> Nullable<Array<Nullable<Text>>>,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    team_members (id) {
        id -> Text,
        organizationId -> Nullable<Text>,
        userId -> Text,
        role -> Text,
        department -> Nullable<Text>,
        status -> Text,
        invitedBy -> Nullable<Text>,
        invitedAt -> Nullable<Timestamp>,
        joinedAt -> Timestamp,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    tool_executions (id) {
        id -> Text,
        toolId -> Text,
        agentRunId -> Nullable<Text>,
        status -> Text,
        input -> Nullable<Jsonb>,
        output -> Nullable<Jsonb>,
        startedAt -> Timestamp,
        completedAt -> Nullable<Timestamp>,
        metadata -> Nullable<Jsonb>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    tools (id) {
        id -> Text,
        organizationId -> Text,
        name -> Text,
        slug -> Text,
        description -> Nullable<Text>,
        inputSchema -> Nullable<Jsonb>,
        outputSchema -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        agentId -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;
    use super::sql_types::TrainStatus;

    training_jobs (id) {
        id -> Text,
        modelVersionId -> Text,
        status -> TrainStatus,
        config -> Jsonb,
        metrics -> Nullable<Jsonb>,
        startedAt -> Timestamp,
        completedAt -> Nullable<Timestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    trigger_configs (id) {
        id -> Text,
        connectorAuthId -> Text,
        name -> Text,
        triggerType -> Text,
        config -> Jsonb,
        isActive -> Bool,
        lastTriggeredAt -> Nullable<Timestamp>,
        triggerCount -> Int4,
        metadata -> Nullable<Jsonb>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    usage_records (id) {
        id -> Text,
        subscriptionId -> Text,
        resourceType -> Text,
        resourceId -> Nullable<Text>,
        quantity -> Int4,
        cost -> Nullable<Int4>,
        timestamp -> Timestamp,
        metadata -> Nullable<Jsonb>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    user_settings (id) {
        id -> Text,
        userId -> Text,
        brandVoice -> Nullable<Jsonb>,
        emailNotifications -> Bool,
        pushNotifications -> Bool,
        notificationFrequency -> Text,
        timezone -> Text,
        locale -> Text,
        dateFormat -> Text,
        dataRetention -> Int4,
        allowAnalytics -> Bool,
        allowPersonalization -> Bool,
        apiRateLimit -> Int4,
        webhookUrl -> Nullable<Text>,
        webhookSecret -> Nullable<Text>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::vector::sql_types::*;

    users (id) {
        id -> Text,
        email -> Text,
        name -> Nullable<Text>,
        image -> Nullable<Text>,
        emailVerified -> Nullable<Timestamp>,
        createdAt -> Timestamp,
        updatedAt -> Timestamp,
        stripeCustomerId -> Nullable<Text>,
        isBetaUser -> Bool,
    }
}

diesel::joinable!(ab_tests -> campaigns (campaignId));
diesel::joinable!(accounts -> users (userId));
diesel::joinable!(action_configs -> connector_auths (connectorAuthId));
diesel::joinable!(agent_capabilities -> agents (agentId));
diesel::joinable!(agent_configs -> agents (agentId));
diesel::joinable!(agent_jobs -> organizations (organizationId));
diesel::joinable!(agent_jobs -> users (createdById));
diesel::joinable!(agent_run_metrics -> agent_runs (agentRunId));
diesel::joinable!(agent_runs -> agents (agentId));
diesel::joinable!(agent_runs -> datasets (datasetId));
diesel::joinable!(agent_runs -> organizations (organizationId));
diesel::joinable!(agents -> organizations (organizationId));
diesel::joinable!(api_keys -> organizations (organizationId));
diesel::joinable!(api_keys -> users (createdById));
diesel::joinable!(audit_logs -> organizations (organizationId));
diesel::joinable!(audit_logs -> users (userId));
diesel::joinable!(brand_assets -> brands (brandId));
diesel::joinable!(brand_voices -> brands (brandId));
diesel::joinable!(brand_voices -> embedding_spaces (embeddingSpaceId));
diesel::joinable!(brands -> organizations (organizationId));
diesel::joinable!(budget_allocations -> budget_profiles (budgetProfileId));
diesel::joinable!(budget_allocations -> marketing_campaigns (campaignId));
diesel::joinable!(budget_allocations -> organizations (organizationId));
diesel::joinable!(budget_allocations -> person_objectives (objectiveId));
diesel::joinable!(budget_ledger -> budget_allocations (allocationId));
diesel::joinable!(budget_ledger -> budget_profiles (budgetProfileId));
diesel::joinable!(budget_ledger -> budget_reservations (reservationId));
diesel::joinable!(budget_ledger -> marketing_campaigns (campaignId));
diesel::joinable!(budget_ledger -> organizations (organizationId));
diesel::joinable!(budget_ledger -> people (personId));
diesel::joinable!(budget_profiles -> brands (brandId));
diesel::joinable!(budget_profiles -> organizations (organizationId));
diesel::joinable!(budget_requests -> organizations (organizationId));
diesel::joinable!(budget_reservations -> budget_allocations (allocationId));
diesel::joinable!(budget_reservations -> budget_profiles (budgetProfileId));
diesel::joinable!(budget_reservations -> campaigns (campaignId));
diesel::joinable!(budget_reservations -> marketing_campaigns (marketingCampaignId));
diesel::joinable!(budget_reservations -> organizations (organizationId));
diesel::joinable!(budget_transactions -> campaigns (campaignId));
diesel::joinable!(budget_transactions -> organizations (organizationId));
diesel::joinable!(budget_transactions -> users (createdBy));
diesel::joinable!(campaign_metrics -> campaigns (campaignId));
diesel::joinable!(campaigns -> organizations (organizationId));
diesel::joinable!(campaigns -> users (ownerId));
diesel::joinable!(chunks -> datasets (datasetId));
diesel::joinable!(chunks -> documents (documentId));
diesel::joinable!(chunks -> embedding_spaces (embeddingSpaceId));
diesel::joinable!(connector_auths -> connectors (connectorId));
diesel::joinable!(connector_auths -> organizations (organizationId));
diesel::joinable!(connector_auths -> users (userId));
diesel::joinable!(content -> organizations (organizationId));
diesel::joinable!(content -> users (authorId));
diesel::joinable!(content_drafts -> organizations (organizationId));
diesel::joinable!(content_drafts -> users (createdById));
diesel::joinable!(conversations -> organizations (organizationId));
diesel::joinable!(conversations -> users (createdById));
diesel::joinable!(credentials -> users (userId));
diesel::joinable!(datasets -> embedding_spaces (embeddingSpaceId));
diesel::joinable!(datasets -> organizations (organizationId));
diesel::joinable!(documents -> datasets (datasetId));
diesel::joinable!(documents -> embedding_spaces (embeddingSpaceId));
diesel::joinable!(documents -> organizations (organizationId));
diesel::joinable!(documents -> users (ownerId));
diesel::joinable!(editorial_calendar -> personas (personaId));
diesel::joinable!(email_sequences -> campaigns (campaignId));
diesel::joinable!(embedding_spaces -> organizations (organizationId));
diesel::joinable!(events -> marketing_campaigns (campaignId));
diesel::joinable!(events -> organizations (organizationId));
diesel::joinable!(events -> people (personId));
diesel::joinable!(events -> person_objectives (objectiveId));
diesel::joinable!(feedback -> organizations (organizationId));
diesel::joinable!(feedback -> users (userId));
diesel::joinable!(inference_endpoints -> model_versions (modelVersionId));
diesel::joinable!(inference_endpoints -> organizations (organizationId));
diesel::joinable!(invoices -> subscriptions (subscriptionId));
diesel::joinable!(keywords -> personas (personaId));
diesel::joinable!(link_graph -> organizations (organizationId));
diesel::joinable!(marketing_campaigns -> brands (brandId));
diesel::joinable!(marketing_campaigns -> organizations (organizationId));
diesel::joinable!(marketing_leads -> marketing_campaigns (campaignId));
diesel::joinable!(marketing_leads -> organizations (organizationId));
diesel::joinable!(marketing_metrics -> organizations (organizationId));
diesel::joinable!(marketing_touchpoints -> marketing_campaigns (campaignId));
diesel::joinable!(marketing_touchpoints -> marketing_leads (leadId));
diesel::joinable!(mem_embeddings -> embedding_spaces (embeddingSpaceId));
diesel::joinable!(mem_embeddings -> events (sourceEventId));
diesel::joinable!(mem_embeddings -> organizations (organizationId));
diesel::joinable!(mem_embeddings -> people (personId));
diesel::joinable!(messages -> conversations (conversationId));
diesel::joinable!(messages -> embedding_spaces (embeddingSpaceId));
diesel::joinable!(messages -> users (authorId));
diesel::joinable!(model_versions -> organizations (organizationId));
diesel::joinable!(organization_members -> organization_roles (roleId));
diesel::joinable!(organization_members -> organizations (organizationId));
diesel::joinable!(organization_members -> users (userId));
diesel::joinable!(organization_permissions -> organizations (organizationId));
diesel::joinable!(organization_roles -> organizations (organizationId));
diesel::joinable!(payments -> budget_profiles (budgetProfileId));
diesel::joinable!(payments -> organizations (organizationId));
diesel::joinable!(payouts -> budget_profiles (budgetProfileId));
diesel::joinable!(payouts -> organizations (organizationId));
diesel::joinable!(people -> organizations (organizationId));
diesel::joinable!(person_consents -> marketing_campaigns (campaignId));
diesel::joinable!(person_consents -> organizations (organizationId));
diesel::joinable!(person_consents -> people (personId));
diesel::joinable!(person_identities -> organizations (organizationId));
diesel::joinable!(person_identities -> people (personId));
diesel::joinable!(person_notes -> organizations (organizationId));
diesel::joinable!(person_notes -> people (personId));
diesel::joinable!(person_notes -> users (authorId));
diesel::joinable!(person_objectives -> organizations (organizationId));
diesel::joinable!(person_objectives -> people (personId));
diesel::joinable!(person_suppressions -> organizations (organizationId));
diesel::joinable!(person_topics -> organizations (organizationId));
diesel::joinable!(person_topics -> people (personId));
diesel::joinable!(role_permissions -> organization_permissions (permissionId));
diesel::joinable!(role_permissions -> organization_roles (roleId));
diesel::joinable!(seo_metrics -> content (contentId));
diesel::joinable!(seo_metrics -> organizations (organizationId));
diesel::joinable!(sessions -> users (userId));
diesel::joinable!(snippet_library -> brands (brandId));
diesel::joinable!(snippet_library -> organizations (organizationId));
diesel::joinable!(social_posts -> campaigns (campaignId));
diesel::joinable!(subscriptions -> users (userId));
diesel::joinable!(tasks -> organizations (organizationId));
diesel::joinable!(team_members -> organizations (organizationId));
diesel::joinable!(team_members -> users (userId));
diesel::joinable!(tool_executions -> agent_runs (agentRunId));
diesel::joinable!(tool_executions -> tools (toolId));
diesel::joinable!(tools -> agents (agentId));
diesel::joinable!(tools -> organizations (organizationId));
diesel::joinable!(training_jobs -> model_versions (modelVersionId));
diesel::joinable!(trigger_configs -> connector_auths (connectorAuthId));
diesel::joinable!(usage_records -> subscriptions (subscriptionId));
diesel::joinable!(user_settings -> users (userId));

diesel::allow_tables_to_appear_in_same_query!(
    ab_tests,
    accounts,
    action_configs,
    agent_capabilities,
    agent_configs,
    agent_jobs,
    agent_run_metrics,
    agent_runs,
    agents,
    api_keys,
    audit_logs,
    brand_assets,
    brand_voices,
    brands,
    budget_allocations,
    budget_ledger,
    budget_profiles,
    budget_requests,
    budget_reservations,
    budget_transactions,
    campaign_metrics,
    campaigns,
    chunks,
    connector_auths,
    connectors,
    content,
    content_drafts,
    conversations,
    credentials,
    datasets,
    documents,
    email_sequences,
    embedding_spaces,
    events,
    feedback,
    inference_endpoints,
    invoices,
    link_graph,
    marketing_campaigns,
    marketing_leads,
    marketing_metrics,
    marketing_touchpoints,
    mem_embeddings,
    messages,
    model_versions,
    organization_members,
    organization_permissions,
    organization_roles,
    organizations,
    payments,
    payouts,
    people,
    person_consents,
    person_identities,
    person_notes,
    person_objectives,
    person_suppressions,
    person_topics,
    role_permissions,
    seo_metrics,
    sessions,
    snippet_library,
    social_posts,
    subscriptions,
    tasks,
    team_members,
    tool_executions,
    tools,
    training_jobs,
    trigger_configs,
    usage_records,
    user_settings,
    users,
);
diesel::allow_tables_to_appear_in_same_query!(editorial_calendar, keywords, personas,);
