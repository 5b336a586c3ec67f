//! Zones: The Plugs' albums. Files uploaded together share one zone, which holds their
//! title, description and tags (`event_media_zones`, from The Plugs' revision `7a9d6f4f8420`).
//!
//! On the seed-era schema there is no zone table, and this service does not create one in
//! The Plugs' database (see `migrations/0007`): there a zone is a media item itself, with the
//! item's id as the zone's id and the item's own title, description and tags.

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use tokio_postgres::Row;
use uuid::Uuid;

use super::events::{Access, USER_STATE, access_of};
use super::shape::Shape;
use super::{DbError, Unnamed};

/// One live zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `", "`-joined, as The Plugs stores them.
    pub tags: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl ZoneRow {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("zone_id"),
            event_id: row.get("zone_event_id"),
            title: row.get("zone_title"),
            description: row.get("zone_description"),
            tags: row.get("zone_tags"),
            created_at: row.get("zone_created_at"),
            updated_at: row.get("zone_updated_at"),
        }
    }
}

/// The columns of a [`ZoneRow`] over the live zone `z` of [`zone_source`], prefixed so they
/// can sit beside the user's and the media's columns in one row. The Plugs' zone table lets
/// `created_at` be null: such a zone is dated by its last update, or else the epoch, so that
/// it is answered (and listed last) rather than failing the request.
fn columns(alias: &str) -> String {
    format!(
        "{alias}.id as zone_id, {alias}.event_id as zone_event_id, \
         {alias}.title as zone_title, {alias}.description as zone_description, \
         {alias}.tags as zone_tags, \
         coalesce({alias}.created_at, {alias}.updated_at, to_timestamp(0)) as zone_created_at, \
         {alias}.updated_at as zone_updated_at"
    )
}

/// The table a zone is read from: the zone table, or on the seed shape the media item that
/// is its own zone.
fn zone_source(shape: Shape) -> &'static str {
    match shape {
        Shape::Seed => "event_media",
        Shape::Current => "event_media_zones",
    }
}

/// What looking up one zone in one event found.
#[derive(Debug)]
pub enum ZoneLookup {
    /// The caller may not see the event (see [`Access`]).
    Denied(Access),
    /// The event is the caller's, but has no such live zone.
    NoZone,
    Found(Box<ZoneRow>),
}

/// The caller's account, ownership of the event and the live zone in one round trip.
pub async fn find_owned(
    client: &Client,
    shape: Shape,
    event_id: Uuid,
    zone_id: Uuid,
    user_id: Uuid,
) -> Result<ZoneLookup, DbError> {
    let (columns, source) = (columns("z"), zone_source(shape));
    let sql = format!(
        "select {USER_STATE}, e.id is not null as owner, {columns} \
         from users u \
         left join events e on e.id = $1 and e.user_id = u.id and not e.is_deleted \
         left join {source} z on z.event_id = e.id and z.id = $2 and not z.is_deleted \
         where u.id = $3"
    );
    let row = client
        .query_opt_unnamed(&sql, &[&event_id, &zone_id, &user_id])
        .await?;
    let Some(row) = row else {
        return Ok(ZoneLookup::Denied(Access::UserUnknown));
    };
    Ok(match access_of(&row) {
        Access::Owner if row.get::<_, Option<Uuid>>("zone_id").is_none() => ZoneLookup::NoZone,
        Access::Owner => ZoneLookup::Found(Box::new(ZoneRow::from_row(&row))),
        denied => ZoneLookup::Denied(denied),
    })
}

/// One file of a zone, as the zone answers list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFile {
    pub id: Uuid,
    pub file_url: String,
}

/// A zone with (some of) its live files and how many it has.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneWithFiles {
    pub zone: ZoneRow,
    /// The live files counted (those matching the filter, in a filtered list).
    pub file_count: i64,
    /// Oldest first; at most as many as the query asked for.
    pub files: Vec<ZoneFile>,
}

