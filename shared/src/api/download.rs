//! `GET .../media/{media_id}/download`: small files come back as bytes, so the spec's
//! `curl -o` works as written; larger ones get a 302 to a presigned GET, because a Lambda
//! response cannot exceed 6 MB.

use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use lambda_http::{Body, Request, Response};

use super::presign::{content_disposition, download_name, presigned_answer};
use super::{owned_media, routes, wants_redirect};
use crate::AppState;
use crate::error::ApiError;
use crate::http::ApiResult;
use crate::storage::DownloadOverrides;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, request: Request) -> ApiResult {
    let (row, client) = owned_media(&state.auth, &state.db, &request, routes::DOWNLOAD).await?;
    // The object fetch below may take a while; the connection is not needed for it.
    drop(client);
    let redirect = wants_redirect(&request)?;
    let key = row.s3_key.as_deref().ok_or(ApiError::FileNotFound)?;
    let disposition = content_disposition("attachment", &download_name(&row, key));
    let small = row
        .file_size
        .is_some_and(|size| size >= 0 && size as u64 <= state.config.inline_download_max_bytes);
    if !redirect || !small {
        let overrides = DownloadOverrides {
            content_disposition: disposition,
            content_type: row.file_type.clone(),
        };
        return presigned_answer(state, key, overrides, redirect).await;
    }
    let bytes = state.storage.download(key).await.map_err(ApiError::from)?;
    Ok(Response::builder()
        .status(200)
        .header(CONTENT_TYPE, header_or_octet_stream(&row.file_type))
        .header(CONTENT_LENGTH, bytes.len())
        .header(CONTENT_DISPOSITION, disposition)
        .header("x-content-type-options", "nosniff")
        .header(CACHE_CONTROL, "private, no-store")
        .body(Body::Binary(Vec::from(bytes)))
        .expect("every header value is valid"))
}

/// Rows written by other tools may hold any text in `file_type`.
fn header_or_octet_stream(file_type: &str) -> HeaderValue {
    HeaderValue::from_str(file_type).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}
