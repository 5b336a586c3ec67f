//! Reads the upload's `multipart/form-data` body (with `multer`, the parser axum uses) into
//! a typed form, refusing what the endpoint cannot accept before anything is stored.

use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use lambda_http::{Body, Request};

use crate::error::ApiError;

pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_CHARS: usize = 64;
/// The most a file can weigh on this path: API Gateway hands a Lambda function at most 6 MB
/// of request, base64-encoded, so ~4.5 MB of raw bytes minus the form around the file.
pub const LAMBDA_UPLOAD_MAX_BYTES: u64 = 4_400_000;

/// Text fields are small; a larger one is not a form this endpoint understands.
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

/// The most file parts one form may carry (`file` and `files` together). The request is
/// bounded by Lambda's payload anyway; this keeps one request's S3 writes well inside the
/// function's timeout. More files go through direct uploads.
pub const MAX_FILES_PER_FORM: usize = 20;

/// The validated upload form: its files, as sent (each is checked on its own by
/// [`check_file`], so one bad file of several does not refuse the others), and the metadata
/// that applies to all of them.
#[derive(Debug)]
pub struct UploadForm {
    /// At least one, at most [`MAX_FILES_PER_FORM`], in the order of the form.
    pub files: Vec<FormFile>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// Which of `title`, `description` and `tags` the form sent, even empty.
    pub metadata_parts: Vec<&'static str>,
}

/// One file part (`file` or `files`) of the form.
#[derive(Debug)]
pub struct FormFile {
    /// Its position among the form's file parts, from 0.
    pub index: usize,
    /// The client's file name, unsanitised.
    pub file_name: String,
    pub bytes: Bytes,
}

/// Parses and validates the form's structure and metadata; the files' own checks are
/// [`check_file`].
pub async fn read(request: Request) -> Result<UploadForm, ApiError> {
    let boundary = boundary(&request)?;
    let body = match request.into_body() {
        Body::Binary(bytes) => Bytes::from(bytes),
        Body::Text(text) => Bytes::from(text),
        Body::Empty => Bytes::new(),
        _ => Bytes::new(),
    };
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);

    let mut files = Vec::new();
    let mut title = None;
    let mut description = None;
    let mut tags = None;
    let mut metadata_parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        // `name=""` names nothing: refused like a part without a name.
        let Some(name) = field.name().filter(|n| !n.is_empty()).map(str::to_owned) else {
            return Err(ApiError::MalformedRequest("a form part has no name".into()));
        };
        match name.as_str() {
            // `file` is the spec's name, `files` The Plugs' for several: both count.
            "file" | "files" => {
                if files.len() == MAX_FILES_PER_FORM {
                    return Err(ApiError::validation(
                        &["body", "files"],
                        format!(
                            "at most {MAX_FILES_PER_FORM} files per request: send more with \
                             direct uploads (POST /api/v1/events/{{event_id}}/media/uploads)"
                        ),
                    ));
                }
                let file_name = field.file_name().unwrap_or("").to_owned();
                let bytes = file_bytes(field).await.map_err(malformed)?;
                files.push(FormFile {
                    index: files.len(),
                    file_name,
                    bytes,
                });
            }
            "title" => title = Some(text(field, "title").await?),
            "description" => description = Some(text(field, "description").await?),
            "tags" => tags = Some(text(field, "tags").await?),
            // Unknown fields are ignored, as FastAPI's Form parsing does.
            _ => drop(field.bytes().await.map_err(malformed)?),
        }
    }
    for (name, sent) in [
        ("title", title.is_some()),
        ("description", description.is_some()),
        ("tags", tags.is_some()),
    ] {
        if sent {
            metadata_parts.push(name);
        }
    }

    if files.is_empty() {
        return Err(ApiError::validation(&["body", "file"], "field required"));
    }
    Ok(UploadForm {
        files,
        title: optional_text(title, "title", MAX_TITLE_CHARS)?,
        description: optional_text(description, "description", MAX_DESCRIPTION_CHARS)?,
        tags: parse_tags(tags.as_deref().unwrap_or(""))?,
        metadata_parts,
    })
}

