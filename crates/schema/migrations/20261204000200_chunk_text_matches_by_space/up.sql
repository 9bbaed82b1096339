-- The text side's matches through the space-and-tsvector index (20261204000100). The
-- statement is planned at each call with the space, the query and the limit as literals
-- (quoted by format's %L): planned generically (a SQL function's body, or EXECUTE with
-- USING parameters), the text match's selectivity is unknown and PostgreSQL read the
-- space's btree instead, filtering every row of the space by `@@`. Same signature, result, owner and grants; the
-- organization test is unchanged.
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
