//! `GET /api/v1/events/{event_id}/media/{media_id}`: one item's metadata.

use super::MediaJson;
use super::extract::OwnedMedia;
use crate::edge::{ApiResult, json_response};

/// Reads the database only: it is given no S3 client.
#[tracing::instrument(skip_all)]
pub async fn handle(media: OwnedMedia) -> ApiResult {
    Ok(json_response(200, &MediaJson::new(media.row, &media.links)))
}
