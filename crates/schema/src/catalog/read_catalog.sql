-- Reads the catalog of the public schema back from pg_catalog, in the shape of
-- reference/neonhub_catalog.json. $1: tables to leave out (migration bookkeeping).
WITH tbl AS (
    SELECT c.oid, c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> ALL ($1::text[])
),
idx AS (
    SELECT i.indrelid, i.indexrelid, ic.relname AS name, i.indisunique, i.indisprimary, i.indisexclusion,
           am.amname AS method, i.indnkeyatts, i.indnatts,
           pg_get_expr(i.indpred, i.indrelid) AS predicate,
           pg_get_indexdef(i.indexrelid) AS definition,
           EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('u', 'x')) AS is_constraint,
           (SELECT jsonb_agg(CASE WHEN i.indkey[k] = 0 THEN pg_get_indexdef(i.indexrelid, k + 1, true)
                                  ELSE (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k]) END
                             ORDER BY k)
              FROM generate_series(0, i.indnkeyatts - 1) k) AS columns,
           (SELECT coalesce(jsonb_agg(a.attname ORDER BY k), '[]')
              FROM generate_series(i.indnkeyatts, i.indnatts - 1) k
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k]) AS include,
           (SELECT jsonb_agg(CASE WHEN i.indoption[k] & 1 = 1 THEN 'DESC' ELSE 'ASC' END ORDER BY k)
              FROM generate_series(0, i.indnkeyatts - 1) k) AS sort,
           (SELECT jsonb_agg(CASE WHEN oc.opcdefault THEN NULL ELSE oc.opcname END ORDER BY k)
              FROM generate_series(0, i.indnkeyatts - 1) k
              JOIN pg_opclass oc ON oc.oid = i.indclass[k]) AS opclasses
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    WHERE i.indrelid IN (SELECT oid FROM tbl)
)
SELECT jsonb_build_object(
    'server_version', current_setting('server_version'),
    'schemas', (SELECT jsonb_agg(nspname::text ORDER BY nspname) FROM pg_namespace
                WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'),
    'extensions', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', e.extname, 'version', e.extversion, 'schema', n.nspname)
                                             ORDER BY e.extname), '[]')
                   FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace),
    'enums', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'schema', n.nspname, 'name', t.typname,
                        'labels', (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
                    ORDER BY t.typname COLLATE "C"), '[]')
              FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE t.typtype = 'e' AND n.nspname = 'public'),
    'views', (SELECT coalesce(jsonb_agg(c.relname ORDER BY c.relname), '[]') FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')),
    'tables', (SELECT coalesce(jsonb_object_agg(tbl.relname, jsonb_build_object(
        'columns', (SELECT jsonb_agg(jsonb_build_object(
                            'name', a.attname,
                            'type', format_type(a.atttypid, a.atttypmod),
                            'not_null', a.attnotnull,
                            'default', pg_get_expr(d.adbin, d.adrelid),
                            'identity', nullif(a.attidentity::text, ''),
                            'generated', nullif(a.attgenerated::text, ''))
                        ORDER BY a.attnum)
                    FROM pg_attribute a
                    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                    WHERE a.attrelid = tbl.oid AND a.attnum > 0 AND NOT a.attisdropped),
        'primary_key', (SELECT jsonb_build_object('name', idx.name, 'columns', idx.columns)
                        FROM idx WHERE idx.indrelid = tbl.oid AND idx.indisprimary),
        'unique', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'name', name, 'columns', columns, 'is_constraint', is_constraint, 'method', method,
                            'include', include, 'predicate', predicate, 'sort', sort, 'opclasses', opclasses,
                            'definition', definition) ORDER BY name COLLATE "C"), '[]')
                   FROM idx WHERE idx.indrelid = tbl.oid AND indisunique AND NOT indisprimary),
        'indexes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'name', name, 'columns', columns, 'method', method, 'include', include,
                            'predicate', predicate, 'sort', sort, 'opclasses', opclasses,
                            'exclusion_constraint', indisexclusion, 'definition', definition) ORDER BY name COLLATE "C"), '[]')
                    FROM idx WHERE idx.indrelid = tbl.oid AND NOT indisunique),
        'foreign_keys', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'name', con.conname,
                            'columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                            'ref_schema', rn.nspname,
                            'ref_table', rc.relname,
                            'ref_columns', (SELECT jsonb_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                                            JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum),
                            'on_delete', CASE con.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                                              WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END,
                            'on_update', CASE con.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                                              WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END,
                            'match', CASE con.confmatchtype WHEN 'f' THEN 'FULL' WHEN 'p' THEN 'PARTIAL' ELSE 'SIMPLE' END,
                            'deferrable', con.condeferrable,
                            'initially_deferred', con.condeferred) ORDER BY con.conname COLLATE "C"), '[]')
                         FROM pg_constraint con
                         JOIN pg_class rc ON rc.oid = con.confrelid
                         JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                         WHERE con.conrelid = tbl.oid AND con.contype = 'f'),
        'checks', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', con.conname, 'definition', pg_get_constraintdef(con.oid))
                                            ORDER BY con.conname COLLATE "C"), '[]')
                   FROM pg_constraint con WHERE con.conrelid = tbl.oid AND con.contype = 'c'),
        'triggers', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', tg.tgname, 'definition', pg_get_triggerdef(tg.oid))
                                              ORDER BY tg.tgname COLLATE "C"), '[]')
                     FROM pg_trigger tg WHERE tg.tgrelid = tbl.oid AND NOT tg.tgisinternal)
    )), '{}') FROM tbl)
) AS catalog
