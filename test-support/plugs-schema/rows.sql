-- Seed-era rows as The Plugs writes them: tags ", "-joined, files on the server's disk
-- (file_url under /uploads/), a soft-deleted row, a row without metadata.
insert into users (id, email) values
    ('00000000-0000-4000-8000-000000000001', 'old@example.com');
insert into events (id, user_id, title) values
    ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 'Old event');
insert into event_media
    (id, event_id, title, description, file_url, file_type, file_size, tags, created_at,
     updated_at, is_deleted, deleted_at)
values
    ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000002',
     'Old photo', 'On stage', '/uploads/events/00000000-0000-4000-8000-000000000002/images/a.jpg',
     'image/jpeg', 1234, 'a, b', '2025-01-01 10:00:00+00', '2025-01-01 10:00:00+00', false, null),
    ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000002',
     null, null, '/uploads/events/00000000-0000-4000-8000-000000000002/images/b.png',
     'image/png', 99, null, '2025-01-02 10:00:00+00', null, false, null),
    ('00000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-000000000002',
     'Gone', null, '/uploads/events/00000000-0000-4000-8000-000000000002/images/c.jpg',
     'image/jpeg', 5, 'old', '2025-01-03 10:00:00+00', '2025-01-04 10:00:00+00', true,
     '2025-01-04 10:00:00+00');
