DROP TRIGGER IF EXISTS "agent_jobs_notify" ON public.agent_jobs;
DROP FUNCTION IF EXISTS public.nh_notify_agent_jobs();
DROP INDEX IF EXISTS public."agent_jobs_uniqueKey_key";
DROP INDEX IF EXISTS public."agent_jobs_lease_idx";
DROP INDEX IF EXISTS public."agent_jobs_claim_idx";
DROP INDEX IF EXISTS public."agent_jobs_queued_org_idx";
ALTER TABLE public.agent_jobs
    DROP CONSTRAINT IF EXISTS "agent_jobs_maxRescues_check",
    DROP CONSTRAINT IF EXISTS "agent_jobs_attempt_check",
    DROP CONSTRAINT IF EXISTS "agent_jobs_maxAttempts_check",
    DROP COLUMN IF EXISTS "finishedAt",
    DROP COLUMN IF EXISTS "maxRescues",
    DROP COLUMN IF EXISTS "rescues",
    DROP COLUMN IF EXISTS "uniqueKey",
    DROP COLUMN IF EXISTS "errors",
    DROP COLUMN IF EXISTS "leaseEpoch",
    DROP COLUMN IF EXISTS "leaseExpiresAt",
    DROP COLUMN IF EXISTS "leaseOwner",
    DROP COLUMN IF EXISTS "maxAttempts",
    DROP COLUMN IF EXISTS "attempt",
    DROP COLUMN IF EXISTS "priority",
    DROP COLUMN IF EXISTS "runAt";
