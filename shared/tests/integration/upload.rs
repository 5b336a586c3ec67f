use serde_json::Value;
use shared::db::shape::Shape;
use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn an_upload_stores_the_object_encrypted_with_metadata_and_records_it() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app
        .upload(
            &who,
            "Event Photo.png",
            &png(),
            &[
                ("title", "Event Photo"),
                ("description", "A great photo"),
                ("tags", "photo, event,,memories "),
            ],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let media = reply.json();
    let key = media["s3_key"].as_str().unwrap();
    let prefix = format!("events/{}/media/", who.event_id);
    assert!(key.starts_with(&prefix) && key.ends_with(".png"), "{key}");
    assert_eq!(media["event_id"], who.event_id.to_string());
    assert_eq!(media["title"], "Event Photo");
    assert_eq!(media["description"], "A great photo");
    assert_eq!(media["file_type"], "image/png");
    assert_eq!(media["file_size"], png().len());
    assert_eq!(
        media["tags"],
        serde_json::json!(["photo", "event", "memories"])
    );
    let bucket = app.state.config.bucket.clone();
    assert_eq!(
        media["file_url"],
        format!("https://{bucket}.s3.us-east-1.amazonaws.com/{key}")
    );
    for field in ["id", "created_at", "updated_at"] {
        assert!(media[field].is_string(), "{field}");
    }

    let info = app.state.storage().info(key).await.unwrap();
    assert_eq!(info.server_side_encryption.as_deref(), Some("AES256"));
    assert_eq!(info.content_type.as_deref(), Some("image/png"));
    assert_eq!(info.size, png().len() as u64);
    assert_eq!(
        info.metadata.get("event_id"),
        Some(&who.event_id.to_string())
    );
    assert_eq!(info.metadata.get("user_id"), Some(&who.user_id.to_string()));
    assert_eq!(
        info.metadata.get("original_filename").map(String::as_str),
        Some("Event Photo.png")
    );
    assert_eq!(
        app.state.storage().download(key).await.unwrap().as_ref(),
        png().as_slice()
    );

    // The tags as The Plugs stores them: on the row, or on its zone.
    let sql = match app.shape().await {
        Shape::Seed => "select s3_key, tags, original_filename from event_media where id = $1",
        Shape::Current => {
            "select m.s3_key, z.tags, m.original_filename from event_media m \
             join event_media_zones z on z.id = m.zone_id where m.id = $1"
        }
    };
    let row = app
        .db()
        .await
        .query_one(
            sql,
            &[&Uuid::parse_str(media["id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), key);
    assert_eq!(row.get::<_, String>(1), "photo, event, memories");
    assert_eq!(row.get::<_, String>(2), "Event Photo.png");
}

#[tokio::test]
async fn the_spec_fixture_uploads_as_is() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app
        .call(
            Endpoint::UploadMedia,
            request(Endpoint::UploadMedia, &who, Uuid::nil()),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let media = reply.json();
    assert_eq!(media["title"], "Event Photo");
    assert_eq!(
        media["tags"],
        serde_json::json!(["photo", "event", "memories"])
    );
    assert_eq!(app.object_keys().await.len(), 1);
}

#[tokio::test]
async fn public_base_url_replaces_the_s3_url() {
    let app = TestApp::with(&[("PUBLIC_BASE_URL", "https://cdn.example.com/")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let key = media["s3_key"].as_str().unwrap();
    assert_eq!(media["file_url"], format!("https://cdn.example.com/{key}"));
}

#[tokio::test]
async fn the_type_comes_from_the_bytes_not_the_name() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app.upload(&who, "holiday.jpg", &png(), &[]).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["file_type"], "image/png");
    assert!(reply.json()["s3_key"].as_str().unwrap().ends_with(".png"));

    let csv = app
        .upload(
            &who,
            "guests.csv",
            b"name,email\nAda,ada@example.com\n",
            &[],
        )
        .await;
    assert_eq!(csv.status, 201, "{}", csv.text());
    assert_eq!(csv.json()["file_type"], "text/csv");
}

async fn assert_refused_and_nothing_stored(app: &TestApp, reply: Reply, status: u16, code: &str) {
    reply.assert_error(status, code);
    assert!(app.object_keys().await.is_empty(), "an object was written");
    assert_eq!(app.media_count().await, 0, "a row was written");
}

#[tokio::test]
async fn an_empty_file_is_refused() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app.upload(&who, "empty.png", b"", &[]).await;
    assert_refused_and_nothing_stored(&app, reply, 422, "EMPTY_FILE").await;
}

#[tokio::test]
async fn a_file_over_max_file_size_is_refused_and_exactly_max_is_accepted() {
    let app = TestApp::with(&[("MAX_FILE_SIZE", "2048")]).await;
    let who = app.organiser().await;
    let reply = app.upload(&who, "big.jpg", &jpeg(2049), &[]).await;
    assert_eq!(reply.status, 413);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2048")
    );
    assert_refused_and_nothing_stored(&app, reply, 413, "FILE_TOO_LARGE").await;

    let reply = app.upload(&who, "exact.jpg", &jpeg(2048), &[]).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["file_size"], 2048);
}

#[tokio::test]
async fn disallowed_or_disguised_types_are_refused() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let elf =
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00rest".to_vec();
    for (name, bytes) in [
        ("photo.png", elf.clone()),
        ("photo.jpg.exe", elf),
        (
            "page.html",
            b"<html><script>alert(1)</script></html>".to_vec(),
        ),
        ("fake.png", b"plain text pretending".to_vec()),
        (
            "archive.zip",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a zip".to_vec(),
        ),
    ] {
        let reply = app.upload(&who, name, &bytes, &[]).await;
        assert_eq!(reply.status, 415, "{name}: {}", reply.text());
        assert_refused_and_nothing_stored(&app, reply, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    }
}

#[tokio::test]
async fn malformed_forms_get_precise_errors() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let base = || request(Endpoint::UploadMedia, &who, Uuid::nil());

    let no_file = with_multipart(base(), &[], &[("title", "x")]);
    let reply = app.call(Endpoint::UploadMedia, no_file).await;
    reply.assert_error(422, "VALIDATION_ERROR");
    assert_eq!(
        reply.json()["error"]["details"][0]["loc"],
        serde_json::json!(["body", "file"])
    );

    let json_body = with_body(
        with_header(base(), "content-type", "application/json"),
        b"{}".to_vec(),
    );
    app.call(Endpoint::UploadMedia, json_body)
        .await
        .assert_error(400, "MALFORMED_REQUEST");

    let png = png();
    let truncated = with_body(
        with_header(base(), "content-type", &format!("multipart/form-data; boundary={BOUNDARY}")),
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nabc").into_bytes(),
    );
    app.call(Endpoint::UploadMedia, truncated)
        .await
        .assert_error(400, "MALFORMED_REQUEST");

    let long_title = "t".repeat(257);
    let reply = app
        .upload(&who, "a.png", &png, &[("title", &long_title)])
        .await;
    reply.assert_error(422, "VALIDATION_ERROR");
    let many_tags = vec!["tag"; 1000].join(",");
    let reply = app
        .upload(&who, "a.png", &png, &[("tags", &many_tags)])
        .await;
    reply.assert_error(422, "VALIDATION_ERROR");

    assert!(app.object_keys().await.is_empty());
    assert_eq!(app.media_count().await, 0);
}

