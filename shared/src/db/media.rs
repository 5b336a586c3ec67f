//! `event_media`: the metadata of every stored file.

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use tokio_postgres::Row;
use uuid::Uuid;

use super::events::{Access, USER_STATE, access_of};
use super::shape::Shape;
use super::unnamed::Param;
use super::{DbError, Unnamed};
use crate::analysis::Analysis;

/// One live row of `event_media`.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub file_url: String,
    pub s3_key: Option<String>,
    pub file_type: String,
    pub file_size: Option<i32>,
    /// `", "`-joined, as The Plugs stores them.
    pub tags: Option<String>,
    pub original_filename: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    /// The zone the row belongs to (null on the seed shape, which has no zones).
    pub batch_id: Option<Uuid>,
    /// What media analysis found ([`crate::analysis`]); null when unknown.
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub duration_ms: Option<i64>,
}

/// The columns of a [`MediaRow`] over `event_media m` (and, on the current shape, its zone
/// `z`, joined by [`zone_join`]).
fn columns(shape: Shape) -> &'static str {
    match shape {
        Shape::Seed => {
            "m.id, m.event_id, m.title, m.description, m.file_url, m.s3_key, m.file_type, \
             m.file_size, m.tags, m.original_filename, m.created_at, m.updated_at, \
             null::uuid as batch_id, m.width, m.height, m.duration_ms"
        }
        Shape::Current => {
            "m.id, m.event_id, z.title, z.description, m.file_url, m.s3_key, m.file_type, \
             m.file_size, z.tags, m.original_filename, m.created_at, m.updated_at, \
             m.zone_id as batch_id, m.width, m.height, m.duration_ms"
        }
    }
}

/// What joins a media row `m` to its zone `z` (nothing on the seed shape, which has none).
fn zone_join(shape: Shape) -> &'static str {
    match shape {
        Shape::Seed => "",
        Shape::Current => " left join event_media_zones z on z.id = m.zone_id",
    }
}

impl MediaRow {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            event_id: row.get("event_id"),
            title: row.get("title"),
            description: row.get("description"),
            file_url: row.get("file_url"),
            s3_key: row.get("s3_key"),
            file_type: row.get("file_type"),
            file_size: row.get("file_size"),
            tags: row.get("tags"),
            original_filename: row.get("original_filename"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            batch_id: row.get("batch_id"),
            width: row.get("width"),
            height: row.get("height"),
            duration_ms: row.get("duration_ms"),
        }
    }
}

/// What an upload writes.
#[derive(Debug, Clone)]
pub struct NewMedia<'a> {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: Option<&'a str>,
    pub description: Option<&'a str>,
    pub file_url: &'a str,
    pub s3_key: &'a str,
    pub file_type: &'a str,
    pub file_size: i32,
    pub tags: &'a str,
    pub original_filename: &'a str,
    pub created_at: DateTime<Utc>,
    /// What analysis found; `None` when the file's type is not analysed (the row then stays
    /// unmarked, `analyzed_at` null, and `plugs-media analyze` skips it by its type).
    pub analysis: Option<Analysis>,
}

impl NewMedia<'_> {
    /// `$12`–`$15` of the inserts: width, height, duration and when the analysis ran.
    fn analysis_params(&self) -> (Option<i32>, Option<i32>, Option<i64>, Option<DateTime<Utc>>) {
        let found = self.analysis.unwrap_or_default();
        let analyzed_at = self.analysis.map(|_| self.created_at);
        (found.width, found.height, found.duration_ms, analyzed_at)
    }
}

