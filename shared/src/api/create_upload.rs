//! `POST /api/v1/events/{event_id}/media/uploads`: the first step of a direct upload, for
//! files larger than API Gateway can carry to a Lambda function. Records the declared file
//! and answers a presigned PUT bound to it: S3 itself refuses another size, type or checksum.
//!
//! `files: [...]` announces several uploads at once (an album): one ticket each, sharing the
//! title, description and tags, and completed into one zone. The zone is created by the first
//! completion (concurrent first completions make one), so an album whose uploads are never
//! completed leaves no empty zone. `zone_id` names an existing zone the uploads join instead.

use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::announce::{
    Tags, check_zone, declared_type, optional_whole_number, parse_json, whole_number,
};
use super::extract::{Input, OwnedEvent};
use super::upload_form::{MAX_DESCRIPTION_CHARS, MAX_TITLE_CHARS, optional_text};
use crate::AppState;
use crate::db::DbError;
use crate::db::pending_uploads::{self, PendingUpload};
use crate::db::shape::Shape;
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::keys::temp_key;
use crate::media_type::{MediaType, sanitize_file_name};
use crate::storage::{DeclaredFile, ObjectMetadata};

/// The most uploads one call may announce with `files` (a phone's album of 50 fits twice).
pub const MAX_FILES_PER_ANNOUNCEMENT: usize = 100;

/// The request body: one file (`filename`, `content_type`, `file_size`, `checksum_md5`), or
/// several (`files`), and what they share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUpload {
    filename: Option<String>,
    content_type: Option<String>,
    #[serde(default, deserialize_with = "optional_whole_number")]
    file_size: Option<i64>,
    /// Hex (32 digits) or base64 (24 characters) MD5 of the file.
    checksum_md5: Option<String>,
    title: Option<String>,
    description: Option<String>,
    tags: Option<Tags>,
    /// An existing zone of the event the uploads join when they complete.
    zone_id: Option<Uuid>,
    files: Option<Vec<FileEntry>>,
}

impl CreateUpload {
    /// Whether the body gives a title, description or tags (`null` is the same as leaving
    /// them out).
    fn sends_metadata(&self) -> bool {
        self.title.is_some() || self.description.is_some() || self.tags.is_some()
    }
}

/// One file of `files`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    filename: String,
    content_type: String,
    #[serde(deserialize_with = "whole_number")]
    file_size: i64,
    checksum_md5: Option<String>,
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

/// One ticket of an announcement of several files, with the file it is for.
#[derive(Debug, Serialize)]
struct BatchTicket {
    index: usize,
    filename: String,
    #[serde(flatten)]
    ticket: UploadTicket,
}

/// A file of `files` that got no ticket, and why (as upload-media's batch answer says it).
#[derive(Debug, Serialize)]
struct RefusedFile {
    filename: String,
    index: usize,
    error: String,
    error_type: &'static str,
}

