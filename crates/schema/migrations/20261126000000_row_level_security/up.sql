-- Row-level security: every table that belongs to someone answers only to its owner.
-- The policies read the transaction-local settings a TenantScope sets (app.current_org,
-- app.current_user), each wrapped in a SELECT so it is evaluated once per statement, not
-- per row. The table owner and superusers bypass them (migrations, seed, system work);
-- the application role does not. ENABLE, not FORCE: the owner keeps its access.
-- Child tables are visible through their parent: a hashed IN over the parents an
-- organization has few of (datasets, roles, brands, agents, campaigns, tools, model
-- versions, connector auths), a per-row EXISTS otherwise; writes check every named parent
-- per row (foreign-key checks bypass row-level security).

ALTER TABLE public."agent_runs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."agent_runs"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."agents" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."agents"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."api_keys" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."api_keys"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."brands" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."brands"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."budget_allocations" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."budget_allocations"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."budget_ledger" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."budget_ledger"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."budget_profiles" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."budget_profiles"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."budget_transactions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."budget_transactions"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."campaigns" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."campaigns"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."content" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."content"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."conversations" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."conversations"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."datasets" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."datasets"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."documents" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."documents"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."embedding_spaces" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."embedding_spaces"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."events" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."events"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."inference_endpoints" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."inference_endpoints"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."link_graph" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."link_graph"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."marketing_campaigns" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."marketing_campaigns"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."marketing_leads" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."marketing_leads"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."marketing_metrics" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."marketing_metrics"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."mem_embeddings" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."mem_embeddings"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."model_versions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."model_versions"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."organization_members" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."organization_members"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."organization_permissions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."organization_permissions"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."organization_roles" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."organization_roles"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."payments" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."payments"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."payouts" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."payouts"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."people" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."people"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."person_consents" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."person_consents"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."person_identities" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."person_identities"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."person_notes" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."person_notes"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."person_objectives" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."person_objectives"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."person_topics" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."person_topics"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."seo_metrics" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."seo_metrics"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."snippet_library" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."snippet_library"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."tools" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."tools"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."agent_jobs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."agent_jobs"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "createdById" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "createdById" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."audit_logs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."audit_logs"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."connector_auths" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."connector_auths"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."content_drafts" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."content_drafts"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "createdById" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "createdById" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."feedback" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."feedback"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."tasks" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."tasks"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "createdById" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "createdById" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."team_members" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."team_members"
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)) OR ("organizationId" IS NULL AND "userId" = (SELECT current_setting('app.current_user', true))));
ALTER TABLE public."accounts" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_owner ON public."accounts"
    USING ("userId" = (SELECT current_setting('app.current_user', true)))
    WITH CHECK ("userId" = (SELECT current_setting('app.current_user', true)));
ALTER TABLE public."sessions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_owner ON public."sessions"
    USING ("userId" = (SELECT current_setting('app.current_user', true)))
    WITH CHECK ("userId" = (SELECT current_setting('app.current_user', true)));
ALTER TABLE public."credentials" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_owner ON public."credentials"
    USING ("userId" = (SELECT current_setting('app.current_user', true)))
    WITH CHECK ("userId" = (SELECT current_setting('app.current_user', true)));
ALTER TABLE public."subscriptions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_owner ON public."subscriptions"
    USING ("userId" = (SELECT current_setting('app.current_user', true)))
    WITH CHECK ("userId" = (SELECT current_setting('app.current_user', true)));
ALTER TABLE public."user_settings" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_owner ON public."user_settings"
    USING ("userId" = (SELECT current_setting('app.current_user', true)))
    WITH CHECK ("userId" = (SELECT current_setting('app.current_user', true)));
ALTER TABLE public."ab_tests" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."ab_tests"
    USING ("campaignId" IN (SELECT p.id FROM public."campaigns" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."campaigns" p WHERE p.id = "ab_tests"."campaignId"));
ALTER TABLE public."action_configs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."action_configs"
    USING ("connectorAuthId" IN (SELECT p.id FROM public."connector_auths" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."connector_auths" p WHERE p.id = "action_configs"."connectorAuthId"));
ALTER TABLE public."agent_capabilities" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."agent_capabilities"
    USING ("agentId" IN (SELECT p.id FROM public."agents" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."agents" p WHERE p.id = "agent_capabilities"."agentId"));
ALTER TABLE public."agent_configs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."agent_configs"
    USING ("agentId" IN (SELECT p.id FROM public."agents" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."agents" p WHERE p.id = "agent_configs"."agentId"));
ALTER TABLE public."agent_run_metrics" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."agent_run_metrics"
    USING (EXISTS (SELECT 1 FROM public."agent_runs" p WHERE p.id = "agent_run_metrics"."agentRunId"))
    WITH CHECK (EXISTS (SELECT 1 FROM public."agent_runs" p WHERE p.id = "agent_run_metrics"."agentRunId"));
ALTER TABLE public."brand_assets" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."brand_assets"
    USING ("brandId" IN (SELECT p.id FROM public."brands" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."brands" p WHERE p.id = "brand_assets"."brandId"));
ALTER TABLE public."brand_voices" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."brand_voices"
    USING ("brandId" IN (SELECT p.id FROM public."brands" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."brands" p WHERE p.id = "brand_voices"."brandId") AND EXISTS (SELECT 1 FROM public."embedding_spaces" p WHERE p.id = "brand_voices"."embeddingSpaceId"));
ALTER TABLE public."campaign_metrics" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."campaign_metrics"
    USING ("campaignId" IN (SELECT p.id FROM public."campaigns" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."campaigns" p WHERE p.id = "campaign_metrics"."campaignId"));
