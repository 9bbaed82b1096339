DROP INDEX CONCURRENTLY IF EXISTS public."chunks_documentId_idx";
