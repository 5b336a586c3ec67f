-- The name the file had on the uploader's device, for Content-Disposition on download.
-- Nullable: rows written before this service have none, and downloads fall back to the key.
alter table event_media add column if not exists original_filename varchar(255);
