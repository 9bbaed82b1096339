DROP INDEX IF EXISTS public."marketing_leads_organizationId_email_idx";
DROP INDEX IF EXISTS public."budget_allocations_objectiveId_idx";
DROP INDEX IF EXISTS public."budget_ledger_personId_idx";
DROP INDEX IF EXISTS public."events_objectiveId_idx";
DROP INDEX IF EXISTS public."mem_embeddings_sourceEventId_idx";
DROP TABLE IF EXISTS public.person_suppressions;