/// The zone a new row belongs to on the current shape. On the seed shape a row holds its own
/// metadata and has no zone: [`Zone::Own`] and [`Zone::Batch`] write the row alone, and
/// [`Zone::Join`] finds no zone to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// A new zone with this id, holding the row's metadata, created in the same statement
    /// (a single upload, the first file of a multi-file upload).
    Own(Uuid),
    /// The live zone with this id, in the row's event: its metadata applies, the row's is
    /// not written. The zone's row is locked (`for share`) while the row joins it, so a
    /// delete of the zone either waits for the row or is seen and the row is not written.
    Join(Uuid),
    /// The zone of a batch of direct uploads: created with the row's metadata by the first of
    /// them to complete, joined by the others (concurrent first completions make one zone;
    /// a zone that was created and deleted since is not created again). Two statements:
    /// run it in a transaction, so a failed row leaves no empty zone.
    Batch(Uuid),
}

/// Inserts the row; on the current shape also its own zone, as The Plugs does for every
/// upload (`zone_id` and `batch_id` both name it), in the same statement.
pub async fn insert(
    client: &impl Unnamed,
    shape: Shape,
    new: &NewMedia<'_>,
) -> Result<MediaRow, DbError> {
    let row = insert_in(client, shape, new, Zone::Own(Uuid::new_v4())).await?;
    Ok(row.expect("a row with a zone of its own is always written"))
}

/// Inserts the row into `zone`; `None` when the zone to join is not live (deleted, or never
/// in this event), and then nothing was written.
pub async fn insert_in(
    client: &impl Unnamed,
    shape: Shape,
    new: &NewMedia<'_>,
    zone: Zone,
) -> Result<Option<MediaRow>, DbError> {
    match (shape, zone) {
        (Shape::Seed, Zone::Join(_)) => Ok(None),
        (Shape::Seed, Zone::Own(_) | Zone::Batch(_)) => {
            insert_with_statement(client, &insert_sql(shape), new, None).await
        }
        (Shape::Current, Zone::Own(zone_id)) => {
            insert_with_statement(client, &insert_sql(shape), new, Some(zone_id)).await
        }
        (Shape::Current, Zone::Join(zone_id)) => join_zone(client, new, zone_id).await,
        (Shape::Current, Zone::Batch(zone_id)) => {
            create_zone_unless_it_exists(client, new, zone_id).await?;
            join_zone(client, new, zone_id).await
        }
    }
}

/// Runs one of the inserts of [`insert_sql`]: `$1`–`$11` the fields of [`NewMedia`],
/// `$12`–`$15` its analysis, `$16` the zone's id when there is one.
async fn insert_with_statement(
    client: &impl Unnamed,
    sql: &str,
    new: &NewMedia<'_>,
    zone_id: Option<Uuid>,
) -> Result<Option<MediaRow>, DbError> {
    let analysis = new.analysis_params();
    let mut params: Vec<&dyn Param> = vec![
        &new.id,
        &new.event_id,
        &new.title,
        &new.description,
        &new.file_url,
        &new.s3_key,
        &new.file_type,
        &new.file_size,
        &new.tags,
        &new.original_filename,
        &new.created_at,
        &analysis.0,
        &analysis.1,
        &analysis.2,
        &analysis.3,
    ];
    if let Some(zone_id) = &zone_id {
        params.push(zone_id);
    }
    let row = client.query_opt_unnamed(sql, &params).await?;
    Ok(row.as_ref().map(MediaRow::from_row))
}

/// The insert of [`Zone::Own`]: `$1`–`$11` are the fields of [`NewMedia`] in order, `$12`–`$15`
/// its analysis, `$16` the new zone's id (current shape only: on the seed shape the row holds
/// its own metadata).
fn insert_sql(shape: Shape) -> String {
    let columns = columns(shape);
    match shape {
        Shape::Seed => format!(
            "insert into event_media as m (id, event_id, title, description, file_url, s3_key, \
             file_type, file_size, tags, original_filename, created_at, updated_at, is_deleted, \
             width, height, duration_ms, analyzed_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, false, \
             $12, $13, $14, $15) \
             returning {columns}"
        ),
        // The zone's row is visible to the foreign key check: constraints are checked at the
        // end of the statement.
        Shape::Current => format!(
            "with z as (insert into event_media_zones \
             (id, event_id, title, description, tags, created_at, updated_at, is_deleted) \
             values ($16, $2, $3, $4, $9, $11, $11, false) returning *), \
             m as (insert into event_media (id, event_id, file_url, s3_key, file_type, \
             file_size, original_filename, created_at, updated_at, is_deleted, zone_id, batch_id, \
             width, height, duration_ms, analyzed_at) \
             values ($1, $2, $5, $6, $7, $8, $10, $11, $11, false, $16, $16, \
             $12, $13, $14, $15) returning *) \
             select {columns} from m join z on z.id = m.zone_id"
        ),
    }
}

