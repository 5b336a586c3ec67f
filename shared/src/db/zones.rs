//! Zones: The Plugs' albums. Files uploaded together share one zone, which holds their
//! title, description and tags (`event_media_zones`, from The Plugs' revision `7a9d6f4f8420`).
//!
//! On the seed-era schema there is no zone table, and this service does not create one in
//! The Plugs' database (see `migrations/0007`): there a zone is a media item itself, with the
//! item's id as the zone's id and the item's own title, description and tags.

use chrono::{DateTime, Utc};
use deadpool_postgres::{Client, GenericClient};
use tokio_postgres::Row;
use uuid::Uuid;

use super::DbError;
use super::events::{Access, USER_STATE, access_of};
use super::shape::Shape;

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
/// can sit beside the user's and the media's columns in one row.
fn columns(alias: &str) -> String {
    format!(
        "{alias}.id as zone_id, {alias}.event_id as zone_event_id, \
         {alias}.title as zone_title, {alias}.description as zone_description, \
         {alias}.tags as zone_tags, {alias}.created_at as zone_created_at, \
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
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&event_id, &zone_id, &user_id])
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

/// Soft-deletes the zone, as The Plugs does (`is_deleted`, `deleted_at`), when it is live and
/// holds no live file; returns whether it did. Current shape only. The caller holds the
/// zone's row lock (`for update`), so a file landing in the zone either committed before (and
/// is seen here) or waits for this transaction.
pub async fn retire_if_empty(tx: &impl GenericClient, zone_id: Uuid) -> Result<bool, DbError> {
    let statement = tx
        .prepare_cached(
            "update event_media_zones set is_deleted = true, deleted_at = now(), \
             updated_at = now() where id = $1 and not is_deleted and not exists \
             (select 1 from event_media where zone_id = $1 and not is_deleted)",
        )
        .await?;
    Ok(tx.execute(&statement, &[&zone_id]).await? == 1)
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
    let statement = client
        .prepare_cached(&format!(
            "select z.id from event_media_zones z where {ORPHAN} order by z.created_at, z.id"
        ))
        .await?;
    let rows = client.query(&statement, &[&cutoff, &now]).await?;
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
    let lock = tx
        .prepare_cached(&format!(
            "select 1 from event_media_zones z where z.id = $3 and {ORPHAN} for update"
        ))
        .await?;
    if tx
        .query_opt(&lock, &[&cutoff, &now, &zone_id])
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let retired = retire_if_empty(&tx, zone_id).await?;
    tx.commit().await?;
    Ok(retired)
}
