DROP TRIGGER IF EXISTS nh_chunk_search_vector ON public.chunks;
DROP FUNCTION IF EXISTS public.nh_chunk_search_vector();
ALTER TABLE public.chunks DROP COLUMN IF EXISTS "searchVector";
ALTER TABLE public.embedding_spaces DROP COLUMN IF EXISTS "textSearchConfig";
