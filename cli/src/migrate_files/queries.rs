//! The `event_media` queries only `migrate-files` runs: finding the rows still on local
//! storage and pointing them at their objects. They live here, not in `shared::db::media`,
//! so no Lambda function carries them.

use chrono::{DateTime, Utc};
use shared::analysis::Analysis;
use shared::db::shape::Shape;
use shared::db::unnamed::Param;
use shared::db::{Client, Unnamed};
use uuid::Uuid;

/// A live row whose file is still on the server's disk (`s3_key` is null), from before the
/// bucket; with its event's owner, whom the object's metadata names as `user_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFile {
    pub id: Uuid,
    pub event_id: Uuid,
    pub owner_id: Uuid,
    pub file_url: String,
    pub file_type: String,
    pub file_size: Option<i32>,
    pub original_filename: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The rows `migrate-files` has left to do, oldest first; at most `limit` (all when `None`).
pub async fn local_files(
    client: &Client,
    limit: Option<i64>,
) -> Result<Vec<LocalFile>, shared::db::DbError> {
    let rows = client
        .query_unnamed(
            "select m.id, m.event_id, e.user_id as owner_id, m.file_url, m.file_type, m.file_size, \
             m.original_filename, m.created_at \
             from event_media m join events e on e.id = m.event_id \
             where not m.is_deleted and m.s3_key is null \
             order by m.created_at, m.id limit $1",
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| LocalFile {
            id: row.get("id"),
            event_id: row.get("event_id"),
            owner_id: row.get("owner_id"),
            file_url: row.get("file_url"),
            file_type: row.get("file_type"),
            file_size: row.get("file_size"),
            original_filename: row.get("original_filename"),
            created_at: row.get("created_at"),
        })
        .collect())
}

/// How many live rows already have their file in the bucket.
pub async fn count_in_bucket(client: &Client) -> Result<i64, shared::db::DbError> {
    Ok(client
        .query_one_unnamed(
            "select count(*) from event_media where not is_deleted and s3_key is not null",
            &[],
        )
        .await?
        .get(0))
}

/// `(media id, event id, created_at)` of every live row of `event_ids`, ordered by event,
/// then time, then id: the order in which `migrate-files` hands out key instants.
pub async fn instants_of_events(
    client: &Client,
    event_ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, DateTime<Utc>)>, shared::db::DbError> {
    let rows = client
        .query_unnamed(
            "select id, event_id, created_at from event_media \
             where not is_deleted and event_id = any($1) order by event_id, created_at, id",
            &[&event_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

/// The row (deleted or not) whose `s3_key` is `key`, if any.
pub async fn holder_of_key(
    client: &Client,
    key: &str,
) -> Result<Option<Uuid>, shared::db::DbError> {
    Ok(client
        .query_opt_unnamed(
            "select id from event_media where s3_key = $1 limit 1",
            &[&key],
        )
        .await?
        .map(|row| row.get(0)))
}

/// What `migrate-files` records once a file is in the bucket.
#[derive(Debug, Clone)]
pub struct MovedToBucket<'a> {
    pub id: Uuid,
    pub s3_key: &'a str,
    pub file_url: &'a str,
    pub file_size: i32,
    pub file_type: &'a str,
    pub original_filename: &'a str,
    /// What analysis found; `None` for a type that is not analysed.
    pub analysis: Option<Analysis>,
}

/// Points a local row at its object; `file_size`, `file_type` and `original_filename` are
/// only filled where they were empty. On the current shape a row with no zone gets one of its
/// own in the same statement, as The Plugs' data move of `7a9d6f4f8420` gives every row: no
/// title, description or tags (the row has none left to move), the row's times, live, and
/// named by both `zone_id` and `batch_id`; a row with a zone keeps it. Returns false when the
/// row was no longer a live local row (migrated or deleted meanwhile), and then changes
/// nothing.
pub async fn set_moved_to_bucket(
    client: &Client,
    shape: Shape,
    moved: &MovedToBucket<'_>,
) -> Result<bool, shared::db::DbError> {
    let new_zone = Uuid::new_v4();
    let found = moved.analysis.unwrap_or_default();
    let analyzed_at = moved.analysis.map(|_| Utc::now());
    let mut params: Vec<&dyn Param> = vec![
        &moved.id,
        &moved.s3_key,
        &moved.file_url,
        &moved.file_size,
        &moved.file_type,
        &moved.original_filename,
        &found.width,
        &found.height,
        &found.duration_ms,
        &analyzed_at,
    ];
    if shape == Shape::Current {
        params.push(&new_zone);
    }
    let updated: i64 = client
        .query_one_unnamed(set_moved_sql(shape), &params)
        .await?
        .get(0);
    Ok(updated == 1)
}

/// The statement of [`set_moved_to_bucket`]: `$1`–`$6` the fields of [`MovedToBucket`] in
/// order, `$7`–`$10` its analysis (width, height, duration, when; a row already analysed
/// keeps its values), `$11` (current shape only) the id of the zone a row without one gets. It answers
/// how many rows it changed. `updated_at` is left alone: the media did not change, only
/// where its bytes live.
fn set_moved_sql(shape: Shape) -> &'static str {
    match shape {
        Shape::Seed => {
            "with moved as (update event_media set s3_key = $2, file_url = $3, \
             file_size = coalesce(nullif(file_size, 0), $4), \
             file_type = coalesce(nullif(file_type, ''), $5), \
             original_filename = coalesce(original_filename, $6), \
             width = coalesce(width, $7), height = coalesce(height, $8), \
             duration_ms = coalesce(duration_ms, $9), analyzed_at = coalesce(analyzed_at, $10) \
             where id = $1 and s3_key is null and not is_deleted returning 1) \
             select count(*) from moved"
        }
        // `returning` gives the new `zone_id`: it is `$11` only where the row had none. The
        // zone's row is visible to the foreign key check, which runs at the end of the
        // statement.
        Shape::Current => {
            "with moved as (update event_media set s3_key = $2, file_url = $3, \
             file_size = coalesce(nullif(file_size, 0), $4), \
             file_type = coalesce(nullif(file_type, ''), $5), \
             original_filename = coalesce(original_filename, $6), \
             width = coalesce(width, $7), height = coalesce(height, $8), \
             duration_ms = coalesce(duration_ms, $9), analyzed_at = coalesce(analyzed_at, $10), \
             zone_id = coalesce(zone_id, $11), \
             batch_id = case when zone_id is null then $11 else batch_id end \
             where id = $1 and s3_key is null and not is_deleted \
             returning event_id, zone_id, created_at, updated_at), \
             zone as (insert into event_media_zones \
             (id, event_id, title, description, tags, created_at, updated_at, is_deleted, \
             deleted_at) \
             select zone_id, event_id, null, null, null, created_at, updated_at, false, null \
             from moved where zone_id = $11) \
             select count(*) from moved"
        }
    }
}
