-- The space-and-tsvector index (20261204000100) serves every text search of the library;
-- the tsvector-only one would only cost each insert a second GIN update.
DROP INDEX CONCURRENTLY IF EXISTS public."chunks_searchVector_idx";
