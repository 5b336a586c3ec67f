-- Resumable (S3 multipart) uploads between create-multipart-upload and their complete or
-- abort. Our own table only: The Plugs' schema is not touched.
--
-- s3_key is the object's final key (events/…): S3 assembles the parts there, so nothing is
-- copied after the upload. s3_upload_id is S3's UploadId; clients only ever see `id`, so they
-- cannot name another upload's parts. A row lives until the upload completes (its id becomes
-- the media row's id, so a repeated complete finds the media it created), is aborted, or the
-- sweep aborts it after expires_at.
create table if not exists media_multipart_uploads (
    id uuid primary key,
    event_id uuid not null references events (id) on delete cascade,
    user_id uuid not null,
    file_name varchar(255) not null,
    content_type varchar(255) not null,
    file_size bigint not null check (file_size > 0),
    part_size bigint not null check (part_size > 0),
    title varchar(256),
    description text,
    tags text not null default '',
    zone_id uuid,
    s3_key varchar(512) not null unique,
    s3_upload_id text not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);

create index if not exists ix_media_multipart_uploads_expires_at
    on media_multipart_uploads (expires_at);
