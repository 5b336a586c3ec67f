//! `GET .../media/{media_id}/download`: small files come back as bytes, so the spec's
//! `curl -o` works as written; larger ones get a 302 to a presigned GET, because a Lambda
//! response cannot exceed 6 MB.

use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use lambda_http::{Body, Response};

use super::extract::{Input, OwnedMedia};
use super::presign::{content_disposition, download_name, presigned_answer, wants_redirect};
use crate::AppState;
use crate::edge::{ApiResult, fits_response_limit};
use crate::error::ApiError;
use crate::payload;
use crate::storage::DownloadOverrides;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, media: OwnedMedia, input: Input) -> ApiResult {
    // The object fetch below may take a while; the connection is not needed for it.
    let OwnedMedia { row, .. } = media;
    let redirect = wants_redirect(&input)?;
    let key = row.s3_key.as_deref().ok_or(ApiError::FileNotFound)?;
    let disposition = content_disposition("attachment", &download_name(&row, key));
    let small = row
        .file_size
        .is_some_and(|size| size >= 0 && size as u64 <= state.config.inline_download_max_bytes);
    let overrides = DownloadOverrides {
        content_disposition: disposition.clone(),
        content_type: row.file_type.clone(),
    };
    if !redirect || !small {
        return presigned_answer(state, key, overrides, redirect).await;
    }
    let bytes = state
        .storage()
        .download(key)
        .await
        .map_err(ApiError::from)?;
    let answer = inline_answer(&row.file_type, disposition, Vec::from(bytes));
    // lambda_http sends a text type as escaped UTF-8: a file full of escapes can outgrow the
    // response limit, and one that is not UTF-8 would arrive altered. S3 serves both as is.
    if payload::body_sent_unchanged(&answer) && fits_response_limit(&answer) {
        return Ok(answer);
    }
    presigned_answer(state, key, overrides, redirect).await
}

fn inline_answer(file_type: &str, disposition: String, bytes: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(200)
        .header(CONTENT_TYPE, header_or_octet_stream(file_type))
        .header(CONTENT_LENGTH, bytes.len())
        .header(CONTENT_DISPOSITION, disposition)
        .header("x-content-type-options", "nosniff")
        .header(CACHE_CONTROL, "private, no-store")
        .body(Body::Binary(bytes))
        .expect("every header value is valid")
}

/// Rows written by other tools may hold any text in `file_type`.
fn header_or_octet_stream(file_type: &str) -> HeaderValue {
    HeaderValue::from_str(file_type).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{INLINE_DOWNLOAD_HEADROOM_BYTES, MAX_INLINE_DOWNLOAD_BYTES};

    #[test]
    fn the_largest_inline_download_fits_with_the_largest_headers() {
        // A 255-character name of 4-byte characters, percent-encoded, and a 255-character type
        // of quotes (each escaped) are the largest headers a row can produce.
        let name = "😀".repeat(255);
        let disposition = content_disposition("attachment", &name);
        let file_type = "\"".repeat(255);
        let answer = inline_answer(
            &file_type,
            disposition,
            vec![0; MAX_INLINE_DOWNLOAD_BYTES as usize],
        );
        assert!(fits_response_limit(&answer));
        let body = payload::base64_len(MAX_INLINE_DOWNLOAD_BYTES as usize) + 2;
        let frame = payload::response_size(&answer) - body + crate::edge::EDGE_HEADER_BYTES;
        assert!(frame <= INLINE_DOWNLOAD_HEADROOM_BYTES, "{frame}");
    }
}
