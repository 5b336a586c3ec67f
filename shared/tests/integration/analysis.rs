//! Media analysis at ingest, through every way a file is stored (a form upload, a multi-file
//! form, add-zone-files, a direct upload read back from S3 in ranges), on whichever shape
//! `PLUGS_SCHEMA` built: every media answer carries `width`, `height` and `duration_ms`, and a
//! file that cannot be analysed is stored with them null and one log line saying why.

use serde_json::Value;
use shared::db::shape::Shape;
use uuid::Uuid;

use crate::support::*;

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(width, height, duration_ms)` of a media JSON, with the duration rounded to 100 ms (the
/// encoders pad a little).
fn fields(media: &Value) -> (Value, Value, Value) {
    let rounded = media["duration_ms"]
        .as_i64()
        .map_or(Value::Null, |ms| Value::from((ms + 50) / 100 * 100));
    (media["width"].clone(), media["height"].clone(), rounded)
}

fn dims(width: i64, height: i64) -> (Value, Value, Value) {
    (width.into(), height.into(), Value::Null)
}

fn nulls() -> (Value, Value, Value) {
    (Value::Null, Value::Null, Value::Null)
}

/// The row's analysis as stored: `(width, height, duration_ms, analysed)`.
async fn stored(app: &TestApp, media: &Value) -> (Option<i32>, Option<i32>, Option<i64>, bool) {
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let row = app
        .db()
        .await
        .query_one(
            "select width, height, duration_ms, analyzed_at is not null from event_media where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test]
async fn a_form_upload_records_the_displayed_size_of_a_photo() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app
        .upload(&who, "portrait.jpg", &sample("orientation-6.jpg"), &[])
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let media = reply.json();
    // Stored 64×48 with EXIF orientation 6: displayed 48×64.
    assert_eq!(fields(&media), dims(48, 64));
    assert_eq!(stored(&app, &media).await, (Some(48), Some(64), None, true));

    // Read back by get-media and list-media alike.
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let got = app
        .call(Endpoint::GetMedia, request(Endpoint::GetMedia, &who, id))
        .await;
    assert_eq!(fields(&got.json()), dims(48, 64));
    let listed = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
        .await;
    assert_eq!(fields(&listed.json()[0]), dims(48, 64));
    app.assert_consistent().await;
}

#[tokio::test]
async fn a_direct_upload_of_an_mp4_with_its_moov_at_the_end_is_analysed_from_s3() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bytes = sample("moov-at-end.mp4");
    let moov = bytes.windows(4).position(|w| w == b"moov").unwrap();
    assert!(moov > 64 * 1024, "the moov box is past the first window");
    let reply = app
        .direct_upload(&who, "clip.mp4", "video/mp4", bytes)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(fields(&reply.json()), (320.into(), 240.into(), 2000.into()));
    app.assert_consistent().await;
}

#[tokio::test]
async fn a_direct_upload_of_a_webm_and_of_audio_is_analysed() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app
        .direct_upload(&who, "clip.webm", "video/webm", sample("clip.webm"))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(fields(&reply.json()), (160.into(), 90.into(), 1500.into()));
    for (name, mime) in [
        ("tone.mp3", "audio/mpeg"),
        ("tone.ogg", "audio/ogg"),
        ("tone.wav", "audio/wav"),
    ] {
        let reply = app.direct_upload(&who, name, mime, sample(name)).await;
        assert_eq!(reply.status, 201, "{name}: {}", reply.text());
        assert_eq!(
            fields(&reply.json()),
            (Value::Null, Value::Null, 1500.into()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_file_of_a_multi_file_upload_and_of_add_zone_files_is_analysed() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let (png, gif, webp, mp3) = (
        sample("still.png"),
        sample("anim.gif"),
        sample("still.webp"),
        sample("tone.mp3"),
    );
    let form = with_multipart(
        request(Endpoint::UploadMedia, &who, Uuid::nil()),
        &[
            Part::file("files", "a.png", &png),
            Part::file("files", "b.gif", &gif),
            Part::file("files", "c.mp3", &mp3),
        ],
        &[],
    );
    let reply = app.call(Endpoint::UploadMedia, form).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let batch = reply.json();
    let found: Vec<_> = batch["successful"]
        .as_array()
        .unwrap()
        .iter()
        .map(fields)
        .collect();
    assert_eq!(
        found,
        [
            dims(40, 30),
            dims(34, 22),
            (Value::Null, Value::Null, 1500.into())
        ],
        "{batch}"
    );
    if app.shape().await == Shape::Seed {
        return; // no zones to add files to on the seed era
    }
    let zone = zone_of(&batch["successful"][0]);
    let add = with_multipart(
        request(Endpoint::AddZoneFiles, &who, zone),
        &[Part::file("files", "d.webp", &webp)],
        &[],
    );
    let reply = app.call(Endpoint::AddZoneFiles, add).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(fields(&reply.json()["successful"][0]), dims(50, 20));
    app.assert_consistent().await;
}

/// A truncated mp4 (its moov box cut off) and a document: both stored, with null fields; the
/// mp4, whose type is analysable, leaves one log line saying why; the document none, and its
/// row is not marked analysed (`plugs-media analyze` skips it by its type).
#[tokio::test(flavor = "current_thread")]
async fn a_file_that_cannot_be_analysed_is_stored_with_nulls_and_one_log_line() {
    let (captured, _guard) = CapturedLogs::install();

    let app = TestApp::new().await;
    let who = app.organiser().await;
    for (name, mime) in [("cut.mp4", "video/mp4"), ("cut.jpg", "image/jpeg")] {
        let file = if mime == "video/mp4" {
            sample("truncated.mp4")
        } else {
            sample("truncated.jpg")
        };
        let reply = app.direct_upload(&who, name, mime, file).await;
        assert_eq!(reply.status, 201, "{name}: {}", reply.text());
        assert_eq!(fields(&reply.json()), nulls(), "{name}");
        assert_eq!(
            stored(&app, &reply.json()).await,
            (None, None, None, true),
            "{name}"
        );
    }
    let reply = app.upload(&who, "notes.txt", b"hello\n", &[]).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(fields(&reply.json()), nulls());
    assert_eq!(stored(&app, &reply.json()).await, (None, None, None, false));

    let logs = captured.text();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("media not analysed"))
        .collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(
        lines[0].contains("cut.mp4") && lines[1].contains("cut.jpg"),
        "{lines:?}"
    );
    app.assert_consistent().await;
}
