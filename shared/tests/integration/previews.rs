//! Image previews through signed URLs, against the real stack: the links in media JSON (only
//! for the owner, only for raster images), the preview function without a token (the
//! signature is checked, tampering and expiry are 403), the variant made once and stored
//! encrypted without metadata, concurrent first requests, the hostile corpus, and variants
//! going with their media (delete-media, delete-zone, the sweep).

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use lambda_http::Request;
use secrecy::SecretString;
use serde_json::Value;
use shared::endpoint::Endpoint;
use shared::keys;
use shared::preview::PreviewSize;
use shared::preview_link::{PreviewSigner, expiry, preview_path};
use shared::sweep::{self, SweepOptions};
use uuid::Uuid;

use crate::support::*;

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The preview request a browser makes for `url` (absolute or relative): the fixture, with
/// the URL's path and query, and no Authorization header.
fn preview_request(url: &str) -> Request {
    let path_and_query = url.find("/api/").map_or(url, |at| &url[at..]);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let media_id = path.split('/').nth(4).unwrap();
    let size = path.rsplit('/').next().unwrap();
    let text = test_support::fixtures::fixture_text("preview-media", "preview-thumb")
        .unwrap()
        .replace("7d3e9a10-2c4b-4f8e-8b1a-5e6f7a8b9c02", media_id)
        .replace("/preview/thumb", &format!("/preview/{size}"))
        .replace("\"size\": \"thumb\"", &format!("\"size\": \"{size}\""));
    let request = test_support::fixtures::parse(&text).unwrap();
    assert!(request.headers().get("authorization").is_none());
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    with_query(request, &pairs)
}

async fn preview(app: &TestApp, url: &str) -> Reply {
    app.call(Endpoint::PreviewMedia, preview_request(url)).await
}

fn url_of(media: &Value, size: &str) -> String {
    media["previews"][size]
        .as_str()
        .unwrap_or_else(|| panic!("no {size} preview in {media}"))
        .to_owned()
}

async fn uploaded(app: &TestApp, who: &Organiser, name: &str) -> Value {
    let reply = app.upload(who, name, &sample(name), &[]).await;
    assert_eq!(reply.status, 201, "{name}: {}", reply.text());
    reply.json()
}

fn id_of(media: &Value) -> Uuid {
    media["id"].as_str().unwrap().parse().unwrap()
}

/// The keys of the media item's variants in the bucket.
async fn variants(app: &TestApp, who: &Organiser, media: &Value) -> Vec<String> {
    let prefix = format!("events/{}/previews/{}/", who.event_id, id_of(media));
    app.object_keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect()
}

fn decode_jpeg(bytes: &[u8]) -> (u16, u16, Vec<u8>) {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode().expect("the preview is a JPEG");
    let info = decoder.info().unwrap();
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    (info.width, info.height, pixels)
}

#[tokio::test]
async fn an_images_media_json_carries_signed_preview_urls_and_other_types_null() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "gps-orientation-6.jpg").await;
    let id = id_of(&photo);
    for size in ["thumb", "medium"] {
        let url = url_of(&photo, size);
        // The fixture's Host and X-Forwarded-Proto, as API Gateway sends them.
        let prefix = format!(
            "https://abc123.execute-api.us-east-1.amazonaws.com/api/v1/media/{id}/preview/{size}?expires="
        );
        assert!(url.starts_with(&prefix), "{url}");
    }
    // get and list answer the same URLs within the hour's window.
    let got = app
        .call(Endpoint::GetMedia, request(Endpoint::GetMedia, &who, id))
        .await;
    let listed = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
        .await;
    assert_eq!(got.json()["previews"], photo["previews"]);
    assert_eq!(listed.json()[0]["previews"], photo["previews"]);
    let svg = uploaded(&app, &who, "drawing.svg").await;
    assert_eq!(svg["previews"], Value::Null, "SVG is never rasterised");
    let clip = uploaded(&app, &who, "small.mp4").await;
    assert_eq!(clip["previews"], Value::Null);
}

