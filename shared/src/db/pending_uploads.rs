//! `media_pending_uploads`: direct uploads between create-upload and complete-upload.

use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{DbError, Unnamed};

#[derive(Debug, Clone, PartialEq)]
pub struct PendingUpload {
    pub id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub file_size: i64,
    /// Base64 of the 16 MD5 bytes, as the Content-MD5 header carries it.
    pub checksum_md5: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `", "`-joined, as `event_media.tags`.
    pub tags: String,
    pub temp_key: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// An existing zone the upload joins when it completes.
    pub zone_id: Option<Uuid>,
    /// The zone of the uploads announced together with this one: created by the first of
    /// them to complete.
    pub batch_id: Option<Uuid>,
}

const COLUMNS: &str = "id, event_id, user_id, file_name, content_type, file_size, checksum_md5, title, \
                       description, tags, temp_key, created_at, expires_at, zone_id, batch_id";

impl PendingUpload {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            event_id: row.get("event_id"),
            user_id: row.get("user_id"),
            file_name: row.get("file_name"),
            content_type: row.get("content_type"),
            file_size: row.get("file_size"),
            checksum_md5: row.get("checksum_md5"),
            title: row.get("title"),
            description: row.get("description"),
            tags: row.get("tags"),
            temp_key: row.get("temp_key"),
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
            zone_id: row.get("zone_id"),
            batch_id: row.get("batch_id"),
        }
    }
}

pub async fn insert(client: &impl Unnamed, upload: &PendingUpload) -> Result<(), DbError> {
    client
        .execute_unnamed(
            &format!(
                "insert into media_pending_uploads ({COLUMNS}) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &[
                &upload.id,
                &upload.event_id,
                &upload.user_id,
                &upload.file_name,
                &upload.content_type,
                &upload.file_size,
                &upload.checksum_md5,
                &upload.title,
                &upload.description,
                &upload.tags,
                &upload.temp_key,
                &upload.created_at,
                &upload.expires_at,
                &upload.zone_id,
                &upload.batch_id,
            ],
        )
        .await?;
    Ok(())
}

/// The pending upload of this event, locked until the transaction ends, so two concurrent
/// completes of one upload run one after the other.
pub async fn lock(
    tx: &impl Unnamed,
    event_id: Uuid,
    upload_id: Uuid,
) -> Result<Option<PendingUpload>, DbError> {
    let row = tx
        .query_opt_unnamed(
            &format!("select {COLUMNS} from media_pending_uploads where id = $1 and event_id = $2 for update"),
            &[&upload_id, &event_id],
        )
        .await?;
    Ok(row.as_ref().map(PendingUpload::from_row))
}

pub async fn delete(tx: &impl Unnamed, upload_id: Uuid) -> Result<(), DbError> {
    tx.execute_unnamed(
        "delete from media_pending_uploads where id = $1",
        &[&upload_id],
    )
    .await?;
    Ok(())
}

/// Up to `limit` uploads whose URL expired before `now`, oldest first.
pub async fn expired(
    client: &Client,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<PendingUpload>, DbError> {
    let rows = client
        .query_unnamed(
            &format!("select {COLUMNS} from media_pending_uploads where expires_at < $1 order by expires_at limit $2"),
            &[&now, &limit],
        )
        .await?;
    Ok(rows.iter().map(PendingUpload::from_row).collect())
}

/// Every temp key a pending upload still owns.
pub async fn temp_keys(client: &Client) -> Result<Vec<String>, DbError> {
    let rows = client
        .query_unnamed("select temp_key from media_pending_uploads", &[])
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