/// The answer to `files`.
#[derive(Debug, Serialize)]
struct BatchTickets {
    /// The zone the uploads complete into (the one named by `zone_id`, or the one the first
    /// completion creates); null on the seed-era schema, or when no ticket was issued.
    batch_id: Option<Uuid>,
    uploads: Vec<BatchTicket>,
    failed: Vec<RefusedFile>,
    total_requested: usize,
    total_successful: usize,
    total_failed: usize,
}

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        user,
        event_id,
        mut client,
        shape,
        ..
    } = event;
    let body: CreateUpload = parse_json(input.body())?;
    // Any non-null metadata field counts, blank or not: the rule openapi.yaml states.
    let sends_metadata = body.sends_metadata();
    let (shared, files) = validate(body, state.config.max_file_size)?;
    if let Some(zone_id) = shared.zone_id {
        check_zone(&client, shape, event_id, zone_id, user.id).await?;
        if sends_metadata {
            return Err(ApiError::validation(
                &["body", "zone_id"],
                "uploads into a zone take the zone's title, description and tags: send none \
                 of them",
            ));
        }
    }
    let announcer = Announcer {
        state,
        event_id,
        user_id: user.id,
        shared: &shared,
    };
    match files {
        Announced::One(declared) => {
            let (pending, ticket) = announcer.ticket(declared, shared.zone_id, None).await?;
            pending_uploads::insert(&client, &pending).await?;
            tracing::info!(upload_id = %pending.id, %event_id, size = pending.file_size, "direct upload created");
            Ok(json_response(201, &ticket))
        }
        Announced::Many(declared) => {
            let batch_id = match (shared.zone_id, shape) {
                (Some(zone_id), _) => Some(zone_id),
                (None, Shape::Current) => Some(Uuid::new_v4()),
                (None, Shape::Seed) => None,
            };
            // Joining a named zone, each upload carries it; a new one is the batch's own.
            let new_zone = batch_id.filter(|_| shared.zone_id.is_none());
            let mut answer = BatchTickets {
                batch_id: None,
                uploads: Vec::new(),
                failed: Vec::new(),
                total_requested: declared.len(),
                total_successful: 0,
                total_failed: 0,
            };
            let mut pendings = Vec::new();
            for (index, (filename, declared)) in declared.into_iter().enumerate() {
                match declared {
                    Ok(declared) => {
                        let (pending, ticket) =
                            announcer.ticket(declared, shared.zone_id, new_zone).await?;
                        pendings.push(pending);
                        answer.uploads.push(BatchTicket {
                            index,
                            filename,
                            ticket,
                        });
                    }
                    Err(err) => answer.failed.push(RefusedFile {
                        filename,
                        index,
                        error: err.public_message(),
                        error_type: err.code(),
                    }),
                }
            }
            record_all(&mut client, &pendings).await?;
            answer.total_successful = answer.uploads.len();
            answer.total_failed = answer.failed.len();
            answer.batch_id = batch_id.filter(|_| !pendings.is_empty());
            tracing::info!(%event_id, tickets = answer.total_successful, refused = answer.total_failed, "direct uploads created");
            Ok(json_response(201, &answer))
        }
    }
}

/// The pending uploads of one announcement, all or none.
async fn record_all(
    client: &mut deadpool_postgres::Client,
    pendings: &[PendingUpload],
) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    for pending in pendings {
        pending_uploads::insert(&tx, pending).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What makes the tickets of one request.
struct Announcer<'a> {
    state: &'a AppState,
    event_id: Uuid,
    user_id: Uuid,
    shared: &'a Shared,
}

impl Announcer<'_> {
    /// The presigned PUT for `declared`, and the pending upload to record for it.
    async fn ticket(
        &self,
        declared: Declared,
        zone_id: Option<Uuid>,
        batch_id: Option<Uuid>,
    ) -> Result<(PendingUpload, UploadTicket), ApiError> {
        let created_at = Utc::now();
        let key = temp_key(created_at, declared.media_type.extension);
        let metadata = ObjectMetadata {
            event_id: self.event_id.to_string(),
            user_id: self.user_id.to_string(),
            original_filename: declared.file_name.clone(),
        };
        let file = DeclaredFile {
            size: declared.size as u64,
            content_type: declared.media_type.mime.to_owned(),
            md5_base64: declared.md5_base64.clone(),
            metadata,
        };
        let presigned = self
            .state
            .storage()
            .presigned_put(key.as_str(), file, self.state.config.upload_url_ttl)
            .await
            .map_err(ApiError::from)?;
        let pending = PendingUpload {
            id: Uuid::new_v4(),
            event_id: self.event_id,
            user_id: self.user_id,
            file_name: declared.file_name,
            content_type: declared.media_type.mime.to_owned(),
            file_size: declared.size,
            checksum_md5: declared.md5_base64,
            title: self.shared.title.clone(),
            description: self.shared.description.clone(),
            tags: self.shared.tags.join(", "),
            temp_key: key.as_str().to_owned(),
            created_at,
            expires_at: presigned.expires_at,
            zone_id,
            batch_id,
        };
        let ticket = UploadTicket {
            upload_id: pending.id,
            method: "PUT",
            url: presigned.url,
            headers: presigned.headers,
            expires_at: presigned.expires_at,
        };
        Ok((pending, ticket))
    }
}

