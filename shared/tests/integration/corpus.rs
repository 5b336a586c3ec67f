//! The bad-input corpus: one table of hostile or broken requests, each with the exact status
//! and error code it must get. After every case: no 5xx, and — unless the case is a success —
//! the database and the bucket are exactly as before.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::Request;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// What a case must get: a success status, or an error status and code.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok(u16),
    Err(u16, &'static str),
}

struct Case {
    name: String,
    endpoint: Endpoint,
    request: Request,
    expect: Expect,
}

/// Everything a case may refer to, set up once.
struct World {
    who: Organiser,
    media_id: Uuid,
    /// The zone of `media_id` (on the seed-era shape, the item itself).
    zone_id: Uuid,
    other_event_media_id: Uuid,
    upload_id: Uuid,
    foreign: Organiser,
    /// The organiser's second event, where `other_event_media_id` lives.
    second_event: Uuid,
    /// The zone of `other_event_media_id`.
    other_event_zone_id: Uuid,
    /// Whether the database is seed-era: a zone there takes no more files.
    seed_era: bool,
}

fn case(name: impl Into<String>, endpoint: Endpoint, request: Request, expect: Expect) -> Case {
    Case {
        name: name.into(),
        endpoint,
        request,
        expect,
    }
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn token_with(claims: Value, algorithm: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(who: &Organiser) -> Value {
    shared::auth::issue::access_claims(who.user_id, 600)
}

fn edit(mut value: Value, key: &str, new: Option<Value>) -> Value {
    match new {
        Some(v) => value[key] = v,
        None => {
            value.as_object_mut().unwrap().remove(key);
        }
    }
    value
}

fn with_token(request: Request, token: &str) -> Request {
    with_header(request, "authorization", &format!("Bearer {token}"))
}

/// An upload of raw multipart `body` with `content_type`.
fn raw_upload(w: &World, content_type: Option<&str>, body: &[u8]) -> Request {
    let base = request(Endpoint::UploadMedia, &w.who, Uuid::nil());
    let base = match content_type {
        Some(ct) => with_header(base, "content-type", ct),
        None => without_header(base, "content-type"),
    };
    with_body(base, body.to_vec())
}

fn upload_of(w: &World, file_name: &str, bytes: &[u8], fields: &[(&str, &str)]) -> Request {
    with_multipart(
        request(Endpoint::UploadMedia, &w.who, Uuid::nil()),
        &[Part::file("file", file_name, bytes)],
        fields,
    )
}

fn part(name: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes =
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{headers}\r\n\r\n")
            .into_bytes();
    bytes.extend_from_slice(body);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn closing() -> Vec<u8> {
    format!("--{BOUNDARY}--\r\n").into_bytes()
}

fn multipart_ct() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A request for `endpoint` whose path names `event` (and `item` for item endpoints).
fn at(endpoint: Endpoint, who: &Organiser, event: &str, item: &str) -> Request {
    let (function, case) = fixture_of(endpoint);
    let path = format!(
        "{}/../events/{function}/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(FIXTURE_EVENT_ID, &json_escape(event))
        .replace(FIXTURE_MEDIA_ID, &json_escape(item))
        .replace(FIXTURE_TOKEN, &who.token);
    lambda_http::request::from_str(&text).unwrap()
}

fn json_escape(raw: &str) -> String {
    let quoted = serde_json::to_string(raw).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

fn create_body(w: &World, body: &[u8]) -> Request {
    with_body(
        request(Endpoint::CreateUpload, &w.who, Uuid::nil()),
        body.to_vec(),
    )
}

fn multipart_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let png = png();
    let ct = multipart_ct();
    let mut file_part = part("file", "; filename=\"a.png\"", &png);
    let full = [file_part.clone(), closing()].concat();
    vec![
        case(
            "no boundary",
            Endpoint::UploadMedia,
            raw_upload(w, Some("multipart/form-data"), &full),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "wrong boundary",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some("multipart/form-data; boundary=somethingelse"),
                &full,
            ),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "truncated body",
            Endpoint::UploadMedia,
            raw_upload(w, Some(&ct), &full[..full.len() / 2]),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "no closing boundary",
            Endpoint::UploadMedia,
            raw_upload(w, Some(&ct), &file_part),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "empty body",
            Endpoint::UploadMedia,
            raw_upload(w, Some(&ct), b""),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "a part without a name",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    format!(
                        "--{BOUNDARY}\r\nContent-Disposition: form-data; filename=\"a.png\"\r\n\r\n"
                    )
                    .into_bytes(),
                    png.clone(),
                    b"\r\n".to_vec(),
                    closing(),
                ]
                .concat(),
            ),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "a part with an empty name",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    format!(
                        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"\"; filename=\"a.png\"\r\n\r\n"
                    )
                    .into_bytes(),
                    png.clone(),
                    b"\r\n".to_vec(),
                    closing(),
                ]
                .concat(),
            ),
            Err(400, "MALFORMED_REQUEST"),
        ),
        // Several file parts are a batch (one zone), whichever of the two names they use.
        case(
            "two file parts",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[file_part.clone(), file_part.clone(), closing()].concat(),
            ),
            Ok(201),
        ),
        case(
            "`file` and `files` parts, one of them empty",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    file_part.clone(),
                    part("files", "; filename=\"b.png\"", &png),
                    part("files", "; filename=\"empty.png\"", b""),
                    closing(),
                ]
                .concat(),
            ),
            Ok(201),
        ),
        case(
            "21 file parts",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[vec![file_part.clone(); 21].concat(), closing()].concat(),
            ),
            Err(422, "VALIDATION_ERROR"),
        ),
        // Harmless: the whole request is bounded by API Gateway's 6 MB, and the header is ignored.
        case(
            "a huge part header",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    part(
                        "file",
                        &format!("; filename=\"a.png\"\r\nX-Padding: {}", "x".repeat(200_000)),
                        &png,
                    ),
                    closing(),
                ]
                .concat(),
            ),
            Ok(201),
        ),
        case(
            "a JSON body",
            Endpoint::UploadMedia,
            raw_upload(w, Some("application/json"), b"{\"file\": \"x\"}"),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "a urlencoded body",
            Endpoint::UploadMedia,
            raw_upload(w, Some("application/x-www-form-urlencoded"), b"file=x"),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "no content type",
            Endpoint::UploadMedia,
            raw_upload(w, None, &full),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "only text fields",
            Endpoint::UploadMedia,
            raw_upload(w, Some(&ct), &[part("title", "", b"x"), closing()].concat()),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "the file sent as a text field",
            Endpoint::UploadMedia,
            raw_upload(w, Some(&ct), &[part("file", "", &png), closing()].concat()),
            Ok(201),
        ),
        {
            file_part = part(
                "file",
                "; filename=\"a.png\"\r\nContent-Type: text/html",
                &png,
            );
            case(
                "a part content type that lies",
                Endpoint::UploadMedia,
                raw_upload(w, Some(&ct), &[file_part, closing()].concat()),
                Ok(201),
            )
        },
    ]
}

