//! Which files are accepted, and what they really are.
//!
//! The type of an upload is decided from its bytes wherever the format has a signature (via
//! the `infer` crate), and from the file name's extension only for text formats that have none.
//! What the client declares in the part's Content-Type is never trusted: a `.png` that is an
//! executable, or an HTML page named `.txt`, is refused.
//!
//! Both ways in (the form upload and the direct upload's complete) judge a file by the same
//! window, its first [`SNIFF_BYTES`], so the same bytes get the same answer however large the
//! file is. Past that window nothing is read; what could still hide there is harmless because
//! every type a browser might run (SVG, text) is stored and served as an attachment.

/// Why a file is refused. Every variant is a 415 at the HTTP edge ([`crate::error`]); the
/// message says what the file was found to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The bytes have a signature of a type that is not on the allow-list (an executable,
    /// HTML, XML that is not an SVG).
    #[error("file content is {found}, which is not an allowed type")]
    NotAllowed { found: &'static str },
    /// No signature, and the name's extension names no allowed type.
    #[error(
        "file type not recognised: use an image, video, audio or document type from the allow-list"
    )]
    Unrecognised,
    /// The extension names a type with a signature, but the bytes do not start with it.
    #[error("file content does not match its .{extension} extension")]
    Contradicts { extension: &'static str },
    /// The extension names a text type (or SVG), but the bytes are not that.
    #[error("file content is not valid {mime}")]
    NotValid { mime: &'static str },
}

/// One entry of the allow-list of the original service.
#[derive(Debug, PartialEq, Eq)]
pub struct MediaType {
    /// The canonical MIME type stored in `event_media.file_type`.
    pub mime: &'static str,
    /// The extension used in S3 keys.
    pub extension: &'static str,
    /// Other extensions clients use for the same type.
    pub other_extensions: &'static [&'static str],
    /// Other names `infer` or clients use for the same type.
    pub aliases: &'static [&'static str],
    /// Whether the format starts with a recognisable signature.
    pub has_signature: bool,
}

/// How much of a file the type check reads: enough to recognise every allowed signature
/// (ZIP-based Office formats need the first entries' names) and to judge text.
pub const SNIFF_BYTES: usize = 8192;

/// The UTF-8 byte-order mark, which text editors put before the first character.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

impl MediaType {
    /// Types a browser could run, or sniff into something it runs, if it displayed them: SVG
    /// (script) and every text type. Stored and served only as attachments.
    pub fn is_active_content(&self) -> bool {
        self.mime == "image/svg+xml" || self.mime.starts_with("text/")
    }

    pub fn by_mime(mime: &str) -> Option<&'static MediaType> {
        let mime = mime.trim().to_ascii_lowercase();
        ALLOWED
            .iter()
            .find(|t| t.mime == mime || t.aliases.contains(&mime.as_str()))
    }

    pub fn by_extension(extension: &str) -> Option<&'static MediaType> {
        let ext = extension.to_ascii_lowercase();
        ALLOWED
            .iter()
            .find(|t| t.extension == ext || t.other_extensions.contains(&ext.as_str()))
    }
}

const fn signed(mime: &'static str, extension: &'static str) -> MediaType {
    MediaType {
        mime,
        extension,
        other_extensions: &[],
        aliases: &[],
        has_signature: true,
    }
}