/// One page of an event's zones and the totals over every zone the filter matches.
#[derive(Debug, Clone, PartialEq)]
pub struct ZonePage {
    pub zones: Vec<ZoneWithFiles>,
    pub total_zones: i64,
    pub total_files: i64,
}

/// The live files of the event's live zones whose type is `like $2`, as `f(id, file_url,
/// zone_id, created_at)`; on the seed shape each item is its own zone.
fn live_files(shape: Shape) -> &'static str {
    match shape {
        Shape::Seed => {
            "select m.id, m.file_url, m.id as zone_id, m.created_at from event_media m \
             where m.event_id = $1 and not m.is_deleted and m.file_type like $2"
        }
        Shape::Current => {
            "select m.id, m.file_url, m.zone_id, m.created_at from event_media m \
             join event_media_zones z on z.id = m.zone_id and z.event_id = m.event_id \
             and not z.is_deleted \
             where m.event_id = $1 and not m.is_deleted and m.file_type like $2"
        }
    }
}

/// One page of the event's live zones that hold at least one live file of the filter's type,
/// newest first by the `created_at` they are answered with (ties broken by id), each with its first `files_per_zone` matching files
/// (oldest first), and the totals. One statement, so the page and the totals come from one
/// snapshot (as in [`super::media::list`]); the outer join reads the totals past the end too.
pub async fn list(
    client: &Client,
    shape: Shape,
    event_id: Uuid,
    type_pattern: &str,
    skip: i64,
    limit: i64,
    files_per_zone: i64,
) -> Result<ZonePage, DbError> {
    let (files, columns, source) = (live_files(shape), columns("z"), zone_source(shape));
    let (file_ids, file_urls) = (page_files(shape, "id"), page_files(shape, "file_url"));
    // On the seed shape the zone row is the file: the page carries it for `page_files`.
    let own_file = match shape {
        Shape::Seed => ", z.id as own_id, z.file_url as own_file_url",
        Shape::Current => "",
    };
    let sql = format!(
        "with f as ({files}), \
         counted as (select zone_id, count(*) as file_count from f group by zone_id), \
         totals as (select count(*) as total_zones, coalesce(sum(file_count), 0)::bigint \
                    as total_files from counted) \
         select totals.*, page.*, {file_ids} as file_ids, {file_urls} as file_urls \
         from totals left join lateral \
         (select {columns}, counted.file_count{own_file} \
          from counted join {source} z on z.id = counted.zone_id \
          order by zone_created_at desc, zone_id desc offset $3 limit $4) page on true"
    );
    let rows = client
        .query_unnamed(
            &sql,
            &[&event_id, &type_pattern, &skip, &limit, &files_per_zone],
        )
        .await?;
    let (total_zones, total_files) = rows.first().map_or((0, 0), |row| {
        (row.get("total_zones"), row.get("total_files"))
    });
    let zones = rows
        .iter()
        .filter(|row| row.get::<_, Option<Uuid>>("zone_id").is_some())
        .map(|row| ZoneWithFiles {
            zone: ZoneRow::from_row(row),
            file_count: row.get("file_count"),
            files: files_of(row),
        })
        .collect();
    Ok(ZonePage {
        zones,
        total_zones,
        total_files,
    })
}

/// `column` of the first `$5` matching live files of the page's zone `page.zone_id`, oldest
/// first, as an array. Read per zone of the page only (through `event_media`'s zone index),
/// not for every zone of the event; the id and URL arrays are ordered alike (created_at, then
/// the unique id), so they pair up. On the seed shape the zone is the file itself.
fn page_files(shape: Shape, column: &str) -> String {
    match shape {
        Shape::Seed => format!("array(select page.own_{column} limit $5)"),
        Shape::Current => format!(
            "array(select m.{column} from event_media m \
             where m.zone_id = page.zone_id and m.event_id = $1 and not m.is_deleted \
             and m.file_type like $2 order by m.created_at, m.id limit $5)"
        ),
    }
}