ALTER TABLE public."chunks" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."chunks"
    USING ("datasetId" IN (SELECT p.id FROM public."datasets" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."datasets" p WHERE p.id = "chunks"."datasetId") AND EXISTS (SELECT 1 FROM public."documents" p WHERE p.id = "chunks"."documentId") AND EXISTS (SELECT 1 FROM public."embedding_spaces" p WHERE p.id = "chunks"."embeddingSpaceId"));
ALTER TABLE public."email_sequences" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."email_sequences"
    USING ("campaignId" IN (SELECT p.id FROM public."campaigns" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."campaigns" p WHERE p.id = "email_sequences"."campaignId"));
ALTER TABLE public."marketing_touchpoints" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."marketing_touchpoints"
    USING (EXISTS (SELECT 1 FROM public."marketing_leads" p WHERE p.id = "marketing_touchpoints"."leadId"))
    WITH CHECK (("campaignId" IS NULL OR EXISTS (SELECT 1 FROM public."marketing_campaigns" p WHERE p.id = "marketing_touchpoints"."campaignId")) AND EXISTS (SELECT 1 FROM public."marketing_leads" p WHERE p.id = "marketing_touchpoints"."leadId"));
ALTER TABLE public."messages" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."messages"
    USING (EXISTS (SELECT 1 FROM public."conversations" p WHERE p.id = "messages"."conversationId"))
    WITH CHECK (EXISTS (SELECT 1 FROM public."conversations" p WHERE p.id = "messages"."conversationId") AND ("embeddingSpaceId" IS NULL OR EXISTS (SELECT 1 FROM public."embedding_spaces" p WHERE p.id = "messages"."embeddingSpaceId")));
ALTER TABLE public."role_permissions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."role_permissions"
    USING ("roleId" IN (SELECT p.id FROM public."organization_roles" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."organization_permissions" p WHERE p.id = "role_permissions"."permissionId") AND EXISTS (SELECT 1 FROM public."organization_roles" p WHERE p.id = "role_permissions"."roleId"));
ALTER TABLE public."social_posts" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."social_posts"
    USING ("campaignId" IN (SELECT p.id FROM public."campaigns" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."campaigns" p WHERE p.id = "social_posts"."campaignId"));
ALTER TABLE public."tool_executions" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."tool_executions"
    USING ("toolId" IN (SELECT p.id FROM public."tools" p))
    WITH CHECK (("agentRunId" IS NULL OR EXISTS (SELECT 1 FROM public."agent_runs" p WHERE p.id = "tool_executions"."agentRunId")) AND EXISTS (SELECT 1 FROM public."tools" p WHERE p.id = "tool_executions"."toolId"));
ALTER TABLE public."training_jobs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."training_jobs"
    USING ("modelVersionId" IN (SELECT p.id FROM public."model_versions" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."model_versions" p WHERE p.id = "training_jobs"."modelVersionId"));
ALTER TABLE public."trigger_configs" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."trigger_configs"
    USING ("connectorAuthId" IN (SELECT p.id FROM public."connector_auths" p))
    WITH CHECK (EXISTS (SELECT 1 FROM public."connector_auths" p WHERE p.id = "trigger_configs"."connectorAuthId"));
ALTER TABLE public."invoices" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."invoices"
    USING (EXISTS (SELECT 1 FROM public."subscriptions" p WHERE p.id = "invoices"."subscriptionId"))
    WITH CHECK (EXISTS (SELECT 1 FROM public."subscriptions" p WHERE p.id = "invoices"."subscriptionId"));
ALTER TABLE public."usage_records" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."usage_records"
    USING (EXISTS (SELECT 1 FROM public."subscriptions" p WHERE p.id = "usage_records"."subscriptionId"))
    WITH CHECK (EXISTS (SELECT 1 FROM public."subscriptions" p WHERE p.id = "usage_records"."subscriptionId"));
ALTER TABLE public."connectors" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_read ON public."connectors" FOR SELECT
    USING (true);
ALTER TABLE public."personas" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_read ON public."personas" FOR SELECT
    USING (true);
ALTER TABLE public."keywords" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_read ON public."keywords" FOR SELECT
    USING (true);
ALTER TABLE public."editorial_calendar" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_read ON public."editorial_calendar" FOR SELECT
    USING (true);
ALTER TABLE public."metric_events" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_read ON public."metric_events" FOR SELECT
    USING (true);
ALTER TABLE public."organizations" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public."organizations"
    USING (id = (SELECT current_setting('app.current_org', true)))
    WITH CHECK (id = (SELECT current_setting('app.current_org', true)));
ALTER TABLE public."users" ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_visible ON public."users" FOR SELECT
    USING (id = (SELECT current_setting('app.current_user', true)) OR EXISTS (SELECT 1 FROM public.organization_members m WHERE m."userId" = users.id AND m."organizationId" = (SELECT current_setting('app.current_org', true))));
CREATE POLICY nh_self_update ON public."users" FOR UPDATE
    USING (id = (SELECT current_setting('app.current_user', true)))
    WITH CHECK (id = (SELECT current_setting('app.current_user', true)));
CREATE POLICY nh_self_insert ON public."users" FOR INSERT
    WITH CHECK (id = (SELECT current_setting('app.current_user', true)));
CREATE POLICY nh_self_delete ON public."users" FOR DELETE
    USING (id = (SELECT current_setting('app.current_user', true)));
ALTER TABLE public."verification_tokens" ENABLE ROW LEVEL SECURITY;

-- The audit log's append-only trigger fires whatever the session's
-- session_replication_role (which the COPY fast path sets to replica).
ALTER TABLE public.audit_logs ENABLE ALWAYS TRIGGER audit_logs_append_only;