fn file_name_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let png = png();
    let ct = multipart_ct();
    let elf = [b"\x7fELF\x02\x01\x01\x00".as_slice(), &[0u8; 64]].concat();
    let named = |name: &str| upload_of(w, name, &png, &[]);
    vec![
        case(
            "a ../../etc/passwd name",
            Endpoint::UploadMedia,
            named("../../etc/passwd"),
            Ok(201),
        ),
        case(
            "an absolute path name",
            Endpoint::UploadMedia,
            named("/var/www/photo.png"),
            Ok(201),
        ),
        case(
            "a Windows path name",
            Endpoint::UploadMedia,
            named("C:\\Users\\me\\photo.png"),
            Ok(201),
        ),
        // Raw control characters are not valid in a header: the part cannot be read.
        case(
            "control characters in the name",
            Endpoint::UploadMedia,
            named("ph\u{1}o\u{7}to.png"),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "a NUL in the name",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[part("file", "; filename=\"a\0b.png\"", &png), closing()].concat(),
            ),
            Err(400, "MALFORMED_REQUEST"),
        ),
        // Encoded, they reach the sanitiser, which drops them.
        case(
            "control characters in an encoded name",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    part("file", "; filename*=UTF-8''ph%01o%00to.png", &png),
                    closing(),
                ]
                .concat(),
            ),
            Ok(201),
        ),
        case(
            "CR/LF in an encoded name (header injection)",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    part(
                        "file",
                        "; filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1.png",
                        &png,
                    ),
                    closing(),
                ]
                .concat(),
            ),
            Ok(201),
        ),
        // The injected line becomes a part header of its own, which is ignored.
        case(
            "a raw CR/LF breaking the part header",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    part("file", "; filename=\"a\r\nSet-Cookie: x=1.png\"", &png),
                    closing(),
                ]
                .concat(),
            ),
            Ok(201),
        ),
        case(
            "a 1,000-character name",
            Endpoint::UploadMedia,
            named(&format!("{}.png", "n".repeat(996))),
            Ok(201),
        ),
        case(
            "a right-to-left override",
            Endpoint::UploadMedia,
            named("photo\u{202e}gnp.exe"),
            Ok(201),
        ),
        case(
            "no extension",
            Endpoint::UploadMedia,
            named("photo"),
            Ok(201),
        ),
        case(
            "a double extension on an image",
            Endpoint::UploadMedia,
            named("photo.jpg.exe"),
            Ok(201),
        ),
        case(
            "a double extension on a program",
            Endpoint::UploadMedia,
            upload_of(w, "photo.jpg.exe", &elf, &[]),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case("only dots", Endpoint::UploadMedia, named("..."), Ok(201)),
        case("an empty name", Endpoint::UploadMedia, named(""), Ok(201)),
    ]
}

