CREATE INDEX CONCURRENTLY IF NOT EXISTS "chunks_embeddingSpaceId_searchVector_idx"
    ON public.chunks USING gin ("embeddingSpaceId", "searchVector");