/// The row into the live zone `zone_id` of its event, locked while the row is written; no row
/// when there is no such live zone. One statement: the lock lasts until the row is committed.
async fn join_zone(
    client: &impl Unnamed,
    new: &NewMedia<'_>,
    zone_id: Uuid,
) -> Result<Option<MediaRow>, DbError> {
    let columns = columns(Shape::Current);
    // Under the lock the zone is read as the last delete left it: a zone deleted while this
    // statement waited is not live any more, and nothing is inserted.
    let sql = format!(
        "with z as (select id, title, description, tags from event_media_zones \
         where id = $9 and event_id = $2 and not is_deleted for share), \
         m as (insert into event_media (id, event_id, file_url, s3_key, file_type, file_size, \
         original_filename, created_at, updated_at, is_deleted, zone_id, batch_id, \
         width, height, duration_ms, analyzed_at) \
         select $1, $2, $3, $4, $5, $6, $7, $8, $8, false, z.id, z.id, $10, $11, $12, $13 \
         from z returning *) \
         select {columns} from m join z on z.id = m.zone_id"
    );
    let analysis = new.analysis_params();
    let row = client
        .query_opt_unnamed(
            &sql,
            &[
                &new.id,
                &new.event_id,
                &new.file_url,
                &new.s3_key,
                &new.file_type,
                &new.file_size,
                &new.original_filename,
                &new.created_at,
                &zone_id,
                &analysis.0,
                &analysis.1,
                &analysis.2,
                &analysis.3,
            ],
        )
        .await?;
    Ok(row.as_ref().map(MediaRow::from_row))
}

/// The zone of a batch, with the row's metadata, unless it exists (live or deleted). A
/// concurrent creation of the same id waits for the other and then does nothing.
async fn create_zone_unless_it_exists(
    client: &impl Unnamed,
    new: &NewMedia<'_>,
    zone_id: Uuid,
) -> Result<(), DbError> {
    client
        .execute_unnamed(
            "insert into event_media_zones \
             (id, event_id, title, description, tags, created_at, updated_at, is_deleted) \
             values ($1, $2, $3, $4, $5, $6, $6, false) on conflict (id) do nothing",
            &[
                &zone_id,
                &new.event_id,
                &new.title,
                &new.description,
                &new.tags,
                &new.created_at,
            ],
        )
        .await?;
    Ok(())
}

/// How `list` filters on `file_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeFilter {
    Any,
    /// `image/jpeg`
    Exact(String),
    /// `image/`: every image.
    Prefix(String),
}

impl TypeFilter {
    /// The `like` pattern the query compares with (`%` matches everything).
    pub fn like_pattern(&self) -> String {
        let escape = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        match self {
            Self::Any => "%".to_owned(),
            Self::Exact(t) => escape(t),
            Self::Prefix(p) => format!("{}%", escape(p)),
        }
    }
}

