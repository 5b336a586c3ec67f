//! The `events/` fixtures (API Gateway HTTP API events) with their placeholders filled in, and
//! the bytes that requests carry: small valid images and multipart forms.

use anyhow::{Context, Result};
use lambda_http::{Body, Request};
use uuid::Uuid;

/// The placeholders the fixtures hold where a test puts its own ids and token.
pub const FIXTURE_EVENT_ID: &str = "0b6c4f2e-5f1a-4c3e-9a57-3d2f1e8b7a01";
pub const FIXTURE_MEDIA_ID: &str = "7d3e9a10-2c4b-4f8e-8b1a-5e6f7a8b9c02";
pub const FIXTURE_TOKEN: &str = "REPLACE_WITH_DEV_TOKEN";

/// The text of `events/<function>/<case>.json`, placeholders untouched.
pub fn fixture_text(function: &str, case: &str) -> Result<String> {
    let path = format!(
        "{}/../events/{function}/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).with_context(|| path)
}

/// A fixture's text with the ids and the token in place of the placeholders.
pub fn fill(text: &str, event_id: Uuid, media_id: Uuid, token: &str) -> String {
    text.replace(FIXTURE_EVENT_ID, &event_id.to_string())
        .replace(FIXTURE_MEDIA_ID, &media_id.to_string())
        .replace(FIXTURE_TOKEN, token)
}

/// The request Lambda hands a function for this event text.
pub fn parse(text: &str) -> Result<Request> {
    lambda_http::request::from_str(text).context("not an API Gateway event")
}

/// `request` with `body` as its (binary) body.
pub fn with_body(request: Request, body: Vec<u8>) -> Request {
    let (parts, _) = request.into_parts();
    Request::from_parts(parts, Body::Binary(body))
}

/// A valid 1×1 PNG.
pub fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |bytes: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(&[0, 0, 0, 0]); // CRC: not checked by signature sniffing
    };
    chunk(
        &mut bytes,
        b"IHDR",
        &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0],
    );
    chunk(&mut bytes, b"IEND", &[]);
    bytes
}

/// A JPEG signature followed by filler, `size` bytes in total.
pub fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes =
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    bytes.extend((0..size.saturating_sub(bytes.len())).map(|i| (i % 251) as u8));
    bytes.truncate(size);
    bytes
}

/// One part of a multipart form: a file when it has a file name.
pub struct Part<'a> {
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    /// The part's own Content-Type (files only).
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

impl<'a> Part<'a> {
    /// A file part, typed as a client that does not know the type sends it.
    pub fn file(name: &'a str, file_name: &'a str, bytes: &'a [u8]) -> Self {
        Self {
            name,
            file_name: Some(file_name),
            content_type: "application/octet-stream",
            bytes,
        }
    }

    /// The same part with the type a client declares for it.
    pub fn typed(self, content_type: &'a str) -> Self {
        Self {
            content_type,
            ..self
        }
    }
}

pub const BOUNDARY: &str = "testboundary7MA4YWxkTrZu0gW";

/// The request header of a form built by [`multipart_body`].
pub fn multipart_content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A multipart form of `parts` followed by text `fields`.
pub fn multipart_body(parts: &[Part<'_>], fields: &[(&str, &str)]) -> Vec<u8> {
    let size: usize = parts.iter().map(|p| p.bytes.len()).sum();
    let mut body = Vec::with_capacity(size + 256 * (parts.len() + fields.len() + 1));
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part.file_name {
            Some(file_name) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{file_name}\"\r\nContent-Type: {}\r\n\r\n",
                    part.name, part.content_type
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", part.name).as_bytes(),
            ),
        }
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `request` carrying the form of `parts` and `fields`.
pub fn with_multipart(request: Request, parts: &[Part<'_>], fields: &[(&str, &str)]) -> Request {
    with_form(request, multipart_body(parts, fields))
}

/// `request` carrying `form`, a body built by [`multipart_body`], with its content type (and
/// no stale content-length from the fixture).
pub fn with_form(request: Request, form: Vec<u8>) -> Request {
    let (mut head, _) = request.into_parts();
    head.headers.insert(
        "content-type",
        multipart_content_type()
            .parse()
            .expect("the boundary is a valid header value"),
    );
    head.headers.remove("content-length");
    Request::from_parts(head, Body::Binary(form))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_gets_the_ids_and_token_in_place_of_every_placeholder() {
        let (event, media) = (Uuid::new_v4(), Uuid::new_v4());
        for endpoint in crate::Endpoint::ALL {
            let (function, case) = crate::dispatch::fixture_of(endpoint);
            let text = fill(&fixture_text(function, case).unwrap(), event, media, "tok");
            assert!(!text.contains(FIXTURE_EVENT_ID), "{function}/{case}");
            assert!(!text.contains(FIXTURE_MEDIA_ID), "{function}/{case}");
            assert!(!text.contains(FIXTURE_TOKEN), "{function}/{case}");
            // The signed-URL endpoints' paths name no event.
            if endpoint.path().contains("{event_id}") {
                assert!(text.contains(&event.to_string()), "{function}/{case}");
            }
            parse(&text).unwrap();
        }
    }

    #[test]
    fn a_form_names_each_part_and_closes_with_the_boundary() {
        let body = multipart_body(
            &[Part::file("file", "a.jpg", b"JPEG").typed("image/jpeg")],
            &[("title", "Hi")],
        );
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(text.contains(
            "name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEG\r\n"
        ));
        assert!(text.contains("name=\"title\"\r\n\r\nHi\r\n"));
        assert!(text.ends_with(&format!("--{BOUNDARY}--\r\n")));
    }
}
