CREATE INDEX CONCURRENTLY IF NOT EXISTS chunks_text_search_idx ON public.chunks USING gin (to_tsvector('english'::regconfig, text));
