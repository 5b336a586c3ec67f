//! Shared by download and stream: the Content-Disposition of a file, whether the client
//! asked for a redirect, and the answer that hands it a presigned URL (a 302, or JSON with
//! `?redirect=false`).

use lambda_http::{Body, Response};
use serde_json::json;

use super::extract::Input;
use crate::AppState;
use crate::db::media::MediaRow;
pub(super) use crate::edge::content_disposition;
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;
use crate::media_type::{MediaType, sanitize_file_name};
use crate::storage::DownloadOverrides;

/// The name a downloaded file gets: the uploader's, else the key's last segment — ending in
/// the extension of what the file really is, so `photo.jpg.exe` holding a PNG is saved as
/// `photo.jpg.exe.png` and never opens as a program.
pub(super) fn download_name(row: &MediaRow, key: &str) -> String {
    let raw = row
        .original_filename
        .as_deref()
        .unwrap_or_else(|| key.rsplit('/').next().unwrap_or("file"));
    with_true_extension(&sanitize_file_name(raw), &row.file_type)
}

fn with_true_extension(name: &str, file_type: &str) -> String {
    let Some(media_type) = MediaType::by_mime(file_type) else {
        return name.to_owned();
    };
    let current = name
        .rsplit_once('.')
        .map(|(_, ext)| ext)
        .and_then(MediaType::by_extension);
    if current == Some(media_type) {
        name.to_owned()
    } else {
        format!("{name}.{}", media_type.extension)
    }
}

/// Whether this type may be shown inline; SVG can carry script, so it never is.
pub(super) fn inline_allowed(file_type: &str) -> bool {
    MediaType::by_mime(file_type).is_some_and(|t| !t.is_active_content())
}

/// Signs a GET for `key` and answers with it: 302 to the URL, or 200 JSON.
pub(super) async fn presigned_answer(
    state: &AppState,
    key: &str,
    overrides: DownloadOverrides,
    redirect: bool,
) -> ApiResult {
    let presigned = state
        .storage()
        .presigned_get(key, state.config.presigned_url_ttl, overrides)
        .await
        .map_err(ApiError::from)?;
    if !redirect {
        return Ok(json_response(
            200,
            &json!({ "url": presigned.url, "expires_at": presigned.expires_at }),
        ));
    }
    Ok(Response::builder()
        .status(302)
        .header(http::header::LOCATION, presigned.url)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)
        .expect("a presigned URL is a valid header value"))
}

/// `?redirect=false` asks for the presigned URL as JSON instead of a 302 (for browsers,
/// which cannot add the Authorization header when following a link).
pub(super) fn wants_redirect(input: &Input) -> Result<bool, ApiError> {
    match input.query("redirect")? {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(ApiError::validation(
            &["query", "redirect"],
            "must be true or false",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_has_an_ascii_fallback_and_the_utf8_name() {
        assert_eq!(
            content_disposition("attachment", "Fête d'été.jpg"),
            "attachment; filename=\"F_te d'_t_.jpg\"; filename*=UTF-8''F%C3%AAte%20d%27%C3%A9t%C3%A9.jpg"
        );
    }

    #[test]
    fn disposition_is_a_valid_header_value_for_hostile_names() {
        for raw in [
            "a\r\nSet-Cookie: x",
            "\u{202e}exe.jpg",
            "\"quoted\".png",
            "back\\slash.txt",
        ] {
            let value = content_disposition("inline", &sanitize_file_name(raw));
            assert!(http::HeaderValue::from_str(&value).is_ok(), "{value:?}");
            assert!(!value.contains('\r') && !value.contains('\n'));
        }
    }

    #[test]
    fn a_download_name_ends_in_the_true_extension() {
        assert_eq!(
            with_true_extension("photo.jpg.exe", "image/png"),
            "photo.jpg.exe.png"
        );
        assert_eq!(
            with_true_extension("photo.JPEG", "image/jpeg"),
            "photo.JPEG"
        );
        assert_eq!(with_true_extension("notes", "text/plain"), "notes.txt");
        assert_eq!(
            with_true_extension("legacy.bin", "application/x-unknown"),
            "legacy.bin"
        );
    }

    #[test]
    fn svg_is_never_inline() {
        assert!(inline_allowed("video/mp4"));
        assert!(!inline_allowed("image/svg+xml"));
        assert!(!inline_allowed("text/html"));
    }
}
