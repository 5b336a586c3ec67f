//! Direct-to-S3 uploads (create → PUT → complete) and the sweep.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use shared::storage::ObjectMetadata;
use shared::sweep::{self, SweepOptions};
use uuid::Uuid;

use crate::relay;
use crate::support::*;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_12_mib_file_goes_create_put_complete() {
    let app = TestApp::with(&[("MAX_FILE_SIZE", "20971520")]).await;
    let who = app.organiser().await;
    let bytes = jpeg(12 * MIB);
    let reply = app.create_upload(&who, json!({"filename": "keynote photo.jpg", "content_type": "image/jpeg", "file_size": bytes.len(),
               "title": "Keynote", "tags": ["stage", "keynote"]}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let ticket = reply.json();
    assert_eq!(ticket["method"], "PUT");
    assert!(ticket["expires_at"].is_string());
    let signed = ticket["url"].as_str().unwrap();
    assert!(signed.contains("X-Amz-Expires=900"), "{signed}");
    let signed_headers = signed
        .split("X-Amz-SignedHeaders=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    for header in [
        "content-length",
        "content-type",
        "x-amz-server-side-encryption",
        "x-amz-meta-event_id",
    ] {
        assert!(
            signed_headers.contains(header),
            "{header} not signed: {signed_headers}"
        );
    }

    let (status, body) = put(&ticket, bytes.clone()).await;
    assert_eq!(status, 200, "{body}");
    let done = app
        .complete_upload(&who, ticket["upload_id"].as_str().unwrap())
        .await;
    assert_eq!(done.status, 201, "{}", done.text());
    let media = done.json();
    assert_eq!(media["id"], ticket["upload_id"]);
    assert_eq!(media["file_type"], "image/jpeg");
    assert_eq!(media["file_size"], bytes.len());
    assert_eq!(media["title"], "Keynote");
    assert_eq!(media["tags"], json!(["stage", "keynote"]));
    let key = media["s3_key"].as_str().unwrap();
    assert!(key.starts_with(&format!("events/{}/media/", who.event_id)) && key.ends_with(".jpg"));

    assert_eq!(
        app.object_keys().await,
        [key],
        "the temp object must be gone"
    );
    let info = app.state.storage().info(key).await.unwrap();
    assert_eq!(info.server_side_encryption.as_deref(), Some("AES256"));
    assert_eq!(info.metadata.get("user_id"), Some(&who.user_id.to_string()));
    assert_eq!(
        info.metadata.get("original_filename").map(String::as_str),
        Some("keynote photo.jpg")
    );
    assert_eq!(
        app.state.storage().download(key).await.unwrap().as_ref(),
        bytes.as_slice()
    );
    let pending: i64 = app
        .db()
        .await
        .query_one("select count(*) from media_pending_uploads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);

    let again = app
        .complete_upload(&who, ticket["upload_id"].as_str().unwrap())
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json(), media);
    assert_eq!(app.media_count().await, 1);
    assert_eq!(app.object_keys().await.len(), 1);
}

#[tokio::test]
async fn s3_refuses_a_put_that_differs_from_the_declaration() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bytes = jpeg(4096);
    let ticket = app.ticket(&who, "a.jpg", "image/jpeg", 4096).await;

    let (status, _) = put(&ticket, jpeg(4000)).await;
    assert!(
        status == 403 || status == 400,
        "a shorter body was accepted: {status}"
    );
    let mut wrong_type = headers_of(&ticket);
    for (name, value) in &mut wrong_type {
        if name.eq_ignore_ascii_case("content-type") {
            *value = "text/html".into();
        }
    }
    let (status, _) = http_put(ticket["url"].as_str().unwrap(), &wrong_type, bytes.clone()).await;
    assert_eq!(status, 403, "another content type was accepted");
    let without_sse: Vec<(String, String)> = headers_of(&ticket)
        .into_iter()
        .filter(|(k, _)| k != "x-amz-server-side-encryption")
        .collect();
    let (status, _) = http_put(ticket["url"].as_str().unwrap(), &without_sse, bytes.clone()).await;
    assert_eq!(status, 403, "a PUT without SSE was accepted");
    assert!(app.object_keys().await.is_empty());

    let (status, body) = put(&ticket, bytes).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_declared_checksum_is_enforced_by_s3() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bytes = jpeg(2048);
    let wrong_md5 = "d41d8cd98f00b204e9800998ecf8427e"; // MD5 of the empty string
    let ticket = app.create_upload(&who, json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 2048, "checksum_md5": wrong_md5}),
    )
    .await
    .json();
    assert!(
        headers_of(&ticket)
            .iter()
            .any(|(k, v)| k == "content-md5" && v == "1B2M2Y8AsgTpgAmY7PhCfg==")
    );
    let (status, _) = put(&ticket, bytes).await;
    assert!(
        status == 400 || status == 403,
        "bytes with another MD5 were accepted: {status}"
    );
    assert!(app.object_keys().await.is_empty());
}

