//! Several files at once, and files into zones: multi-file form uploads, `add-zone-files`,
//! and direct uploads with `files` and `zone_id`, on whichever shape `PLUGS_SCHEMA` built
//! (the seed era has no zones: batches become one row per file, and joining a zone is 409).
//! After every test the bucket and the rows agree.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use shared::db::shape::Shape;
use uuid::Uuid;

use crate::support::*;

fn id_of(value: &Value, field: &str) -> Option<Uuid> {
    value[field].as_str().map(|id| Uuid::parse_str(id).unwrap())
}

/// An upload-media request carrying `parts` and `fields`.
fn form_upload(
    who: &Organiser,
    parts: &[Part<'_>],
    fields: &[(&str, &str)],
) -> lambda_http::Request {
    with_multipart(
        request(Endpoint::UploadMedia, who, Uuid::nil()),
        parts,
        fields,
    )
}

/// An add-zone-files request for `zone_id` carrying `parts` and `fields`.
fn add_files(
    who: &Organiser,
    zone_id: Uuid,
    parts: &[Part<'_>],
    fields: &[(&str, &str)],
) -> lambda_http::Request {
    with_multipart(request(Endpoint::AddZoneFiles, who, zone_id), parts, fields)
}

/// The zones of the event as The Plugs stores them: (id, title, tags, is_deleted), by id.
async fn zones_of(
    app: &TestApp,
    event_id: Uuid,
) -> Vec<(Uuid, Option<String>, Option<String>, bool)> {
    if app.shape().await == Shape::Seed {
        return Vec::new();
    }
    app.db()
        .await
        .query(
            "select id, title, tags, is_deleted from event_media_zones where event_id = $1 order by id",
            &[&event_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// The zone ids the media rows of the event point at (none on the seed era).
async fn row_zones(app: &TestApp, event_id: Uuid) -> BTreeSet<Uuid> {
    if app.shape().await == Shape::Seed {
        return BTreeSet::new();
    }
    app.db()
        .await
        .query(
            "select zone_id from event_media where event_id = $1 and not is_deleted",
            &[&event_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The zone of a media JSON: its `batch_id`, or on the seed era the item itself.
fn zone_of(media: &Value) -> Uuid {
    id_of(media, "batch_id")
        .or_else(|| id_of(media, "id"))
        .unwrap()
}

/// The batch answer's shape and its totals, which must add up.
fn assert_batch_shape(batch: &Value, requested: usize, stored: usize) {
    let keys: BTreeSet<&str> = batch
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "successful",
            "failed",
            "total_requested",
            "total_successful",
            "total_failed",
            "batch_id"
        ]),
        "{batch}"
    );
    assert_eq!(batch["total_requested"], requested, "{batch}");
    assert_eq!(batch["total_successful"], stored, "{batch}");
    assert_eq!(batch["total_failed"], requested - stored, "{batch}");
    assert_eq!(batch["successful"].as_array().unwrap().len(), stored);
    assert_eq!(
        batch["failed"].as_array().unwrap().len(),
        requested - stored
    );
}

#[tokio::test]
async fn several_files_share_one_zone_and_its_metadata() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let (png, jpg) = (png(), jpeg(3000));
    let reply = app
        .call(
            Endpoint::UploadMedia,
            form_upload(
                &who,
                &[
                    Part::file("files", "one.png", &png),
                    Part::file("files", "two.jpg", &jpg),
                    Part::file("file", "three.png", &png),
                ],
                &[
                    ("title", "Stage"),
                    ("description", "Night one"),
                    ("tags", "a, b"),
                ],
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let batch = reply.json();
    assert_batch_shape(&batch, 3, 3);
    let stored = batch["successful"].as_array().unwrap();
    for media in stored {
        assert_eq!(media["title"], "Stage");
        assert_eq!(media["description"], "Night one");
        assert_eq!(media["tags"], json!(["a", "b"]));
        assert_eq!(media["batch_id"], batch["batch_id"]);
    }
    let types: Vec<&str> = stored
        .iter()
        .map(|m| m["file_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["image/png", "image/jpeg", "image/png"],
        "in the form's order"
    );
    match app.shape().await {
        Shape::Current => {
            let zone = id_of(&batch, "batch_id").expect("a zone on the current shape");
            assert_eq!(
                zones_of(&app, who.event_id).await,
                [(zone, Some("Stage".into()), Some("a, b".into()), false)]
            );
            assert_eq!(row_zones(&app, who.event_id).await, BTreeSet::from([zone]));
            let apart: i64 = app
                .db()
                .await
                .query_one(
                    "select count(*) from event_media where zone_id is distinct from batch_id",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(apart, 0, "The Plugs keeps batch_id equal to zone_id");
        }
        Shape::Seed => {
            assert!(batch["batch_id"].is_null());
            let titled: i64 = app
                .db()
                .await
                .query_one(
                    "select count(*) from event_media where title = 'Stage' and tags = 'a, b'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(titled, 3, "each row holds the shared metadata");
        }
    }
    assert_eq!(app.media_count().await, 3);
    app.assert_consistent().await;
}

#[tokio::test]
async fn a_refused_file_leaves_nothing_and_does_not_fail_the_others() {
    let app = TestApp::with(&[("MAX_FILE_SIZE", "4096")]).await;
    let who = app.organiser().await;
    let (png, big) = (png(), jpeg(5000));
    let reply = app
        .call(
            Endpoint::UploadMedia,
            form_upload(
                &who,
                &[
                    Part::file("files", "good.png", &png),
                    Part::file("files", "empty.png", b""),
                    Part::file(
                        "files",
                        "page.png",
                        b"<html><script>alert(1)</script></html>",
                    ),
                    Part::file("files", "../../big.jpg", &big),
                    Part::file("files", "also good.jpg", &jpeg(100)),
                ],
                &[("title", "Mixed")],
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let batch = reply.json();
    assert_batch_shape(&batch, 5, 2);
    let failed: Vec<(u64, &str, &str)> = batch["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f["error"].as_str().is_some_and(|e| !e.is_empty()), "{f}");
            (
                f["index"].as_u64().unwrap(),
                f["filename"].as_str().unwrap(),
                f["error_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            (1, "empty.png", "EMPTY_FILE"),
            (2, "page.png", "UNSUPPORTED_MEDIA_TYPE"),
            (3, "big.jpg", "FILE_TOO_LARGE"),
        ]
    );
    let names: Vec<&str> = batch["successful"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["file_type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["image/png", "image/jpeg"]);
    assert_eq!(app.media_count().await, 2);
    assert_eq!(app.object_keys().await.len(), 2);
    if app.shape().await == Shape::Current {
        assert_eq!(zones_of(&app, who.event_id).await.len(), 1);
    }
    app.assert_consistent().await;
}

/// All files refused: still the batch shape (201), no zone made, nothing stored.
#[tokio::test]
async fn a_batch_of_refused_files_stores_nothing_and_makes_no_zone() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let before = app.snapshot().await;
    let reply = app
        .call(
            Endpoint::UploadMedia,
            form_upload(
                &who,
                &[
                    Part::file("files", "a.png", b""),
                    Part::file("files", "b.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
                ],
                &[("title", "Nothing")],
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let batch = reply.json();
    assert_batch_shape(&batch, 2, 0);
    assert!(batch["batch_id"].is_null());
    assert_eq!(app.snapshot().await, before);
    assert!(zones_of(&app, who.event_id).await.is_empty());
}

#[tokio::test]
async fn a_form_takes_at_most_20_files() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let png = png();
    let parts = |n: usize| -> Vec<Part<'_>> {
        (0..n).map(|_| Part::file("files", "p.png", &png)).collect()
    };
    let reply = app
        .call(Endpoint::UploadMedia, form_upload(&who, &parts(21), &[]))
        .await;
    reply.assert_error(422, "VALIDATION_ERROR");
    assert_eq!(
        reply.json()["error"]["details"][0]["loc"],
        json!(["body", "files"])
    );
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/media/uploads")
    );
    assert_eq!(app.media_count().await, 0);
    assert!(app.object_keys().await.is_empty());

    let reply = app
        .call(Endpoint::UploadMedia, form_upload(&who, &parts(20), &[]))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_batch_shape(&reply.json(), 20, 20);
    app.assert_consistent().await;
}

/// One file part, whichever its name, answers the media JSON as the single upload always did.
#[tokio::test]
async fn one_files_part_answers_the_media_json() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let png = png();
    let reply = app
        .call(
            Endpoint::UploadMedia,
            form_upload(
                &who,
                &[Part::file("files", "one.png", &png)],
                &[("title", "One")],
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let media = reply.json();
    assert_eq!(media["title"], "One");
    assert!(
        media["id"].is_string() && media.get("successful").is_none(),
        "{media}"
    );
    let empty = app
        .call(
            Endpoint::UploadMedia,
            form_upload(&who, &[Part::file("files", "e.png", b"")], &[]),
        )
        .await;
    empty.assert_error(422, "EMPTY_FILE");
    app.assert_consistent().await;
}

#[tokio::test]
async fn files_added_to_a_zone_take_its_metadata() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let first = app.upload_png(&who).await;
    let zone = zone_of(&first);
    let png = png();
    let reply = app
        .call(
            Endpoint::AddZoneFiles,
            add_files(
                &who,
                zone,
                &[
                    Part::file("files", "b.png", &png),
                    Part::file("files", "c.jpg", &jpeg(500)),
                ],
                &[],
            ),
        )
        .await;
    if app.shape().await == Shape::Seed {
        reply.assert_error(409, "ZONES_UNAVAILABLE");
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("predates")
        );
        assert_eq!(app.media_count().await, 1);
        app.assert_consistent().await;
        return;
    }
    assert_eq!(reply.status, 201, "{}", reply.text());
    let batch = reply.json();
    assert_batch_shape(&batch, 2, 2);
    assert_eq!(id_of(&batch, "batch_id"), Some(zone));
    for media in batch["successful"].as_array().unwrap() {
        assert_eq!(media["title"], "Photo", "the zone's title");
        assert_eq!(id_of(media, "batch_id"), Some(zone));
    }
    assert_eq!(row_zones(&app, who.event_id).await, BTreeSet::from([zone]));
    assert_eq!(zones_of(&app, who.event_id).await.len(), 1);

    // One file: the batch shape too, and the registry's fixture works as it is.
    let reply = app
        .call(
            Endpoint::AddZoneFiles,
            add_files(&who, zone, &[Part::file("file", "d.png", &png)], &[]),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_batch_shape(&reply.json(), 1, 1);
    let reply = app
        .call(
            Endpoint::AddZoneFiles,
            request(Endpoint::AddZoneFiles, &who, zone),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_batch_shape(&reply.json(), 2, 2);
    assert_eq!(app.media_count().await, 6);
    app.assert_consistent().await;
}

#[tokio::test]
async fn adding_files_is_refused_before_anything_is_stored() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let stranger = app.organiser().await;
    let zone = zone_of(&app.upload_png(&who).await);
    let other_event = app.second_event(&who).await;
    let there = Organiser {
        user_id: who.user_id,
        event_id: other_event,
        token: who.token.clone(),
    };
    let elsewhere = zone_of(&app.upload_png(&there).await);
    let before = app.snapshot().await;
    let png = png();
    let one = [Part::file("files", "a.png", &png)];

    app.call(
        Endpoint::AddZoneFiles,
        add_files(&who, Uuid::new_v4(), &one, &[]),
    )
    .await
    .assert_error(404, "ZONE_NOT_FOUND");
    app.call(
        Endpoint::AddZoneFiles,
        add_files(&who, elsewhere, &one, &[]),
    )
    .await
    .assert_error(404, "ZONE_NOT_FOUND");
    // A stranger with the owner's event and zone in the path: the event is not theirs.
    let theirs = Organiser {
        user_id: stranger.user_id,
        event_id: who.event_id,
        token: stranger.token.clone(),
    };
    app.call(Endpoint::AddZoneFiles, add_files(&theirs, zone, &one, &[]))
        .await
        .assert_error(404, "EVENT_NOT_FOUND");
    let seed = app.shape().await == Shape::Seed;
    for fields in [[("title", "New")], [("tags", "")]] {
        let reply = app
            .call(Endpoint::AddZoneFiles, add_files(&who, zone, &one, &fields))
            .await;
        if seed {
            reply.assert_error(409, "ZONES_UNAVAILABLE");
        } else {
            reply.assert_error(422, "VALIDATION_ERROR");
        }
    }
    let not_a_form = with_body(
        with_header(
            request(Endpoint::AddZoneFiles, &who, zone),
            "content-type",
            "text/plain",
        ),
        b"hello".to_vec(),
    );
    let reply = app.call(Endpoint::AddZoneFiles, not_a_form).await;
    if seed {
        reply.assert_error(409, "ZONES_UNAVAILABLE");
    } else {
        reply.assert_error(400, "MALFORMED_REQUEST");
    }
    assert_eq!(app.snapshot().await, before);
}

/// A connection of its own, outside the pool the handlers use (it holds two at most).
async fn own_connection(app: &TestApp) -> shared::db::Client {
    let url = secrecy::SecretString::from(app.database_url.clone());
    shared::db::pool(&url, 1).unwrap().get().await.unwrap()
}

/// Blocks until some session of the test database waits for a row lock.
async fn wait_for_a_lock_waiter(app: &TestApp) {
    let client = own_connection(app).await;
    for _ in 0..200 {
        let waiting: i64 = client
            .query_one(
                "select count(*) from pg_stat_activity \
                 where datname = current_database() and wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no request came to wait for the zone's lock");
}

/// A zone deleted while files are being added: the insert waits for the delete's lock, then
/// sees the zone gone; the answer is 404 and the object just written is removed.
#[tokio::test]
async fn a_zone_deleted_while_files_are_added_leaves_no_object() {
    let app = TestApp::new().await;
    if app.shape().await == Shape::Seed {
        return; // no zones to delete: adding files is 409 there (see above)
    }
    let who = app.organiser().await;
    let zone = zone_of(&app.upload_png(&who).await);
    let mut deleter = own_connection(&app).await;
    let tx = deleter.transaction().await.unwrap();
    // A zone delete as The Plugs does it: lock the zone, delete its files, retire it.
    tx.query(
        "select 1 from event_media_zones where id = $1 for update",
        &[&zone],
    )
    .await
    .unwrap();
    tx.execute(
        "update event_media_zones set is_deleted = true, deleted_at = now() where id = $1",
        &[&zone],
    )
    .await
    .unwrap();
    let png = png();
    let parts = [Part::file("files", "late.png", &png)];
    let (reply, ()) = tokio::join!(
        app.call(Endpoint::AddZoneFiles, add_files(&who, zone, &parts, &[])),
        async {
            wait_for_a_lock_waiter(&app).await;
            tx.commit().await.unwrap();
        }
    );
    reply.assert_error(404, "ZONE_NOT_FOUND");
    let rows_in_zone: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from event_media where zone_id = $1",
            &[&zone],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows_in_zone, 1, "only the zone's first file");
    assert_eq!(
        app.object_keys().await.len(),
        1,
        "the late file's object was removed"
    );
    app.assert_consistent().await;
}

/// create-upload with `files` on the organiser's event.
async fn announce(app: &TestApp, who: &Organiser, body: Value) -> Reply {
    app.create_upload(who, body).await
}

fn declared(name: &str, bytes: &[u8]) -> Value {
    json!({"filename": name, "content_type": "image/jpeg", "file_size": bytes.len()})
}

#[tokio::test]
async fn an_album_of_direct_uploads_completes_into_one_zone() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let files: Vec<Vec<u8>> = (0..3).map(|i| jpeg(2000 + i)).collect();
    let reply = announce(
        &app,
        &who,
        json!({
            "files": [declared("a.jpg", &files[0]), declared("b.jpg", &files[1]),
                      {"filename": "c.html", "content_type": "text/html", "file_size": 10},
                      declared("d.jpg", &files[2])],
            "title": "Album", "tags": ["x", "y"]
        }),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["total_requested"], 4);
    assert_eq!(answer["total_successful"], 3);
    assert_eq!(answer["total_failed"], 1);
    assert_eq!(
        answer["failed"],
        json!([{"filename": "c.html", "index": 2, "error": answer["failed"][0]["error"], "error_type": "UNSUPPORTED_MEDIA_TYPE"}])
    );
    let tickets = answer["uploads"].as_array().unwrap();
    let indexes: Vec<u64> = tickets
        .iter()
        .map(|t| t["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 3]);
    let shape = app.shape().await;
    assert_eq!(
        answer["batch_id"].is_null(),
        shape == Shape::Seed,
        "{answer}"
    );
    // Nothing is made before a completion: an album never completed leaves no zone.
    assert!(zones_of(&app, who.event_id).await.is_empty());

    let mut media = Vec::new();
    for (ticket, bytes) in tickets.iter().zip(&files) {
        assert_eq!(ticket["method"], "PUT");
        let (status, text) = put(ticket, bytes.clone()).await;
        assert_eq!(status, 200, "{text}");
        let done = app
            .complete_upload(&who, ticket["upload_id"].as_str().unwrap())
            .await;
        assert_eq!(done.status, 201, "{}", done.text());
        media.push(done.json());
    }
    for item in &media {
        assert_eq!(item["title"], "Album");
        assert_eq!(item["tags"], json!(["x", "y"]));
        assert_eq!(item["batch_id"], answer["batch_id"]);
    }
    if shape == Shape::Current {
        let zone = id_of(&answer, "batch_id").unwrap();
        assert_eq!(
            zones_of(&app, who.event_id).await,
            [(zone, Some("Album".into()), Some("x, y".into()), false)]
        );
    }
    assert_eq!(app.media_count().await, 3);
    app.assert_consistent().await;
}

/// The first completions of an album racing each other make one zone.
#[tokio::test]
async fn concurrent_completions_of_an_album_make_one_zone() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let files: Vec<Vec<u8>> = (0..6).map(|i| jpeg(1000 + i)).collect();
    let body = json!({
        "files": files.iter().enumerate().map(|(i, f)| declared(&format!("{i}.jpg"), f)).collect::<Vec<_>>(),
        "title": "Race"
    });
    let answer = announce(&app, &who, body).await.json();
    let tickets = answer["uploads"].as_array().unwrap().clone();
    for (ticket, bytes) in tickets.iter().zip(&files) {
        let (status, text) = put(ticket, bytes.clone()).await;
        assert_eq!(status, 200, "{text}");
    }
    let replies = futures_util::future::join_all(
        tickets
            .iter()
            .map(|t| app.complete_upload(&who, t["upload_id"].as_str().unwrap())),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.text());
        assert_eq!(reply.json()["batch_id"], answer["batch_id"]);
    }
    if app.shape().await == Shape::Current {
        let zone = id_of(&answer, "batch_id").unwrap();
        assert_eq!(zones_of(&app, who.event_id).await.len(), 1);
        assert_eq!(row_zones(&app, who.event_id).await, BTreeSet::from([zone]));
    }
    assert_eq!(app.media_count().await, 6);
    app.assert_consistent().await;
}

#[tokio::test]
async fn a_direct_upload_joins_an_existing_zone() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let zone = zone_of(&app.upload_png(&who).await);
    let bytes = jpeg(4000);
    let mut body = declared("late.jpg", &bytes);
    body["zone_id"] = json!(zone);
    let reply = app.create_upload(&who, body.clone()).await;
    if app.shape().await == Shape::Seed {
        reply.assert_error(409, "ZONES_UNAVAILABLE");
        assert_eq!(app.snapshot().await.pending.len(), 0);
        return;
    }
    assert_eq!(reply.status, 201, "{}", reply.text());
    let ticket = reply.json();
    assert!(
        ticket.get("batch_id").is_none(),
        "one file: the ticket as always"
    );
    let (status, text) = put(&ticket, bytes).await;
    assert_eq!(status, 200, "{text}");
    let done = app
        .complete_upload(&who, ticket["upload_id"].as_str().unwrap())
        .await;
    assert_eq!(done.status, 201, "{}", done.text());
    assert_eq!(id_of(&done.json(), "batch_id"), Some(zone));
    assert_eq!(done.json()["title"], "Photo", "the zone's title");

    // Several into the same zone; metadata with a zone is refused; an unknown zone is 404.
    let album = announce(
        &app,
        &who,
        json!({"files": [declared("x.jpg", &jpeg(10))], "zone_id": zone}),
    )
    .await;
    assert_eq!(album.status, 201, "{}", album.text());
    assert_eq!(id_of(&album.json(), "batch_id"), Some(zone));
    let mut titled = body.clone();
    titled["title"] = json!("Other");
    app.create_upload(&who, titled)
        .await
        .assert_error(422, "VALIDATION_ERROR");
    let mut unknown = body.clone();
    unknown["zone_id"] = json!(Uuid::new_v4());
    app.create_upload(&who, unknown)
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
    assert_eq!(zones_of(&app, who.event_id).await.len(), 1);
    app.assert_consistent().await;
}

/// The zone an upload was announced into is deleted before it completes: the upload is
/// discarded, and no object is left without its row.
#[tokio::test]
async fn a_zone_deleted_before_complete_discards_the_upload() {
    let app = TestApp::new().await;
    if app.shape().await == Shape::Seed {
        return; // no zone_id and no album zone on the seed era
    }
    let who = app.organiser().await;
    let first = app.upload_png(&who).await;
    let zone = zone_of(&first);
    let bytes = jpeg(3000);
    let mut body = declared("late.jpg", &bytes);
    body["zone_id"] = json!(zone);
    let ticket = app.create_upload(&who, body).await.json();
    let (status, _) = put(&ticket, bytes.clone()).await;
    assert_eq!(status, 200);

    // An album whose zone is made by its first completion, then emptied.
    let album = announce(
        &app,
        &who,
        json!({"files": [declared("a.jpg", &bytes), declared("b.jpg", &bytes)], "title": "Gone"}),
    )
    .await
    .json();
    let [a, b] = [&album["uploads"][0], &album["uploads"][1]];
    for ticket in [a, b] {
        let (status, _) = put(ticket, bytes.clone()).await;
        assert_eq!(status, 200);
    }
    let done = app
        .complete_upload(&who, a["upload_id"].as_str().unwrap())
        .await;
    assert_eq!(done.status, 201, "{}", done.text());

    // Deleting the last live file of a zone retires the zone.
    for media in [&first, &done.json()] {
        let id = id_of(media, "id").unwrap();
        let reply = app
            .call(
                Endpoint::DeleteMedia,
                request(Endpoint::DeleteMedia, &who, id),
            )
            .await;
        assert_eq!(reply.status, 204, "{}", reply.text());
    }
    assert!(
        zones_of(&app, who.event_id).await.iter().all(|z| z.3),
        "both zones retired"
    );

    for upload in [&ticket, b] {
        let id = upload["upload_id"].as_str().unwrap();
        app.complete_upload(&who, id)
            .await
            .assert_error(404, "ZONE_NOT_FOUND");
        app.complete_upload(&who, id)
            .await
            .assert_error(404, "UPLOAD_NOT_FOUND");
    }
    assert_eq!(app.media_count().await, 0);
    assert!(
        app.object_keys().await.is_empty(),
        "{:?}",
        app.object_keys().await
    );
    assert!(app.snapshot().await.pending.is_empty());
    assert_eq!(
        zones_of(&app, who.event_id).await.len(),
        2,
        "no zone brought back"
    );
    app.assert_consistent().await;
}

/// The database fails after each file's object is written: every object is taken back, the
/// files after the first failure are not tried, and each is listed with the opaque 5xx.
#[tokio::test]
async fn a_database_failure_in_a_batch_leaves_no_object() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    app.refuse_media_inserts().await;
    let png = png();
    let reply = app
        .call(
            Endpoint::UploadMedia,
            form_upload(
                &who,
                &[
                    Part::file("files", "a.png", &png),
                    Part::file("files", "b.png", &png),
                    Part::file("files", "c.png", &png),
                ],
                &[("title", "Doomed")],
            ),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let batch = reply.json();
    assert_batch_shape(&batch, 3, 0);
    for failed in batch["failed"].as_array().unwrap() {
        assert_eq!(failed["error_type"], "DATABASE_ERROR", "{failed}");
        assert!(
            !failed["error"].as_str().unwrap().contains("sabotage"),
            "{failed}"
        );
    }
    assert!(
        app.object_keys().await.is_empty(),
        "{:?}",
        app.object_keys().await
    );
    assert_eq!(app.media_count().await, 0);
    assert!(zones_of(&app, who.event_id).await.is_empty());
    app.assert_consistent().await;
}