/// What the files of one request share.
#[derive(Debug)]
struct Shared {
    title: Option<String>,
    description: Option<String>,
    tags: Vec<String>,
    zone_id: Option<Uuid>,
}

impl Shared {}

/// One declared file, checked.
#[derive(Debug)]
struct Declared {
    file_name: String,
    media_type: &'static MediaType,
    size: i64,
    md5_base64: Option<String>,
}

/// The files of a request: one (its refusal was the answer), or several, each with its
/// sanitised name and its own outcome.
#[derive(Debug)]
enum Announced {
    One(Declared),
    Many(Vec<(String, Result<Declared, ApiError>)>),
}

fn validate(body: CreateUpload, max_file_size: u64) -> Result<(Shared, Announced), ApiError> {
    let tags = match body.tags {
        None => Vec::new(),
        Some(tags) => tags.parse()?,
    };
    let shared = Shared {
        title: optional_text(body.title, "title", MAX_TITLE_CHARS)?,
        description: optional_text(body.description, "description", MAX_DESCRIPTION_CHARS)?,
        tags,
        zone_id: body.zone_id,
    };
    let single = [
        ("filename", body.filename.is_some()),
        ("content_type", body.content_type.is_some()),
        ("file_size", body.file_size.is_some()),
        ("checksum_md5", body.checksum_md5.is_some()),
    ];
    let Some(files) = body.files else {
        let entry = FileEntry {
            filename: required(body.filename, "filename")?,
            content_type: required(body.content_type, "content_type")?,
            file_size: required(body.file_size, "file_size")?,
            checksum_md5: body.checksum_md5,
        };
        return Ok((
            shared,
            Announced::One(validate_file(entry, max_file_size, &["body"])??),
        ));
    };
    if let Some((name, _)) = single.iter().find(|(_, sent)| *sent) {
        return Err(ApiError::validation(
            &["body", name],
            "describe each file in `files`, or send one file without `files`",
        ));
    }
    if files.is_empty() || files.len() > MAX_FILES_PER_ANNOUNCEMENT {
        return Err(ApiError::validation(
            &["body", "files"],
            format!("between 1 and {MAX_FILES_PER_ANNOUNCEMENT} files per request"),
        ));
    }
    let mut declared = Vec::with_capacity(files.len());
    for (index, entry) in files.into_iter().enumerate() {
        let name = sanitize_file_name(&entry.filename);
        let index = index.to_string();
        declared.push((
            name,
            validate_file(entry, max_file_size, &["body", "files", &index])?,
        ));
    }
    Ok((shared, Announced::Many(declared)))
}

/// A field a single-file request must have.
fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::validation(&["body", name], "field required"))
}

/// One declared file. The outer error makes the request malformed (a negative size, a
/// malformed checksum); the inner one refuses the file as `upload-media` refuses its bytes
/// (too large 413, empty 422, a type outside the allow-list 415): in `files` that refuses the
/// entry alone. `at` is where the file's fields are (`["body"]`, `["body", "files", "3"]`).
fn validate_file(
    entry: FileEntry,
    max_file_size: u64,
    at: &[&str],
) -> Result<Result<Declared, ApiError>, ApiError> {
    let field = |name| [at, &[name]].concat();
    if entry.file_size < 0 {
        return Err(ApiError::validation(
            &field("file_size"),
            "must not be negative",
        ));
    }
    let md5_base64 = entry
        .checksum_md5
        .as_deref()
        .map(|raw| md5_as_base64(raw, &field("checksum_md5")))
        .transpose()?;
    Ok(
        declared_type(entry.file_size, &entry.content_type, max_file_size).map(|media_type| {
            Declared {
                file_name: sanitize_file_name(&entry.filename),
                media_type,
                size: entry.file_size,
                md5_base64,
            }
        }),
    )
}