#[tokio::test]
async fn complete_before_the_put_is_a_conflict() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let ticket = app.ticket(&who, "a.jpg", "image/jpeg", 10).await;
    app.complete_upload(&who, ticket["upload_id"].as_str().unwrap())
        .await
        .assert_error(409, "UPLOAD_INCOMPLETE");
    app.complete_upload(&who, &Uuid::new_v4().to_string())
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    assert_eq!(app.media_count().await, 0);
}

#[tokio::test]
async fn concurrent_completes_make_one_row() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let ticket = app.ready_upload(&who, "a.jpg", jpeg(50_000)).await;
    let id = ticket["upload_id"].as_str().unwrap();
    let replies =
        futures_util::future::join_all((0..4).map(|_| app.complete_upload(&who, id))).await;
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 200, 200, 201],
        "{:?}",
        replies.iter().map(Reply::text).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.media_count().await, 1);
    assert_eq!(app.object_keys().await.len(), 1);
}

#[tokio::test]
async fn a_spoofed_type_is_refused_and_its_object_deleted() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let elf = [b"\x7fELF\x02\x01\x01\x00".as_slice(), &[0u8; 120]].concat();
    app.direct_upload(&who, "photo.png", "image/png", elf)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(app.object_keys().await.is_empty());
    assert_eq!(app.media_count().await, 0);
}

#[tokio::test]
async fn a_size_other_than_declared_is_refused_and_its_object_deleted() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let ticket = app.ticket(&who, "a.jpg", "image/jpeg", 999).await;
    // Written around the presigned URL (S3 would refuse it), as a misbehaving tool might.
    let temp_key: String = app
        .db()
        .await
        .query_one("select temp_key from media_pending_uploads", &[])
        .await
        .unwrap()
        .get(0);
    app.state
        .storage()
        .put_new(
            &temp_key,
            Bytes::from(jpeg(500)),
            "image/jpeg",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    app.complete_upload(&who, ticket["upload_id"].as_str().unwrap())
        .await
        .assert_error(422, "UPLOAD_MISMATCH");
    assert!(app.object_keys().await.is_empty());
}

#[tokio::test]
async fn create_refuses_what_upload_refuses() {
    let app = TestApp::with(&[("MAX_FILE_SIZE", "1000")]).await;
    let who = app.organiser().await;
    let cases = [
        (
            json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 1001}),
            413,
            "FILE_TOO_LARGE",
        ),
        (
            json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 0}),
            422,
            "EMPTY_FILE",
        ),
        (
            json!({"filename": "a.exe", "content_type": "application/x-msdownload", "file_size": 10}),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            json!({"filename": "a.jpg", "content_type": "image/jpeg"}),
            422,
            "VALIDATION_ERROR",
        ),
        (
            json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 10, "checksum_md5": "nope"}),
            422,
            "VALIDATION_ERROR",
        ),
        (
            json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 10, "title": "t".repeat(300)}),
            422,
            "VALIDATION_ERROR",
        ),
    ];
    for (body, status, code) in cases {
        app.create_upload(&who, body)
            .await
            .assert_error(status, code);
    }
    let not_json = with_body(
        request(Endpoint::CreateUpload, &who, Uuid::nil()),
        b"{not json".to_vec(),
    );
    app.call(Endpoint::CreateUpload, not_json)
        .await
        .assert_error(400, "MALFORMED_REQUEST");
    let pending: i64 = app
        .db()
        .await
        .query_one("select count(*) from media_pending_uploads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn another_users_event_is_not_found_for_direct_uploads() {
    let app = TestApp::new().await;
    let owner = app.organiser().await;
    let ticket = app.ready_upload(&owner, "a.jpg", jpeg(100)).await;
    let intruder = app.organiser().await;
    let as_intruder = Organiser {
        user_id: intruder.user_id,
        event_id: owner.event_id,
        token: intruder.token,
    };
    app.create_upload(
        &as_intruder,
        json!({"filename": "a.jpg", "content_type": "image/jpeg", "file_size": 100}),
    )
    .await
    .assert_error(404, "EVENT_NOT_FOUND");
    app.complete_upload(&as_intruder, ticket["upload_id"].as_str().unwrap())
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    assert_eq!(app.media_count().await, 0);
}

