DROP FUNCTION IF EXISTS public.nh_chunk_text_matches(text, tsquery, bigint);
