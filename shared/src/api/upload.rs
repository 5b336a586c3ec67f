//! `POST /api/v1/events/{event_id}/media`: store the file, then its row.
//!
//! Everything that can be refused is refused before the first byte reaches S3. The object is
//! written under a new key that is never overwritten; if the row cannot be inserted the
//! object is deleted again, so no object outlives a failed request.

use chrono::{DateTime, Utc};
use lambda_http::Request;
use uuid::Uuid;

use super::{MediaJson, routes, upload_form};
use crate::AppState;
use crate::db::{events, media};
use crate::error::ApiError;
use crate::http::{ApiResult, json_response, path_uuid};
use crate::keys::{S3Key, event_media_key, next_instant};
use crate::media_type::{self, sanitize_file_name};
use crate::storage::{ObjectMetadata, StorageError};

/// How many neighbouring keys to try when a key is taken (only concurrent uploads to the same
/// event in the same microsecond collide).
const KEY_ATTEMPTS: usize = 5;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, request: Request) -> ApiResult {
    let user = state.auth.authenticate(request.headers())?;
    let event_id = path_uuid(&request, routes::MEDIA, "event_id")?;
    let client = state.pool.get().await?;
    if !events::is_owned_by(&client, event_id, user.id).await? {
        return Err(ApiError::EventNotFound);
    }
    let form = upload_form::read(request, state.config.max_file_size).await?;
    let media_type = media_type::detect(&form.bytes, &form.file_name)?;
    let original_filename = sanitize_file_name(&form.file_name);
    let file_size = i32::try_from(form.bytes.len())
        .map_err(|_| ApiError::file_too_large(state.config.max_file_size))?;

    let metadata = ObjectMetadata {
        event_id: event_id.to_string(),
        user_id: user.id.to_string(),
        original_filename: original_filename.clone(),
    };
    let (key, created_at) = put_under_fresh_key(
        state,
        event_id,
        media_type.extension,
        media_type.mime,
        form.bytes,
        metadata,
    )
    .await?;

    let file_url = state.file_url(key.as_str());
    let tags = form.tags.join(", ");
    let new = media::NewMedia {
        id: Uuid::new_v4(),
        event_id,
        title: form.title.as_deref(),
        description: form.description.as_deref(),
        file_url: &file_url,
        s3_key: key.as_str(),
        file_type: media_type.mime,
        file_size,
        tags: &tags,
        original_filename: &original_filename,
        created_at,
    };
    match media::insert(&client, &new).await {
        Ok(row) => {
            tracing::info!(media_id = %row.id, %event_id, key = %key, size = file_size, "media uploaded");
            Ok(json_response(201, &MediaJson::from(row)))
        }
        Err(err) => {
            remove_orphan(state, &key).await;
            Err(ApiError::database(err))
        }
    }
}

/// Writes the object under the first free key at or after now; returns the key and the
/// instant that named it (the row's `created_at`).
async fn put_under_fresh_key(
    state: &AppState,
    event_id: Uuid,
    extension: &str,
    content_type: &str,
    bytes: bytes::Bytes,
    metadata: ObjectMetadata,
) -> Result<(S3Key, DateTime<Utc>), ApiError> {
    let mut at = Utc::now();
    for _ in 0..KEY_ATTEMPTS {
        let key = event_media_key(event_id, at, extension);
        match state
            .storage
            .put_new(key.as_str(), bytes.clone(), content_type, metadata.clone())
            .await
        {
            Ok(()) => return Ok((key, at)),
            Err(StorageError::AlreadyExists) => at = next_instant(at),
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::from(StorageError::Other(format!(
        "no free key after {KEY_ATTEMPTS} attempts"
    ))))
}

/// Best effort: the request already failed; a leftover object is logged for the sweep.
async fn remove_orphan(state: &AppState, key: &S3Key) {
    if let Err(err) = state.storage.delete(key.as_str()).await {
        tracing::error!(key = %key, error = %err, "could not remove the object of a failed upload");
    }
}
