//! `DELETE /api/v1/events/{event_id}/media/{media_id}`: the object, then the row.
//!
//! The object goes first: if S3 fails, the row stays and the client sees the error, so a
//! retry finishes the job. The reverse order would leave an object no row points to.

use super::extract::OwnedMedia;
use crate::AppState;
use crate::db::media;
use crate::edge::{ApiResult, empty_response};
use crate::error::ApiError;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, media: OwnedMedia) -> ApiResult {
    let OwnedMedia {
        row,
        mut client,
        shape,
        ..
    } = media;
    if let Some(key) = row.s3_key.as_deref() {
        state.storage().delete(key).await.map_err(ApiError::from)?;
    }
    media::delete(&mut client, shape, row.id).await?;
    tracing::info!(media_id = %row.id, event_id = %row.event_id, "media deleted");
    Ok(empty_response(204))
}
