DROP INDEX CONCURRENTLY IF EXISTS public.chunks_text_search_idx;