#[tokio::test]
async fn a_stranger_gets_no_preview_url() {
    let app = TestApp::new().await;
    let (who, stranger) = (app.organiser().await, app.organiser().await);
    let photo = uploaded(&app, &who, "still.png").await;
    let as_stranger = Organiser {
        event_id: who.event_id,
        ..stranger
    };
    let reply = app
        .call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, &as_stranger, id_of(&photo)),
        )
        .await;
    reply.assert_error(404, "EVENT_NOT_FOUND");
    assert!(!reply.text().contains("preview"), "{}", reply.text());
}

#[tokio::test]
async fn the_first_request_makes_the_variant_once_and_later_ones_only_sign() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "gps-orientation-6.jpg").await;
    // The redirect is signed as of the start of a window of half the presigned TTL.
    let window = app.state.config.presigned_url_ttl.as_secs() as i64 / 2;
    let first_window = Utc::now().timestamp() / window;
    let first = preview(&app, &url_of(&photo, "thumb")).await;
    assert_eq!(first.status, 302, "{}", first.text());
    assert!(
        first
            .header("cache-control")
            .starts_with("private, max-age=")
    );
    let key = keys::preview_key(who.event_id, id_of(&photo), PreviewSize::Thumb);
    assert_eq!(variants(&app, &who, &photo).await, [key.as_str()]);
    let head = app.head(key.as_str()).await;
    assert_eq!(
        head.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
    assert_eq!(head.content_type(), Some("image/jpeg"));

    let (status, _, bytes) = http_get(first.header("location"), &[]).await;
    assert_eq!(status, 200);
    // 800×600 stored, orientation 6: displayed 600×800, so the thumb is 240×320, with the
    // red quadrant (top-left as stored) at the top right.
    let (width, height, pixels) = decode_jpeg(&bytes);
    assert_eq!((width, height), (240, 320));
    let at = |x: usize, y: usize| &pixels[(y * 240 + x) * 3..][..3];
    assert!(
        at(200, 60)[0] > 180 && at(200, 60)[2] < 80,
        "{:?}",
        at(200, 60)
    );
    assert!(at(40, 60)[2] > 150, "{:?}", at(40, 60));
    // Nothing of the original's metadata: no EXIF (GPS, camera), XMP or comment.
    for needle in [
        &b"Exif\0\0"[..],
        b"PlugsPhone",
        b"xmp-secret",
        b"comment-secret",
        b"http://ns.adobe.com",
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the preview carries {:?}",
            String::from_utf8_lossy(needle)
        );
    }

    // Without its original, a request that rendered again would fail (404 FILE_NOT_FOUND,
    // as the medium size shows): the thumb's only signs.
    let original = photo["s3_key"].as_str().unwrap();
    app.state.storage().delete(original).await.unwrap();
    let second = preview(&app, &url_of(&photo, "thumb")).await;
    assert_eq!(second.status, 302, "{}", second.text());
    preview(&app, &url_of(&photo, "medium"))
        .await
        .assert_error(404, "FILE_NOT_FOUND");
    // Signed as of the same window: the same URL, which the browser has cached (unless the
    // two requests straddled a window's end, which a slow machine can make them do).
    if Utc::now().timestamp() / window == first_window {
        assert_eq!(second.header("location"), first.header("location"));
    }
}

