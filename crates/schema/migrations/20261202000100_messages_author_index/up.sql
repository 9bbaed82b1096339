-- Message searches filtered by author and cascading user deletes read "authorId" through
-- this index. CONCURRENTLY: a large live table keeps taking writes (hence metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "messages_authorId_idx" ON public.messages ("authorId");