pub static ALLOWED: &[MediaType] = &[
    MediaType {
        other_extensions: &["jpeg", "jpe"],
        aliases: &["image/jpg", "image/pjpeg"],
        ..signed("image/jpeg", "jpg")
    },
    signed("image/png", "png"),
    signed("image/gif", "gif"),
    signed("image/webp", "webp"),
    MediaType {
        has_signature: false,
        ..signed("image/svg+xml", "svg")
    },
    MediaType {
        other_extensions: &["m4v"],
        ..signed("video/mp4", "mp4")
    },
    MediaType {
        aliases: &["video/avi", "video/msvideo"],
        ..signed("video/x-msvideo", "avi")
    },
    signed("video/quicktime", "mov"),
    signed("video/x-ms-wmv", "wmv"),
    signed("video/x-flv", "flv"),
    signed("video/webm", "webm"),
    signed("video/x-matroska", "mkv"),
    signed("application/pdf", "pdf"),
    signed("application/msword", "doc"),
    signed(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    signed("application/vnd.ms-excel", "xls"),
    signed(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    signed("application/vnd.ms-powerpoint", "ppt"),
    signed(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "pptx",
    ),
    MediaType {
        other_extensions: &["text"],
        has_signature: false,
        ..signed("text/plain", "txt")
    },
    MediaType {
        has_signature: false,
        ..signed("text/csv", "csv")
    },
    MediaType {
        aliases: &["audio/mp3", "audio/mpeg3", "audio/x-mpeg"],
        ..signed("audio/mpeg", "mp3")
    },
    MediaType {
        aliases: &["audio/x-wav", "audio/wave", "audio/vnd.wave"],
        ..signed("audio/wav", "wav")
    },
    MediaType {
        other_extensions: &["oga"],
        ..signed("audio/ogg", "ogg")
    },
    signed("audio/aac", "aac"),
];

/// The `Content-Disposition` an object of type `mime` is stored with: `attachment` for active
/// content (and for a type outside the allow-list), none for the rest.
pub fn stored_disposition(mime: &str) -> Option<&'static str> {
    let active = MediaType::by_mime(mime).is_none_or(MediaType::is_active_content);
    active.then_some("attachment")
}

/// Decides what a file (named `file_name` by the client) really is from its first bytes, or
/// refuses it. Only the first [`SNIFF_BYTES`] of `bytes` are looked at, whatever is passed.
pub fn detect(bytes: &[u8], file_name: &str) -> Result<&'static MediaType, Rejected> {
    let window = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let extension = extension_of(file_name);
    if let Some(kind) = infer::get(window) {
        return by_signature(kind, window, extension.as_deref());
    }
    // Markup or a script behind a byte-order mark is still markup or a script: sniff what
    // follows the mark, and accept only what text may be (an SVG document).
    if let Some(kind) = window.strip_prefix(UTF8_BOM).and_then(infer::get) {
        return markup(kind, window, extension.as_deref());
    }
    by_extension(window, extension.as_deref())
}

/// The allowed type `infer` recognised, or a refusal.
fn by_signature(
    kind: infer::Type,
    window: &[u8],
    extension: Option<&str>,
) -> Result<&'static MediaType, Rejected> {
    match MediaType::by_mime(kind.mime_type()) {
        Some(found) => Ok(found),
        None => markup(kind, window, extension),
    }
}

/// `infer` calls an SVG document XML; accept it only as an SVG, and refuse every other kind.
fn markup(
    kind: infer::Type,
    window: &[u8],
    extension: Option<&str>,
) -> Result<&'static MediaType, Rejected> {
    if kind.mime_type() == "text/xml" && extension == Some("svg") && looks_like_svg(window) {
        return Ok(MediaType::by_mime("image/svg+xml").expect("svg is allowed"));
    }
    Err(Rejected::NotAllowed {
        found: kind.mime_type(),
    })
}

/// A format without a signature (text, SVG), named by its extension, if the window fits it.
fn by_extension(window: &[u8], extension: Option<&str>) -> Result<&'static MediaType, Rejected> {
    let declared = extension
        .and_then(MediaType::by_extension)
        .ok_or(Rejected::Unrecognised)?;
    if declared.has_signature {
        return Err(Rejected::Contradicts {
            extension: declared.extension,
        });
    }
    let text_ok = is_utf8_prefix(window);
    let shape_ok = declared.mime != "image/svg+xml" || looks_like_svg(window);
    if text_ok && shape_ok {
        Ok(declared)
    } else {
        Err(Rejected::NotValid {
            mime: declared.mime,
        })
    }
}