/// The rows of `media_preview_variants` for the media item: the sizes recorded as stored.
async fn recorded_sizes(app: &TestApp, media: &Value) -> Vec<String> {
    let rows = app
        .db()
        .await
        .query(
            "select size from media_preview_variants where media_id = $1 order by size",
            &[&id_of(media)],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test]
async fn a_recorded_variant_is_served_with_a_signature_alone_and_no_s3_request() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "gps-orientation-6.jpg").await;
    let first = preview(&app, &url_of(&photo, "thumb")).await;
    assert_eq!(first.status, 302, "{}", first.text());
    assert_eq!(recorded_sizes(&app, &photo).await, ["thumb"]);

    // With the variant gone from the bucket behind the API's back, a request that asked S3
    // would make it again; one that only signs leaves the bucket as it is and still redirects.
    let key = keys::preview_key(who.event_id, id_of(&photo), PreviewSize::Thumb);
    app.state.storage().delete(key.as_str()).await.unwrap();
    let second = preview(&app, &url_of(&photo, "thumb")).await;
    assert_eq!(second.status, 302, "{}", second.text());
    assert_eq!(variants(&app, &who, &photo).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_sweep_forgets_a_recorded_variant_whose_object_is_gone_and_it_is_made_again() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "gps-orientation-6.jpg").await;
    for size in ["thumb", "medium"] {
        assert_eq!(preview(&app, &url_of(&photo, size)).await.status, 302);
    }
    let thumb = keys::preview_key(who.event_id, id_of(&photo), PreviewSize::Thumb);
    let medium = keys::preview_key(who.event_id, id_of(&photo), PreviewSize::Medium);
    app.state.storage().delete(thumb.as_str()).await.unwrap();
    let target = app.sweep_target();
    let at = |seconds| SweepOptions {
        grace: Duration::from_secs(60),
        delete_orphans: false,
        now: Utc::now() + chrono::Duration::seconds(seconds),
    };

    // Within the grace period the record may be younger than the listing: it stays.
    let young = sweep::run(&target, &at(0)).await.unwrap();
    assert!(young.preview_records_forgotten.is_empty(), "{young:?}");
    assert_eq!(recorded_sizes(&app, &photo).await, ["medium", "thumb"]);

    let report = sweep::run(&target, &at(120)).await.unwrap();
    assert_eq!(report.preview_records_forgotten, [thumb.to_string()]);
    assert_eq!(recorded_sizes(&app, &photo).await, ["medium"]);

    // The next request renders the thumb again; the medium was never touched.
    assert_eq!(preview(&app, &url_of(&photo, "thumb")).await.status, 302);
    let mut stored = variants(&app, &who, &photo).await;
    stored.sort();
    let mut expected = vec![medium.to_string(), thumb.to_string()];
    expected.sort();
    assert_eq!(stored, expected);
    assert_eq!(recorded_sizes(&app, &photo).await, ["medium", "thumb"]);
}

#[tokio::test]
async fn a_stored_variant_that_is_not_recorded_is_recorded_without_rendering_again() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "gps-orientation-6.jpg").await;
    assert_eq!(preview(&app, &url_of(&photo, "medium")).await.status, 302);
    // A variant stored before the table existed (or whose recording failed), and an
    // original that is gone, so that rendering again would answer 404.
    app.db()
        .await
        .execute(
            "delete from media_preview_variants where media_id = $1",
            &[&id_of(&photo)],
        )
        .await
        .unwrap();
    let original = photo["s3_key"].as_str().unwrap();
    app.state.storage().delete(original).await.unwrap();
    let again = preview(&app, &url_of(&photo, "medium")).await;
    assert_eq!(again.status, 302, "{}", again.text());
    assert_eq!(recorded_sizes(&app, &photo).await, ["medium"]);
}

