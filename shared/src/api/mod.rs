//! The endpoints. Each module has one `handle`, called by [`crate::endpoint::Endpoint`] with
//! the typed inputs of [`extract`]: the checks run in the same order everywhere, token (401)
//! → path ids (422) → the event is the caller's (404, the same answer whether it is missing
//! or someone else's) → the media is in that event (404) → the query and body.

pub mod complete_upload;
pub mod create_upload;
pub mod delete;
pub mod download;
pub mod extract;
pub mod get;
pub mod list;
mod presign;
pub mod stream;
pub mod upload;
pub mod upload_form;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::media::MediaRow;
use crate::error::ApiError;
use crate::keys::{S3Key, event_media_key, next_instant};
use crate::storage::StorageError;
use extract::Input;

/// How many neighbouring keys to try when a key is taken (only writes to the same event in
/// the same microsecond collide).
const KEY_ATTEMPTS: usize = 5;

/// Runs `write` with the event's key for `start`, then for the following microseconds, until
/// a write finds its key free (`write` must refuse to overwrite); returns the key and the
/// instant that named it.
pub(crate) async fn write_at_free_key<F, Fut>(
    event_id: Uuid,
    start: DateTime<Utc>,
    extension: &str,
    mut write: F,
) -> Result<(S3Key, DateTime<Utc>), ApiError>
where
    F: FnMut(S3Key) -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError>>,
{
    let mut at = start;
    for _ in 0..KEY_ATTEMPTS {
        let key = event_media_key(event_id, at, extension);
        match write(key.clone()).await {
            Ok(()) => return Ok((key, at)),
            Err(StorageError::AlreadyExists) => at = next_instant(at),
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::from(StorageError::Other(format!(
        "no free key after {KEY_ATTEMPTS} attempts"
    ))))
}

/// The media JSON of the spec, the same on every endpoint.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct MediaJson {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub file_url: String,
    pub s3_key: Option<String>,
    pub file_type: String,
    pub file_size: Option<i32>,
    pub tags: Vec<String>,
    /// The zone the item belongs to; null on a database without zones.
    pub batch_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MediaRow> for MediaJson {
    fn from(row: MediaRow) -> Self {
        Self {
            tags: split_tags(row.tags.as_deref().unwrap_or("")),
            updated_at: row.updated_at.unwrap_or(row.created_at),
            id: row.id,
            event_id: row.event_id,
            title: row.title,
            description: row.description,
            file_url: row.file_url,
            s3_key: row.s3_key,
            file_type: row.file_type,
            file_size: row.file_size,
            batch_id: row.batch_id,
            created_at: row.created_at,
        }
    }
}

/// Tags as stored (`"a, b"`) or sent (`"a,b"`): trimmed, empties dropped.
pub fn split_tags(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `?redirect=false` asks for the presigned URL as JSON instead of a 302 (for browsers,
/// which cannot add the Authorization header when following a link).
fn wants_redirect(input: &Input) -> Result<bool, ApiError> {
    match input.query("redirect")? {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(ApiError::validation(
            &["query", "redirect"],
            "must be true or false",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_and_empties_dropped() {
        assert_eq!(
            split_tags("photo, event ,memories"),
            ["photo", "event", "memories"]
        );
        assert_eq!(split_tags(" , ,,"), Vec::<String>::new());
        assert_eq!(split_tags(""), Vec::<String>::new());
    }
}
