DROP INDEX CONCURRENTLY IF EXISTS public."chunks_embeddingSpaceId_searchVector_idx";
