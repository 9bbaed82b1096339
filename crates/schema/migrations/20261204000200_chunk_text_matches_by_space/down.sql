CREATE OR REPLACE FUNCTION public.nh_chunk_text_matches(p_space text, p_query tsquery, p_limit bigint)
RETURNS TABLE (id text, score real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT c.id, ts_rank_cd(c."searchVector", p_query)
    FROM public.chunks c
    WHERE c."searchVector" @@ p_query
      AND (c."embeddingSpaceId" = p_space) IS TRUE
      AND EXISTS (SELECT 1 FROM public.embedding_spaces s
                  WHERE s.id = p_space AND s."organizationId" = current_setting('app.current_org', true))
    ORDER BY 2 DESC, c.id
    LIMIT p_limit
$$;