#[tokio::test]
async fn the_form_upload_points_large_files_to_the_direct_upload() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app.upload(&who, "big.jpg", &jpeg(4_500_000), &[]).await;
    reply.assert_error(413, "FILE_TOO_LARGE");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/media/uploads"),
        "{}",
        reply.text()
    );
    assert!(app.object_keys().await.is_empty());
}

fn sweep_now(delete_orphans: bool) -> SweepOptions {
    SweepOptions {
        grace: Duration::ZERO,
        delete_orphans,
        now: chrono::Utc::now() + chrono::Duration::seconds(1),
    }
}

#[tokio::test]
async fn the_sweep_removes_expired_uploads_with_their_objects() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let expired = app.ready_upload(&who, "a.jpg", jpeg(100)).await;
    let live = app.ready_upload(&who, "b.jpg", jpeg(100)).await;
    app.db()
        .await
        .execute(
            "update media_pending_uploads set expires_at = now() - interval '1 hour' where id = $1",
            &[&Uuid::parse_str(expired["upload_id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap();
    let report = sweep::run(&app.sweep_target(), &sweep_now(false))
        .await
        .unwrap();
    assert_eq!(report.expired_uploads_removed, 1);
    assert_eq!(report.stray_temp_objects_removed, 0);
    assert_eq!(
        app.object_keys().await.len(),
        1,
        "the live upload's object must stay"
    );
    assert_eq!(
        app.complete_upload(&who, live["upload_id"].as_str().unwrap())
            .await
            .status,
        201
    );
    app.complete_upload(&who, expired["upload_id"].as_str().unwrap())
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
}

#[tokio::test]
async fn the_sweep_reports_orphans_and_deletes_them_when_told_to() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let kept = app.upload_png(&who).await;
    let orphan = format!("events/{}/media/2024/01/01/120000_000001.jpg", who.event_id);
    app.state
        .storage()
        .put_new(
            &orphan,
            Bytes::from(jpeg(100)),
            "image/jpeg",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    let stray_temp = "temp/2024/01/01/120000_000001.jpg";
    app.state
        .storage()
        .put_new(
            stray_temp,
            Bytes::from(jpeg(100)),
            "image/jpeg",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    let lost = app.upload_png(&who).await;
    app.state
        .storage()
        .delete(lost["s3_key"].as_str().unwrap())
        .await
        .unwrap();

    // Within the grace period nothing is called an orphan.
    let young = SweepOptions {
        grace: Duration::from_secs(3600),
        ..sweep_now(true)
    };
    let report = sweep::run(&app.sweep_target(), &young).await.unwrap();
    assert!(report.orphan_objects.is_empty());
    assert_eq!(report.stray_temp_objects_removed, 0);

    let report = sweep::run(&app.sweep_target(), &sweep_now(false))
        .await
        .unwrap();
    assert_eq!(report.orphan_objects, std::slice::from_ref(&orphan));
    assert_eq!(report.orphan_objects_deleted, 0);
    assert_eq!(
        report.rows_missing_their_object,
        [lost["s3_key"].as_str().unwrap()]
    );
    assert_eq!(report.stray_temp_objects_removed, 1);
    assert_eq!(report.objects_checked, 2);

    let report = sweep::run(&app.sweep_target(), &sweep_now(true))
        .await
        .unwrap();
    assert_eq!(report.orphan_objects_deleted, 1);
    assert_eq!(app.object_keys().await, [kept["s3_key"].as_str().unwrap()]);
}

/// Bytes of `len` that no check accepts as a JPEG: an executable's header.
fn elf(len: usize) -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01\x00".to_vec();
    bytes.resize(len, 0);
    bytes
}

/// Keys under `events/`: what the API has published.
async fn published_keys(app: &TestApp) -> Vec<String> {
    app.object_keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with("events/"))
        .collect()
}

/// A client PUTs other bytes with the same presigned URL after complete has checked the
/// object and before it copies it: the unchecked bytes must never reach `events/`.
#[tokio::test]
async fn bytes_put_again_after_the_check_are_never_copied() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let checked = jpeg(4096);
    let ticket = app.ready_upload(&who, "a.jpg", checked.clone()).await;
    let second_put = {
        let ticket = ticket.clone();
        Box::pin(async move {
            let (status, body) = put(&ticket, elf(4096)).await;
            assert_eq!(status, 200, "the second PUT: {body}");
        })
    };
    // The API completes through a relay that lets the second PUT in just before the copy.
    let relay = relay::s3_relay("x-amz-copy-source", second_put).await;
    let racing = app.sibling(&[("AWS_ENDPOINT_URL_S3", &relay)]).await;
    let id = ticket["upload_id"].as_str().unwrap();

    let reply = racing.complete_upload(&who, id).await;
    for key in published_keys(&app).await {
        let stored = app.state.storage().download(&key).await.unwrap();
        assert!(
            stored.as_ref() == checked.as_slice(),
            "{key} holds bytes complete never checked, starting {:02x?} (reply {})",
            &stored[..8],
            reply.status
        );
    }
    reply.assert_error(409, "UPLOAD_CHANGED");
    assert_eq!(app.media_count().await, 0);

    // Completing again checks what is there now: the executable is refused and removed.
    app.complete_upload(&who, id)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(app.object_keys().await.is_empty());
    assert_eq!(app.media_count().await, 0);
}

/// The same race one step earlier: the bytes change between the HEAD (size) and the ranged
/// GET (type), so the two checks would look at different files.
#[tokio::test]
async fn bytes_put_again_between_the_size_and_type_checks_are_caught() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let ticket = app.ready_upload(&who, "a.jpg", jpeg(4096)).await;
    let second_put = {
        let ticket = ticket.clone();
        Box::pin(async move {
            // Another JPEG of the same size: it would pass the type check on its own.
            let mut other = jpeg(4096);
            other[4000] ^= 0xff;
            assert_eq!(put(&ticket, other).await.0, 200);
        })
    };
    let relay = relay::s3_relay("range", second_put).await;
    let racing = app.sibling(&[("AWS_ENDPOINT_URL_S3", &relay)]).await;
    racing
        .complete_upload(&who, ticket["upload_id"].as_str().unwrap())
        .await
        .assert_error(409, "UPLOAD_CHANGED");
    assert!(published_keys(&app).await.is_empty());
    assert_eq!(app.media_count().await, 0);
}

