//! `GET .../media/{media_id}/stream`: a 302 to a presigned GET served `inline`, so players
//! seek with Range requests straight against S3.

use lambda_http::Request;

use super::presign::{content_disposition, download_name, inline_allowed, presigned_answer};
use super::{owned_media, routes, wants_redirect};
use crate::AppState;
use crate::error::ApiError;
use crate::http::ApiResult;
use crate::storage::DownloadOverrides;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, request: Request) -> ApiResult {
    let (row, _client) = owned_media(&state.auth, &state.db, &request, routes::STREAM).await?;
    let redirect = wants_redirect(&request)?;
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
