-- The Plugs' revisions after the seed era, applied to a seed-era database (with its rows).

-- The revision that added batch_id (deprecated since; The Plugs writes the zone id there).
alter table event_media add column batch_id uuid;
update alembic_version set version_num = 'add_batch_id';

-- 7a9d6f4f8420: zones.
create table event_media_zones (
    id uuid not null,
    event_id uuid not null,
    title varchar(256),
    description text,
    tags text,
    created_at timestamptz,
    updated_at timestamptz,
    is_deleted boolean not null,
    deleted_at timestamptz,
    primary key (id),
    foreign key (event_id) references events (id) on delete cascade
);
create index ix_event_media_zones_event_id on event_media_zones (event_id);
create index ix_event_media_zones_created_at on event_media_zones (created_at);
create index ix_event_media_zones_updated_at on event_media_zones (updated_at);
create index ix_event_media_zones_is_deleted on event_media_zones (is_deleted);
create index ix_event_media_zones_deleted_at on event_media_zones (deleted_at);
alter table event_media add column zone_id uuid;
create index ix_event_media_zone_id on event_media (zone_id);

-- The data move: each existing row's title, description and tags go into a zone of its own,
-- which keeps the row's times and deletion; batch_id names the zone too.
update event_media set zone_id = gen_random_uuid();
insert into event_media_zones
    (id, event_id, title, description, tags, created_at, updated_at, is_deleted, deleted_at)
select zone_id, event_id, title, description, tags, created_at, updated_at, is_deleted, deleted_at
from event_media;
update event_media set batch_id = zone_id;
alter table event_media add constraint fk_event_media_zone_id
    foreign key (zone_id) references event_media_zones (id) on delete cascade;

alter table event_media drop column title;
alter table event_media drop column description;
alter table event_media drop column tags;
update alembic_version set version_num = '7a9d6f4f8420';
