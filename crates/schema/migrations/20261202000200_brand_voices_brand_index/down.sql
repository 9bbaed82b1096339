DROP INDEX CONCURRENTLY IF EXISTS public."brand_voices_brandId_idx";