#[tokio::test]
async fn no_object_remains_when_the_row_insert_fails() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    app.refuse_media_inserts().await;
    let reply = app.upload(&who, "photo.png", &png(), &[]).await;
    reply.assert_error(500, "DATABASE_ERROR");
    assert!(
        !reply.text().contains("sabotage"),
        "the cause leaked: {}",
        reply.text()
    );
    assert!(
        app.object_keys().await.is_empty(),
        "orphan object left behind"
    );
    assert_eq!(app.media_count().await, 0);
    if app.shape().await == Shape::Current {
        let zones: i64 = app
            .db()
            .await
            .query_one("select count(*) from event_media_zones", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(zones, 0, "the zone of a failed upload was left behind");
    }
}

#[tokio::test]
async fn no_row_remains_when_the_s3_write_fails() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    // The same bucket, but credentials S3 refuses (SeaweedFS, unlike AWS, creates a missing
    // bucket on the first PUT, so a wrong bucket name would not make the write fail).
    let broken = app.sibling(&[("AWS_SECRET_ACCESS_KEY", "wrong")]).await;
    let reply = broken.upload(&who, "photo.png", &png(), &[]).await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(reply.code(), "S3_CREDENTIALS_ERROR", "{}", reply.text());
    assert_eq!(app.media_count().await, 0);
}

#[tokio::test]
async fn concurrent_uploads_get_distinct_keys() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let png = png();
    let uploads = (0..8).map(|_| app.upload(&who, "photo.png", &png, &[]));
    let replies = futures_util::future::join_all(uploads).await;
    let keys: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()["s3_key"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 8);
    assert_eq!(app.object_keys().await.len(), 8);
    let media: Vec<Value> = replies.iter().map(Reply::json).collect();
    assert_eq!(media.len(), 8);
}
