-- The Plugs' current shape (its Alembic revision 7a9d6f4f8420, after the one that added
-- batch_id): each media item's title, description and tags live in a zone of their own
-- (event_media_zones), which event_media.zone_id points at, and event_media no longer has
-- those three columns.
--
-- Only on a database that is this service's own (no alembic_version table: local stacks,
-- tests, a fresh deployment) and still in the seed shape. The Plugs' database is left as its
-- Alembic migrations shaped it, whichever revision that is: creating the zone table or
-- zone_id there would make The Plugs' own upgrade fail, and The Plugs' columns are never
-- dropped by us. The service reads which shape it got (shared/src/db/shape.rs).
do $$
begin
    if to_regclass('alembic_version') is not null or exists (
        select 1 from information_schema.columns
        where table_schema = current_schema()
          and table_name = 'event_media'
          and column_name = 'zone_id'
    ) then
        return;
    end if;

    create table event_media_zones (
        id uuid primary key,
        event_id uuid not null references events (id) on delete cascade,
        title varchar(256),
        description text,
        tags text,
        created_at timestamptz,
        updated_at timestamptz,
        is_deleted boolean not null,
        deleted_at timestamptz
    );
    create index ix_event_media_zones_event_id on event_media_zones (event_id);
    create index ix_event_media_zones_created_at on event_media_zones (created_at);
    create index ix_event_media_zones_updated_at on event_media_zones (updated_at);
    create index ix_event_media_zones_is_deleted on event_media_zones (is_deleted);
    create index ix_event_media_zones_deleted_at on event_media_zones (deleted_at);

    alter table event_media add column if not exists batch_id uuid;
    alter table event_media add column zone_id uuid;

    -- The data move of 7a9d6f4f8420: every existing row gets a zone of its own.
    update event_media set zone_id = gen_random_uuid();
    insert into event_media_zones
        (id, event_id, title, description, tags, created_at, updated_at, is_deleted, deleted_at)
    select zone_id, event_id, title, description, tags, created_at, updated_at, is_deleted,
           deleted_at
    from event_media;
    update event_media set batch_id = zone_id;

    alter table event_media add constraint fk_event_media_zone_id
        foreign key (zone_id) references event_media_zones (id) on delete cascade;
    create index ix_event_media_zone_id on event_media (zone_id);
    alter table event_media drop column title, drop column description, drop column tags;
end
$$;
