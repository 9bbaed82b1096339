DROP INDEX IF EXISTS public."social_posts_due_idx";
DROP INDEX IF EXISTS public."email_sequences_due_idx";
DROP INDEX IF EXISTS public."social_posts_platform_externalId_key";
DROP TRIGGER IF EXISTS nh_brand_voice_space_check ON public.brand_voices;
DROP FUNCTION IF EXISTS public.nh_brand_voice_space_check();
