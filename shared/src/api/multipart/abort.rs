//! `DELETE /api/v1/events/{event_id}/media/multipart/{upload_id}`: aborts the upload in S3
//! (its parts are freed) and forgets it. Under the upload's row lock, so it cannot cross a
//! complete: whichever comes second finds the upload gone.

use super::super::extract::OwnedUpload;
use crate::AppState;
use crate::db::DbError;
use crate::db::multipart_uploads;
use crate::edge::{ApiResult, empty_response};
use crate::error::ApiError;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, upload: OwnedUpload) -> ApiResult {
    let OwnedUpload {
        mut event,
        upload_id,
    } = upload;
    let tx = event.client.transaction().await.map_err(DbError::from)?;
    let Some(open) = multipart_uploads::lock(&tx, event.event_id, upload_id).await? else {
        return Err(ApiError::UploadNotFound);
    };
    super::forget(state, &open, &tx).await?;
    tx.commit().await.map_err(DbError::from)?;
    tracing::info!(upload_id = %open.id, event_id = %event.event_id, "multipart upload aborted");
    Ok(empty_response(204))
}
