-- What media analysis finds at ingest (width and height as displayed, duration in
-- milliseconds), so a client can lay out a file before it downloads it. Nullable: unknown for
-- rows written before, for types that are not analysed, and for files whose headers could
-- not be read.
--
-- analyzed_at: when the analysis ran, whatever it found. `plugs-media analyze` fills in the
-- rows where it is null, so a file that could not be analysed is tried once, not forever.
-- Only added, never changed: safe on The Plugs' database in either shape.
alter table event_media add column if not exists width integer;
alter table event_media add column if not exists height integer;
alter table event_media add column if not exists duration_ms bigint;
alter table event_media add column if not exists analyzed_at timestamp with time zone;
