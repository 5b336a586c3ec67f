//! `POST /api/v1/events/{event_id}/media`: store the file, then its row.
//!
//! Everything that can be refused is refused before the first byte reaches S3. The object is
//! written under a new key that is never overwritten; if the row cannot be inserted the
//! object is deleted again, so no object outlives a failed request.

use chrono::Utc;
use uuid::Uuid;

use super::extract::{Input, OwnedEvent};
use super::publish::{remove_orphan, write_at_free_key};
use super::{MediaJson, upload_form};
use crate::AppState;
use crate::db::media;
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::media_type::{self, sanitize_file_name};
use crate::storage::ObjectMetadata;

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        user,
        event_id,
        client,
        shape,
        ..
    } = event;
    let form = upload_form::read(input.into_request(), state.config.max_file_size).await?;
    let media_type = media_type::detect(&form.bytes, &form.file_name)?;
    let original_filename = sanitize_file_name(&form.file_name);
    let file_size = i32::try_from(form.bytes.len())
        .map_err(|_| ApiError::file_too_large(state.config.max_file_size))?;

    let metadata = ObjectMetadata {
        event_id: event_id.to_string(),
        user_id: user.id.to_string(),
        original_filename: original_filename.clone(),
    };
    let (key, created_at) = write_at_free_key(event_id, Utc::now(), media_type.extension, |key| {
        let bytes = form.bytes.clone();
        let metadata = metadata.clone();
        async move {
            state
                .storage()
                .put_new(key.as_str(), bytes, media_type.mime, metadata)
                .await
        }
    })
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
    match media::insert(&client, shape, &new).await {
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
