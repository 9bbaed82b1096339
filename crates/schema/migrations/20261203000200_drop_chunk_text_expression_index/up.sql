-- Hybrid search reads the stored "searchVector" through "chunks_searchVector_idx" now; the
-- expression index on to_tsvector('english', text) (20261125000100) serves no query of the
-- library and would make every insert compute the tsvector a second time.
DROP INDEX CONCURRENTLY IF EXISTS public.chunks_text_search_idx;
