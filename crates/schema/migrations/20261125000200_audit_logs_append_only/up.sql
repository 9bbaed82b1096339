-- The audit log is append-only. The repository offers no update or delete, and this
-- trigger makes the database refuse them from any client too. The one exception is what
-- the foreign keys themselves do: when an organization or user is deleted (SET NULL) or
-- its id changes (CASCADE), PostgreSQL rewrites "organizationId" / "userId" from its
-- referential-action trigger, which runs nested (pg_trigger_depth() > 1); such an update
-- may touch those two columns and nothing else.
CREATE FUNCTION public.neonhub_audit_logs_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND pg_trigger_depth() > 1
       AND NEW.id = OLD.id
       AND NEW."actorType" IS NOT DISTINCT FROM OLD."actorType"
       AND NEW.action = OLD.action
       AND NEW."resourceId" IS NOT DISTINCT FROM OLD."resourceId"
       AND NEW."resourceType" IS NOT DISTINCT FROM OLD."resourceType"
       AND NEW."requestHash" IS NOT DISTINCT FROM OLD."requestHash"
       AND NEW.metadata IS NOT DISTINCT FROM OLD.metadata
       AND NEW.ip IS NOT DISTINCT FROM OLD.ip
       AND NEW."createdAt" = OLD."createdAt" THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = 'audit rows are never changed or deleted';
END
$$;

CREATE TRIGGER audit_logs_append_only
    BEFORE UPDATE OR DELETE ON public.audit_logs
    FOR EACH ROW EXECUTE FUNCTION public.neonhub_audit_logs_append_only();
