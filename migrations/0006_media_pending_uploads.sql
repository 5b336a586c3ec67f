-- Direct-to-S3 uploads that were announced (create-upload) but not yet completed. A row lives
-- from create-upload until complete-upload moves its object to events/ (or the sweep removes
-- it after expires_at). Its id becomes the media row's id, so a repeated complete finds the
-- media it already created.
create table if not exists media_pending_uploads (
    id uuid primary key,
    event_id uuid not null references events (id) on delete cascade,
    user_id uuid not null,
    file_name varchar(255) not null,
    content_type varchar(255) not null,
    file_size bigint not null check (file_size > 0),
    checksum_md5 varchar(24),
    title varchar(256),
    description text,
    tags text not null default '',
    temp_key varchar(512) not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null
);

create index if not exists ix_media_pending_uploads_expires_at on media_pending_uploads (expires_at);
