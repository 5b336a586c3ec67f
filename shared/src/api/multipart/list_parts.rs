//! `GET /api/v1/events/{event_id}/media/multipart/{upload_id}/parts`: the parts S3 holds
//! (number, size, ETag), all of them, so a client that restarted knows what to send again.

use serde::Serialize;

use super::super::extract::OwnedUpload;
use super::open_upload;
use crate::AppState;
use crate::edge::{ApiResult, json_response};
use crate::storage::{MultipartError, UploadedPart};

#[derive(Debug, Serialize)]
struct Part {
    part_number: i32,
    size: u64,
    etag: String,
}

#[derive(Debug, Serialize)]
struct Parts {
    parts: Vec<Part>,
}

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, upload: OwnedUpload) -> ApiResult {
    let (open, _) = open_upload(
        &upload.event.client,
        upload.event.event_id,
        upload.upload_id,
    )
    .await?;
    let held = match state
        .storage()
        .list_parts(&open.s3_key, &open.s3_upload_id)
        .await
    {
        Ok(held) => held,
        // Completed in S3 by a complete that could not record it (completing again finishes
        // it), or aborted behind the API's back: either way no part is left to resume.
        Err(MultipartError::NoSuchUpload) => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    let parts = held
        .into_iter()
        .map(
            |UploadedPart {
                 part_number,
                 size,
                 etag,
             }| Part {
                part_number,
                size,
                etag,
            },
        )
        .collect();
    Ok(json_response(200, &Parts { parts }))
}
