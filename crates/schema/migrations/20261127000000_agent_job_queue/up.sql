-- Agents II: what a job queue needs on agent_jobs, added beside the reference columns
-- (which keep their meaning: status, input, output, error, metrics, createdById).
--
-- status: queued → running → completed | dead | cancelled; a failed attempt goes back to
-- queued with a later runAt until maxAttempts, then dead. A claim bumps leaseEpoch, and
-- every completion, failure and heartbeat names the epoch it holds, so a worker whose job
-- was rescued (lease expired) changes nothing.
ALTER TABLE public.agent_jobs
    ADD COLUMN "runAt" timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN "priority" integer NOT NULL DEFAULT 0,
    ADD COLUMN "attempt" integer NOT NULL DEFAULT 0,
    ADD COLUMN "maxAttempts" integer NOT NULL DEFAULT 5,
    ADD COLUMN "leaseOwner" text,
    ADD COLUMN "leaseExpiresAt" timestamp(3) without time zone,
    ADD COLUMN "leaseEpoch" bigint NOT NULL DEFAULT 0,
    ADD COLUMN "errors" jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN "uniqueKey" text,
    ADD COLUMN "rescues" integer NOT NULL DEFAULT 0,
    ADD COLUMN "maxRescues" integer NOT NULL DEFAULT 3,
    ADD COLUMN "finishedAt" timestamp(3) without time zone,
    ADD CONSTRAINT "agent_jobs_maxAttempts_check" CHECK ("maxAttempts" >= 1),
    ADD CONSTRAINT "agent_jobs_attempt_check" CHECK ("attempt" >= 0),
    ADD CONSTRAINT "agent_jobs_maxRescues_check" CHECK ("maxRescues" >= 0);

-- The claim: the organizations that have queued jobs, found by a loose index scan (one
-- probe per organization, not a read of every queued job), then per organization its
-- queued jobs in (priority, runAt, id) order.
CREATE INDEX "agent_jobs_queued_org_idx" ON public.agent_jobs ("organizationId") WHERE status = 'queued';
CREATE INDEX "agent_jobs_claim_idx" ON public.agent_jobs
    ("organizationId", "priority" DESC, "runAt", id) WHERE status = 'queued';
-- The rescue: running jobs by lease expiry.
CREATE INDEX "agent_jobs_lease_idx" ON public.agent_jobs ("leaseExpiresAt") WHERE status = 'running';
-- A unique key holds while an equal job is queued or running, across every process.
CREATE UNIQUE INDEX "agent_jobs_uniqueKey_key" ON public.agent_jobs ("organizationId", agent, "uniqueKey")
    WHERE "uniqueKey" IS NOT NULL AND status IN ('queued', 'running');

-- Wake idle workers when jobs arrive: one notification per statement, sent at commit (so
-- a rolled-back enqueue wakes nobody). Poolers in transaction mode drop notifications;
-- workers poll as well.
CREATE FUNCTION public.nh_notify_agent_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('nh_agent_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER "agent_jobs_notify" AFTER INSERT ON public.agent_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION public.nh_notify_agent_jobs();
