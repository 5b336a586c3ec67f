-- The tables of The Plugs backend that this service reads and writes, with the names and
-- types its Alembic migrations give them. On The Plugs' own database they already exist and
-- every statement here is a no-op; on an empty database (local stacks, tests) they create a
-- minimal but compatible schema.

create table if not exists users (
    id uuid primary key,
    email varchar(255) not null unique,
    full_name varchar(255),
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz
);

create table if not exists events (
    id uuid primary key,
    user_id uuid not null references users (id),
    title varchar(256) not null,
    description text,
    start_date timestamptz,
    end_date timestamptz,
    is_active boolean not null default true,
    is_public boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz,
    is_deleted boolean not null default false,
    deleted_at timestamptz
);

create table if not exists event_media (
    id uuid primary key,
    event_id uuid not null references events (id) on delete cascade,
    title varchar(256),
    description text,
    file_url varchar(512) not null,
    file_type varchar(32) not null,
    file_size integer,
    tags text,
    created_at timestamptz not null default now(),
    updated_at timestamptz,
    is_deleted boolean not null default false,
    deleted_at timestamptz
);

create index if not exists ix_event_media_file_type on event_media (file_type);