/// One page of an event's live media, newest first (ties broken by id), and the total count.
///
/// One statement, so the page and the total come from one snapshot: an upload landing
/// between two queries could otherwise make the total smaller than the page. The total is
/// read even when the page is empty (a `skip` past the end), through the outer join.
pub async fn list(
    client: &Client,
    shape: Shape,
    event_id: Uuid,
    filter: &TypeFilter,
    skip: i64,
    limit: i64,
) -> Result<(Vec<MediaRow>, i64), DbError> {
    let (columns, zone_join) = (columns(shape), zone_join(shape));
    let sql = format!(
        "select t.total, page.* from \
         (select count(*) as total from event_media m \
          where m.event_id = $1 and not m.is_deleted and m.file_type like $2) t \
         left join lateral \
         (select {columns} from event_media m{zone_join} \
          where m.event_id = $1 and not m.is_deleted and m.file_type like $2 \
          order by m.created_at desc, m.id desc offset $3 limit $4) page on true"
    );
    let pattern = filter.like_pattern();
    let rows = client
        .query_unnamed(&sql, &[&event_id, &pattern, &skip, &limit])
        .await?;
    let total = rows.first().map_or(0, |row| row.get("total"));
    let page = rows
        .iter()
        .filter(|row| row.get::<_, Option<Uuid>>("id").is_some())
        .map(MediaRow::from_row)
        .collect();
    Ok((page, total))
}

/// What looking up one media item in one event found.
#[derive(Debug)]
pub enum Lookup {
    /// The caller may not see the event (see [`Access`]: not the owner, or the account is
    /// inactive or gone).
    Denied(Access),
    /// The event is the caller's, but has no such live media.
    NoMedia,
    /// Boxed: a row is many times the size of the other variants.
    Found(Box<MediaRow>),
}

/// The caller's account, ownership of the event and the media row in one round trip.
pub async fn find_owned(
    client: &Client,
    shape: Shape,
    event_id: Uuid,
    media_id: Uuid,
    user_id: Uuid,
) -> Result<Lookup, DbError> {
    let (columns, zone_join) = (columns(shape), zone_join(shape));
    let sql = format!(
        "select {USER_STATE}, e.id is not null as owner, {columns} \
         from users u \
         left join events e on e.id = $1 and e.user_id = u.id and not e.is_deleted \
         left join event_media m on m.event_id = e.id and m.id = $2 and not m.is_deleted\
         {zone_join} where u.id = $3"
    );
    let row = client
        .query_opt_unnamed(&sql, &[&event_id, &media_id, &user_id])
        .await?;
    let Some(row) = row else {
        return Ok(Lookup::Denied(Access::UserUnknown));
    };
    Ok(match access_of(&row) {
        Access::Owner if row.get::<_, Option<Uuid>>("id").is_none() => Lookup::NoMedia,
        Access::Owner => Lookup::Found(Box::new(MediaRow::from_row(&row))),
        denied => Lookup::Denied(denied),
    })
}

/// A live media row of this event by id (whoever owns the event).
pub async fn find_in_event(
    client: &impl Unnamed,
    shape: Shape,
    event_id: Uuid,
    media_id: Uuid,
) -> Result<Option<MediaRow>, DbError> {
    let (columns, zone_join) = (columns(shape), zone_join(shape));
    let sql = format!(
        "select {columns} from event_media m{zone_join} \
         where m.id = $1 and m.event_id = $2 and not m.is_deleted"
    );
    let row = client
        .query_opt_unnamed(&sql, &[&media_id, &event_id])
        .await?;
    Ok(row.as_ref().map(MediaRow::from_row))
}

/// A live media row by id alone, in a live event, and whether its preview variant `size` is
/// recorded as stored ([`record_preview_variant`]): for preview-media, whose signed URL names
/// no event and carries no token (the signature was issued to the owner). One query, so a
/// request for a recorded variant costs no more than a download redirect.
pub async fn find_live_with_variant(
    client: &impl Unnamed,
    shape: Shape,
    media_id: Uuid,
    size: &str,
) -> Result<Option<(MediaRow, bool)>, DbError> {
    let (columns, zone_join) = (columns(shape), zone_join(shape));
    let sql = format!(
        "select {columns}, exists (select 1 from media_preview_variants v \
                 where v.media_id = m.id and v.size = $2) as variant_recorded \
         from event_media m \
         join events e on e.id = m.event_id and not e.is_deleted{zone_join} \
         where m.id = $1 and not m.is_deleted"
    );
    let row = client.query_opt_unnamed(&sql, &[&media_id, &size]).await?;
    Ok(row.map(|row| (MediaRow::from_row(&row), row.get("variant_recorded"))))
}

