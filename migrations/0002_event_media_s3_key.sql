-- The spec's "Database Schema Changes": where each file lives in the bucket.
alter table event_media add column if not exists s3_key varchar(512);
create index if not exists ix_event_media_s3_key on event_media (s3_key);