fn files_of(row: &Row) -> Vec<ZoneFile> {
    let ids: Vec<Uuid> = row.get("file_ids");
    let urls: Vec<String> = row.get("file_urls");
    ids.into_iter()
        .zip(urls)
        .map(|(id, file_url)| ZoneFile { id, file_url })
        .collect()
}

/// The live files of zone `zone_id` in `event_id`, oldest first (ties broken by id): `limit`
/// of them from `skip`, and how many there are (read in the same statement).
pub async fn files(
    client: &impl Unnamed,
    shape: Shape,
    event_id: Uuid,
    zone_id: Uuid,
    skip: i64,
    limit: i64,
) -> Result<(Vec<ZoneFile>, i64), DbError> {
    let zone_column = match shape {
        Shape::Seed => "m.id",
        Shape::Current => "m.zone_id",
    };
    let sql = format!(
        "select t.total, page.* from \
         (select count(*) as total from event_media m \
          where {zone_column} = $2 and m.event_id = $1 and not m.is_deleted) t \
         left join lateral \
         (select m.id, m.file_url from event_media m \
          where {zone_column} = $2 and m.event_id = $1 and not m.is_deleted \
          order by m.created_at, m.id offset $3 limit $4) page on true"
    );
    let rows = client
        .query_unnamed(&sql, &[&event_id, &zone_id, &skip, &limit])
        .await?;
    let total = rows.first().map_or(0, |row| row.get("total"));
    let files = rows
        .iter()
        .filter_map(|row| {
            Some(ZoneFile {
                id: row.get::<_, Option<Uuid>>("id")?,
                file_url: row.get("file_url"),
            })
        })
        .collect();
    Ok((files, total))
}

/// A change to a zone's metadata: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneEdit {
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    /// `", "`-joined, as The Plugs stores them.
    pub tags: Option<String>,
}

/// Applies `edit` to the live zone and returns it with its live file count; `None` when the
/// zone is gone (deleted since it was looked up). The update takes the zone's row lock, and
/// under PostgreSQL's read committed a concurrent change is waited for and the row read again
/// before `not is_deleted` is checked, so a zone deleted meanwhile is not edited.
pub async fn update(
    client: &Client,
    shape: Shape,
    zone_id: Uuid,
    edit: &ZoneEdit,
) -> Result<Option<(ZoneRow, i64)>, DbError> {
    let (source, columns) = (zone_source(shape), columns("z"));
    let file_count = match shape {
        Shape::Seed => "1::bigint",
        Shape::Current => {
            "(select count(*) from event_media m where m.zone_id = z.id and not m.is_deleted)"
        }
    };
    let sql = format!(
        "update {source} as z set \
         title = case when $2 then $3 else z.title end, \
         description = case when $4 then $5 else z.description end, \
         tags = case when $6 then $7 else z.tags end, \
         updated_at = case when $2 or $4 or $6 then now() else z.updated_at end \
         where z.id = $1 and not z.is_deleted \
         returning {columns}, {file_count} as file_count"
    );
    let (title, description) = (
        edit.title.clone().flatten(),
        edit.description.clone().flatten(),
    );
    let row = client
        .query_opt_unnamed(
            &sql,
            &[
                &zone_id,
                &edit.title.is_some(),
                &title,
                &edit.description.is_some(),
                &description,
                &edit.tags.is_some(),
                &edit.tags,
            ],
        )
        .await?;
    Ok(row.map(|row| (ZoneRow::from_row(&row), row.get("file_count"))))
}

/// A live file of a zone, as deleting it needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub id: Uuid,
    pub s3_key: Option<String>,
}

