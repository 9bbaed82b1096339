-- Hybrid search matches and ranks on a stored tsvector instead of computing to_tsvector for
-- every candidate row. Added as a nullable column kept current by a trigger, not as a
-- generated column: adding a stored generated column rewrites the whole table under an
-- ACCESS EXCLUSIVE lock, while adding a nullable column is instant. Existing rows are filled
-- in batches afterwards (`neonhub migrate` runs the backfill; until then a row without the
-- column matches no text query). The language is the space's: one configuration per
-- search, so the query's tsquery is a constant the GIN index can serve.
ALTER TABLE public.embedding_spaces ADD COLUMN "textSearchConfig" text NOT NULL DEFAULT 'english';
ALTER TABLE public.chunks ADD COLUMN "searchVector" tsvector;

CREATE FUNCTION public.nh_chunk_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."searchVector" := to_tsvector(
        COALESCE((SELECT s."textSearchConfig"::regconfig FROM public.embedding_spaces s
                  WHERE s.id = NEW."embeddingSpaceId"), 'english'::regconfig),
        NEW.text);
    RETURN NEW;
END
$$;
CREATE TRIGGER nh_chunk_search_vector BEFORE INSERT OR UPDATE OF text, "embeddingSpaceId"
    ON public.chunks FOR EACH ROW EXECUTE FUNCTION public.nh_chunk_search_vector();
-- ALWAYS: bulk loads that set session_replication_role = replica (to skip foreign-key
-- triggers whose checks they made themselves) must still fill the column.
ALTER TABLE public.chunks ENABLE ALWAYS TRIGGER nh_chunk_search_vector;
