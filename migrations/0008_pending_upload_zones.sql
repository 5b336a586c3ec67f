-- Direct uploads into zones (albums). Our own table only: The Plugs' schema is not touched.
--
-- zone_id: an existing zone the upload joins when it completes (create-upload's `zone_id`).
-- batch_id: the zone that uploads announced together (create-upload's `files`) share; it does
-- not exist until the first of them completes, which creates it, so an album whose uploads
-- are never completed leaves no zone behind.
alter table media_pending_uploads add column if not exists zone_id uuid;
alter table media_pending_uploads add column if not exists batch_id uuid;
