//! `GET .../media/{media_id}/stream`: a 302 to a presigned GET served `inline`, so players
//! seek with Range requests straight against S3.

use super::extract::{Input, OwnedMedia};
use super::presign::{
    content_disposition, download_name, inline_allowed, presigned_answer, wants_redirect,
};
use crate::AppState;
use crate::edge::ApiResult;
use crate::error::ApiError;
use crate::storage::DownloadOverrides;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, media: OwnedMedia, input: Input) -> ApiResult {
    let OwnedMedia { row, .. } = media;
    let redirect = wants_redirect(&input)?;
    let key = row.s3_key.as_deref().ok_or(ApiError::FileNotFound)?;
    let kind = if inline_allowed(&row.file_type) {
        "inline"
    } else {
        "attachment"
    };
    let overrides = DownloadOverrides {
        content_disposition: content_disposition(kind, &download_name(&row, key)),
        content_type: row.file_type.clone(),
    };
    presigned_answer(state, key, overrides, redirect).await
}
