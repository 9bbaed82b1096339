-- Every vector table belongs to an embedding space, so each can be indexed per space
-- (a per-dimension index would mix spaces and tenants). Nullable: existing rows keep working.
ALTER TABLE public.messages ADD COLUMN "embeddingSpaceId" text;
ALTER TABLE public.messages ADD CONSTRAINT "messages_embeddingSpaceId_fkey" FOREIGN KEY ("embeddingSpaceId")
    REFERENCES public.embedding_spaces(id) ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "messages_embeddingSpaceId_idx" ON public.messages USING btree ("embeddingSpaceId");

ALTER TABLE public.mem_embeddings ADD COLUMN "embeddingSpaceId" text;
ALTER TABLE public.mem_embeddings ADD CONSTRAINT "mem_embeddings_embeddingSpaceId_fkey" FOREIGN KEY ("embeddingSpaceId")
    REFERENCES public.embedding_spaces(id) ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "mem_embeddings_embeddingSpaceId_idx" ON public.mem_embeddings USING btree ("embeddingSpaceId");
