DROP INDEX CONCURRENTLY IF EXISTS public."chunks_searchVector_idx";
