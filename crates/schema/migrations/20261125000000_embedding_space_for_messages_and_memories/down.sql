DROP INDEX public."mem_embeddings_embeddingSpaceId_idx";
ALTER TABLE public.mem_embeddings DROP CONSTRAINT "mem_embeddings_embeddingSpaceId_fkey";
ALTER TABLE public.mem_embeddings DROP COLUMN "embeddingSpaceId";

DROP INDEX public."messages_embeddingSpaceId_idx";
ALTER TABLE public.messages DROP CONSTRAINT "messages_embeddingSpaceId_fkey";
ALTER TABLE public.messages DROP COLUMN "embeddingSpaceId";