/// Up to `limit` live files of the zone, oldest first, with their keys.
pub async fn stored_files(
    client: &Client,
    shape: Shape,
    zone_id: Uuid,
    limit: i64,
) -> Result<Vec<StoredFile>, DbError> {
    let zone_column = match shape {
        Shape::Seed => "id",
        Shape::Current => "zone_id",
    };
    let sql = format!(
        "select id, s3_key from event_media where {zone_column} = $1 and not is_deleted \
         order by created_at, id limit $2"
    );
    let rows = client.query_unnamed(&sql, &[&zone_id, &limit]).await?;
    Ok(rows
        .iter()
        .map(|row| StoredFile {
            id: row.get("id"),
            s3_key: row.get("s3_key"),
        })
        .collect())
}

/// Soft-deletes the zone (current shape) if it is still live and holds no live file, as The
/// Plugs does; returns whether it is now gone. A file added meanwhile keeps the zone live:
/// the zone row is locked by the update, and the file check runs after the lock is taken.
/// On the seed shape the zone was the media item, which deleting its file removed.
pub async fn retire_emptied(client: &Client, shape: Shape, zone_id: Uuid) -> Result<bool, DbError> {
    match shape {
        Shape::Seed => Ok(true),
        Shape::Current => {
            retire_if_empty(client, zone_id).await?;
            let live: bool = client
                .query_one_unnamed(
                    "select exists (select 1 from event_media_zones where id = $1 \
                     and not is_deleted)",
                    &[&zone_id],
                )
                .await?
                .get(0);
            Ok(!live)
        }
    }
}

/// Soft-deletes the zone, as The Plugs does (`is_deleted`, `deleted_at`), when it is live and
/// holds no live file; returns whether it did. Current shape only. The caller holds the
/// zone's row lock (`for update`), so a file landing in the zone either committed before (and
/// is seen here) or waits for this transaction.
pub async fn retire_if_empty(tx: &impl Unnamed, zone_id: Uuid) -> Result<bool, DbError> {
    Ok(tx
        .execute_unnamed(
            "update event_media_zones set is_deleted = true, deleted_at = now(), \
             updated_at = now() where id = $1 and not is_deleted and not exists \
             (select 1 from event_media where zone_id = $1 and not is_deleted)",
            &[&zone_id],
        )
        .await?
        == 1)
}

/// What makes a live zone with no live file an orphan the sweep may retire: it was created and
/// last changed before `$1` (the grace period's start; a zone without times counts as old), no
/// live file points at it, and no direct upload of its event is still in flight before `$2`
/// (an album being uploaded may have its zone before its first file lands).
const ORPHAN: &str = "not z.is_deleted \
     and coalesce(greatest(z.created_at, z.updated_at) < $1, true) \
     and not exists (select 1 from event_media m where m.zone_id = z.id and not m.is_deleted) \
     and not exists (select 1 from media_pending_uploads p \
                     where p.event_id = z.event_id and p.expires_at > $2)";

/// The ids of the live zones that hold no live file, past the grace period (see [`ORPHAN`]),
/// oldest first. Current shape only.
pub async fn orphans(
    client: &Client,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbError> {
    let rows = client
        .query_unnamed(
            &format!(
                "select z.id from event_media_zones z where {ORPHAN} order by z.created_at, z.id"
            ),
            &[&cutoff, &now],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Soft-deletes the zone if it is still an orphan (see [`ORPHAN`]) once its row is locked: a
/// file, a metadata change or an upload may have reached it since [`orphans`] listed it.
/// Returns whether it did. Current shape only.
pub async fn retire_orphan(
    client: &mut Client,
    zone_id: Uuid,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let tx = client.transaction().await?;
    // `for update` (not the update's own lock) waits for a file being inserted into the zone,
    // whose foreign key check holds a `for key share` lock on it until it commits.
    if tx
        .query_opt_unnamed(
            &format!("select 1 from event_media_zones z where z.id = $3 and {ORPHAN} for update"),
            &[&cutoff, &now, &zone_id],
        )
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let retired = retire_if_empty(&tx, zone_id).await?;
    tx.commit().await?;
    Ok(retired)
}