/// What refuses one file before it is stored: over `max_file_size` (`MAX_FILE_SIZE`), over
/// what a form upload can carry, or empty. Its type is checked by its bytes after this.
pub fn check_file(file: &FormFile, max_file_size: u64) -> Result<(), ApiError> {
    let size = file.bytes.len() as u64;
    if size > max_file_size {
        return Err(ApiError::file_too_large(max_file_size));
    }
    if size > LAMBDA_UPLOAD_MAX_BYTES {
        return Err(ApiError::FileTooLarge {
            message: format!(
                "file too large for a form upload (over {LAMBDA_UPLOAD_MAX_BYTES} bytes): \
                 send it directly to storage with POST /api/v1/events/{{event_id}}/media/uploads; \
                 resumable uploads for very large files are not available yet"
            ),
        });
    }
    if size == 0 {
        return Err(ApiError::EmptyFile);
    }
    Ok(())
}

fn boundary(request: &Request) -> Result<String, ApiError> {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    multer::parse_boundary(content_type).map_err(|_| {
        ApiError::MalformedRequest("expected a multipart/form-data body with a boundary".into())
    })
}

/// The file part's bytes. The body reaches multer as one chunk, so the part comes back as one
/// chunk too, a view into multer's buffer: taking it as it is spares a copy of the whole file
/// (`Field::bytes` copies every chunk into a new buffer), which a 4 MiB upload feels in its
/// peak memory and its latency.
async fn file_bytes(mut field: multer::Field<'_>) -> Result<Bytes, multer::Error> {
    let Some(first) = field.chunk().await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = field.chunk().await? else {
        return Ok(first);
    };
    let mut all = BytesMut::with_capacity(first.len() + second.len());
    all.extend_from_slice(&first);
    all.extend_from_slice(&second);
    while let Some(chunk) = field.chunk().await? {
        all.extend_from_slice(&chunk);
    }
    Ok(all.freeze())
}

fn malformed(err: multer::Error) -> ApiError {
    ApiError::MalformedRequest(format!("unreadable multipart body: {err}"))
}

async fn text(field: multer::Field<'_>, name: &str) -> Result<String, ApiError> {
    let bytes = field.bytes().await.map_err(malformed)?;
    if bytes.len() > MAX_TEXT_FIELD_BYTES {
        return Err(ApiError::validation(&["body", name], "is too long"));
    }
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::validation(&["body", name], "must be UTF-8 text"))
}

/// Trimmed; empty means absent; refuses control characters other than newlines and tabs.
pub(crate) fn optional_text(
    value: Option<String>,
    name: &str,
    max_chars: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max_chars {
        return Err(ApiError::validation(
            &["body", name],
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::validation(
            &["body", name],
            "must not contain control characters",
        ));
    }
    Ok(Some(value))
}

/// `"photo, event,memories"` → `["photo", "event", "memories"]`, within the limits.
pub fn parse_tags(raw: &str) -> Result<Vec<String>, ApiError> {
    // Checked before trimming, so a control character is refused wherever it stands, as the
    // OpenAPI pattern says.
    if raw.chars().any(char::is_control) {
        return Err(ApiError::validation(
            &["body", "tags"],
            "must not contain control characters",
        ));
    }
    let tags = super::split_tags(raw);
    if tags.len() > MAX_TAGS {
        return Err(ApiError::validation(
            &["body", "tags"],
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    if let Some(long) = tags.iter().find(|t| t.chars().count() > MAX_TAG_CHARS) {
        return Err(ApiError::validation(
            &["body", "tags"],
            format!(
                "tag {:?}… is longer than {MAX_TAG_CHARS} characters",
                long.chars().take(20).collect::<String>()
            ),
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_limits_are_enforced() {
        assert_eq!(parse_tags("a, b ,c").unwrap(), ["a", "b", "c"]);
        assert!(parse_tags(&vec!["t"; MAX_TAGS].join(",")).is_ok());
        assert!(parse_tags(&vec!["t"; MAX_TAGS + 1].join(",")).is_err());
        assert!(parse_tags(&"x".repeat(MAX_TAG_CHARS + 1)).is_err());
        assert!(parse_tags(" , , ").unwrap().is_empty());
    }

    #[test]
    fn a_control_character_in_tags_is_refused_even_at_an_edge() {
        for raw in ["a\u{7}b", "a,\n", "\tstage", "night\u{85}"] {
            let err = parse_tags(raw).unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR", "{raw:?}");
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            optional_text(Some("  hi ".into()), "title", 256)
                .unwrap()
                .as_deref(),
            Some("hi")
        );
        assert_eq!(
            optional_text(Some("   ".into()), "title", 256).unwrap(),
            None
        );
        assert!(optional_text(Some("x".repeat(257)), "title", 256).is_err());
        assert!(optional_text(Some("a\u{0}b".into()), "title", 256).is_err());
    }
}
