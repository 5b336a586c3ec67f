//! `event_media`: the metadata of every stored file.

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::DbError;
use super::events::{Access, USER_STATE, access_of};

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
}

const COLUMNS: &str = "m.id, m.event_id, m.title, m.description, m.file_url, m.s3_key, m.file_type, \
                       m.file_size, m.tags, m.original_filename, m.created_at, m.updated_at";

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
}

pub async fn insert(client: &impl GenericClient, new: &NewMedia<'_>) -> Result<MediaRow, DbError> {
    let sql = format!(
        "insert into event_media as m (id, event_id, title, description, file_url, s3_key, file_type, \
         file_size, tags, original_filename, created_at, updated_at, is_deleted) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, false) returning {COLUMNS}"
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_one(
            &statement,
            &[
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
            ],
        )
        .await?;
    Ok(MediaRow::from_row(&row))
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
    fn like_pattern(&self) -> String {
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
    event_id: Uuid,
    filter: &TypeFilter,
    skip: i64,
    limit: i64,
) -> Result<(Vec<MediaRow>, i64), DbError> {
    let sql = format!(
        "select t.total, page.* from \
         (select count(*) as total from event_media m \
          where m.event_id = $1 and not m.is_deleted and m.file_type like $2) t \
         left join lateral \
         (select {COLUMNS} from event_media m \
          where m.event_id = $1 and not m.is_deleted and m.file_type like $2 \
          order by m.created_at desc, m.id desc offset $3 limit $4) page on true"
    );
    let statement = client.prepare_cached(&sql).await?;
    let pattern = filter.like_pattern();
    let rows = client
        .query(&statement, &[&event_id, &pattern, &skip, &limit])
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
    event_id: Uuid,
    media_id: Uuid,
    user_id: Uuid,
) -> Result<Lookup, DbError> {
    let sql = format!(
        "select {USER_STATE}, e.id is not null as owner, {COLUMNS} \
         from users u \
         left join events e on e.id = $1 and e.user_id = u.id and not e.is_deleted \
         left join event_media m on m.event_id = e.id and m.id = $2 and not m.is_deleted \
         where u.id = $3"
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&event_id, &media_id, &user_id])
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
    client: &impl GenericClient,
    event_id: Uuid,
    media_id: Uuid,
) -> Result<Option<MediaRow>, DbError> {
    let sql = format!(
        "select {COLUMNS} from event_media m where m.id = $1 and m.event_id = $2 and not m.is_deleted"
    );
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(&statement, &[&media_id, &event_id])
        .await?;
    Ok(row.as_ref().map(MediaRow::from_row))
}

/// Every `s3_key` of a live row (for the sweep's consistency check).
pub async fn live_keys(client: &Client) -> Result<Vec<String>, DbError> {
    let rows = client
        .query(
            "select s3_key from event_media where not is_deleted and s3_key is not null",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Removes the row; returns whether there was one.
pub async fn delete(client: &Client, media_id: Uuid) -> Result<bool, DbError> {
    let statement = client
        .prepare_cached("delete from event_media where id = $1")
        .await?;
    Ok(client.execute(&statement, &[&media_id]).await? == 1)
}
