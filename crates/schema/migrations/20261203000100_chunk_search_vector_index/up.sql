-- The GIN index hybrid search matches the stored "searchVector" through. CONCURRENTLY: a
-- large live table keeps taking writes (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "chunks_searchVector_idx" ON public.chunks USING gin ("searchVector");
