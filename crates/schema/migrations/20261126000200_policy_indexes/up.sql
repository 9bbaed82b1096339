-- Row-level security filters every query on "organizationId": tables that had no index
-- leading with it get one (the others lead a unique or foreign-key index with it).
CREATE INDEX "agent_jobs_organizationId_idx" ON public."agent_jobs" ("organizationId");
CREATE INDEX "agent_runs_organizationId_idx" ON public."agent_runs" ("organizationId");
CREATE INDEX "connector_auths_organizationId_idx" ON public."connector_auths" ("organizationId");
CREATE INDEX "content_organizationId_idx" ON public."content" ("organizationId");
CREATE INDEX "content_drafts_organizationId_idx" ON public."content_drafts" ("organizationId");
CREATE INDEX "documents_organizationId_idx" ON public."documents" ("organizationId");
CREATE INDEX "feedback_organizationId_idx" ON public."feedback" ("organizationId");
CREATE INDEX "model_versions_organizationId_idx" ON public."model_versions" ("organizationId");
CREATE INDEX "tasks_organizationId_idx" ON public."tasks" ("organizationId");
CREATE INDEX "team_members_organizationId_idx" ON public."team_members" ("organizationId");