/// Valid UTF-8, allowing a character cut off at the end (the window may end inside one; a
/// file whose real last character is cut is let through the same way on both paths).
fn is_utf8_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(err) => err.error_len().is_none(),
    }
}

fn extension_of(file_name: &str) -> Option<String> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("<svg")
}

/// A file name safe to store and to put in a Content-Disposition header: the last path
/// segment only, no control or bidi-override characters, no quotes, at most 255 characters.
pub fn sanitize_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_format(*c) && !matches!(c, '"' | ';'))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let name = if trimmed.is_empty() { "file" } else { trimmed };
    truncate_keeping_extension(name, 255)
}

/// Unicode's format characters (general category Cf): every `Bidi_Control` character (which
/// can make `gpj.exe` display as `exe.jpg`), zero-width joiners and spaces, soft hyphens, tag
/// characters. None of them belongs in a name a person reads.
fn is_invisible_format(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.general_category() == GeneralCategory::Format
}

fn truncate_keeping_extension(name: &str, max_chars: usize) -> String {
    if name.chars().count() <= max_chars {
        return name.to_owned();
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| e.chars().count() <= 10)
        .unwrap_or("");
    let keep = max_chars - ext.chars().count() - usize::from(!ext.is_empty());
    let stem: String = name.chars().take(keep).collect();
    if ext.is_empty() {
        stem
    } else {
        format!("{stem}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0";

    #[test]
    fn a_png_is_a_png_whatever_its_name() {
        assert_eq!(detect(PNG, "photo.png").unwrap().mime, "image/png");
        assert_eq!(detect(PNG, "photo.jpg").unwrap().mime, "image/png");
        assert_eq!(detect(JPEG, "noext").unwrap().mime, "image/jpeg");
    }

    #[test]
    fn an_executable_named_png_is_refused() {
        // Too short for `infer` to name: judged by its name, which its bytes contradict.
        assert_eq!(
            detect(ELF, "photo.png"),
            Err(Rejected::Contradicts { extension: "png" })
        );
        assert_eq!(detect(ELF, "photo.jpg.exe"), Err(Rejected::Unrecognised));
    }

    #[test]
    fn text_without_a_signature_needs_a_text_extension() {
        assert_eq!(
            detect(b"hello, world\n", "notes.txt").unwrap().mime,
            "text/plain"
        );
        assert_eq!(detect(b"a,b\n1,2\n", "data.CSV").unwrap().mime, "text/csv");
        assert_eq!(detect(b"hello", "notes"), Err(Rejected::Unrecognised));
        assert_eq!(detect(b"hello", "notes.exe"), Err(Rejected::Unrecognised));
        assert_eq!(
            detect(b"\xff\xfe\x00garbage", "notes.txt"),
            Err(Rejected::NotValid { mime: "text/plain" })
        );
    }

    #[test]
    fn a_signature_format_without_its_signature_is_refused() {
        let err = detect(b"not really a png", "photo.png").unwrap_err();
        assert_eq!(err, Rejected::Contradicts { extension: "png" });
        assert!(err.to_string().contains(".png"));
    }

    #[test]
    fn svg_is_recognised_and_html_is_not() {
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>";
        assert_eq!(detect(svg, "logo.svg").unwrap().mime, "image/svg+xml");
        assert_eq!(
            detect(b"<svg></svg>", "logo.svg").unwrap().mime,
            "image/svg+xml"
        );
        assert_eq!(
            detect(b"<html><script>alert(1)</script></html>", "page.txt"),
            Err(Rejected::NotAllowed { found: "text/html" })
        );
        assert_eq!(
            detect(b"<?xml version=\"1.0\"?><root/>", "data.svg"),
            Err(Rejected::NotAllowed { found: "text/xml" })
        );
    }

    #[test]
    fn a_byte_order_mark_hides_no_markup_or_script() {
        let bom = |rest: &[u8]| [b"\xef\xbb\xbf".as_slice(), rest].concat();
        assert_eq!(
            detect(&bom(b"hello"), "notes.txt").unwrap().mime,
            "text/plain"
        );
        assert!(detect(&bom(b"<html><script>alert(1)</script></html>"), "page.txt").is_err());
        assert!(detect(&bom(b"#!/bin/sh\nrm -rf /\n"), "run.txt").is_err());
        assert!(detect(&bom(PNG), "photo.png").is_err());
        let svg = bom(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>");
        assert_eq!(detect(&svg, "logo.svg").unwrap().mime, "image/svg+xml");
    }

    #[test]
    fn only_the_first_window_of_a_file_is_judged() {
        let mut text = vec![b'a'; SNIFF_BYTES];
        text.extend_from_slice(b"\xff\xfe\x00 binary after the window");
        assert_eq!(detect(&text, "notes.txt").unwrap().mime, "text/plain");
        text[SNIFF_BYTES - 1] = 0xff;
        assert!(detect(&text, "notes.txt").is_err());
        // A character cut by the window's end is not a bad byte.
        let mut cut = vec![b'a'; SNIFF_BYTES - 1];
        cut.extend_from_slice("é".as_bytes());
        assert_eq!(detect(&cut, "notes.txt").unwrap().mime, "text/plain");
    }

    #[test]
    fn text_and_svg_are_stored_as_attachments() {
        for mime in [
            "text/plain",
            "text/csv",
            "image/svg+xml",
            "text/html",
            "unknown/x",
        ] {
            assert_eq!(stored_disposition(mime), Some("attachment"), "{mime}");
        }
        for mime in ["image/jpeg", "video/mp4", "application/pdf", "audio/mpeg"] {
            assert_eq!(stored_disposition(mime), None, "{mime}");
        }
    }

    #[test]
    fn client_aliases_map_to_canonical_types() {
        assert_eq!(MediaType::by_mime("audio/mp3").unwrap().mime, "audio/mpeg");
        assert_eq!(MediaType::by_mime("IMAGE/JPG").unwrap().mime, "image/jpeg");
        assert_eq!(MediaType::by_extension("JPEG").unwrap().mime, "image/jpeg");
        assert!(MediaType::by_mime("text/html").is_none());
    }

    #[test]
    fn file_names_lose_paths_controls_and_quotes() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("C:\\Users\\x\\photo.jpg"), "photo.jpg");
        assert_eq!(
            sanitize_file_name("a\r\nSet-Cookie: x.jpg"),
            "aSet-Cookie: x.jpg"
        );
        assert_eq!(sanitize_file_name("evil\u{202e}gpj.exe"), "evilgpj.exe");
        assert_eq!(sanitize_file_name("say \"hi\"; now.txt"), "say hi now.txt");
        assert_eq!(sanitize_file_name("/"), "file");
        assert_eq!(sanitize_file_name("...hidden"), "hidden");
        let long = format!("{}.jpg", "a".repeat(1000));
        let short = sanitize_file_name(&long);
        assert_eq!(short.chars().count(), 255);
        assert!(short.ends_with(".jpg"));
    }

    #[test]
    fn every_bidi_control_and_format_character_is_stripped() {
        // Bidi_Control, as Unicode's PropList.txt lists it.
        let bidi_controls = ['\u{061c}', '\u{200e}', '\u{200f}']
            .into_iter()
            .chain('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}');
        // Other Cf characters: zero-width space and joiners, word joiner, BOM, soft hyphen,
        // Arabic number sign, a tag character, an interlinear annotation anchor.
        let other_format = [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{0600}',
            '\u{e0041}',
            '\u{fff9}',
        ];
        for c in bidi_controls.chain(other_format) {
            let name = format!("ev{c}il.jpg");
            assert_eq!(sanitize_file_name(&name), "evil.jpg", "U+{:04X}", c as u32);
        }
        assert_eq!(sanitize_file_name("café 日本 ü.jpg"), "café 日本 ü.jpg");
    }
}
