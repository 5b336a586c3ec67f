//! `DELETE /api/v1/events/{event_id}/media/{media_id}`: the object, then the row.
//!
//! The objects go first (the image's preview variants, then the original): if S3 fails, the row stays and the client sees the error, so a
//! retry finishes the job. The reverse order would leave an object no row points to.

use super::extract::OwnedMedia;
use super::publish::remove_objects;
use crate::AppState;
use crate::db::media;
use crate::edge::{ApiResult, empty_response};

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, media: OwnedMedia) -> ApiResult {
    let OwnedMedia {
        row,
        mut client,
        shape,
        ..
    } = media;
    remove_objects(state, row.event_id, row.id, row.s3_key.as_deref()).await?;
    media::delete(&mut client, shape, row.id).await?;
    tracing::info!(media_id = %row.id, event_id = %row.event_id, "media deleted");
    Ok(empty_response(204))
}
