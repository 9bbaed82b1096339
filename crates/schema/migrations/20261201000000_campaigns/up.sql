-- Campaigns: a brand voice's embedding space belongs to the brand's organization, a social
-- post's external id is recorded once per platform, and what is due is found by index
-- (additive; the baseline's indexes stay).

-- brand_voices has no "organizationId": the organization is the brand's, and the voice's
-- space must be that organization's too. Row-level security already hides other
-- organizations' rows from the application; this refuses the mix from any client.
CREATE FUNCTION public.nh_brand_voice_space_check() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF (SELECT "organizationId" FROM public.brands WHERE id = NEW."brandId")
       IS DISTINCT FROM
       (SELECT "organizationId" FROM public.embedding_spaces WHERE id = NEW."embeddingSpaceId") THEN
        RAISE EXCEPTION 'brand voice %: embedding space % is not the organization of brand %',
            NEW.id, NEW."embeddingSpaceId", NEW."brandId"
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER nh_brand_voice_space_check
    BEFORE INSERT OR UPDATE OF "brandId", "embeddingSpaceId" ON public.brand_voices
    FOR EACH ROW EXECUTE FUNCTION public.nh_brand_voice_space_check();

-- A platform's post id names one post: a retried publish cannot record a second.
CREATE UNIQUE INDEX "social_posts_platform_externalId_key"
    ON public.social_posts (platform, "externalId") WHERE "externalId" IS NOT NULL;

-- What is due: unsent emails and unpublished posts by schedule.
CREATE INDEX "email_sequences_due_idx"
    ON public.email_sequences ("scheduledFor") WHERE "sentAt" IS NULL;
CREATE INDEX "social_posts_due_idx"
    ON public.social_posts ("scheduledFor") WHERE "publishedAt" IS NULL;
