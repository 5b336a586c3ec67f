//! The S3 key layout of the spec, one pure function per prefix:
//!
//! ```text
//! events/{event_id}/media/{YYYY}/{MM}/{DD}/{HHMMSS}_{micros}.{ext}
//! users/{user_id}/profile/{YYYY}/{MM}/{DD}/{HHMMSS}_{micros}.{ext}
//! temp/{YYYY}/{MM}/{DD}/{HHMMSS}_{micros}.{ext}
//! events/{event_id}/previews/{media_id}/{size}.jpg     (an image's preview variants)
//! ```
//!
//! Every piece is a UUID, a UTC timestamp or an extension from the allow-list, so nothing a
//! client sends ever becomes a path segment.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// A key built by this module: known to be free of `..`, `//`, control characters and a
/// leading `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Key(String);

impl S3Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last path segment, e.g. `120000_123456.jpg`.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for S3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an event's media lives.
pub fn event_media_key(event_id: Uuid, at: DateTime<Utc>, extension: &str) -> S3Key {
    S3Key(format!(
        "events/{event_id}/media/{}",
        dated_name(at, extension)
    ))
}

/// Where the preview of `media_id` at `size` (`thumb`, `medium`) lives: under its event, so
/// the sweep and the IAM policy see it, and under a `previews/` segment no original uses.
pub fn preview_key(event_id: Uuid, media_id: Uuid, size: crate::preview::PreviewSize) -> S3Key {
    S3Key(format!(
        "events/{event_id}/previews/{media_id}/{}.{}",
        size.name(),
        crate::preview::EXTENSION
    ))
}

/// The media id a preview variant's key belongs to; `None` for any other key.
pub fn preview_media_id(key: &str) -> Option<Uuid> {
    let mut parts = key.split('/');
    let (Some("events"), Some(event), Some("previews"), Some(media), Some(_file), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Uuid::parse_str(event).ok()?;
    Uuid::parse_str(media).ok()
}

/// Where a user's profile pictures live.
pub fn user_profile_key(user_id: Uuid, at: DateTime<Utc>, extension: &str) -> S3Key {
    S3Key(format!(
        "users/{user_id}/profile/{}",
        dated_name(at, extension)
    ))
}

/// Where objects wait before they are checked and moved (direct uploads).
pub fn temp_key(at: DateTime<Utc>, extension: &str) -> S3Key {
    S3Key(format!("temp/{}", dated_name(at, extension)))
}

/// The instant that names the next candidate key after a collision: keys are unique to the
/// microsecond, so one microsecond later is the next free name.
pub fn next_instant(at: DateTime<Utc>) -> DateTime<Utc> {
    at + Duration::microseconds(1)
}

fn dated_name(at: DateTime<Utc>, extension: &str) -> String {
    let name = at.format("%Y/%m/%d/%H%M%S_%6f").to_string();
    match sanitize_extension(extension) {
        Some(ext) => format!("{name}.{ext}"),
        None => name,
    }
}

/// Lower-cases the extension and keeps it only if it is 1–10 ASCII letters or digits.
pub fn sanitize_extension(extension: &str) -> Option<String> {
    let ext = extension.trim_start_matches('.').to_ascii_lowercase();
    let valid =
        !ext.is_empty() && ext.len() <= 10 && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then_some(ext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + Duration::microseconds(123_456)
    }

    #[test]
    fn preview_keys_name_their_media_and_nothing_else_does() {
        let event = Uuid::parse_str("6f1c2d3e-0000-4000-8000-000000000001").unwrap();
        let media = Uuid::parse_str("7d3e9a10-0000-4000-8000-000000000002").unwrap();
        let key = preview_key(event, media, crate::preview::PreviewSize::Thumb);
        assert_eq!(
            key.as_str(),
            "events/6f1c2d3e-0000-4000-8000-000000000001/previews/7d3e9a10-0000-4000-8000-000000000002/thumb.jpg"
        );
        assert_eq!(preview_media_id(key.as_str()), Some(media));
        assert_eq!(
            preview_media_id(event_media_key(event, noon(), "jpg").as_str()),
            None
        );
        assert_eq!(preview_media_id("events/x/previews/y/thumb.jpg"), None);
        assert_eq!(preview_media_id(&format!("{key}/more")), None);
    }

    #[test]
    fn event_keys_follow_the_spec_layout() {
        let event = Uuid::parse_str("6f1c2d3e-0000-4000-8000-000000000001").unwrap();
        let key = event_media_key(event, noon(), "JPG");
        assert_eq!(
            key.as_str(),
            "events/6f1c2d3e-0000-4000-8000-000000000001/media/2024/01/01/120000_123456.jpg"
        );
        assert_eq!(key.file_name(), "120000_123456.jpg");
    }

    #[test]
    fn user_and_temp_keys_follow_the_spec_layout() {
        let user = Uuid::nil();
        assert_eq!(
            user_profile_key(user, noon(), "png").as_str(),
            "users/00000000-0000-0000-0000-000000000000/profile/2024/01/01/120000_123456.png"
        );
        assert_eq!(
            temp_key(noon(), "pdf").as_str(),
            "temp/2024/01/01/120000_123456.pdf"
        );
    }

    #[test]
    fn hostile_extensions_never_reach_the_key() {
        for ext in [
            "../../etc",
            "a/b",
            "x\0y",
            "",
            "averyveryverylongext",
            "p h p",
            "é",
        ] {
            let key = temp_key(noon(), ext);
            assert_eq!(key.as_str(), "temp/2024/01/01/120000_123456", "{ext:?}");
        }
    }

    #[test]
    fn the_next_instant_gives_the_next_key() {
        let a = temp_key(noon(), "jpg");
        let b = temp_key(next_instant(noon()), "jpg");
        assert_eq!(b.as_str(), "temp/2024/01/01/120000_123457.jpg");
        assert_ne!(a, b);
    }

    #[test]
    fn keys_have_no_dangerous_shapes() {
        // Every instant of one day at a coarse step, with every allowed extension.
        let start = noon();
        for step in 0..2000 {
            let at = start + Duration::seconds(step * 43) + Duration::microseconds(step * 7);
            for ext in crate::media_type::ALLOWED.iter().map(|t| t.extension) {
                let key = event_media_key(Uuid::new_v4(), at, ext);
                let key = key.as_str();
                assert!(!key.starts_with('/'));
                assert!(!key.contains(".."));
                assert!(!key.contains("//"));
                assert!(!key.chars().any(char::is_control));
            }
        }
    }
}
