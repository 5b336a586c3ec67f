//! `POST /api/v1/events/{event_id}/media/multipart/{upload_id}/parts`: presigned UploadPart
//! URLs for a batch of part numbers. Each URL is bound to its upload, its part number and the
//! part's exact length (the signature covers Content-Length), so S3 refuses any other bytes
//! count; S3's UploadId never leaves the server.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::announce::parse_json;
use super::super::extract::{Input, OwnedUpload};
use super::{MAX_PARTS_PER_SIGNING, check_part_number, open_upload};
use crate::AppState;
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignParts {
    #[serde(deserialize_with = "super::part_numbers")]
    part_numbers: Vec<i32>,
}

#[derive(Debug, Serialize)]
struct SignedPart {
    part_number: i32,
    url: String,
    headers: BTreeMap<String, String>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct Signed {
    parts: Vec<SignedPart>,
}

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, upload: OwnedUpload, input: Input) -> ApiResult {
    let (open, plan) = open_upload(
        &upload.event.client,
        upload.event.event_id,
        upload.upload_id,
    )
    .await?;
    let body: SignParts = parse_json(input.body())?;
    if body.part_numbers.is_empty() || body.part_numbers.len() > MAX_PARTS_PER_SIGNING {
        return Err(ApiError::validation(
            &["body", "part_numbers"],
            format!("between 1 and {MAX_PARTS_PER_SIGNING} part numbers per request"),
        ));
    }
    let mut numbers = body.part_numbers;
    for (index, number) in numbers.iter().enumerate() {
        check_part_number(
            &plan,
            *number,
            &["body", "part_numbers", &index.to_string()],
        )?;
    }
    numbers.sort_unstable();
    numbers.dedup();
    let mut parts = Vec::with_capacity(numbers.len());
    for number in numbers {
        let length = plan.part_length(number).expect("checked above");
        let presigned = state
            .storage()
            .presigned_upload_part(
                &open.s3_key,
                &open.s3_upload_id,
                number,
                length,
                state.config.upload_url_ttl,
            )
            .await
            .map_err(ApiError::from)?;
        parts.push(SignedPart {
            part_number: number,
            url: presigned.url,
            headers: presigned.headers,
            expires_at: presigned.expires_at,
        });
    }
    tracing::info!(upload_id = %open.id, parts = parts.len(), "multipart parts signed");
    Ok(json_response(200, &Signed { parts }))
}
