-- Listing reads one event's live media newest first; this index serves it without a sort.
create index if not exists ix_event_media_event_created
    on event_media (event_id, created_at desc, id desc)
    where not is_deleted;
