//! `GET /api/v1/media/{media_id}/preview/{size}?expires=&signature=`: an image's preview,
//! authorized by the URL's signature (no token; see [`super::extract::signed_preview`]).
//!
//! The variant lives at [`keys::preview_key`]. When the database records it as stored (table
//! `media_preview_variants`, read by the same query as the row), the answer only signs: a 302
//! to a presigned GET of it, with no S3 request. Otherwise S3 is asked: a variant already there
//! (stored by a request whose recording failed, or before the table existed) is recorded; a
//! missing one is made from the original ([`crate::preview::render`], on a blocking thread),
//! written with `If-None-Match: *` (two concurrent first requests write one variant; the
//! other finds it there and serves it too), recorded, and then redirected to. An original
//! that cannot be previewed answers 422 with the reason's code, and nothing is written.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use lambda_http::{Body, Response};

use super::extract::SignedPreview;
use crate::AppState;
use crate::db::media::{self, MediaRow};
use crate::edge::ApiResult;
use crate::error::ApiError;
use crate::keys::{self, S3Key};
use crate::preview::{self, PreviewError, PreviewSize, is_previewable_type};
use crate::storage::StorageError;

#[tracing::instrument(skip_all, fields(media_id = %target.row.id, size = target.size.name()))]
pub async fn handle(state: &AppState, target: SignedPreview) -> ApiResult {
    let SignedPreview {
        row,
        size,
        variant_recorded,
        ..
    } = target;
    if !is_previewable_type(&row.file_type) {
        return Err(PreviewError::NotPreviewable.into());
    }
    let key = keys::preview_key(row.event_id, row.id, size);
    if !variant_recorded {
        ensure_variant(state, &row, size, &key).await?;
    }
    redirect(state, &key).await
}

/// Makes sure the variant is in the bucket, then records it so later requests only sign.
async fn ensure_variant(
    state: &AppState,
    row: &MediaRow,
    size: PreviewSize,
    key: &S3Key,
) -> Result<(), ApiError> {
    match state.storage().info(key.as_str()).await {
        Ok(_) => {}
        Err(StorageError::NotFound) => make_variant(state, row, size, key).await?,
        Err(err) => return Err(err.into()),
    }
    // The variant is stored: a database that cannot record it now costs the next request
    // one S3 HEAD, not this one its answer.
    if let Err(err) = record_variant(state, row, size).await {
        tracing::warn!(error = %err, "the stored preview variant could not be recorded");
    }
    Ok(())
}

async fn record_variant(
    state: &AppState,
    row: &MediaRow,
    size: PreviewSize,
) -> Result<(), ApiError> {
    let client = state.db.get().await?;
    media::record_preview_variant(&client, row.id, size.name()).await?;
    Ok(())
}

/// Renders the variant from the original and stores it, unless another request did first.
async fn make_variant(
    state: &AppState,
    row: &MediaRow,
    size: PreviewSize,
    key: &S3Key,
) -> Result<(), ApiError> {
    let original_key = row.s3_key.as_deref().ok_or(ApiError::FileNotFound)?;
    let stored = state.storage().info(original_key).await?;
    if stored.size > preview::MAX_SOURCE_BYTES {
        return Err(PreviewError::FileTooLarge { bytes: stored.size }.into());
    }
    let original = state.storage().download(original_key).await?;
    let rendered = tokio::task::spawn_blocking(move || preview::render(&original, size))
        .await
        .unwrap_or_else(|err| {
            // A decoder that panics on hostile bytes is a bug of ours, but still an image
            // that cannot be decoded: the container survives it and the client hears why.
            tracing::error!(error = %err, "the preview renderer panicked");
            Err(PreviewError::Undecodable("the decoder failed".to_owned()))
        })
        .inspect_err(|err| {
            tracing::info!(reason = %err, code = err.code(), "no preview for this image");
        })?;
    tracing::info!(
        bytes = rendered.bytes.len(),
        width = rendered.width,
        height = rendered.height,
        "preview made"
    );
    let written = state
        .storage()
        .put_variant(
            key.as_str(),
            Bytes::from(rendered.bytes),
            rendered.content_type,
            &row.id.to_string(),
        )
        .await;
    match written {
        Ok(()) | Err(StorageError::AlreadyExists) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// How long one signed redirect is reused: presigned URLs are signed as of the start of a
/// window this long (at most half their lifetime), so a browser sees the same URL, and its
/// cached image, for that long.
fn signing_window(ttl: Duration) -> i64 {
    (ttl.as_secs() as i64 / 2).max(1)
}

/// 302 to a presigned GET of the variant, cacheable by the browser while the URL is valid.
async fn redirect(state: &AppState, key: &S3Key) -> ApiResult {
    let ttl = state.config.presigned_url_ttl;
    let now = Utc::now().timestamp();
    let window = signing_window(ttl);
    let start = DateTime::<Utc>::from_timestamp(now - now.rem_euclid(window), 0)
        .expect("a time of today is representable");
    let presigned = state
        .storage()
        .presigned_get_from(key.as_str(), start, ttl)
        .await?;
    let fresh_for = (presigned.expires_at.timestamp() - now - 5).max(0);
    Ok(Response::builder()
        .status(302)
        .header(http::header::LOCATION, presigned.url)
        .header(
            http::header::CACHE_CONTROL,
            format!("private, max-age={fresh_for}"),
        )
        .body(Body::Empty)
        .expect("a presigned URL is a valid header value"))
}
