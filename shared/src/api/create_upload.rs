//! `POST /api/v1/events/{event_id}/media/uploads`: the first step of a direct upload, for
//! files larger than API Gateway can carry to a Lambda function. Records the declared file
//! and answers a presigned PUT bound to it: S3 itself refuses another size, type or checksum.

use base64::Engine as _;
use chrono::Utc;
use lambda_http::Body;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{Input, OwnedEvent};
use super::upload_form::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, optional_text, parse_tags};
use crate::AppState;
use crate::db::pending_uploads::{self, PendingUpload};
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::keys::temp_key;
use crate::media_type::{MediaType, sanitize_file_name};
use crate::storage::{DeclaredFile, ObjectMetadata};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUpload {
    filename: String,
    content_type: String,
    #[serde(deserialize_with = "whole_number")]
    file_size: i64,
    /// Hex (32 digits) or base64 (24 characters) MD5 of the file.
    checksum_md5: Option<String>,
    title: Option<String>,
    description: Option<String>,
    tags: Option<Tags>,
}

/// Tags as a list, or comma-separated as in the multipart form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Tags {
    List(Vec<String>),
    Text(String),
}

/// The answer: everything the client needs to send the bytes to S3.
#[derive(Debug, Serialize)]
struct UploadTicket {
    upload_id: Uuid,
    method: &'static str,
    url: String,
    headers: std::collections::BTreeMap<String, String>,
    expires_at: chrono::DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        user,
        event_id,
        client,
        ..
    } = event;
    let body: CreateUpload = parse_json(input.body())?;
    let declared = validate(body, state.config.max_file_size)?;

    let id = Uuid::new_v4();
    let created_at = Utc::now();
    let key = temp_key(created_at, declared.media_type.extension);
    let metadata = ObjectMetadata {
        event_id: event_id.to_string(),
        user_id: user.id.to_string(),
        original_filename: declared.file_name.clone(),
    };
    let file = DeclaredFile {
        size: declared.size as u64,
        content_type: declared.media_type.mime.to_owned(),
        md5_base64: declared.md5_base64.clone(),
        metadata,
    };
    let presigned = state
        .storage()
        .presigned_put(key.as_str(), file, state.config.upload_url_ttl)
        .await
        .map_err(ApiError::from)?;
    let pending = PendingUpload {
        id,
        event_id,
        user_id: user.id,
        file_name: declared.file_name,
        content_type: declared.media_type.mime.to_owned(),
        file_size: declared.size,
        checksum_md5: declared.md5_base64,
        title: declared.title,
        description: declared.description,
        tags: declared.tags.join(", "),
        temp_key: key.as_str().to_owned(),
        created_at,
        expires_at: presigned.expires_at,
    };
    pending_uploads::insert(&client, &pending).await?;
    tracing::info!(upload_id = %id, %event_id, size = pending.file_size, "direct upload created");
    Ok(json_response(
        201,
        &UploadTicket {
            upload_id: id,
            method: "PUT",
            url: presigned.url,
            headers: presigned.headers,
            expires_at: presigned.expires_at,
        },
    ))
}

fn parse_json(body: &Body) -> Result<CreateUpload, ApiError> {
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

/// The declaration, checked.
#[derive(Debug)]
struct Declared {
    file_name: String,
    media_type: &'static MediaType,
    size: i64,
    md5_base64: Option<String>,
    title: Option<String>,
    description: Option<String>,
    tags: Vec<String>,
}

fn validate(body: CreateUpload, max_file_size: u64) -> Result<Declared, ApiError> {
    if body.file_size < 0 {
        return Err(ApiError::validation(
            &["body", "file_size"],
            "must not be negative",
        ));
    }
    if body.file_size == 0 {
        return Err(ApiError::EmptyFile);
    }
    if body.file_size as u64 > max_file_size {
        return Err(ApiError::file_too_large(max_file_size));
    }
    let media_type = MediaType::by_mime(&body.content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!("{:?} is not an allowed type", body.content_type))
    })?;
    let tags = match body.tags {
        None => Vec::new(),
        Some(Tags::Text(text)) => parse_tags(&text)?,
        Some(Tags::List(list)) => parse_tags(&list.join(","))?,
    };
    Ok(Declared {
        file_name: sanitize_file_name(&body.filename),
        media_type,
        size: body.file_size,
        md5_base64: body
            .checksum_md5
            .as_deref()
            .map(md5_as_base64)
            .transpose()?,
        title: optional_text(body.title, "title", MAX_TITLE_CHARS)?,
        description: optional_text(body.description, "description", MAX_DESCRIPTION_CHARS)?,
        tags,
    })
}

