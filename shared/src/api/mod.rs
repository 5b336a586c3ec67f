//! The endpoints. Each module has one `handle`, called by [`crate::endpoint::Endpoint`] with
//! the typed inputs of [`extract`]: the checks run in the same order everywhere, token (401)
//! → path ids (422) → the event is the caller's (404, the same answer whether it is missing
//! or someone else's) → the media is in that event (404) → the query and body.
//!
//! A handler module imports no other handler: what two of them share lives in a module of
//! its own ([`extract`] the checked inputs, `presign` the presigned answers, `publish` the
//! writing of a published file, [`upload_form`] the form's fields and their limits, `paging`
//! the list endpoints' skip/limit/file_type and page cutting, `zone_json` the zone answers,
//! `batch` the storing of a form's files one by one and the batch answer).

pub mod add_zone_files;
mod announce;
mod batch;
pub mod complete_upload;
pub mod create_upload;
pub mod delete;
pub mod delete_zone;
pub mod download;
pub mod extract;
pub mod get;
pub mod get_zone;
pub mod list;
pub mod list_zones;
pub mod multipart;
mod paging;
mod presign;
pub mod preview;
mod publish;
pub mod stream;
pub mod update_zone;
pub mod upload;
pub mod upload_form;
mod zone_json;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use std::collections::BTreeMap;

use crate::db::Unnamed;
use crate::db::media::{self, MediaRow};
use crate::db::shape::Shape;
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::preview_link::PreviewLinks;

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
    /// Width in pixels as displayed (images after their EXIF orientation; video as coded);
    /// null when unknown.
    pub width: Option<i32>,
    /// Height in pixels, as `width`.
    pub height: Option<i32>,
    /// Length of a video or audio file in milliseconds; null when unknown.
    pub duration_ms: Option<i64>,
    /// Signed URLs of the image's previews by size (`thumb`, `medium`), which work without
    /// an Authorization header; null for other types (see [`crate::preview_link`]).
    pub previews: Option<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MediaJson {
    /// The one place media JSON is made: the row, and its previews' links for this request.
    pub fn new(row: MediaRow, links: &PreviewLinks) -> Self {
        Self {
            previews: links.for_media(row.id, &row.file_type),
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
            width: row.width,
            height: row.height,
            duration_ms: row.duration_ms,
            created_at: row.created_at,
        }
    }
}

/// The answer to a complete (direct or resumable) whose upload is no longer open: the media
/// it created, 200 (the media row carries the upload's id), or 404 if it never existed or was
/// aborted.
async fn completed_before(
    client: &impl Unnamed,
    shape: Shape,
    event_id: Uuid,
    upload_id: Uuid,
    links: &PreviewLinks,
) -> ApiResult {
    match media::find_in_event(client, shape, event_id, upload_id).await? {
        Some(row) => Ok(json_response(200, &MediaJson::new(row, links))),
        None => Err(ApiError::UploadNotFound),
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
