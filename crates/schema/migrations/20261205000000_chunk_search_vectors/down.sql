CREATE OR REPLACE FUNCTION public.nh_chunk_text_matches(p_space text, p_query tsquery, p_limit bigint)
RETURNS TABLE (id text, score real)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.embedding_spaces s
                   WHERE s.id = p_space AND s."organizationId" = current_setting('app.current_org', true)) THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT c.id, ts_rank_cd(c."searchVector", %1$L::tsquery) FROM public.chunks c
          WHERE c."embeddingSpaceId" = %2$L AND c."searchVector" @@ %1$L::tsquery
          ORDER BY 2 DESC, c.id LIMIT %3$s', p_query::text, p_space, p_limit);
END
$$;
DROP TRIGGER nh_chunk_search_vectors_truncated ON public.chunks;
DROP TRIGGER nh_chunk_search_vectors_deleted ON public.chunks;
DROP TRIGGER nh_chunk_search_vectors_updated ON public.chunks;
DROP TRIGGER nh_chunk_search_vectors_inserted ON public.chunks;
DROP FUNCTION public.nh_chunk_search_vectors_truncated();
DROP FUNCTION public.nh_chunk_search_vectors_deleted();
DROP FUNCTION public.nh_chunk_search_vectors_updated();
DROP FUNCTION public.nh_chunk_search_vectors_inserted();
DROP TABLE public.chunk_search_vectors;
