//! `POST /api/v1/events/{event_id}/media/multipart`: starts a resumable upload. Refuses what
//! the other upload paths refuse (over `MAX_MULTIPART_FILE_SIZE` 413, 0 bytes 422, a type
//! outside the allow-list 415), starts an S3 multipart upload at the file's final key (SSE
//! AES256, the type and the API's metadata) and records it; answers how to cut the file.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::super::announce::{Tags, check_zone, declared_type, parse_json, whole_number};
use super::super::extract::{Input, OwnedEvent};
use super::super::upload_form::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, optional_text};
use super::{PartPlan, UPLOAD_TTL};
use crate::AppState;
use crate::db::Unnamed;
use crate::db::multipart_uploads::{self, MultipartUpload};
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::keys::{event_media_key, next_instant};
use crate::media_type::sanitize_file_name;
use crate::storage::{ObjectMetadata, StorageError};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMultipart {
    filename: String,
    content_type: String,
    #[serde(deserialize_with = "whole_number")]
    file_size: i64,
    title: Option<String>,
    description: Option<String>,
    tags: Option<Tags>,
    /// An existing zone of the event the upload joins when it completes.
    zone_id: Option<Uuid>,
}

/// The answer: the upload's id and how to cut the file.
#[derive(Debug, Serialize)]
struct Created {
    upload_id: Uuid,
    key: String,
    part_size: u64,
    part_count: i32,
    expires_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        user,
        event_id,
        client,
        shape,
        ..
    } = event;
    let body: CreateMultipart = parse_json(input.body())?;
    if body.file_size < 0 {
        return Err(ApiError::validation(
            &["body", "file_size"],
            "must not be negative",
        ));
    }
    let sends_metadata = body.title.is_some() || body.description.is_some() || body.tags.is_some();
    let title = optional_text(body.title, "title", MAX_TITLE_CHARS)?;
    let description = optional_text(body.description, "description", MAX_DESCRIPTION_CHARS)?;
    let tags = body.tags.map(Tags::parse).transpose()?.unwrap_or_default();
    let media_type = declared_type(
        body.file_size,
        &body.content_type,
        state.config.max_multipart_file_size,
    )?;
    if let Some(zone_id) = body.zone_id {
        check_zone(&client, shape, event_id, zone_id, user.id).await?;
        if sends_metadata {
            return Err(ApiError::validation(
                &["body", "zone_id"],
                "uploads into a zone take the zone's title, description and tags: send none \
                 of them",
            ));
        }
    }

    let plan = PartPlan::for_file(body.file_size as u64);
    let file_name = sanitize_file_name(&body.filename);
    let mut upload = MultipartUpload {
        id: Uuid::new_v4(),
        event_id,
        user_id: user.id,
        file_name,
        content_type: media_type.mime.to_owned(),
        file_size: body.file_size,
        part_size: plan.part_size as i64,
        title,
        description,
        tags: tags.join(", "),
        zone_id: body.zone_id,
        s3_key: String::new(),
        s3_upload_id: String::new(),
        created_at: Utc::now(),
        expires_at: Utc::now(),
    };
    start_at_free_key(state, &client, &mut upload, media_type.extension).await?;
    tracing::info!(upload_id = %upload.id, %event_id, size = upload.file_size, parts = plan.part_count(), "multipart upload created");
    Ok(json_response(
        201,
        &Created {
            upload_id: upload.id,
            key: upload.s3_key,
            part_size: plan.part_size,
            part_count: plan.part_count(),
            expires_at: upload.expires_at,
        },
    ))
}

/// How many neighbouring keys to try when another open upload has the key (only creates in
/// the same event in the same microsecond collide).
const KEY_ATTEMPTS: usize = 5;

/// Starts the S3 upload at the event's key for now, records it, and moves to the next
/// microsecond's key while another open upload holds that one. Fills in the key, S3's id and
/// the times.
async fn start_at_free_key(
    state: &AppState,
    client: &impl Unnamed,
    upload: &mut MultipartUpload,
    extension: &str,
) -> Result<(), ApiError> {
    let metadata = ObjectMetadata {
        event_id: upload.event_id.to_string(),
        user_id: upload.user_id.to_string(),
        original_filename: upload.file_name.clone(),
    };
    let mut at = Utc::now();
    for _ in 0..KEY_ATTEMPTS {
        let key = event_media_key(upload.event_id, at, extension);
        upload.s3_upload_id = state
            .storage()
            .create_multipart(key.as_str(), &upload.content_type, metadata.clone())
            .await
            .map_err(ApiError::from)?;
        upload.s3_key = key.as_str().to_owned();
        upload.created_at = at;
        upload.expires_at = at + UPLOAD_TTL;
        let recorded = multipart_uploads::insert(client, upload).await;
        if let Ok(true) = recorded {
            return Ok(());
        }
        // Unrecorded, nobody could complete it: free it now rather than at the sweep.
        if let Err(abort) = state
            .storage()
            .abort_multipart(&upload.s3_key, &upload.s3_upload_id)
            .await
        {
            tracing::warn!(key = %upload.s3_key, error = %abort, "could not abort an unrecorded multipart upload");
        }
        recorded?;
        at = next_instant(at);
    }
    Err(ApiError::from(StorageError::Other(format!(
        "no free key after {KEY_ATTEMPTS} attempts"
    ))))
}
