//! Preview URLs: signed links to an image's previews that work in a plain `<img src>`, with no
//! Authorization header. The signature is the authorization: an HMAC-SHA256, under a key of
//! its own (never the JWT key), of the media id, the size and the expiry. A link is only ever
//! made for media JSON, which is only answered after the token and ownership checks, and it
//! is checked in constant time.
//!
//! The expiry is rounded up to a window ([`WINDOW_SECONDS`]), so every answer within one
//! window carries the same URL for the same picture and a browser's cache keeps working; a
//! link lives between one and two windows.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

use crate::preview::{PreviewSize, is_previewable_type};

/// The expiry's rounding: a link is the same for an hour, and valid for one to two hours.
pub const WINDOW_SECONDS: i64 = 3600;

/// The shortest signing key accepted: 32 bytes, HMAC-SHA256's own strength.
pub const MIN_KEY_BYTES: usize = 32;

/// Signs and checks preview URLs. Holds the key; `Debug` never prints it.
pub struct PreviewSigner {
    key: SecretString,
}

impl std::fmt::Debug for PreviewSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreviewSigner(..)")
    }
}

/// Why a preview URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// No signature, a malformed one, or one that does not match.
    BadSignature,
    /// A correct signature whose expiry has passed.
    Expired,
}

/// The signing key is unusable.
#[derive(Debug, thiserror::Error)]
#[error("the preview signing key must be at least {MIN_KEY_BYTES} bytes")]
pub struct WeakKey;

impl PreviewSigner {
    /// The key as the secret holds it, trimmed.
    pub fn new(key: &SecretString) -> Result<Self, WeakKey> {
        let trimmed = key.expose_secret().trim();
        if trimmed.len() < MIN_KEY_BYTES {
            return Err(WeakKey);
        }
        Ok(Self {
            key: SecretString::from(trimmed.to_owned()),
        })
    }

    fn mac(&self, media_id: Uuid, size: PreviewSize, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        // Fixed-width fields separated by newlines: no two inputs give the same message.
        mac.update(
            format!(
                "plugs-media preview v1\n{media_id}\n{}\n{expires}",
                size.name()
            )
            .as_bytes(),
        );
        mac
    }

