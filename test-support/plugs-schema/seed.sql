-- The Plugs' tables in the seed era, as its Alembic migrations create them.
create table alembic_version (
    version_num varchar(32) not null,
    constraint alembic_version_pkc primary key (version_num)
);
insert into alembic_version (version_num) values ('seed_era');

create table users (
    id uuid primary key,
    email varchar(255) not null unique,
    hashed_password text,
    full_name varchar(255),
    is_active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz
);

create table events (
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

create table event_media (
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
create index ix_event_media_file_type on event_media (file_type);
