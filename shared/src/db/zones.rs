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