    /// The signature of a link, base64url without padding (43 characters).
    pub fn sign(&self, media_id: Uuid, size: PreviewSize, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(media_id, size, expires).finalize().into_bytes())
    }

    /// Checks a link's `expires` and `signature` as the request carries them. The signature
    /// is compared in constant time (`Mac::verify_slice`), and before the expiry, so that an
    /// expired answer says the link was genuine.
    pub fn verify(
        &self,
        media_id: Uuid,
        size: PreviewSize,
        expires: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<(), LinkError> {
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(LinkError::BadSignature);
        };
        let expires = parse_expires(expires).ok_or(LinkError::BadSignature)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| LinkError::BadSignature)?;
        self.mac(media_id, size, expires)
            .verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;
        if expires < now {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// Only the canonical decimal form is signed, so only it is accepted (no `+1`, no `01`).
fn parse_expires(text: &str) -> Option<i64> {
    let value: i64 = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

/// The expiry of links made at `now`: the end of the window after the current one.
pub fn expiry(now: i64) -> i64 {
    (now.div_euclid(WINDOW_SECONDS) + 2) * WINDOW_SECONDS
}

/// The path of a preview, as the route serves it.
pub fn preview_path(media_id: Uuid, size: PreviewSize) -> String {
    format!("/api/v1/media/{media_id}/preview/{}", size.name())
}

/// Makes the `previews` object of media JSON for one request: the signer, the origin the
/// URLs start with, and the expiry they carry.
#[derive(Clone)]
pub struct PreviewLinks {
    signer: Option<Arc<PreviewSigner>>,
    origin: String,
    expires: i64,
}

impl PreviewLinks {
    /// `signer` is `None` only in functions that answer no media JSON (their registry entry
    /// declares no preview key).
    pub fn new(signer: Option<Arc<PreviewSigner>>, origin: String, now: i64) -> Self {
        Self {
            signer,
            origin,
            expires: expiry(now),
        }
    }

    /// `{"thumb": url, "medium": url}` for an image that gets previews, `None` otherwise.
    pub fn for_media(&self, media_id: Uuid, file_type: &str) -> Option<BTreeMap<String, String>> {
        if !is_previewable_type(file_type) {
            return None;
        }
        let signer = self
            .signer
            .as_ref()
            .expect("the registry entry of this function declares no preview key");
        Some(
            PreviewSize::ALL
                .into_iter()
                .map(|size| {
                    let signature = signer.sign(media_id, size, self.expires);
                    let url = format!(
                        "{}{}?expires={}&signature={signature}",
                        self.origin,
                        preview_path(media_id, size),
                        self.expires
                    );
                    (size.name().to_owned(), url)
                })
                .collect(),
        )
    }
}

/// The origin preview URLs start with: `API_BASE_URL` when configured, else the request's
/// own (`X-Forwarded-Proto`, which API Gateway always sets, else `http`; and `Host`). A
/// `Host` that is not a plain host name and port gives no origin: the URLs are then
/// relative to the API's.
pub fn request_origin(configured: Option<&str>, headers: &http::HeaderMap) -> String {
    if let Some(base) = configured {
        return base.to_owned();
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| is_plain_host(h));
    let Some(host) = host else {
        return String::new();
    };
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> PreviewSigner {
        PreviewSigner::new(&SecretString::from("k".repeat(32))).unwrap()
    }

    const NOW: i64 = 1_800_000_123;

    fn verify(
        signer: &PreviewSigner,
        id: Uuid,
        size: PreviewSize,
        expires: &str,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        signer.verify(id, size, Some(expires), Some(signature), now)
    }

    #[test]
    fn a_link_verifies_until_it_expires() {
        let (s, id) = (signer(), Uuid::new_v4());
        let expires = expiry(NOW);
        let sig = s.sign(id, PreviewSize::Thumb, expires);
        assert_eq!(
            verify(&s, id, PreviewSize::Thumb, &expires.to_string(), &sig, NOW),
            Ok(())
        );
        assert_eq!(
            verify(
                &s,
                id,
                PreviewSize::Thumb,
                &expires.to_string(),
                &sig,
                expires + 1
            ),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn the_signature_binds_the_media_the_size_and_the_expiry() {
        let (s, id) = (signer(), Uuid::new_v4());
        let expires = expiry(NOW);
        let sig = s.sign(id, PreviewSize::Thumb, expires);
        let bad = Err(LinkError::BadSignature);
        assert_eq!(
            verify(
                &s,
                Uuid::new_v4(),
                PreviewSize::Thumb,
                &expires.to_string(),
                &sig,
                NOW
            ),
            bad
        );
        assert_eq!(
            verify(&s, id, PreviewSize::Medium, &expires.to_string(), &sig, NOW),
            bad
        );
        assert_eq!(
            verify(
                &s,
                id,
                PreviewSize::Thumb,
                &(expires + 3600).to_string(),
                &sig,
                NOW
            ),
            bad
        );
        assert_eq!(
            verify(
                &s,
                id,
                PreviewSize::Thumb,
                &format!("0{expires}"),
                &sig,
                NOW
            ),
            bad
        );
        let other = PreviewSigner::new(&SecretString::from("j".repeat(32))).unwrap();
        assert_eq!(
            verify(
                &other,
                id,
                PreviewSize::Thumb,
                &expires.to_string(),
                &sig,
                NOW
            ),
            bad
        );
        assert_eq!(s.verify(id, PreviewSize::Thumb, None, Some(&sig), NOW), bad);
        assert_eq!(
            s.verify(
                id,
                PreviewSize::Thumb,
                Some(&expires.to_string()),
                None,
                NOW
            ),
            bad
        );
        assert_eq!(
            verify(&s, id, PreviewSize::Thumb, &expires.to_string(), "%%%", NOW),
            bad
        );
        assert_eq!(
            verify(
                &s,
                id,
                PreviewSize::Thumb,
                &expires.to_string(),
                &sig[..20],
                NOW
            ),
            bad
        );
    }

    #[test]
    fn the_expiry_is_rounded_to_a_window_so_links_repeat() {
        let start = 1_800_000_000 - 1_800_000_000 % WINDOW_SECONDS;
        assert_eq!(expiry(start), start + 2 * WINDOW_SECONDS);
        assert_eq!(
            expiry(start + WINDOW_SECONDS - 1),
            start + 2 * WINDOW_SECONDS
        );
        assert_eq!(expiry(start + WINDOW_SECONDS), start + 3 * WINDOW_SECONDS);
        for now in [start, start + 1, start + WINDOW_SECONDS - 1] {
            let lifetime = expiry(now) - now;
            assert!((WINDOW_SECONDS..=2 * WINDOW_SECONDS).contains(&lifetime));
        }
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(PreviewSigner::new(&SecretString::from("short".to_owned())).is_err());
        assert!(PreviewSigner::new(&SecretString::from(format!(" {} ", "k".repeat(31)))).is_err());
    }

    #[test]
    fn only_raster_images_get_previews() {
        let links = PreviewLinks::new(
            Some(Arc::new(signer())),
            "https://api.example.com".into(),
            NOW,
        );
        let id = Uuid::new_v4();
        let previews = links.for_media(id, "image/jpeg").unwrap();
        assert_eq!(previews.keys().collect::<Vec<_>>(), ["medium", "thumb"]);
        assert!(previews["thumb"].starts_with(&format!(
            "https://api.example.com/api/v1/media/{id}/preview/thumb?expires="
        )));
        for other in ["image/svg+xml", "video/mp4", "application/pdf"] {
            assert_eq!(links.for_media(id, other), None, "{other}");
        }
    }

    #[test]
    fn the_origin_is_the_configured_one_or_the_requests() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(request_origin(None, &headers), "");
        headers.insert(
            "host",
            "abc.execute-api.eu-west-1.amazonaws.com".parse().unwrap(),
        );
        assert_eq!(
            request_origin(None, &headers),
            "http://abc.execute-api.eu-west-1.amazonaws.com"
        );
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(
            request_origin(None, &headers),
            "https://abc.execute-api.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            request_origin(Some("https://cdn.example.com/media"), &headers),
            "https://cdn.example.com/media"
        );
        headers.insert("host", "evil.com/<script>".parse().unwrap());
        assert_eq!(request_origin(None, &headers), "");
    }
}