/// Records that the preview variant `size` of the media item is in the bucket; recording it
/// twice is harmless (two first requests may both get here).
pub async fn record_preview_variant(
    client: &impl Unnamed,
    media_id: Uuid,
    size: &str,
) -> Result<(), DbError> {
    client
        .execute_unnamed(
            "insert into media_preview_variants (media_id, size) values ($1, $2) \
             on conflict do nothing",
            &[&media_id, &size],
        )
        .await?;
    Ok(())
}

/// A preview variant recorded as stored, of a live row: the sweep checks its key against the
/// bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedVariant {
    pub event_id: Uuid,
    pub media_id: Uuid,
    pub size: String,
}

/// The variants of live rows recorded before `before` (younger records may belong to objects
/// written after the sweep listed the bucket).
pub async fn recorded_preview_variants(
    client: &Client,
    before: DateTime<Utc>,
) -> Result<Vec<RecordedVariant>, DbError> {
    let rows = client
        .query_unnamed(
            "select m.event_id, v.media_id, v.size from media_preview_variants v \
             join event_media m on m.id = v.media_id \
             where not m.is_deleted and v.created_at < $1",
            &[&before],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| RecordedVariant {
            event_id: row.get(0),
            media_id: row.get(1),
            size: row.get(2),
        })
        .collect())
}

/// Forgets a variant recorded before `before` whose object is gone, so that the next request
/// for it renders it again instead of redirecting to S3's 404. A record written since (the
/// variant rendered again meanwhile) stays.
pub async fn forget_preview_variant(
    client: &Client,
    variant: &RecordedVariant,
    before: DateTime<Utc>,
) -> Result<bool, DbError> {
    let deleted = client
        .execute_unnamed(
            "delete from media_preview_variants \
             where media_id = $1 and size = $2 and created_at < $3",
            &[&variant.media_id, &variant.size.as_str(), &before],
        )
        .await?;
    Ok(deleted > 0)
}

/// The id of every live row (for the sweep: a preview variant of any other id is an orphan).
pub async fn live_ids(client: &Client) -> Result<Vec<Uuid>, DbError> {
    let rows = client
        .query_unnamed("select id from event_media where not is_deleted", &[])
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Every `s3_key` of a live row (for the sweep's consistency check).
pub async fn live_keys(client: &Client) -> Result<Vec<String>, DbError> {
    let rows = client
        .query_unnamed(
            "select s3_key from event_media where not is_deleted and s3_key is not null",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Removes the row; returns whether there was one. On the current shape a zone left with
/// no live file is soft-deleted, as The Plugs does.
pub async fn delete(client: &mut Client, shape: Shape, media_id: Uuid) -> Result<bool, DbError> {
    match shape {
        Shape::Seed => delete_row(client, media_id).await,
        Shape::Current => delete_row_and_emptied_zone(client, media_id).await,
    }
}

async fn delete_row(client: &Client, media_id: Uuid) -> Result<bool, DbError> {
    Ok(client
        .execute_unnamed("delete from event_media where id = $1", &[&media_id])
        .await?
        == 1)
}

async fn delete_row_and_emptied_zone(client: &mut Client, media_id: Uuid) -> Result<bool, DbError> {
    let tx = client.transaction().await?;
    // The zone is locked first, so two deletes of its last two files cannot each see the
    // other still live and both leave the emptied zone live.
    tx.query_unnamed(
        "select 1 from event_media_zones \
             where id = (select zone_id from event_media where id = $1) for update",
        &[&media_id],
    )
    .await?;
    let Some(gone) = tx
        .query_opt_unnamed(
            "delete from event_media where id = $1 returning zone_id",
            &[&media_id],
        )
        .await?
    else {
        return Ok(false);
    };
    if let Some(zone_id) = gone.get::<_, Option<Uuid>>(0) {
        super::zones::retire_if_empty(&tx, zone_id).await?;
    }
    tx.commit().await?;
    Ok(true)
}
