-- Text matches of one space through one index (see 20261204000000). CONCURRENTLY: a large
-- live table keeps taking writes (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "chunks_embeddingSpaceId_searchVector_idx"
    ON public.chunks USING gin ("embeddingSpaceId", "searchVector");