/// A JSON integer, also when written with a fraction of zero (`1024.0`) or too large for i64
/// (`1e30`, which then saturates and is refused as too large): JSON Schema's `integer`, which
/// openapi.yaml promises, counts all of those as integers.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    number
        .as_f64()
        .filter(|f| f.fract() == 0.0)
        // `as` saturates: beyond i64 is beyond any size limit anyway.
        .map(|f| f as i64)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "file_size: {number} is not a whole number of bytes"
            ))
        })
}

/// Content-MD5 wants base64; clients often have hex. Either is accepted.
fn md5_as_base64(raw: &str) -> Result<String, ApiError> {
    // ASCII whitespace only, as the OpenAPI pattern says (a trailing newline from `md5sum`).
    let raw = raw.trim_ascii();
    let digest = if raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..16)
            .map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).expect("checked hex"))
            .collect::<Vec<u8>>()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or_else(|| {
                ApiError::validation(
                    &["body", "checksum_md5"],
                    "must be an MD5 digest in hex or base64",
                )
            })?
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> Result<Declared, ApiError> {
        let body: CreateUpload = serde_json::from_value(json)
            .map_err(|e| ApiError::validation(&["body"], e.to_string()))?;
        validate(body, 1000)
    }

    #[test]
    fn a_declaration_is_checked_like_an_upload() {
        let ok = body(serde_json::json!({"filename": "../clip.mp4", "content_type": "video/mp4", "file_size": 10, "tags": ["a", " b "]})).unwrap();
        assert_eq!(
            (
                ok.file_name.as_str(),
                ok.media_type.mime,
                ok.tags.as_slice()
            ),
            (
                "clip.mp4",
                "video/mp4",
                &["a".to_owned(), "b".to_owned()][..]
            )
        );
        let code = |json| body(json).unwrap_err().code();
        assert_eq!(
            code(serde_json::json!({"filename": "a", "content_type": "video/mp4", "file_size": 0})),
            "EMPTY_FILE"
        );
        assert_eq!(
            code(
                serde_json::json!({"filename": "a", "content_type": "video/mp4", "file_size": 1001})
            ),
            "FILE_TOO_LARGE"
        );
        assert_eq!(
            code(serde_json::json!({"filename": "a", "content_type": "text/html", "file_size": 1})),
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert_eq!(
            code(
                serde_json::json!({"filename": "a", "content_type": "video/mp4", "file_size": -1})
            ),
            "VALIDATION_ERROR"
        );
    }

    #[test]
    fn md5_is_accepted_in_hex_or_base64() {
        let b64 = "1B2M2Y8AsgTpgAmY7PhCfg==";
        assert_eq!(
            md5_as_base64("d41d8cd98f00b204e9800998ecf8427e").unwrap(),
            b64
        );
        assert_eq!(md5_as_base64(b64).unwrap(), b64);
        assert!(md5_as_base64("abc").is_err());
    }

    #[test]
    fn a_file_size_written_with_a_zero_fraction_is_a_whole_number() {
        let declared = body(serde_json::json!({
            "filename": "a.png", "content_type": "image/png", "file_size": 512.0
        }))
        .unwrap();
        assert_eq!(declared.size, 512);
        let huge = body(serde_json::json!({
            "filename": "a.png", "content_type": "image/png", "file_size": 1e300
        }))
        .unwrap_err();
        assert_eq!(huge.code(), "FILE_TOO_LARGE");
        for bad in [serde_json::json!(1.5), serde_json::json!("12")] {
            let err = body(serde_json::json!({
                "filename": "a.png", "content_type": "image/png", "file_size": bad
            }))
            .unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR", "{bad}");
        }
    }

    #[test]
    fn md5_takes_ascii_whitespace_around_it_and_nothing_else() {
        let b64 = "1B2M2Y8AsgTpgAmY7PhCfg==";
        assert_eq!(md5_as_base64(&format!(" {b64}\n")).unwrap(), b64);
        assert!(md5_as_base64(&format!("\u{a0}{b64}")).is_err());
        // Base64 whose last digit carries bits beyond the 16 bytes is not a digest.
        assert!(md5_as_base64("1B2M2Y8AsgTpgAmY7PhCfh==").is_err());
    }
}
