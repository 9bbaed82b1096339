DROP INDEX CONCURRENTLY IF EXISTS public."messages_authorId_idx";