#[tokio::test]
async fn tampered_expired_or_missing_signatures_are_refused_before_anything_is_read() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "still.png").await;
    let id = id_of(&photo);
    let thumb = url_of(&photo, "thumb");
    let (base, query) = thumb.split_once('?').unwrap();
    let signature = query.split_once("&signature=").unwrap().1;
    let expires: i64 = query
        .trim_start_matches("expires=")
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let mut flipped = signature.to_owned();
    let last = if flipped.ends_with('A') { "B" } else { "A" };
    flipped.replace_range(flipped.len() - 1.., last);
    let tampered = [
        format!("{base}?expires={expires}&signature={flipped}"),
        format!("{base}?expires={}&signature={signature}", expires + 3600),
        format!(
            "{}?expires={expires}&signature={signature}",
            base.replace("/thumb", "/medium")
        ),
        format!("{base}?expires={expires}"),
        format!("{base}?signature={signature}"),
        base.to_owned(),
        format!("{base}?expires={expires}&signature={signature}&signature={signature}"),
        // Another media item's id under this one's signature.
        format!(
            "{}?{query}",
            base.replace(&id.to_string(), &Uuid::new_v4().to_string())
        ),
    ];
    for url in &tampered {
        preview(&app, url)
            .await
            .assert_error(403, "PREVIEW_SIGNATURE_INVALID");
    }
    // The JWT key does not sign previews.
    let jwt_signed =
        PreviewSigner::new(&SecretString::from(format!("{SECRET}-padding-to-32-bytes")))
            .unwrap()
            .sign(id, PreviewSize::Thumb, expires);
    preview(
        &app,
        &format!("{base}?expires={expires}&signature={jwt_signed}"),
    )
    .await
    .assert_error(403, "PREVIEW_SIGNATURE_INVALID");

    // A genuine link past its expiry.
    let signer = PreviewSigner::new(&SecretString::from(PREVIEW_KEY.to_owned())).unwrap();
    let past = Utc::now().timestamp() - 1;
    let expired = format!(
        "{}?expires={past}&signature={}",
        preview_path(id, PreviewSize::Thumb),
        signer.sign(id, PreviewSize::Thumb, past)
    );
    preview(&app, &expired)
        .await
        .assert_error(403, "PREVIEW_URL_EXPIRED");

    // Signed, but for no live media item; a size that does not exist; not a UUID.
    let ghost = Uuid::new_v4();
    let later = expiry(Utc::now().timestamp());
    let ghost_url = format!(
        "{}?expires={later}&signature={}",
        preview_path(ghost, PreviewSize::Thumb),
        signer.sign(ghost, PreviewSize::Thumb, later)
    );
    preview(&app, &ghost_url)
        .await
        .assert_error(404, "MEDIA_NOT_FOUND");
    preview(
        &app,
        &format!("{}?{query}", base.replace("/thumb", "/huge")),
    )
    .await
    .assert_error(404, "PREVIEW_SIZE_NOT_FOUND");
    preview(
        &app,
        &format!("/api/v1/media/not-a-uuid/preview/thumb?{query}"),
    )
    .await
    .assert_error(422, "VALIDATION_ERROR");
    assert!(
        variants(&app, &who, &photo).await.is_empty(),
        "nothing was made"
    );
}

/// What a preview request answers: the preview's size, or the 422's code.
type Outcome = Result<(u16, u16), &'static str>;

/// Each hostile image of the corpus gets a clear JSON error or a correct preview, and an
/// error leaves no variant behind.
#[tokio::test]
async fn hostile_images_answer_a_clear_error_or_a_correct_preview() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let cases: [(&str, Outcome); 10] = [
        ("bomb.png", Err("IMAGE_TOO_LARGE")),
        ("truncated-scan.jpg", Err("IMAGE_UNREADABLE")),
        ("truncated.jpg", Err("IMAGE_UNREADABLE")),
        ("corrupt.png", Err("IMAGE_UNREADABLE")),
        ("cmyk.jpg", Ok((64, 48))),
        ("rgb16.png", Ok((40, 30))),
        ("anim.gif", Ok((34, 22))),
        ("transparent.png", Ok((40, 30))),
        ("still.webp", Ok((50, 20))),
        ("orientation-6.jpg", Ok((48, 64))),
    ];
    for (name, expected) in cases {
        let media = uploaded(&app, &who, name).await;
        let reply = preview(&app, &url_of(&media, "thumb")).await;
        match expected {
            Err(code) => {
                reply.assert_error(422, code);
                assert!(variants(&app, &who, &media).await.is_empty(), "{name}");
            }
            Ok(size) => {
                assert_eq!(reply.status, 302, "{name}: {}", reply.text());
                let (_, _, bytes) = http_get(reply.header("location"), &[]).await;
                let (width, height, pixels) = decode_jpeg(&bytes);
                assert_eq!((width, height), size, "{name}");
                match name {
                    // Ink (0, 100 %, 100 %, 0) is red, not the black a naive reading gives.
                    "cmyk.jpg" => assert!(pixels[0] > 200 && pixels[1] < 60, "{:?}", &pixels[..3]),
                    // Transparent black becomes white, not black.
                    "transparent.png" => assert!(pixels.iter().all(|&c| c > 240)),
                    // 16-bit red on the left, blue on the right.
                    "rgb16.png" => assert!(pixels[0] > 200 && pixels[2] < 60, "{:?}", &pixels[..3]),
                    _ => {}
                }
            }
        }
    }
    app.assert_consistent().await;
}

