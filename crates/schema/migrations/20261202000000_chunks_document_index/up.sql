-- Chunk searches filtered by document (SearchPlan::Auto counts the document's rows before it
-- chooses an exact scan) and cascading document deletes read "documentId" through this
-- index. CONCURRENTLY: a large live table keeps taking writes (hence metadata.toml; one
-- statement per migration, since a multi-statement batch is one implicit transaction).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "chunks_documentId_idx" ON public.chunks ("documentId");