fn content_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let upload = |name: &str, bytes: &[u8]| upload_of(w, name, bytes, &[]);
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;
    vec![
        case(
            "an empty file",
            Endpoint::UploadMedia,
            upload("a.png", b""),
            Err(422, "EMPTY_FILE"),
        ),
        case(
            "exactly MAX_FILE_SIZE",
            Endpoint::UploadMedia,
            upload("a.jpg", &jpeg(MAX)),
            Ok(201),
        ),
        case(
            "MAX_FILE_SIZE + 1",
            Endpoint::UploadMedia,
            upload("a.jpg", &jpeg(MAX + 1)),
            Err(413, "FILE_TOO_LARGE"),
        ),
        case(
            "JPEG bytes named .png",
            Endpoint::UploadMedia,
            upload("a.png", &jpeg(100)),
            Ok(201),
        ),
        case(
            "text named .png",
            Endpoint::UploadMedia,
            upload("a.png", b"just text"),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "an SVG with script",
            Endpoint::UploadMedia,
            upload("logo.svg", svg),
            Ok(201),
        ),
        case(
            "an HTML page",
            Endpoint::UploadMedia,
            upload("page.html", b"<!DOCTYPE html><html><body>x</body></html>"),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "an HTML page named .txt",
            Endpoint::UploadMedia,
            upload("page.txt", b"<html><script>alert(1)</script></html>"),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "XML named .svg",
            Endpoint::UploadMedia,
            upload("a.svg", b"<?xml version=\"1.0\"?><note/>"),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "a shell script named .txt",
            Endpoint::UploadMedia,
            upload("run.txt", b"#!/bin/sh\nrm -rf /\n"),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "a Windows program named .pdf",
            Endpoint::UploadMedia,
            upload("a.pdf", &[b"MZ".as_slice(), &[0u8; 100]].concat()),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "a ZIP archive",
            Endpoint::UploadMedia,
            upload("a.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest"),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "binary named .csv",
            Endpoint::UploadMedia,
            upload("a.csv", &[0xff, 0xfe, 0x00, 0x81, 0x00]),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "plain text",
            Endpoint::UploadMedia,
            upload("notes.txt", "Grüße, 👋\n".as_bytes()),
            Ok(201),
        ),
        // Analysable types with hostile headers: stored, their analysis null or just numbers.
        case(
            "a real PNG declaring 4294967295×4294967295 pixels",
            Endpoint::UploadMedia,
            upload("huge.png", &huge_png()),
            Ok(201),
        ),
        case(
            "a real JPEG whose frame header declares 65535×65535 pixels",
            Endpoint::UploadMedia,
            upload("huge.jpg", &huge_jpeg()),
            Ok(201),
        ),
        case(
            "a real mp4 whose mdat box claims 4 GiB",
            Endpoint::UploadMedia,
            upload("huge.mp4", &huge_mdat_mp4()),
            Ok(201),
        ),
        case(
            "a real mp4 cut before its moov box",
            Endpoint::UploadMedia,
            upload("cut.mp4", &cut_mp4()),
            Ok(201),
        ),
    ]
}

/// A file of `shared/tests/samples` (real files made by ffmpeg and Pillow; see its README).
fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn huge_png() -> Vec<u8> {
    let mut png = sample("still.png");
    png[16..24].copy_from_slice(&[0xff; 8]);
    png
}

fn huge_jpeg() -> Vec<u8> {
    let mut jpeg = sample("orientation-6.jpg");
    let sof = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    // FF C0, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xff; 4]);
    jpeg
}

fn huge_mdat_mp4() -> Vec<u8> {
    let mut mp4 = sample("small.mp4");
    let mdat = mp4.windows(4).position(|w| w == b"mdat").unwrap();
    mp4[mdat - 4..mdat].copy_from_slice(&[0xff; 4]);
    mp4
}

fn cut_mp4() -> Vec<u8> {
    let mp4 = sample("small.mp4");
    mp4[..mp4.len() / 2].to_vec()
}

/// Keep the corpus fast: a small limit makes the size cases cheap.
const MAX: usize = 64 * 1024;

