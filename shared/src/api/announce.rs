//! Shared by the endpoints that announce a file before its bytes go to S3 (create-upload,
//! create-multipart-upload): the JSON body, its whole-number sizes and tags, the refusals
//! `upload-media` would give the declared file, and the zone the upload joins.

use deadpool_postgres::Client;
use lambda_http::Body;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::upload_form::parse_tags;
use crate::db::shape::Shape;
use crate::db::zones::{self, ZoneLookup};
use crate::error::ApiError;
use crate::media_type::MediaType;

/// Tags as a list, or comma-separated as in the multipart form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Tags {
    List(Vec<String>),
    Text(String),
}

impl Tags {
    /// The tags with the form's rules (trimmed, empties dropped, limits checked).
    pub(super) fn parse(self) -> Result<Vec<String>, ApiError> {
        match self {
            Tags::Text(text) => parse_tags(&text),
            Tags::List(list) => parse_tags(&list.join(",")),
        }
    }
}

/// A zone named by `zone_id` must be a live zone of the event, on a schema that has zones.
pub(super) async fn check_zone(
    client: &Client,
    shape: Shape,
    event_id: Uuid,
    zone_id: Uuid,
    user_id: Uuid,
) -> Result<(), ApiError> {
    if shape == Shape::Seed {
        return Err(ApiError::ZonesUnavailable);
    }
    match zones::find_owned(client, shape, event_id, zone_id, user_id).await? {
        ZoneLookup::Found(_) => Ok(()),
        ZoneLookup::NoZone => Err(ApiError::ZoneNotFound),
        ZoneLookup::Denied(denied) => Err(ApiError::denied(denied)),
    }
}

/// The JSON body: not JSON is 400 `MALFORMED_REQUEST`, JSON of the wrong shape 422.
pub(super) fn parse_json<T: DeserializeOwned>(body: &Body) -> Result<T, ApiError> {
    let bytes: &[u8] = match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    serde_json::from_slice(bytes).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => ApiError::validation(&["body"], err.to_string()),
        _ => ApiError::MalformedRequest(format!("the body is not valid JSON: {err}")),
    })
}

/// The declared file's type, unless `upload-media` would refuse the file: empty 422, over
/// `max_file_size` 413, a type outside the allow-list 415.
pub(super) fn declared_type(
    file_size: i64,
    content_type: &str,
    max_file_size: u64,
) -> Result<&'static MediaType, ApiError> {
    if file_size == 0 {
        return Err(ApiError::EmptyFile);
    }
    if file_size as u64 > max_file_size {
        return Err(ApiError::file_too_large(max_file_size));
    }
    MediaType::by_mime(content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!("{content_type:?} is not an allowed type"))
    })
}

/// [`whole_number`] for a field that may be absent or `null`.
pub(super) fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] i64);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|Whole(n)| n))
}

/// A JSON integer, also when written with a fraction of zero (`1024.0`) or too large for i64
/// (`1e30`, which then saturates and is refused as too large): JSON Schema's `integer`, which
/// openapi.yaml promises, counts all of those as integers.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<i64, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    whole(&number).ok_or_else(|| {
        D::Error::custom(format!(
            "file_size: {number} is not a whole number of bytes"
        ))
    })
}

/// The number as an i64 if it is whole (`1024` or `1024.0`); a whole float beyond i64
/// saturates (`as` does), which any limit then refuses.
pub(super) fn whole(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| f as i64)
    })
}
