//! `media_multipart_uploads`: resumable (S3 multipart) uploads between
//! create-multipart-upload and their complete or abort.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{DbError, Unnamed};

#[derive(Debug, Clone, PartialEq)]
pub struct MultipartUpload {
    pub id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub file_size: i64,
    /// Every part but the last has exactly this many bytes.
    pub part_size: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `", "`-joined, as `event_media.tags`.
    pub tags: String,
    /// An existing zone the upload joins when it completes.
    pub zone_id: Option<Uuid>,
    /// The object's final key, where S3 assembles the parts.
    pub s3_key: String,
    /// S3's UploadId: never shown to clients.
    pub s3_upload_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, event_id, user_id, file_name, content_type, file_size, part_size, title, \
                       description, tags, zone_id, s3_key, s3_upload_id, created_at, expires_at";

impl MultipartUpload {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            event_id: row.get("event_id"),
            user_id: row.get("user_id"),
            file_name: row.get("file_name"),
            content_type: row.get("content_type"),
            file_size: row.get("file_size"),
            part_size: row.get("part_size"),
            title: row.get("title"),
            description: row.get("description"),
            tags: row.get("tags"),
            zone_id: row.get("zone_id"),
            s3_key: row.get("s3_key"),
            s3_upload_id: row.get("s3_upload_id"),
            created_at: row.get("created_at"),
            expires_at: row.get("expires_at"),
        }
    }
}

/// Records the upload; `false` when another open upload already has its key (two creates in
/// one event in the same microsecond), and nothing was written.
pub async fn insert(client: &impl Unnamed, upload: &MultipartUpload) -> Result<bool, DbError> {
    let inserted = client
        .execute_unnamed(
            &format!(
                "insert into media_multipart_uploads ({COLUMNS}) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 on conflict (s3_key) do nothing"
            ),
            &[
                &upload.id,
                &upload.event_id,
                &upload.user_id,
                &upload.file_name,
                &upload.content_type,
                &upload.file_size,
                &upload.part_size,
                &upload.title,
                &upload.description,
                &upload.tags,
                &upload.zone_id,
                &upload.s3_key,
                &upload.s3_upload_id,
                &upload.created_at,
                &upload.expires_at,
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// The upload of this event, if it is still open.
pub async fn find(
    client: &impl Unnamed,
    event_id: Uuid,
    upload_id: Uuid,
) -> Result<Option<MultipartUpload>, DbError> {
    let row = client
        .query_opt_unnamed(
            &format!(
                "select {COLUMNS} from media_multipart_uploads where id = $1 and event_id = $2"
            ),
            &[&upload_id, &event_id],
        )
        .await?;
    Ok(row.as_ref().map(MultipartUpload::from_row))
}

/// The upload of this event, locked until the transaction ends: concurrent completes (and an
/// abort or the sweep) of one upload run one after the other.
pub async fn lock(
    tx: &impl Unnamed,
    event_id: Uuid,
    upload_id: Uuid,
) -> Result<Option<MultipartUpload>, DbError> {
    let row = tx
        .query_opt_unnamed(
            &format!(
                "select {COLUMNS} from media_multipart_uploads where id = $1 and event_id = $2 for update"
            ),
            &[&upload_id, &event_id],
        )
        .await?;
    Ok(row.as_ref().map(MultipartUpload::from_row))
}

pub async fn delete(tx: &impl Unnamed, upload_id: Uuid) -> Result<(), DbError> {
    tx.execute_unnamed(
        "delete from media_multipart_uploads where id = $1",
        &[&upload_id],
    )
    .await?;
    Ok(())
}

/// Up to `limit` uploads that expired before `now`, oldest first, locked until the
/// transaction ends; those a complete holds now are skipped (it finishes or fails them).
pub async fn lock_expired(
    tx: &impl Unnamed,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<MultipartUpload>, DbError> {
    let rows = tx
        .query_unnamed(
            &format!(
                "select {COLUMNS} from media_multipart_uploads where expires_at < $1 \
                 order by expires_at limit $2 for update skip locked"
            ),
            &[&now, &limit],
        )
        .await?;
    Ok(rows.iter().map(MultipartUpload::from_row).collect())
}

/// The S3 upload ids and final keys every open upload holds.
pub async fn open(client: &impl Unnamed) -> Result<Vec<(String, String)>, DbError> {
    let rows = client
        .query_unnamed(
            "select s3_upload_id, s3_key from media_multipart_uploads",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Whether a media row (of any upload path) points to `key`: an expired upload's key is
/// then someone else's object, which the sweep must leave alone.
pub async fn key_is_recorded(client: &impl Unnamed, key: &str) -> Result<bool, DbError> {
    let row = client
        .query_one_unnamed(
            "select exists (select 1 from event_media where s3_key = $1)",
            &[&key],
        )
        .await?;
    Ok(row.get(0))
}
