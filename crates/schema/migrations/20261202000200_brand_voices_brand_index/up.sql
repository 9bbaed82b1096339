-- Brand-voice searches by brand, cascading brand deletes and the table's row-level security
-- policy ("brandId" IN the organization's brands) read "brandId" through this index.
-- CONCURRENTLY: a large live table keeps taking writes (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "brand_voices_brandId_idx" ON public.brand_voices ("brandId");