/// Headers a client adds to the presigned PUT outside the signature never reach the
/// published object: its type, disposition, caching and encoding are the API's.
#[tokio::test]
async fn the_published_object_carries_the_apis_headers_not_the_clients() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let cases: [(&str, &str, Vec<u8>, Option<&str>); 3] = [
        ("a.jpg", "image/jpeg", jpeg(2048), None),
        (
            "notes.txt",
            "text/plain",
            b"hello, world\n".to_vec(),
            Some("attachment"),
        ),
        (
            "logo.svg",
            "image/svg+xml",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
            Some("attachment"),
        ),
    ];
    for (name, mime, bytes, disposition) in cases {
        let ticket = app.ticket(&who, name, mime, bytes.len()).await;
        let mut headers = headers_of(&ticket);
        headers.extend(
            [
                ("content-disposition", "inline"),
                ("content-encoding", "gzip"),
                ("cache-control", "public, max-age=31536000"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let (status, body) = http_put(ticket["url"].as_str().unwrap(), &headers, bytes).await;
        assert_eq!(status, 200, "{name}: {body}");
        let done = app
            .complete_upload(&who, ticket["upload_id"].as_str().unwrap())
            .await;
        assert_eq!(done.status, 201, "{name}: {}", done.text());
        let key = done.json()["s3_key"].as_str().unwrap().to_owned();
        let head = app.head(&key).await;
        assert_eq!(
            (
                head.content_type(),
                head.content_disposition(),
                head.content_encoding(),
                head.cache_control(),
            ),
            (Some(mime), disposition, None, None),
            "{name}"
        );
        assert_eq!(
            head.server_side_encryption().map(|s| s.as_str()),
            Some("AES256"),
            "{name}"
        );
        let metadata = head.metadata().cloned().unwrap_or_default();
        assert_eq!(metadata.get("event_id"), Some(&who.event_id.to_string()));
        assert_eq!(metadata.get("user_id"), Some(&who.user_id.to_string()));
        assert_eq!(
            metadata.get("original_filename").map(String::as_str),
            Some(name)
        );
    }
}
