//! `POST /api/v1/events/{event_id}/media/uploads/{upload_id}/complete`: the last step of a
//! direct upload. Checks what arrived under the temp key against the declaration, moves it to
//! its `events/` key and records the media row — under a row lock, so concurrent completes of
//! one upload create one row, and a repeated complete answers the media it already created.
//!
//! An upload announced into a zone joins it under the zone's row lock; one of an album
//! (announced with `files`) creates the album's zone if it is the first to complete. If that
//! zone was deleted meanwhile, the upload is discarded (its objects and its pending row) and
//! the answer is 404 `ZONE_NOT_FOUND`: no object is left without its row.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::extract::{OwnedEvent, OwnedUpload};
use super::publish::{remove_orphan, write_at_free_key};
use super::{MediaJson, completed_before};
use crate::AppState;
use crate::analysis::{self, S3Object};
use crate::db::DbError;
use crate::db::media::{self, NewMedia, Zone};
use crate::db::pending_uploads::{self, PendingUpload};
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::media_type::{MediaType, SNIFF_BYTES, detect};
use crate::storage::{ObjectMetadata, StorageError, StoredAs};

/// The object under the temp key as it was checked: its type and the ETag of the version
/// whose size and first bytes were read. The copy is pinned to that ETag, so bytes PUT again
/// with the same URL after the check never reach `events/`.
struct Checked {
    media_type: &'static MediaType,
    etag: String,
}

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, upload: OwnedUpload) -> ApiResult {
    let OwnedUpload {
        event:
            OwnedEvent {
                event_id,
                mut client,
                shape,
                links,
                ..
            },
        upload_id,
    } = upload;
    let tx = client.transaction().await.map_err(DbError::from)?;
    let Some(pending) = pending_uploads::lock(&tx, event_id, upload_id).await? else {
        return completed_before(&tx, shape, event_id, upload_id, &links).await;
    };
    let Checked { media_type, etag } = check_arrival(state, &pending).await?;
    // The checked version, read in bounded ranges (never the whole file).
    let checked = S3Object::new(
        state.storage().clone(),
        pending.temp_key.clone(),
        Some(etag.clone()),
        u64::try_from(pending.file_size).unwrap_or_default(),
    );
    let analysis = analysis::analyze(media_type.mime, Arc::new(checked), &pending.file_name).await;

    // The published object gets the API's headers and metadata, not the ones the client's
    // PUT brought along (unsigned extras such as Content-Disposition or Cache-Control).
    let stored = StoredAs {
        content_type: media_type.mime.to_owned(),
        metadata: ObjectMetadata {
            event_id: event_id.to_string(),
            user_id: pending.user_id.to_string(),
            original_filename: pending.file_name.clone(),
        },
    };
    let (temp_key, etag) = (pending.temp_key.as_str(), etag.as_str());
    let copy_to = |key: crate::keys::S3Key| {
        let stored = stored.clone();
        async move {
            state
                .storage()
                .copy(temp_key, etag, key.as_str(), stored)
                .await
        }
    };
    let (key, _) =
        write_at_free_key(event_id, pending.created_at, media_type.extension, copy_to).await?;
    let file_url = state.file_url(key.as_str());
    let new = NewMedia {
        id: pending.id,
        event_id,
        title: pending.title.as_deref(),
        description: pending.description.as_deref(),
        file_url: &file_url,
        s3_key: key.as_str(),
        file_type: media_type.mime,
        file_size: i32::try_from(pending.file_size)
            .map_err(|_| ApiError::file_too_large(i32::MAX as u64))?,
        tags: &pending.tags,
        original_filename: &pending.file_name,
        created_at: Utc::now(),
        analysis,
    };
    let recorded = async {
        let row = media::insert_in(&tx, shape, &new, zone_of(&pending)).await?;
        pending_uploads::delete(&tx, pending.id).await?;
        tx.commit().await?;
        Ok::<_, DbError>(row)
    }
    .await;
    let row = match recorded {
        Ok(Some(row)) => row,
        Ok(None) => {
            remove_orphan(state, &key).await;
            delete_temp(state, &pending).await;
            tracing::info!(upload_id = %pending.id, %event_id, "direct upload discarded: its zone is gone");
            return Err(ApiError::ZoneNotFound);
        }
        Err(err) => {
            remove_orphan(state, &key).await;
            return Err(ApiError::from(err));
        }
    };
    delete_temp(state, &pending).await;
    tracing::info!(media_id = %row.id, %event_id, key = %key, "direct upload completed");
    Ok(json_response(201, &MediaJson::new(row, &links)))
}

/// The zone the upload's row goes into: the one it was announced into, its album's, or a
/// new one of its own.
fn zone_of(pending: &PendingUpload) -> Zone {
    match (pending.zone_id, pending.batch_id) {
        (Some(zone_id), _) => Zone::Join(zone_id),
        (None, Some(batch_id)) => Zone::Batch(batch_id),
        (None, None) => Zone::Own(Uuid::new_v4()),
    }
}

/// The temp object is no longer needed once the pending upload is gone; if this delete
/// fails, the sweep (and the bucket's temp/ lifecycle rule) removes it.
async fn delete_temp(state: &AppState, pending: &PendingUpload) {
    if let Err(err) = state.storage().delete(&pending.temp_key).await {
        tracing::warn!(key = %pending.temp_key, error = %err, "could not delete a completed upload's temp object");
    }
}

/// The object under the temp key must exist, have the declared size and start like the
/// declared type; a wrong one is deleted so nothing unchecked stays in the bucket.
async fn check_arrival(state: &AppState, pending: &PendingUpload) -> Result<Checked, ApiError> {
    let info = match state.storage().info(&pending.temp_key).await {
        Ok(info) => info,
        Err(StorageError::NotFound) => {
            let hint = if pending.expires_at < Utc::now() {
                "the upload URL has expired: create a new upload"
            } else {
                "PUT the file to the upload URL first"
            };
            return Err(ApiError::UploadIncomplete(format!(
                "no file has arrived for this upload: {hint}"
            )));
        }
        Err(err) => return Err(err.into()),
    };
    // S3 always answers an ETag; without one the copy could not be pinned to what is checked.
    let etag = info
        .etag
        .ok_or_else(|| StorageError::Other("HEAD answered no ETag".into()))?;
    if info.size != pending.file_size as u64 {
        discard(state, pending).await?;
        return Err(ApiError::UploadMismatch(format!(
            "the uploaded file has {} bytes, {} were declared; it was discarded",
            info.size, pending.file_size
        )));
    }
    let head = state
        .storage()
        .read_prefix(&pending.temp_key, &etag, SNIFF_BYTES as u64)
        .await
        .map_err(ApiError::from)?;
    let declared = MediaType::by_mime(&pending.content_type);
    match detect(&head, &pending.file_name) {
        Ok(found) if Some(found) == declared => Ok(Checked {
            media_type: found,
            etag,
        }),
        Ok(found) => {
            discard(state, pending).await?;
            Err(ApiError::UnsupportedMediaType(format!(
                "the uploaded file is {}, but {} was declared; it was discarded",
                found.mime, pending.content_type
            )))
        }
        Err(rejected) => {
            discard(state, pending).await?;
            Err(rejected.into())
        }
    }
}

async fn discard(state: &AppState, pending: &PendingUpload) -> Result<(), ApiError> {
    state
        .storage()
        .delete(&pending.temp_key)
        .await
        .map_err(ApiError::from)
}
