//! Resumable uploads (S3 multipart): create → sign parts → PUT each part to S3 → complete, as
//! Uppy's `@uppy/aws-s3` multipart mode drives them, against the real stack (SeaweedFS checks
//! the presigned signatures, Content-Length included). Also the refusals that keep an upload
//! resumable, the ones that discard it, another user's upload, abort, the sweep, and ten
//! uploads of one event at once.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use shared::endpoint::Endpoint;
use shared::sweep::{self, SweepOptions};
use uuid::Uuid;

use crate::support::*;

const MIB: usize = 1024 * 1024;

/// An MP4 (the analysis corpus' `small.mp4`, 3,071 bytes) grown to `size` bytes by a second
/// `mdat` box at its end, as a long recording's media data: a real video that analyses (the
/// analysis seeks past media data), in as many parts as a test wants.
fn video(size: usize) -> Vec<u8> {
    let path = format!("{}/tests/samples/small.mp4", env!("CARGO_MANIFEST_DIR"));
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let padding = size - bytes.len();
    assert!(padding >= 8, "at least a box header");
    bytes.extend_from_slice(&(padding as u32).to_be_bytes());
    bytes.extend_from_slice(b"mdat");
    bytes.resize(size, 0);
    bytes
}

fn uuid_of(value: &Value) -> Uuid {
    Uuid::parse_str(value.as_str().unwrap()).unwrap()
}

impl TestApp {
    async fn multipart_call(
        &self,
        endpoint: Endpoint,
        who: &Organiser,
        upload_id: Uuid,
        body: Option<Value>,
    ) -> Reply {
        let request = request(endpoint, who, upload_id);
        let request = match body {
            Some(body) => {
                test_support::fixtures::with_body(request, serde_json::to_vec(&body).unwrap())
            }
            None => request,
        };
        self.call(endpoint, request).await
    }

    async fn create_multipart(&self, who: &Organiser, body: Value) -> Reply {
        self.multipart_call(
            Endpoint::CreateMultipartUpload,
            who,
            Uuid::nil(),
            Some(body),
        )
        .await
    }

    async fn sign_parts(&self, who: &Organiser, upload_id: Uuid, numbers: &[i32]) -> Reply {
        let body = json!({ "part_numbers": numbers });
        self.multipart_call(Endpoint::SignMultipartParts, who, upload_id, Some(body))
            .await
    }

    async fn list_parts(&self, who: &Organiser, upload_id: Uuid) -> Reply {
        self.multipart_call(Endpoint::ListMultipartParts, who, upload_id, None)
            .await
    }

    async fn complete_multipart(&self, who: &Organiser, upload_id: Uuid, parts: Value) -> Reply {
        let body = json!({ "parts": parts });
        self.multipart_call(
            Endpoint::CompleteMultipartUpload,
            who,
            upload_id,
            Some(body),
        )
        .await
    }

    async fn abort_multipart(&self, who: &Organiser, upload_id: Uuid) -> Reply {
        self.multipart_call(Endpoint::AbortMultipartUpload, who, upload_id, None)
            .await
    }

