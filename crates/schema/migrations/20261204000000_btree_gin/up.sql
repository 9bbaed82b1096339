-- btree_gin (a contrib extension, trusted since PostgreSQL 13, available on Neon) lets one
-- GIN index hold the space id beside the stored tsvector, so a text search of one space
-- intersects the two inside the index instead of fetching every matching chunk of every
-- organization and discarding the other spaces' rows afterwards.
CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;
