-- Unfiltered text matches read chunk_search_vectors' own index (20261205000000); a filtered
-- text side reads the rows its filters select and tests "searchVector" on each (under
-- row-level security `@@` never goes through an index), so this one would only cost every
-- insert a GIN update.
DROP INDEX CONCURRENTLY IF EXISTS public."chunks_embeddingSpaceId_searchVector_idx";