    /// Creates an upload of `bytes` and sends every part through its presigned URL; returns
    /// the create answer and the parts as complete wants them.
    async fn parts_sent(
        &self,
        who: &Organiser,
        name: &str,
        mime: &str,
        bytes: &[u8],
    ) -> (Value, Value) {
        let created = self
            .create_multipart(
                who,
                json!({"filename": name, "content_type": mime, "file_size": bytes.len()}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let created = created.json();
        let upload_id = uuid_of(&created["upload_id"]);
        let part_size = created["part_size"].as_u64().unwrap() as usize;
        let count = created["part_count"].as_i64().unwrap() as i32;
        let signed = self
            .sign_parts(who, upload_id, &(1..=count).collect::<Vec<_>>())
            .await;
        assert_eq!(signed.status, 200, "{}", signed.text());
        let mut parts = Vec::new();
        for (part, chunk) in signed.json()["parts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(bytes.chunks(part_size))
        {
            let etag = put_part(part, chunk.to_vec()).await;
            parts.push(json!({"part_number": part["part_number"], "etag": etag}));
        }
        (created, Value::Array(parts))
    }

    /// The multipart uploads S3 holds in the test's bucket.
    async fn open_uploads(&self) -> Vec<String> {
        self.state
            .storage()
            .list_multipart_uploads("")
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.key)
            .collect()
    }

    async fn multipart_rows(&self) -> i64 {
        self.db()
            .await
            .query_one("select count(*) from media_multipart_uploads", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// S3's own UploadId and key of an upload (never shown to clients).
    async fn s3_upload(&self, upload_id: Uuid) -> (String, String) {
        let row = self
            .db()
            .await
            .query_one(
                "select s3_key, s3_upload_id from media_multipart_uploads where id = $1",
                &[&upload_id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }
}

/// PUTs one part with its signed headers; answers the ETag S3 gave it.
async fn put_part(part: &Value, bytes: Vec<u8>) -> String {
    let answer = http_put_answer(part["url"].as_str().unwrap(), &headers_of(part), bytes).await;
    assert_eq!(answer.status, 200, "part PUT: {}", answer.text);
    answer.etag.expect("S3 answers a part's ETag")
}

#[tokio::test]
async fn a_video_goes_create_sign_put_complete_in_parts() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bytes = video(11 * MIB);
    let created = app
        .create_multipart(
            &who,
            json!({"filename": "keynote.mp4", "content_type": "video/mp4",
            "file_size": bytes.len(), "title": "Keynote", "tags": ["stage", "keynote"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["part_size"], 5 * MIB);
    assert_eq!(created["part_count"], 3);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with(&format!("events/{}/media/", who.event_id)) && key.ends_with(".mp4"),
        "{key}"
    );
    assert!(created["expires_at"].is_string());
    let upload_id = uuid_of(&created["upload_id"]);

    let signed = app.sign_parts(&who, upload_id, &[3, 1, 2, 1]).await;
    assert_eq!(signed.status, 200, "{}", signed.text());
    let signed = signed.json();
    let parts = signed["parts"].as_array().unwrap();
    assert_eq!(
        parts
            .iter()
            .map(|p| p["part_number"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(parts[0]["headers"]["content-length"], (5 * MIB).to_string());
    assert_eq!(parts[2]["headers"]["content-length"], (MIB).to_string());
    let url = parts[0]["url"].as_str().unwrap();
    assert!(
        !url.contains(&upload_id.to_string()),
        "S3's id, not ours, is in the URL"
    );

    // A part longer than its signed length is refused by S3 itself.
    let (status, _) = http_put(
        parts[2]["url"].as_str().unwrap(),
        &headers_of(&parts[2]),
        vec![0; MIB + 1],
    )
    .await;
    assert_eq!(
        status, 403,
        "a part of another length than signed was accepted"
    );

    let mut etags = Vec::new();
    for (part, chunk) in parts.iter().zip(bytes.chunks(5 * MIB)) {
        etags.push(json!({"part_number": part["part_number"], "etag": put_part(part, chunk.to_vec()).await}));
    }
    let listed = app.list_parts(&who, upload_id).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    let sizes: Vec<u64> = listed["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [5 * MIB as u64, 5 * MIB as u64, MIB as u64]);
    assert_eq!(listed["parts"][1]["etag"], etags[1]["etag"]);

    let done = app
        .complete_multipart(&who, upload_id, Value::Array(etags.clone()))
        .await;
    assert_eq!(done.status, 201, "{}", done.text());
    let media = done.json();
    assert_eq!(media["id"], upload_id.to_string());
    assert_eq!(media["s3_key"], key);
    assert_eq!(media["file_type"], "video/mp4");
    assert_eq!(media["file_size"], bytes.len());
    assert_eq!(media["title"], "Keynote");
    assert_eq!(media["tags"], json!(["stage", "keynote"]));
    assert!(media["width"].is_number(), "the analysis ran: {media}");

    let info = app.state.storage().info(&key).await.unwrap();
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.server_side_encryption.as_deref(), Some("AES256"));
    assert_eq!(info.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(info.metadata.get("user_id"), Some(&who.user_id.to_string()));
    assert_eq!(
        info.metadata.get("original_filename").map(String::as_str),
        Some("keynote.mp4")
    );
    assert_eq!(
        app.state.storage().download(&key).await.unwrap().as_ref(),
        bytes.as_slice()
    );
    assert_eq!(
        app.object_keys().await,
        std::slice::from_ref(&key),
        "nothing copied, nothing left over"
    );
    assert!(app.open_uploads().await.is_empty());
    assert_eq!(app.multipart_rows().await, 0);

    let again = app
        .complete_multipart(&who, upload_id, Value::Array(etags))
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json(), media);
    assert_eq!(app.media_count().await, 1);
    app.list_parts(&who, upload_id)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    app.assert_consistent().await;
}

#[tokio::test]
async fn create_refuses_what_the_other_upload_paths_refuse() {
    let app = TestApp::with(&[("MAX_MULTIPART_FILE_SIZE", "1073741824")]).await;
    let who = app.organiser().await;
    let file = |size: u64, mime: &str| json!({"filename": "a.mp4", "content_type": mime, "file_size": size});
    app.create_multipart(&who, file(1_073_741_825, "video/mp4"))
        .await
        .assert_error(413, "FILE_TOO_LARGE");
    app.create_multipart(&who, file(0, "video/mp4"))
        .await
        .assert_error(422, "EMPTY_FILE");
    app.create_multipart(&who, file(10, "text/html"))
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.create_multipart(
        &who,
        json!({"filename": "a.mp4", "content_type": "video/mp4", "file_size": -1}),
    )
    .await
    .assert_error(422, "VALIDATION_ERROR");
    app.create_multipart(&who, json!({"filename": "a.mp4", "file_size": 10}))
        .await
        .assert_error(422, "VALIDATION_ERROR");
    assert!(
        app.open_uploads().await.is_empty(),
        "a refused create starts nothing"
    );
    assert_eq!(app.multipart_rows().await, 0);

    let created = app
        .create_multipart(&who, file(1_073_741_824, "video/mp4"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let upload_id = uuid_of(&created.json()["upload_id"]);
    assert_eq!(created.json()["part_count"], 205);
    app.sign_parts(&who, upload_id, &[206])
        .await
        .assert_error(422, "VALIDATION_ERROR");
    app.sign_parts(&who, upload_id, &[0])
        .await
        .assert_error(422, "VALIDATION_ERROR");
    app.sign_parts(&who, upload_id, &[])
        .await
        .assert_error(422, "VALIDATION_ERROR");
    app.sign_parts(&who, upload_id, &(1..=101).collect::<Vec<_>>())
        .await
        .assert_error(422, "VALIDATION_ERROR");
    let batch = app
        .sign_parts(&who, upload_id, &(1..=100).collect::<Vec<_>>())
        .await;
    assert_eq!(batch.status, 200, "{}", batch.text());
    assert_eq!(app.abort_multipart(&who, upload_id).await.status, 204);
}

#[tokio::test]
async fn a_wrong_etag_or_another_uploads_part_is_409_and_the_upload_stays_resumable() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bytes = video(6 * MIB);
    let (ours, parts) = app.parts_sent(&who, "ours.mp4", "video/mp4", &bytes).await;
    let (_theirs, their_parts) = app
        .parts_sent(&who, "theirs.mp4", "video/mp4", &video(6 * MIB + 7))
        .await;
    let upload_id = uuid_of(&ours["upload_id"]);

    // Part 2 of the other upload (its bytes differ, so does its ETag).
    let foreign = json!([parts[0], their_parts[1]]);
    let reply = app.complete_multipart(&who, upload_id, foreign).await;
    reply.assert_error(409, "INVALID_PART");
    assert!(reply.text().contains("part 2"), "{}", reply.text());
    let wrong =
        json!([parts[0], {"part_number": 2, "etag": "\"0123456789abcdef0123456789abcdef\""}]);
    app.complete_multipart(&who, upload_id, wrong)
        .await
        .assert_error(409, "INVALID_PART");
    // Not every part named: the body is wrong, the upload untouched.
    app.complete_multipart(&who, upload_id, json!([parts[0]]))
        .await
        .assert_error(422, "VALIDATION_ERROR");
    app.complete_multipart(&who, upload_id, json!([parts[0], parts[0], parts[1]]))
        .await
        .assert_error(422, "VALIDATION_ERROR");

    assert_eq!(app.media_count().await, 0);
    let listed = app.list_parts(&who, upload_id).await;
    assert_eq!(listed.status, 200, "still resumable: {}", listed.text());
    assert_eq!(listed.json()["parts"].as_array().unwrap().len(), 2);
    // ETags without their quotes are accepted too (some clients strip them).
    let unquoted: Vec<Value> = parts.as_array().unwrap().iter()
        .map(|p| json!({"part_number": p["part_number"], "etag": p["etag"].as_str().unwrap().trim_matches('"')}))
        .collect();
    let done = app
        .complete_multipart(&who, upload_id, Value::Array(unquoted))
        .await;
    assert_eq!(done.status, 201, "{}", done.text());
    assert_eq!(
        app.state
            .storage()
            .download(done.json()["s3_key"].as_str().unwrap())
            .await
            .unwrap()
            .as_ref(),
        bytes.as_slice()
    );
}

#[tokio::test]
async fn a_total_size_other_than_declared_is_422_and_the_upload_is_aborted() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let declared = video(4200);
    let created = app
        .create_multipart(&who, json!({"filename": "short.mp4", "content_type": "video/mp4", "file_size": declared.len()}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let upload_id = uuid_of(&created.json()["upload_id"]);
    // SeaweedFS, like AWS, refuses a part of another length than signed, so the part is sent
    // as a client of a looser S3 could: straight with the SDK, 96 bytes short.
    let (key, s3_id) = app.s3_upload(upload_id).await;
    let storage = app.state.storage();
    let sent = storage
        .client()
        .upload_part()
        .bucket(storage.bucket())
        .key(&key)
        .upload_id(&s3_id)
        .part_number(1)
        .body(declared[..4000].to_vec().into())
        .send()
        .await
        .unwrap();
    let parts = json!([{"part_number": 1, "etag": sent.e_tag().unwrap()}]);
    let reply = app.complete_multipart(&who, upload_id, parts.clone()).await;
    reply.assert_error(422, "UPLOAD_MISMATCH");
    assert!(
        reply.text().contains("4000") && reply.text().contains("4200"),
        "{}",
        reply.text()
    );
    assert!(
        app.open_uploads().await.is_empty(),
        "the upload must be aborted in S3"
    );
    assert_eq!(app.multipart_rows().await, 0);
    assert!(app.object_keys().await.is_empty());
    assert_eq!(app.media_count().await, 0);
    app.complete_multipart(&who, upload_id, parts)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
}

#[tokio::test]
async fn bytes_of_another_type_than_declared_are_415_and_discarded() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let (created, parts) = app.parts_sent(&who, "clip.mp4", "video/mp4", &png()).await;
    let upload_id = uuid_of(&created["upload_id"]);
    app.complete_multipart(&who, upload_id, parts)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(
        app.object_keys().await.is_empty(),
        "the assembled object is removed"
    );
    assert!(app.open_uploads().await.is_empty());
    assert_eq!(app.multipart_rows().await, 0);
    assert_eq!(app.media_count().await, 0);
}

#[tokio::test]
async fn another_users_upload_is_refused_at_every_step() {
    let app = TestApp::new().await;
    let owner = app.organiser().await;
    let stranger = app.organiser().await;
    let (created, parts) = app
        .parts_sent(&owner, "mine.mp4", "video/mp4", &video(4000))
        .await;
    let upload_id = uuid_of(&created["upload_id"]);

    // In the stranger's own event the upload does not exist; in the owner's event, the event
    // is not theirs: the same answers as for any other id.
    let in_own_event = &stranger;
    app.sign_parts(in_own_event, upload_id, &[1])
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    app.list_parts(in_own_event, upload_id)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    app.complete_multipart(in_own_event, upload_id, parts.clone())
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    app.abort_multipart(in_own_event, upload_id)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    let in_owners_event = Organiser {
        user_id: stranger.user_id,
        event_id: owner.event_id,
        token: stranger.token.clone(),
    };
    app.sign_parts(&in_owners_event, upload_id, &[1])
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    app.list_parts(&in_owners_event, upload_id)
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    app.complete_multipart(&in_owners_event, upload_id, parts.clone())
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    app.abort_multipart(&in_owners_event, upload_id)
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    let no_token = without_header(
        request(Endpoint::SignMultipartParts, &owner, upload_id),
        "authorization",
    );
    app.call(Endpoint::SignMultipartParts, no_token)
        .await
        .assert_error(401, "AUTHENTICATION_REQUIRED");

    let done = app.complete_multipart(&owner, upload_id, parts).await;
    assert_eq!(
        done.status,
        201,
        "the owner's upload is intact: {}",
        done.text()
    );
}

#[tokio::test]
async fn abort_frees_the_parts_and_forgets_the_upload() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let (created, parts) = app
        .parts_sent(&who, "gone.mp4", "video/mp4", &video(6 * MIB))
        .await;
    let upload_id = uuid_of(&created["upload_id"]);
    assert_eq!(app.open_uploads().await.len(), 1);
    let reply = app.abort_multipart(&who, upload_id).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(app.open_uploads().await.is_empty());
    assert_eq!(app.multipart_rows().await, 0);
    app.abort_multipart(&who, upload_id)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    app.complete_multipart(&who, upload_id, parts)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    assert!(app.object_keys().await.is_empty());
}

#[tokio::test]
async fn a_sweep_after_expiry_leaves_no_incomplete_multipart_upload() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let (expiring, _) = app
        .parts_sent(&who, "old.mp4", "video/mp4", &video(6 * MIB))
        .await;
    let (fresh, fresh_parts) = app
        .parts_sent(&who, "new.mp4", "video/mp4", &video(4000))
        .await;
    // An upload S3 holds with no row (its create failed after S3 started it).
    let storage = app.state.storage();
    let stray_key = format!("events/{}/media/2020/01/01/000000_000000.mp4", who.event_id);
    storage
        .create_multipart(&stray_key, "video/mp4", Default::default())
        .await
        .unwrap();
    let expiring_id = uuid_of(&expiring["upload_id"]);
    app.db()
        .await
        .execute(
            "update media_multipart_uploads set expires_at = now() - interval '1 minute' where id = $1",
            &[&expiring_id],
        )
        .await
        .unwrap();
    assert_eq!(app.open_uploads().await.len(), 3);

    let target = app.sweep_target();
    // A grace of zero: the stray upload counts as old.
    let options = SweepOptions {
        grace: Duration::ZERO,
        delete_orphans: false,
        now: Utc::now() + chrono::Duration::seconds(1),
    };
    let report = sweep::run(&target, &options).await.unwrap();
    assert_eq!(report.expired_multipart_uploads_aborted, 2, "{report:?}");
    let fresh_key = fresh["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.open_uploads().await,
        [fresh_key],
        "only the unexpired upload is left"
    );
    assert_eq!(app.multipart_rows().await, 1);
    app.list_parts(&who, expiring_id)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
    let done = app
        .complete_multipart(&who, uuid_of(&fresh["upload_id"]), fresh_parts)
        .await;
    assert_eq!(done.status, 201, "{}", done.text());

    // After every expiry, nothing incomplete is left.
    let (_, _) = app
        .parts_sent(&who, "later.mp4", "video/mp4", &video(4000))
        .await;
    let later = SweepOptions {
        now: Utc::now() + chrono::Duration::days(2),
        ..options
    };
    sweep::run(&target, &later).await.unwrap();
    assert!(app.open_uploads().await.is_empty());
    assert_eq!(app.multipart_rows().await, 0);
    app.assert_consistent().await;
}

#[tokio::test]
async fn ten_concurrent_multipart_uploads_of_one_event_all_land() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let who = std::sync::Arc::new(app.organiser().await);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (app, who) = (app.clone(), who.clone());
            tokio::spawn(async move {
                let bytes = video(4000 + i);
                let (created, parts) = app
                    .parts_sent(&who, &format!("clip-{i}.mp4"), "video/mp4", &bytes)
                    .await;
                let done = app
                    .complete_multipart(&who, uuid_of(&created["upload_id"]), parts)
                    .await;
                assert_eq!(done.status, 201, "{}", done.text());
                done.json()
            })
        })
        .collect();
    let mut keys = Vec::new();
    for task in tasks {
        keys.push(task.await.unwrap()["s3_key"].as_str().unwrap().to_owned());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10);
    assert_eq!(app.media_count().await, 10);
    let listed = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("x-total-count"), "10");
    assert_eq!(app.object_keys().await, keys);
    assert!(app.open_uploads().await.is_empty());
    app.assert_consistent().await;
}

/// A measurement, run by hand (`cargo test -p shared --test integration complete_time --
/// --ignored --nocapture`, `MULTIPART_TIMING_PARTS` parts of 5 MiB, 100 by default): how long
/// complete takes for uploads of 10 parts and of that many. Its work is per part (the listing)
/// and per file (S3's complete, a HEAD, 8 KiB, the analysis), never per byte.
#[tokio::test]
#[ignore]
async fn complete_time_by_part_count() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let many: usize = std::env::var("MULTIPART_TIMING_PARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for parts in [10, many] {
        let size = parts * 5 * MIB;
        let created = app
            .create_multipart(
                &who,
                json!({"filename": "long.mp4", "content_type": "video/mp4", "file_size": size}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let upload_id = uuid_of(&created.json()["upload_id"]);
        let (key, s3_id) = app.s3_upload(upload_id).await;
        let first = bytes::Bytes::from(video(5 * MIB));
        let rest = bytes::Bytes::from(vec![0u8; 5 * MIB]);
        let storage = app.state.storage().clone();
        let mut named = Vec::new();
        // Eight parts at a time, as a browser would send them.
        for send in (1..=parts as i32).collect::<Vec<_>>().chunks(8) {
            let futures: Vec<_> = send
                .iter()
                .map(|&n| {
                    let (storage, key, s3_id) = (storage.clone(), key.clone(), s3_id.clone());
                    let body = if n == 1 { first.clone() } else { rest.clone() };
                    tokio::spawn(async move {
                        let sent = storage
                            .client()
                            .upload_part()
                            .bucket(storage.bucket())
                            .key(&key)
                            .upload_id(&s3_id)
                            .part_number(n)
                            .body(body.into())
                            .send()
                            .await
                            .unwrap();
                        json!({"part_number": n, "etag": sent.e_tag().unwrap()})
                    })
                })
                .collect();
            for f in futures {
                named.push(f.await.unwrap());
            }
        }
        let started = std::time::Instant::now();
        let done = app
            .complete_multipart(&who, upload_id, Value::Array(named))
            .await;
        let took = started.elapsed();
        assert_eq!(done.status, 201, "{}", done.text());
        println!(
            "complete of {parts} parts ({} MiB): {:.3} s",
            size / MIB,
            took.as_secs_f64()
        );
        app.state.storage().delete(&key).await.unwrap();
    }
}

/// An upload with every part sent, and another upload path's file at its key, recorded by a
/// media row, as when a form upload of the same event lands on the same microsecond's key
/// while the upload is open.
struct TakenKey {
    upload_id: Uuid,
    parts: Value,
    key: String,
    /// The other file's bytes.
    other: Vec<u8>,
}

impl TakenKey {
    async fn new(app: &TestApp, who: &Organiser) -> Self {
        let (created, parts) = app
            .parts_sent(who, "late.mp4", "video/mp4", &video(6 * MIB))
            .await;
        let upload_id = uuid_of(&created["upload_id"]);
        let (key, _) = app.s3_upload(upload_id).await;
        let other = app.upload_png(who).await;
        let other_key = other["s3_key"].as_str().unwrap().to_owned();
        let storage = app.state.storage();
        let bytes = storage.download(&other_key).await.unwrap().to_vec();
        storage
            .client()
            .copy_object()
            .bucket(storage.bucket())
            .copy_source(format!("{}/{other_key}", storage.bucket()))
            .key(&key)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            .send()
            .await
            .unwrap();
        storage.delete(&other_key).await.unwrap();
        app.db()
            .await
            .execute(
                "update event_media set s3_key = $1 where id = $2",
                &[&key, &uuid_of(&other["id"])],
            )
            .await
            .unwrap();
        Self {
            upload_id,
            parts,
            key,
            other: bytes,
        }
    }

    /// The other file is still at the key, unchanged, and the upload is gone from S3.
    async fn assert_other_file_kept(&self, app: &TestApp) {
        let kept = app.state.storage().download(&self.key).await.unwrap();
        assert!(
            kept[..] == self.other[..],
            "the other file's bytes must stay at the key"
        );
        assert!(
            app.open_uploads().await.is_empty(),
            "the upload must be aborted in S3"
        );
        assert_eq!(app.multipart_rows().await, 0);
        assert_eq!(app.media_count().await, 1);
    }
}

#[tokio::test]
async fn a_key_taken_by_another_file_is_409_the_upload_is_aborted_and_the_file_kept() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let taken = TakenKey::new(&app, &who).await;
    app.complete_multipart(&who, taken.upload_id, taken.parts.clone())
        .await
        .assert_error(409, "UPLOAD_KEY_TAKEN");
    taken.assert_other_file_kept(&app).await;
    app.complete_multipart(&who, taken.upload_id, taken.parts)
        .await
        .assert_error(404, "UPLOAD_NOT_FOUND");
}

#[tokio::test]
async fn abort_never_deletes_a_file_a_media_row_records_at_its_key() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let taken = TakenKey::new(&app, &who).await;
    let reply = app.abort_multipart(&who, taken.upload_id).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    taken.assert_other_file_kept(&app).await;
}
