-- Full-text search over chunk text for hybrid (lexical + vector) retrieval. The query must
-- repeat the expression `to_tsvector('english', text)` to use it. Built CONCURRENTLY so
-- adding it to a large live table does not block writes (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS chunks_text_search_idx ON public.chunks USING gin (to_tsvector('english'::regconfig, text));