/// Content-MD5 wants base64; clients often have hex. Either is accepted.
fn md5_as_base64(raw: &str, at: &[&str]) -> Result<String, ApiError> {
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
            .ok_or_else(|| ApiError::validation(at, "must be an MD5 digest in hex or base64"))?
    };
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &[&str] = &["body", "checksum_md5"];

    fn announced(json: serde_json::Value) -> Result<(Shared, Announced), ApiError> {
        let body: CreateUpload = serde_json::from_value(json)
            .map_err(|e| ApiError::validation(&["body"], e.to_string()))?;
        validate(body, 1000)
    }

    fn body(json: serde_json::Value) -> Result<Declared, ApiError> {
        match announced(json)?.1 {
            Announced::One(declared) => Ok(declared),
            Announced::Many(_) => panic!("one file was declared"),
        }
    }

    #[test]
    fn a_declaration_is_checked_like_an_upload() {
        let json = serde_json::json!({"filename": "../clip.mp4", "content_type": "video/mp4", "file_size": 10, "tags": ["a", " b "]});
        let (shared, _) = announced(json.clone()).unwrap();
        let ok = body(json).unwrap();
        assert_eq!(
            (
                ok.file_name.as_str(),
                ok.media_type.mime,
                shared.tags.as_slice()
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
    fn several_files_are_checked_one_by_one_and_bounded() {
        let file = |name: &str, size: i64| serde_json::json!({"filename": name, "content_type": "image/png", "file_size": size});
        let (_, Announced::Many(files)) =
            announced(serde_json::json!({"files": [file("a.png", 10), file("b.png", 0), file("c.png", 5000)]}))
                .unwrap()
        else {
            panic!("several files were declared");
        };
        let outcomes: Vec<_> = files
            .iter()
            .map(|(name, d)| (name.as_str(), d.as_ref().err().map(ApiError::code)))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("a.png", None),
                ("b.png", Some("EMPTY_FILE")),
                ("c.png", Some("FILE_TOO_LARGE"))
            ]
        );
        let code = |json| announced(json).unwrap_err().code();
        let many: Vec<_> = (0..=MAX_FILES_PER_ANNOUNCEMENT)
            .map(|i| file(&format!("{i}.png"), 1))
            .collect();
        assert_eq!(code(serde_json::json!({"files": many})), "VALIDATION_ERROR");
        assert_eq!(code(serde_json::json!({"files": []})), "VALIDATION_ERROR");
        assert_eq!(
            code(serde_json::json!({"files": [file("a.png", 1)], "filename": "b.png"})),
            "VALIDATION_ERROR"
        );
        assert_eq!(
            code(
                serde_json::json!({"files": [{"filename": "a.png", "content_type": "image/png", "file_size": -1}]})
            ),
            "VALIDATION_ERROR"
        );
    }

    #[test]
    fn md5_is_accepted_in_hex_or_base64() {
        let b64 = "1B2M2Y8AsgTpgAmY7PhCfg==";
        assert_eq!(
            md5_as_base64("d41d8cd98f00b204e9800998ecf8427e", AT).unwrap(),
            b64
        );
        assert_eq!(md5_as_base64(b64, AT).unwrap(), b64);
        assert!(md5_as_base64("abc", AT).is_err());
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
    fn a_whole_file_size_written_as_a_float_is_read_exactly_from_the_request_text() {
        // A whole number between 2^52 and 2^53, where one unit in the last place is 0.5: a
        // float parser that is not correctly rounded reads it as 4214617160858841.5.
        let text = r#"{"filename": "a.png", "content_type": "image/png", "file_size": 4214617160858842.0}"#;
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(body(json).unwrap_err().code(), "FILE_TOO_LARGE");
    }

    #[test]
    fn md5_takes_ascii_whitespace_around_it_and_nothing_else() {
        let b64 = "1B2M2Y8AsgTpgAmY7PhCfg==";
        assert_eq!(md5_as_base64(&format!(" {b64}\n"), AT).unwrap(), b64);
        assert!(md5_as_base64(&format!("\u{a0}{b64}"), AT).is_err());
        // Base64 whose last digit carries bits beyond the 16 bytes is not a digest.
        assert!(md5_as_base64("1B2M2Y8AsgTpgAmY7PhCfh==", AT).is_err());
    }
}
