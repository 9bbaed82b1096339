CREATE INDEX CONCURRENTLY IF NOT EXISTS "chunks_searchVector_idx" ON public.chunks USING gin ("searchVector");
