-- CRM: consent is an append-only history, and the reads the CRM crate makes are served by
-- indexes (additive; the baseline's indexes stay).

-- A consent record is never changed: a change of mind is a new row. Only the person it
-- belongs to may change (a merge moves records to the surviving person) and its updatedAt;
-- deletes stay possible (a person's erasure, cascades).
CREATE FUNCTION public.nh_consent_append_only() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF (NEW.id, NEW."organizationId", NEW."campaignId", NEW.channel, NEW.status, NEW.source,
        NEW."collectedAt", NEW."expiresAt", NEW.evidence, NEW.metadata)
       IS DISTINCT FROM
       (OLD.id, OLD."organizationId", OLD."campaignId", OLD.channel, OLD.status, OLD.source,
        OLD."collectedAt", OLD."expiresAt", OLD.evidence, OLD.metadata)
       AND NOT (OLD."campaignId" IS NOT NULL AND NEW."campaignId" IS NULL
                AND (NEW.id, NEW."organizationId", NEW.channel, NEW.status, NEW.source,
                     NEW."collectedAt", NEW."expiresAt", NEW.evidence, NEW.metadata)
                    IS NOT DISTINCT FROM
                    (OLD.id, OLD."organizationId", OLD.channel, OLD.status, OLD.source,
                     OLD."collectedAt", OLD."expiresAt", OLD.evidence, OLD.metadata)) THEN
        RAISE EXCEPTION 'person_consents is append-only: record a new consent instead of changing %', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
-- (The one other change allowed: the campaign foreign key's ON DELETE SET NULL.)
CREATE TRIGGER nh_consent_append_only BEFORE UPDATE ON public.person_consents
    FOR EACH ROW EXECUTE FUNCTION public.nh_consent_append_only();

-- The deciding record for a person, channel and campaign: newest first per person and channel.
CREATE INDEX "person_consents_personId_channel_collectedAt_idx"
    ON public.person_consents ("personId", channel, "collectedAt" DESC);

-- Event queries with keyset pagination on (occurredAt, id) by channel and type (by person,
-- the baseline's ("personId", "occurredAt") serves them).
CREATE INDEX "events_organizationId_channel_type_occurredAt_id_idx"
    ON public.events ("organizationId", channel, type, "occurredAt", id);
