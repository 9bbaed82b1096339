-- Hybrid search's text side under row-level security. `@@` is not leakproof, so PostgreSQL
-- will not use it as an index condition on a table whose policies apply to the role: the
-- application role's text search read every chunk of the table. This narrow SECURITY
-- DEFINER function (owned by the schema's owner, fixed search_path, EXECUTE granted by
-- `neonhub app-role` like the other nh_* lookups) matches through the GIN index and returns
-- only ids and scores of chunks of one space that belongs to the organization in
-- `app.current_org` (the setting row-level security reads), at most `p_limit` of them; the
-- caller reads the rows themselves under row-level security. The space test is written
-- `(...) IS TRUE` so it filters the GIN matches instead of becoming a second bitmap over the
-- space's whole btree (the planner's choice otherwise, 5 ms of 8 on 100k chunks).
CREATE FUNCTION public.nh_chunk_text_matches(p_space text, p_query tsquery, p_limit bigint)
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
REVOKE ALL ON FUNCTION public.nh_chunk_text_matches(text, tsquery, bigint) FROM PUBLIC;