fn id_and_query_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let event = w.who.event_id.to_string();
    let media = w.media_id.to_string();
    let mut cases = Vec::new();
    for endpoint in token_endpoints() {
        for bad in ["not-a-uuid", "12345", "' or 1=1 --", "%00", "../../x"] {
            cases.push(case(
                format!("{endpoint:?} with event id {bad:?}"),
                endpoint,
                at(endpoint, &w.who, bad, &media),
                Err(422, "VALIDATION_ERROR"),
            ));
        }
    }
    for endpoint in [
        Endpoint::GetMedia,
        Endpoint::DownloadMedia,
        Endpoint::StreamMedia,
        Endpoint::DeleteMedia,
        Endpoint::CompleteUpload,
        Endpoint::GetZone,
        Endpoint::UpdateZone,
        Endpoint::DeleteZone,
    ] {
        cases.push(case(
            format!("{endpoint:?} with a non-UUID item id"),
            endpoint,
            at(endpoint, &w.who, &event, "x"),
            Err(422, "VALIDATION_ERROR"),
        ));
    }
    cases.push(case(
        "an uppercase event UUID",
        Endpoint::ListMedia,
        at(Endpoint::ListMedia, &w.who, &event.to_uppercase(), &media),
        Ok(200),
    ));
    cases.push(case(
        "a braced event UUID",
        Endpoint::ListMedia,
        at(Endpoint::ListMedia, &w.who, &format!("{{{event}}}"), &media),
        Err(422, "VALIDATION_ERROR"),
    ));
    cases.push(case(
        "a urn:uuid event id",
        Endpoint::ListMedia,
        at(
            Endpoint::ListMedia,
            &w.who,
            &format!("urn:uuid:{event}"),
            &media,
        ),
        Err(422, "VALIDATION_ERROR"),
    ));
    cases.push(case(
        "a hyphenless event UUID",
        Endpoint::ListMedia,
        at(Endpoint::ListMedia, &w.who, &event.replace('-', ""), &media),
        Err(422, "VALIDATION_ERROR"),
    ));
    let list = |pairs: &[(&str, &str)]| {
        with_query(request(Endpoint::ListMedia, &w.who, Uuid::nil()), pairs)
    };
    for (name, pairs, expect) in [
        (
            "skip -1",
            vec![("skip", "-1")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit 0",
            vec![("limit", "0")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit -5",
            vec![("limit", "-5")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit 1001",
            vec![("limit", "1001")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit huge",
            vec![("limit", "99999999999999999999999999")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "skip huge",
            vec![("skip", "99999999999999999999999999")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit non-numeric",
            vec![("limit", "ten")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit empty",
            vec![("limit", "")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit fractional",
            vec![("limit", "1.5")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "skip repeated",
            vec![("skip", "1"), ("skip", "2")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit repeated",
            vec![("limit", "1"), ("limit", "1")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "file_type with a control character",
            vec![("file_type", "image/\u{1}png")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "file_type 300 characters",
            vec![("file_type", &*Box::leak("a".repeat(300).into_boxed_str()))],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "file_type with SQL wildcards",
            vec![("file_type", "%")],
            Ok(200),
        ),
        ("limit 1000", vec![("limit", "1000")], Ok(200)),
        ("skip at its maximum", vec![("skip", "2147483647")], Ok(200)),
    ] {
        cases.push(case(
            format!("list {name}"),
            Endpoint::ListMedia,
            list(&pairs),
            expect,
        ));
    }
    let download = |value: &str| {
        with_query(
            request(Endpoint::DownloadMedia, &w.who, w.media_id),
            &[("redirect", value)],
        )
    };
    cases.push(case(
        "redirect=maybe",
        Endpoint::DownloadMedia,
        download("maybe"),
        Err(422, "VALIDATION_ERROR"),
    ));
    cases.push(case(
        "redirect=false",
        Endpoint::DownloadMedia,
        download("false"),
        Ok(200),
    ));
    cases
}

fn field_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let png = png();
    let ct = multipart_ct();
    let with = |fields: &[(&str, &str)]| upload_of(w, "a.png", &png, fields);
    let title_257 = "t".repeat(257);
    let title_256 = "t".repeat(256);
    let description = "d".repeat(10_001);
    let huge = "d".repeat(70_000);
    let tags_1000 = vec!["tag"; 1000].join(",");
    let long_tag = "x".repeat(65);
    vec![
        case(
            "a 257-character title",
            Endpoint::UploadMedia,
            with(&[("title", &title_257)]),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "a 256-character title",
            Endpoint::UploadMedia,
            with(&[("title", &title_256)]),
            Ok(201),
        ),
        case(
            "a 10,001-character description",
            Endpoint::UploadMedia,
            with(&[("description", &description)]),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "a 70 kB description",
            Endpoint::UploadMedia,
            with(&[("description", &huge)]),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "1,000 tags",
            Endpoint::UploadMedia,
            with(&[("tags", &tags_1000)]),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "a 65-character tag",
            Endpoint::UploadMedia,
            with(&[("tags", &long_tag)]),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "tags of commas and spaces only",
            Endpoint::UploadMedia,
            with(&[("tags", " , ,, ")]),
            Ok(201),
        ),
        case(
            "a title with a NUL",
            Endpoint::UploadMedia,
            with(&[("title", "a\0b")]),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "a title that is not UTF-8",
            Endpoint::UploadMedia,
            raw_upload(
                w,
                Some(&ct),
                &[
                    part("file", "; filename=\"a.png\"", &png),
                    part("title", "", &[0xff, 0xfe]),
                    closing(),
                ]
                .concat(),
            ),
            Err(422, "VALIDATION_ERROR"),
        ),
    ]
}

fn token_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let base = || request(Endpoint::ListMedia, &w.who, Uuid::nil());
    let header = |value: &str| with_header(base(), "authorization", value);
    let c = claims(&w.who);
    let signed = |claims: Value| token_with(claims, Algorithm::HS256, SECRET);
    let now = chrono::Utc::now().timestamp();
    let good = signed(c.clone());
    let mut tampered: Vec<String> = good.split('.').map(str::to_owned).collect();
    tampered[1] = b64(&edit(
        c.clone(),
        "user_id",
        Some(json!(w.foreign.user_id.to_string())),
    ));
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&c)
    );
    let rs256_confusion = {
        // Signed with the HMAC secret but labelled RS256: the classic key-confusion attack.
        let unsigned = format!(
            "{}.{}",
            b64(&json!({"alg": "RS256", "typ": "JWT"})),
            b64(&c)
        );
        let tag = {
            use jsonwebtoken::crypto::sign;
            sign(
                unsigned.as_bytes(),
                &EncodingKey::from_secret(SECRET.as_bytes()),
                Algorithm::HS256,
            )
            .unwrap()
        };
        format!("{unsigned}.{tag}")
    };
    vec![
        case(
            "no Authorization header",
            Endpoint::ListMedia,
            without_header(base(), "authorization"),
            Err(401, "AUTHENTICATION_REQUIRED"),
        ),
        case(
            "an empty Bearer",
            Endpoint::ListMedia,
            header("Bearer "),
            Err(401, "AUTHENTICATION_REQUIRED"),
        ),
        case(
            "Basic credentials",
            Endpoint::ListMedia,
            header("Basic dXNlcjpwYXNz"),
            Err(401, "AUTHENTICATION_REQUIRED"),
        ),
        case(
            "a token without a scheme",
            Endpoint::ListMedia,
            header(&good),
            Err(401, "AUTHENTICATION_REQUIRED"),
        ),
        case(
            "lowercase bearer",
            Endpoint::ListMedia,
            header(&format!("bearer {good}")),
            Ok(200),
        ),
        case(
            "alg none",
            Endpoint::ListMedia,
            with_token(base(), &unsigned),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "HS512 when HS256 is pinned",
            Endpoint::ListMedia,
            with_token(base(), &token_with(c.clone(), Algorithm::HS512, SECRET)),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "an RS256 header (key confusion)",
            Endpoint::ListMedia,
            with_token(base(), &rs256_confusion),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "a wrong secret",
            Endpoint::ListMedia,
            with_token(base(), &token_with(c.clone(), Algorithm::HS256, "guess")),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "a tampered payload",
            Endpoint::ListMedia,
            with_token(base(), &tampered.join(".")),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "expired",
            Endpoint::ListMedia,
            with_token(
                base(),
                &signed(edit(c.clone(), "exp", Some(json!(now - 3600)))),
            ),
            Err(401, "TOKEN_EXPIRED"),
        ),
        case(
            "nbf in the future",
            Endpoint::ListMedia,
            with_token(
                base(),
                &signed(edit(c.clone(), "nbf", Some(json!(now + 3600)))),
            ),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "no exp",
            Endpoint::ListMedia,
            with_token(base(), &signed(edit(c.clone(), "exp", None))),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "no user_id",
            Endpoint::ListMedia,
            with_token(base(), &signed(edit(c.clone(), "user_id", None))),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "a non-UUID user_id",
            Endpoint::ListMedia,
            with_token(base(), &signed(edit(c.clone(), "user_id", Some(json!(42))))),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "a refresh token",
            Endpoint::ListMedia,
            with_token(
                base(),
                &signed(edit(c.clone(), "type", Some(json!("refresh")))),
            ),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "is_active false",
            Endpoint::ListMedia,
            with_token(
                base(),
                &signed(edit(c.clone(), "is_active", Some(json!(false)))),
            ),
            Err(403, "USER_INACTIVE"),
        ),
        case(
            "garbage",
            Endpoint::ListMedia,
            with_token(base(), "a.b.c"),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "a token with trailing junk",
            Endpoint::ListMedia,
            header(&format!("Bearer {good} junk")),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "an 8 kB token",
            Endpoint::ListMedia,
            with_token(base(), &"A".repeat(8192)),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "a refresh token on upload",
            Endpoint::UploadMedia,
            with_token(
                upload_of(w, "a.png", &png(), &[]),
                &signed(edit(c.clone(), "type", Some(json!("refresh")))),
            ),
            Err(401, "INVALID_TOKEN"),
        ),
        case(
            "expired on delete",
            Endpoint::DeleteMedia,
            with_token(
                request(Endpoint::DeleteMedia, &w.who, w.media_id),
                &signed(edit(c, "exp", Some(json!(now - 3600)))),
            ),
            Err(401, "TOKEN_EXPIRED"),
        ),
    ]
}

fn access_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let as_foreigner = Organiser {
        user_id: w.foreign.user_id,
        event_id: w.who.event_id,
        token: w.foreign.token.clone(),
    };
    let mut cases = Vec::new();
    for endpoint in token_endpoints() {
        let item = if matches!(endpoint, Endpoint::CompleteUpload) {
            w.upload_id
        } else {
            w.media_id
        };
        let mut req = request(endpoint, &as_foreigner, item);
        if matches!(endpoint, Endpoint::CreateUpload) {
            req = with_body(
                req,
                br#"{"filename":"a.jpg","content_type":"image/jpeg","file_size":10}"#.to_vec(),
            );
        }
        if matches!(endpoint, Endpoint::UploadMedia) {
            req = upload_of(w, "a.png", &png(), &[]);
            req = with_token(req, &w.foreign.token);
        }
        cases.push(case(
            format!("{endpoint:?} on another user's event"),
            endpoint,
            req,
            Err(404, "EVENT_NOT_FOUND"),
        ));
    }
    let elsewhere = Organiser {
        user_id: w.who.user_id,
        event_id: w.second_event,
        token: w.who.token.clone(),
    };
    for endpoint in [
        Endpoint::GetMedia,
        Endpoint::DownloadMedia,
        Endpoint::StreamMedia,
        Endpoint::DeleteMedia,
    ] {
        cases.push(case(
            format!("{endpoint:?} of media from another event of the same user"),
            endpoint,
            request(endpoint, &elsewhere_clone(&elsewhere), w.media_id),
            Err(404, "MEDIA_NOT_FOUND"),
        ));
    }
    cases.push(case(
        "complete of another event's upload",
        Endpoint::CompleteUpload,
        request(Endpoint::CompleteUpload, &elsewhere, w.upload_id),
        Err(404, "UPLOAD_NOT_FOUND"),
    ));
    cases.push(case(
        "get of the second event's media through the first",
        Endpoint::GetMedia,
        request(Endpoint::GetMedia, &w.who, w.other_event_media_id),
        Err(404, "MEDIA_NOT_FOUND"),
    ));
    cases
}

/// The zone endpoints' own inputs: the grouped list's query, get's file paging, PATCH's body,
/// and zones that are not there.
fn zone_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let mut cases = Vec::new();
    let grouped = |pairs: &[(&str, &str)]| {
        with_query(request(Endpoint::ListZones, &w.who, Uuid::nil()), pairs)
    };
    for (name, pairs, expect) in [
        (
            "skip -1",
            vec![("skip", "-1")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit 0",
            vec![("limit", "0")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit 1001",
            vec![("limit", "1001")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit ten",
            vec![("limit", "ten")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "skip repeated",
            vec![("skip", "0"), ("skip", "1")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "file_type with a space",
            vec![("file_type", "image/ png")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "file_type not ASCII",
            vec![("file_type", "imagé/")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "file_type with SQL wildcards",
            vec![("file_type", "_%")],
            Ok(200),
        ),
        ("file_type a prefix", vec![("file_type", "IMAGE/")], Ok(200)),
        ("skip at its maximum", vec![("skip", "2147483647")], Ok(200)),
    ] {
        cases.push(case(
            format!("grouped {name}"),
            Endpoint::ListZones,
            grouped(&pairs),
            expect,
        ));
    }
    let get =
        |pairs: &[(&str, &str)]| with_query(request(Endpoint::GetZone, &w.who, w.zone_id), pairs);
    for (name, pairs, expect) in [
        (
            "limit 1001",
            vec![("limit", "1001")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "skip -1",
            vec![("skip", "-1")],
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "limit 1.5",
            vec![("limit", "1.5")],
            Err(422, "VALIDATION_ERROR"),
        ),
        ("skip past the files", vec![("skip", "5")], Ok(200)),
    ] {
        cases.push(case(
            format!("get zone {name}"),
            Endpoint::GetZone,
            get(&pairs),
            expect,
        ));
    }
    let patch = |zone: Uuid, body: &[u8]| {
        with_body(request(Endpoint::UpdateZone, &w.who, zone), body.to_vec())
    };
    let long = |n: usize| "x".repeat(n);
    for (name, body, expect) in [
        ("no body", String::new(), Err(400, "MALFORMED_REQUEST")),
        (
            "broken JSON",
            "{\"title\":".into(),
            Err(400, "MALFORMED_REQUEST"),
        ),
        (
            "a form body",
            "title=x&tags=a".into(),
            Err(400, "MALFORMED_REQUEST"),
        ),
        ("a JSON array", "[]".into(), Err(422, "VALIDATION_ERROR")),
        (
            "a JSON string",
            "\"x\"".into(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a number title",
            "{\"title\": 1}".into(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a boolean description",
            "{\"description\": true}".into(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "tags as text",
            "{\"tags\": \"a,b\"}".into(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "tags of numbers",
            "{\"tags\": [1]}".into(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a nested tag",
            "{\"tags\": [[\"a\"]]}".into(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a 257-character title",
            json!({"title": long(257)}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a 10,001-character description",
            json!({"description": long(10_001)}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "51 tags",
            json!({"tags": vec!["t"; 51]}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a 65-character tag",
            json!({"tags": [long(65)]}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a NUL in the title",
            json!({"title": "a\u{0}b"}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "an escape sequence in a tag",
            json!({"tags": ["\u{1b}[31mred"]}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a valid field beside a bad one",
            json!({"title": "fine", "tags": [5]}).to_string(),
            Err(422, "VALIDATION_ERROR"),
        ),
        (
            "a 256-character emoji title and an unknown field",
            json!({"title": "😀".repeat(256), "extra": {"deep": [1]}}).to_string(),
            Ok(200),
        ),
        (
            "null everywhere",
            json!({"title": null, "description": null, "tags": null}).to_string(),
            Ok(200),
        ),
    ] {
        cases.push(case(
            format!("PATCH zone with {name}"),
            Endpoint::UpdateZone,
            patch(w.zone_id, body.as_bytes()),
            expect,
        ));
    }
    let unknown = Uuid::new_v4();
    cases.push(case(
        "PATCH of an unknown zone, with a bad body",
        Endpoint::UpdateZone,
        patch(unknown, b"{"),
        Err(404, "ZONE_NOT_FOUND"),
    ));
    for endpoint in [Endpoint::GetZone, Endpoint::DeleteZone] {
        cases.push(case(
            format!("{endpoint:?} of an unknown zone"),
            endpoint,
            request(endpoint, &w.who, unknown),
            Err(404, "ZONE_NOT_FOUND"),
        ));
    }
    let elsewhere = Organiser {
        user_id: w.who.user_id,
        event_id: w.second_event,
        token: w.who.token.clone(),
    };
    for endpoint in [
        Endpoint::GetZone,
        Endpoint::UpdateZone,
        Endpoint::DeleteZone,
    ] {
        cases.push(case(
            format!("{endpoint:?} of a zone from another event of the same user"),
            endpoint,
            with_body(request(endpoint, &elsewhere, w.zone_id), b"{}".to_vec()),
            Err(404, "ZONE_NOT_FOUND"),
        ));
    }
    cases
}

fn elsewhere_clone(o: &Organiser) -> Organiser {
    Organiser {
        user_id: o.user_id,
        event_id: o.event_id,
        token: o.token.clone(),
    }
}

fn create_upload_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let body = |v: Value| create_body(w, &serde_json::to_vec(&v).unwrap());
    let ok = || json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 100});
    vec![
        case(
            "create: not JSON",
            Endpoint::CreateUpload,
            create_body(w, b"{nope"),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "create: empty body",
            Endpoint::CreateUpload,
            create_body(w, b""),
            Err(400, "MALFORMED_REQUEST"),
        ),
        case(
            "create: a JSON array",
            Endpoint::CreateUpload,
            create_body(w, b"[]"),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: file_size as a string",
            Endpoint::CreateUpload,
            body(edit(ok(), "file_size", Some(json!("100")))),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: no file_size",
            Endpoint::CreateUpload,
            body(edit(ok(), "file_size", None)),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: negative file_size",
            Endpoint::CreateUpload,
            body(edit(ok(), "file_size", Some(json!(-1)))),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: zero file_size",
            Endpoint::CreateUpload,
            body(edit(ok(), "file_size", Some(json!(0)))),
            Err(422, "EMPTY_FILE"),
        ),
        case(
            "create: file_size over the limit",
            Endpoint::CreateUpload,
            body(edit(ok(), "file_size", Some(json!(MAX + 1)))),
            Err(413, "FILE_TOO_LARGE"),
        ),
        case(
            "create: file_size beyond i64",
            Endpoint::CreateUpload,
            body(edit(ok(), "file_size", Some(json!(1e30)))),
            Err(413, "FILE_TOO_LARGE"),
        ),
        case(
            "create: text/html",
            Endpoint::CreateUpload,
            body(edit(ok(), "content_type", Some(json!("text/html")))),
            Err(415, "UNSUPPORTED_MEDIA_TYPE"),
        ),
        case(
            "create: an unknown field",
            Endpoint::CreateUpload,
            body(edit(ok(), "acl", Some(json!("public-read")))),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: a bad checksum",
            Endpoint::CreateUpload,
            body(edit(ok(), "checksum_md5", Some(json!("zz")))),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: 1,000 tags",
            Endpoint::CreateUpload,
            body(edit(ok(), "tags", Some(json!(vec!["t"; 1000])))),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: a path as the file name",
            Endpoint::CreateUpload,
            body(edit(ok(), "filename", Some(json!("../../etc/passwd")))),
            Ok(201),
        ),
        case(
            "create: an alias content type",
            Endpoint::CreateUpload,
            body(edit(ok(), "content_type", Some(json!("IMAGE/JPG")))),
            Ok(201),
        ),
        case(
            "create: files, empty",
            Endpoint::CreateUpload,
            body(json!({"files": []})),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: 101 files",
            Endpoint::CreateUpload,
            body(json!({"files": vec![ok(); 101]})),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: files and a filename",
            Endpoint::CreateUpload,
            body(json!({"files": [ok()], "filename": "b.jpg"})),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: files, one with a negative size",
            Endpoint::CreateUpload,
            body(json!({"files": [ok(), edit(ok(), "file_size", Some(json!(-1)))]})),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: files, one with a bad checksum",
            Endpoint::CreateUpload,
            body(json!({"files": [ok(), edit(ok(), "checksum_md5", Some(json!("zz")))]})),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: files, one with an unknown field",
            Endpoint::CreateUpload,
            body(json!({"files": [edit(ok(), "title", Some(json!("x")))]})),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: files, not a list",
            Endpoint::CreateUpload,
            body(json!({"files": ok()})),
            Err(422, "VALIDATION_ERROR"),
        ),
        // Refused files are listed in `failed`; the others get their tickets.
        case(
            "create: files, some refused",
            Endpoint::CreateUpload,
            body(json!({"files": [
                ok(),
                edit(ok(), "file_size", Some(json!(0))),
                edit(ok(), "content_type", Some(json!("text/html"))),
                edit(ok(), "file_size", Some(json!(MAX + 1))),
            ]})),
            Ok(201),
        ),
        case(
            "create: zone_id not a UUID",
            Endpoint::CreateUpload,
            body(edit(ok(), "zone_id", Some(json!("zone-1")))),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "create: an unknown zone_id",
            Endpoint::CreateUpload,
            body(edit(ok(), "zone_id", Some(json!(Uuid::new_v4())))),
            zones_or(w, Err(404, "ZONE_NOT_FOUND")),
        ),
        case(
            "create: the zone of another event",
            Endpoint::CreateUpload,
            body(edit(ok(), "zone_id", Some(json!(w.other_event_zone_id)))),
            zones_or(w, Err(404, "ZONE_NOT_FOUND")),
        ),
        case(
            "create: a zone_id and a title",
            Endpoint::CreateUpload,
            body(edit(
                edit(ok(), "zone_id", Some(json!(w.zone_id))),
                "title",
                Some(json!("x")),
            )),
            zones_or(w, Err(422, "VALIDATION_ERROR")),
        ),
        case(
            "create: files into a zone",
            Endpoint::CreateUpload,
            body(json!({"files": [ok(), ok()], "zone_id": w.zone_id})),
            zones_or(w, Ok(201)),
        ),
    ]
}

/// `expect` where zones can take files; 409 `ZONES_UNAVAILABLE` on the seed era.
fn zones_or(w: &World, expect: Expect) -> Expect {
    if w.seed_era {
        Expect::Err(409, "ZONES_UNAVAILABLE")
    } else {
        expect
    }
}

/// An add-zone-files request for `zone` carrying `body` as its form.
fn add_to(w: &World, zone: &str, body: Vec<u8>) -> Request {
    with_body(
        with_header(
            at(
                Endpoint::AddZoneFiles,
                &w.who,
                &w.who.event_id.to_string(),
                zone,
            ),
            "content-type",
            &multipart_ct(),
        ),
        body,
    )
}

/// Adding files to a zone: the zone and the form.
fn zone_file_cases(w: &World) -> Vec<Case> {
    use Expect::*;
    let png = png();
    let zone = w.zone_id.to_string();
    let file = |name: &str, bytes: &[u8]| part("files", &format!("; filename=\"{name}\""), bytes);
    let form = |parts: Vec<Vec<u8>>| [parts.concat(), closing()].concat();
    vec![
        case(
            "zone: not a UUID",
            Endpoint::AddZoneFiles,
            add_to(w, "zone-1", form(vec![file("a.png", &png)])),
            Err(422, "VALIDATION_ERROR"),
        ),
        case(
            "zone: unknown",
            Endpoint::AddZoneFiles,
            add_to(
                w,
                &Uuid::new_v4().to_string(),
                form(vec![file("a.png", &png)]),
            ),
            Err(404, "ZONE_NOT_FOUND"),
        ),
        case(
            "zone: of another event of the same organiser",
            Endpoint::AddZoneFiles,
            add_to(
                w,
                &w.other_event_zone_id.to_string(),
                form(vec![file("a.png", &png)]),
            ),
            Err(404, "ZONE_NOT_FOUND"),
        ),
        case(
            "zone: in someone else's event",
            Endpoint::AddZoneFiles,
            with_body(
                with_header(
                    at(
                        Endpoint::AddZoneFiles,
                        &w.foreign,
                        &w.who.event_id.to_string(),
                        &zone,
                    ),
                    "content-type",
                    &multipart_ct(),
                ),
                form(vec![file("a.png", &png)]),
            ),
            Err(404, "EVENT_NOT_FOUND"),
        ),
        case(
            "zone: not multipart",
            Endpoint::AddZoneFiles,
            with_header(
                add_to(w, &zone, b"{}".to_vec()),
                "content-type",
                "application/json",
            ),
            zones_or(w, Err(400, "MALFORMED_REQUEST")),
        ),
        case(
            "zone: no file",
            Endpoint::AddZoneFiles,
            add_to(w, &zone, form(vec![])),
            zones_or(w, Err(422, "VALIDATION_ERROR")),
        ),
        case(
            "zone: a title",
            Endpoint::AddZoneFiles,
            add_to(
                w,
                &zone,
                form(vec![file("a.png", &png), part("title", "", b"x")]),
            ),
            zones_or(w, Err(422, "VALIDATION_ERROR")),
        ),
        case(
            "zone: empty tags",
            Endpoint::AddZoneFiles,
            add_to(
                w,
                &zone,
                form(vec![file("a.png", &png), part("tags", "", b"")]),
            ),
            zones_or(w, Err(422, "VALIDATION_ERROR")),
        ),
        case(
            "zone: 21 files",
            Endpoint::AddZoneFiles,
            add_to(w, &zone, form(vec![file("a.png", &png); 21])),
            zones_or(w, Err(422, "VALIDATION_ERROR")),
        ),
        // Always the batch shape: a refused file is listed in `failed`, nothing is stored.
        case(
            "zone: one empty file",
            Endpoint::AddZoneFiles,
            add_to(w, &zone, form(vec![file("empty.png", b"")])),
            zones_or(w, Ok(201)),
        ),
        case(
            "zone: a spoofed file and a good one",
            Endpoint::AddZoneFiles,
            add_to(
                w,
                &zone,
                form(vec![
                    file("a.png", b"<html><script>x</script>"),
                    file("../b.png", &png),
                ]),
            ),
            zones_or(w, Ok(201)),
        ),
    ]
}

#[tokio::test]
async fn every_hostile_request_gets_its_exact_answer_and_changes_nothing() {
    let app = TestApp::with(&[("MAX_FILE_SIZE", &MAX.to_string())]).await;
    let who = app.organiser().await;
    let foreign = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let second_event = app.second_event(&who).await;
    let second = Organiser {
        user_id: who.user_id,
        event_id: second_event,
        token: who.token.clone(),
    };
    let other_media = app.upload_png(&second).await;
    let ticket = app
        .call(
            Endpoint::CreateUpload,
            with_body(
                request(Endpoint::CreateUpload, &who, Uuid::nil()),
                br#"{"filename":"a.jpg","content_type":"image/jpeg","file_size":10}"#.to_vec(),
            ),
        )
        .await
        .json();
    let zone_of = |media: &Value| {
        Uuid::parse_str(media["batch_id"].as_str().or(media["id"].as_str()).unwrap()).unwrap()
    };
    let world = World {
        other_event_zone_id: zone_of(&other_media),
        seed_era: app.shape().await == shared::db::shape::Shape::Seed,
        who,
        media_id,
        zone_id: zone_of(&media),
        other_event_media_id: Uuid::parse_str(other_media["id"].as_str().unwrap()).unwrap(),
        upload_id: Uuid::parse_str(ticket["upload_id"].as_str().unwrap()).unwrap(),
        foreign,
        second_event,
    };

    let cases: Vec<Case> = [
        multipart_cases(&world),
        file_name_cases(&world),
        content_cases(&world),
        id_and_query_cases(&world),
        field_cases(&world),
        token_cases(&world),
        access_cases(&world),
        create_upload_cases(&world),
        zone_cases(&world),
        zone_file_cases(&world),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(
        cases.len() >= 80,
        "the corpus has only {} cases",
        cases.len()
    );
    println!("corpus: {} cases", cases.len());

    let mut failures = Vec::new();
    for case in cases {
        let before = app.snapshot().await;
        let reply = app.call(case.endpoint, case.request).await;
        let after = app.snapshot().await;
        let got = (
            reply.status,
            if reply.status >= 400 {
                reply.code()
            } else {
                String::new()
            },
        );
        let wanted = match case.expect {
            Expect::Ok(status) => (status, String::new()),
            Expect::Err(status, code) => (status, code.to_owned()),
        };
        if got != wanted {
            failures.push(format!(
                "{}: wanted {wanted:?}, got {got:?} {}",
                case.name,
                reply.text().chars().take(200).collect::<String>()
            ));
        }
        if reply.status >= 500 {
            failures.push(format!("{}: a 5xx", case.name));
        }
        if matches!(case.expect, Expect::Err(..)) && before != after {
            failures.push(format!(
                "{}: a refused request changed the database or the bucket",
                case.name
            ));
        }
        if reply.status == 201
            && matches!(
                case.endpoint,
                Endpoint::UploadMedia | Endpoint::AddZoneFiles
            )
        {
            let answer = reply.json();
            match answer["successful"].as_array() {
                Some(stored) => {
                    for media in stored {
                        check_stored_safely(&app, media).await;
                    }
                }
                None => check_stored_safely(&app, &answer).await,
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whatever name came in, what is stored is safe: an encrypted object under a clean key, and
/// a download name that is a valid header value ending in the file's true extension.
async fn check_stored_safely(app: &TestApp, media: &Value) {
    let key = media["s3_key"].as_str().unwrap();
    assert!(
        !key.contains("..") && !key.contains("//") && !key.starts_with('/'),
        "{key}"
    );
    assert!(
        key.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c)),
        "{key}"
    );
    let info = app.state.storage().info(key).await.unwrap();
    assert_eq!(
        info.server_side_encryption.as_deref(),
        Some("AES256"),
        "{key}"
    );
}