#[tokio::test]
async fn two_concurrent_first_requests_both_redirect_to_the_one_variant() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "gps-orientation-6.jpg").await;
    let url = url_of(&photo, "medium");
    let (a, b) = tokio::join!(preview(&app, &url), preview(&app, &url));
    assert_eq!(
        (a.status, b.status),
        (302, 302),
        "{} / {}",
        a.text(),
        b.text()
    );
    assert_eq!(variants(&app, &who, &photo).await.len(), 1);
    let (_, _, first) = http_get(a.header("location"), &[]).await;
    let (_, _, second) = http_get(b.header("location"), &[]).await;
    assert_eq!(first, second);
    // The medium box is larger than the photo: never upscaled.
    let (width, height, _) = decode_jpeg(&first);
    assert_eq!((width, height), (600, 800));
}

#[tokio::test]
async fn deleting_the_media_or_its_zone_deletes_its_variants() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let photo = uploaded(&app, &who, "still.png").await;
    for size in ["thumb", "medium"] {
        assert_eq!(preview(&app, &url_of(&photo, size)).await.status, 302);
    }
    assert_eq!(variants(&app, &who, &photo).await.len(), 2);
    let deleted = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id_of(&photo)),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(variants(&app, &who, &photo).await.is_empty());
    preview(&app, &url_of(&photo, "thumb"))
        .await
        .assert_error(404, "MEDIA_NOT_FOUND");

    let other = uploaded(&app, &who, "still.webp").await;
    assert_eq!(preview(&app, &url_of(&other, "thumb")).await.status, 302);
    let zone = zone_of(&other);
    let deleted = app
        .call(
            Endpoint::DeleteZone,
            request(Endpoint::DeleteZone, &who, zone),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    assert!(variants(&app, &who, &other).await.is_empty());
    app.assert_consistent().await;
}

#[tokio::test]
async fn the_sweep_deletes_variants_without_a_live_row_and_keeps_the_others() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let kept = uploaded(&app, &who, "still.png").await;
    let gone = uploaded(&app, &who, "still.webp").await;
    for media in [&kept, &gone] {
        assert_eq!(preview(&app, &url_of(media, "thumb")).await.status, 302);
    }
    // A row removed behind the API's back (or between a preview's lookup and its write).
    app.db()
        .await
        .execute(
            "update event_media set is_deleted = true where id = $1",
            &[&id_of(&gone)],
        )
        .await
        .unwrap();
    let target = app.sweep_target();
    let options = SweepOptions {
        grace: Duration::from_secs(60),
        delete_orphans: true,
        now: Utc::now() + chrono::Duration::seconds(120),
    };
    let report = sweep::run(&target, &options).await.unwrap();
    let gone_variant = keys::preview_key(who.event_id, id_of(&gone), PreviewSize::Thumb);
    assert!(
        report.orphan_objects.contains(&gone_variant.to_string()),
        "{report:?}"
    );
    let kept_variant = keys::preview_key(who.event_id, id_of(&kept), PreviewSize::Thumb);
    assert!(
        !report.orphan_objects.contains(&kept_variant.to_string()),
        "{report:?}"
    );
    assert!(variants(&app, &who, &gone).await.is_empty());
    assert_eq!(variants(&app, &who, &kept).await, [kept_variant.as_str()]);
}

/// The original is read whole to make a preview: one over `MAX_SOURCE_BYTES` (a resumable
/// upload may be an image of many GiB) is refused from its size alone, and nothing is stored.
#[tokio::test]
async fn an_original_over_the_byte_limit_is_refused_before_it_is_read() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = uploaded(&app, &who, "still.png").await;
    let key = media["s3_key"].as_str().unwrap().to_owned();
    // The same picture, padded past the limit: a decoder would still read it.
    let mut padded = sample("still.png");
    padded.resize(shared::preview::MAX_SOURCE_BYTES as usize + 1, 0);
    let storage = app.state.storage();
    storage.delete(&key).await.unwrap();
    storage
        .put_variant(
            &key,
            bytes::Bytes::from(padded),
            "image/png",
            &id_of(&media).to_string(),
        )
        .await
        .unwrap();
    preview(&app, &url_of(&media, "thumb"))
        .await
        .assert_error(422, "IMAGE_TOO_LARGE");
    assert!(variants(&app, &who, &media).await.is_empty());
}
