-- CRM erasure: an erased person's identities are remembered only as keyed hashes, so they
-- are never contacted again, and the foreign keys an erasure walks get the indexes they
-- lacked (additive; nothing of the baseline changes).

-- The suppression list: HMAC-SHA-256 of each normalized identity value (the organization
-- and the kind of value are part of what is hashed), never the value. "keyId" names the
-- NEONHUB_SUPPRESSION_KEY entry that made the hash; the hash alone is unique (two keys
-- producing the same digest is as likely as a SHA-256 collision).
CREATE TABLE public.person_suppressions (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    kind text NOT NULL,
    "keyId" text NOT NULL,
    hash text NOT NULL,
    source text NOT NULL,
    "createdAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT person_suppressions_pkey PRIMARY KEY (id),
    CONSTRAINT "person_suppressions_organizationId_fkey" FOREIGN KEY ("organizationId")
        REFERENCES public.organizations (id) ON UPDATE CASCADE ON DELETE CASCADE,
    CONSTRAINT "person_suppressions_source_check" CHECK (source IN ('erasure', 'request')),
    CONSTRAINT "person_suppressions_hash_check" CHECK (length(hash) = 43)
);
CREATE UNIQUE INDEX "person_suppressions_organizationId_hash_key"
    ON public.person_suppressions ("organizationId", hash);
ALTER TABLE public.person_suppressions ENABLE ROW LEVEL SECURITY;
CREATE POLICY nh_tenant ON public.person_suppressions
    USING ("organizationId" = (SELECT current_setting('app.current_org', true)))
    WITH CHECK ("organizationId" = (SELECT current_setting('app.current_org', true)));

-- Deleting a person's events, objectives and ledger links checks each referencing foreign
-- key once per deleted row: without these, once per row a sequential scan.
CREATE INDEX "mem_embeddings_sourceEventId_idx" ON public.mem_embeddings ("sourceEventId");
CREATE INDEX "events_objectiveId_idx" ON public.events ("objectiveId");
CREATE INDEX "budget_ledger_personId_idx" ON public.budget_ledger ("personId");
CREATE INDEX "budget_allocations_objectiveId_idx" ON public.budget_allocations ("objectiveId");
-- An erasure deletes the organization's marketing leads with the person's email, compared
-- trimmed and case-insensitively.
CREATE INDEX "marketing_leads_organizationId_email_idx"
    ON public.marketing_leads ("organizationId", lower(btrim(email)));
