-- The preview variants that are in the bucket (events/{event}/previews/{media}/{size}.jpg),
-- so that preview-media answers a request for one with a signature alone, without asking S3
-- whether it is there. Written by preview-media after the variant is stored; a row without
-- its object would redirect to a 404, so nothing else writes here.
--
-- Our own table only: The Plugs' schema is not touched. A media row that is deleted for
-- good takes its rows with it; a soft-deleted one is never served, so its rows are never read.
create table if not exists media_preview_variants (
    media_id uuid not null references event_media (id) on delete cascade,
    size varchar(16) not null,
    created_at timestamptz not null default now(),
    primary key (media_id, size)
);
