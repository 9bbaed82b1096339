DROP INDEX IF EXISTS public."events_organizationId_channel_type_occurredAt_id_idx";
DROP INDEX IF EXISTS public."person_consents_personId_channel_collectedAt_idx";
DROP TRIGGER IF EXISTS nh_consent_append_only ON public.person_consents;
DROP FUNCTION IF EXISTS public.nh_consent_append_only();
