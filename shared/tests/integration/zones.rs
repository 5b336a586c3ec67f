//! The zone (album) endpoints on the shape `PLUGS_SCHEMA` chose: on the current shape zones
//! are rows of `event_media_zones` and several files can share one; on the seed era a zone is
//! a media item itself.

use serde_json::{Value, json};
use shared::db::shape::Shape;
use uuid::Uuid;

use crate::support::*;

fn id_of(value: &Value) -> Uuid {
    Uuid::parse_str(value["id"].as_str().unwrap()).unwrap()
}

fn zone_ids(grouped: &Value) -> Vec<Uuid> {
    grouped["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| Uuid::parse_str(z["zone_id"].as_str().unwrap()).unwrap())
        .collect()
}

fn file_ids(zone: &Value) -> Vec<Uuid> {
    zone["media_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

async fn grouped(app: &TestApp, who: &Organiser, pairs: &[(&str, &str)]) -> Reply {
    app.call(
        Endpoint::ListZones,
        with_query(request(Endpoint::ListZones, who, Uuid::nil()), pairs),
    )
    .await
}

async fn get_zone(app: &TestApp, who: &Organiser, zone: Uuid, pairs: &[(&str, &str)]) -> Reply {
    app.call(
        Endpoint::GetZone,
        with_query(request(Endpoint::GetZone, who, zone), pairs),
    )
    .await
}

async fn patch_zone(app: &TestApp, who: &Organiser, zone: Uuid, body: &[u8]) -> Reply {
    let request = with_body(request(Endpoint::UpdateZone, who, zone), body.to_vec());
    app.call(Endpoint::UpdateZone, request).await
}

async fn delete_zone(app: &TestApp, who: &Organiser, zone: Uuid) -> Reply {
    app.call(
        Endpoint::DeleteZone,
        request(Endpoint::DeleteZone, who, zone),
    )
    .await
}

/// Three uploads (a PNG, a JPEG, a text file); on the current shape the two images share the
/// PNG's zone. Returns them in upload order.
async fn album(app: &TestApp, who: &Organiser) -> [Value; 3] {
    let png = app
        .upload(
            who,
            "a.png",
            &png(),
            &[("title", "Stage"), ("tags", "x, y")],
        )
        .await
        .json();
    let jpeg = app.upload(who, "b.jpg", &jpeg(64), &[]).await.json();
    let text = app.upload(who, "notes.txt", b"hello", &[]).await.json();
    if app.shape().await == Shape::Current {
        app.group(&png, &[&jpeg]).await;
    }
    // Read again: on the current shape the JPEG's batch_id now names the PNG's zone.
    let jpeg = app
        .call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, who, id_of(&jpeg)),
        )
        .await
        .json();
    [png, jpeg, text]
}

#[tokio::test]
async fn grouped_lists_zones_newest_first_files_oldest_first_with_filtered_totals() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let [png, jpeg, text] = album(&app, &who).await;

    let all = grouped(&app, &who, &[]).await;
    assert_eq!(all.status, 200, "{}", all.text());
    let all = all.json();
    assert_eq!(all["total_files"], 3);
    match app.shape().await {
        Shape::Current => {
            assert_eq!(zone_ids(&all), [zone_of(&text), zone_of(&png)]);
            assert_eq!(all["total_zones"], 2);
            let images = &all["zones"][1];
            assert_eq!(file_ids(images), [id_of(&png), id_of(&jpeg)]);
            assert_eq!(images["file_count"], 2);
        }
        Shape::Seed => {
            // Each item is a zone of its own, named by its id.
            assert_eq!(zone_ids(&all), [id_of(&text), id_of(&jpeg), id_of(&png)]);
            assert_eq!(all["total_zones"], 3);
            assert_eq!(all["zones"][2]["file_count"], 1);
            assert_eq!(file_ids(&all["zones"][2]), [id_of(&png)]);
        }
    }
    let stage = all["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone_id"] == zone_of(&png).to_string())
        .unwrap();
    assert_eq!(stage["title"], "Stage");
    assert_eq!(stage["tags"], json!(["x", "y"]));
    assert_eq!(stage["media_files"][0]["file_url"], png["file_url"]);
    assert_eq!(stage["created_at"], png["created_at"]);

    // The filter picks files, and zones holding at least one of them.
    let jpegs = grouped(&app, &who, &[("file_type", "image/JPEG")])
        .await
        .json();
    assert_eq!(zone_ids(&jpegs), [zone_of(&jpeg)]);
    assert_eq!(file_ids(&jpegs["zones"][0]), [id_of(&jpeg)]);
    assert_eq!(jpegs["zones"][0]["file_count"], 1);
    assert_eq!(
        (&jpegs["total_zones"], &jpegs["total_files"]),
        (&json!(1), &json!(1))
    );
    let images = grouped(&app, &who, &[("file_type", "image/")]).await.json();
    assert_eq!(images["total_files"], 2);
    let none = grouped(&app, &who, &[("file_type", "video/")]).await.json();
    assert_eq!(
        none,
        json!({"zones": [], "total_zones": 0, "total_files": 0})
    );

    // Paged over zones, with a link to the next page; past the end the totals stay.
    let first = grouped(&app, &who, &[("limit", "1")]).await;
    assert_eq!(zone_ids(&first.json()), [zone_of(&text)]);
    assert_eq!(
        first.header("link"),
        format!(
            "</api/v1/events/{}/media/grouped?skip=1&limit=1>; rel=\"next\"",
            who.event_id
        )
    );
    let beyond = grouped(&app, &who, &[("skip", "10")]).await;
    assert!(beyond.headers.get("link").is_none());
    assert_eq!(beyond.json()["zones"], json!([]));
    assert_eq!(beyond.json()["total_files"], 3);

    for bad in [
        ("skip", "-1"),
        ("limit", "0"),
        ("limit", "1001"),
        ("file_type", "image /"),
    ] {
        grouped(&app, &who, &[bad])
            .await
            .assert_error(422, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn get_answers_a_zone_in_the_grouped_shape_and_pages_its_files() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let [png, jpeg, _text] = album(&app, &who).await;
    let zone = zone_of(&png);

    let reply = get_zone(&app, &who, zone, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let grouped = grouped(&app, &who, &[]).await.json();
    let listed = grouped["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone_id"] == zone.to_string())
        .unwrap();
    assert_eq!(&reply.json(), listed, "one shape for both");
    assert!(reply.headers.get("link").is_none());

    if app.shape().await == Shape::Current {
        let page = get_zone(&app, &who, zone, &[("limit", "1")]).await;
        assert_eq!(file_ids(&page.json()), [id_of(&png)]);
        assert_eq!(page.json()["file_count"], 2);
        assert_eq!(
            page.header("link"),
            format!(
                "</api/v1/events/{}/media/zones/{zone}?skip=1&limit=1>; rel=\"next\"",
                who.event_id
            )
        );
        let last = get_zone(&app, &who, zone, &[("skip", "1"), ("limit", "1")]).await;
        assert_eq!(file_ids(&last.json()), [id_of(&jpeg)]);
        assert!(last.headers.get("link").is_none());
    }
    get_zone(&app, &who, zone, &[("limit", "1001")])
        .await
        .assert_error(422, "VALIDATION_ERROR");
}

#[tokio::test]
async fn unknown_foreign_and_soft_deleted_zones_are_not_found() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let zone = zone_of(&media);
    let elsewhere = Organiser {
        event_id: app.second_event(&who).await,
        token: who.token.clone(),
        user_id: who.user_id,
    };
    for (owner, zone) in [(&who, Uuid::new_v4()), (&elsewhere, zone)] {
        get_zone(&app, owner, zone, &[])
            .await
            .assert_error(404, "ZONE_NOT_FOUND");
        patch_zone(&app, owner, zone, b"{}")
            .await
            .assert_error(404, "ZONE_NOT_FOUND");
        delete_zone(&app, owner, zone)
            .await
            .assert_error(404, "ZONE_NOT_FOUND");
    }

    let table = match app.shape().await {
        Shape::Current => "event_media_zones",
        Shape::Seed => "event_media",
    };
    app.db()
        .await
        .execute(
            &format!("update {table} set is_deleted = true, deleted_at = now() where id = $1"),
            &[&zone],
        )
        .await
        .unwrap();
    get_zone(&app, &who, zone, &[])
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
    patch_zone(&app, &who, zone, br#"{"title": "x"}"#)
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
    delete_zone(&app, &who, zone)
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
    assert_eq!(grouped(&app, &who, &[]).await.json()["zones"], json!([]));
    assert_eq!(app.object_keys().await.len(), 1, "nothing was deleted");
}

#[tokio::test]
async fn patch_edits_the_fields_sent_and_leaves_the_others() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let [png, jpeg, _text] = album(&app, &who).await;
    let zone = zone_of(&png);
    let files = if app.shape().await == Shape::Current {
        2
    } else {
        1
    };

    let reply = patch_zone(
        &app,
        &who,
        zone,
        br#"{"description": " Saturday night ", "tags": ["stage", " night", ""], "colour": "red"}"#,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let edited = reply.json();
    assert_eq!(
        edited,
        json!({
            "zone_id": zone,
            "title": "Stage",
            "description": "Saturday night",
            "tags": ["stage", "night"],
            "file_count": files,
            "updated_at": edited["updated_at"],
        })
    );
    assert!(edited["updated_at"].as_str().unwrap() > png["updated_at"].as_str().unwrap());

    // Every file of the zone shows the zone's metadata.
    let mut members = vec![id_of(&png)];
    if files == 2 {
        members.push(id_of(&jpeg));
    }
    for id in members {
        let media = app
            .call(Endpoint::GetMedia, request(Endpoint::GetMedia, &who, id))
            .await
            .json();
        assert_eq!(
            (&media["title"], &media["description"], &media["tags"]),
            (
                &json!("Stage"),
                &json!("Saturday night"),
                &json!(["stage", "night"])
            )
        );
    }

    // null clears, [] clears, a blank text clears.
    let cleared = patch_zone(&app, &who, zone, br#"{"title": null, "tags": []}"#)
        .await
        .json();
    assert_eq!(
        (&cleared["title"], &cleared["description"], &cleared["tags"]),
        (&Value::Null, &json!("Saturday night"), &json!([]))
    );
    let blank = patch_zone(&app, &who, zone, br#"{"description": "   "}"#)
        .await
        .json();
    assert_eq!(blank["description"], Value::Null);

    // {} changes nothing, not even updated_at.
    let same = patch_zone(&app, &who, zone, b"{}").await.json();
    assert_eq!(same, blank);
    let got = get_zone(&app, &who, zone, &[]).await.json();
    assert_eq!(got["updated_at"], blank["updated_at"]);
    assert_eq!((&got["title"], &got["tags"]), (&Value::Null, &json!([])));
}

#[tokio::test]
async fn a_bad_patch_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let zone = zone_of(&media);
    let before = get_zone(&app, &who, zone, &[]).await.json();
    let long_title = format!("{{\"title\": \"{}\"}}", "x".repeat(257));
    let many_tags = json!({"tags": vec!["t"; 51]}).to_string();
    let long_tag = json!({"tags": ["x".repeat(65)]}).to_string();
    for (body, status, code) in [
        (&b""[..], 400, "MALFORMED_REQUEST"),
        (b"{", 400, "MALFORMED_REQUEST"),
        (b"title=x", 400, "MALFORMED_REQUEST"),
        (b"[]", 422, "VALIDATION_ERROR"),
        (b"null", 422, "VALIDATION_ERROR"),
        (br#"{"title": 5}"#, 422, "VALIDATION_ERROR"),
        (br#"{"description": {"a": 1}}"#, 422, "VALIDATION_ERROR"),
        (br#"{"tags": "a, b"}"#, 422, "VALIDATION_ERROR"),
        (br#"{"tags": [1, 2]}"#, 422, "VALIDATION_ERROR"),
        (
            br#"{"title": "ok", "tags": ["a\u0000"]}"#,
            422,
            "VALIDATION_ERROR",
        ),
        (br#"{"title": "bell\u0007"}"#, 422, "VALIDATION_ERROR"),
        (long_title.as_bytes(), 422, "VALIDATION_ERROR"),
        (many_tags.as_bytes(), 422, "VALIDATION_ERROR"),
        (long_tag.as_bytes(), 422, "VALIDATION_ERROR"),
    ] {
        let reply = patch_zone(&app, &who, zone, body).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (status, code),
            "{}: {}",
            String::from_utf8_lossy(body),
            reply.text()
        );
    }
    assert_eq!(get_zone(&app, &who, zone, &[]).await.json(), before);
}

#[tokio::test]
async fn delete_removes_every_file_object_first_then_the_zone() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let [png, jpeg, text] = album(&app, &who).await;
    let zone = zone_of(&png);

    let reply = delete_zone(&app, &who, zone).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    app.assert_consistent().await;
    let mut left = vec![text["s3_key"].as_str().unwrap().to_owned()];
    match app.shape().await {
        Shape::Current => {
            let row = app
                .db()
                .await
                .query_one(
                    "select is_deleted, deleted_at is not null from event_media_zones where id = $1",
                    &[&zone],
                )
                .await
                .unwrap();
            assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1)), (true, true));
        }
        // The JPEG was a zone of its own.
        Shape::Seed => left.push(jpeg["s3_key"].as_str().unwrap().to_owned()),
    }
    left.sort();
    assert_eq!(app.object_keys().await, left);
    assert_eq!(app.media_count().await, left.len() as i64);
    for media in [&png, &jpeg].into_iter().take(3 - left.len()) {
        app.call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, &who, id_of(media)),
        )
        .await
        .assert_error(404, "MEDIA_NOT_FOUND");
    }

    delete_zone(&app, &who, zone)
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
    get_zone(&app, &who, zone, &[])
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
}

#[tokio::test]
async fn when_s3_refuses_the_delete_every_file_keeps_its_object_and_a_retry_finishes() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let [png, _jpeg, _text] = album(&app, &who).await;
    let zone = zone_of(&png);
    let before = app.snapshot().await;

    let broken = app.sibling(&[("AWS_SECRET_ACCESS_KEY", "wrong")]).await;
    let reply = broken
        .call(
            Endpoint::DeleteZone,
            request(Endpoint::DeleteZone, &who, zone),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(app.snapshot().await, before, "nothing was deleted");
    assert_eq!(get_zone(&app, &who, zone, &[]).await.status, 200);

    let retry = delete_zone(&app, &who, zone).await;
    assert_eq!(retry.status, 204, "{}", retry.text());
    app.assert_consistent().await;
    get_zone(&app, &who, zone, &[])
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
}

/// A zone of many files: the grouped list shows its first 100 and counts them all, get pages
/// through them, delete removes them all; a live zone left without files is deleted too.
#[tokio::test]
async fn a_zone_of_many_files_is_bounded_in_the_list_and_deleted_whole() {
    let app = TestApp::new().await;
    if app.shape().await == Shape::Seed {
        return; // one file per zone there
    }
    let who = app.organiser().await;
    let first = app.upload_png(&who).await;
    let zone = zone_of(&first);
    let client = app.db().await;
    client
        .execute(
            "insert into event_media (id, event_id, file_url, file_type, file_size, created_at, \
             updated_at, is_deleted, zone_id, batch_id) \
             select gen_random_uuid(), $1, 'https://example.com/f' || n, 'image/png', 1, \
             now() + n * interval '1 second', now(), false, $2, $2 \
             from generate_series(1, 149) n",
            &[&who.event_id, &zone],
        )
        .await
        .unwrap();
    let listed = grouped(&app, &who, &[]).await.json();
    assert_eq!(listed["zones"][0]["file_count"], 150);
    assert_eq!(
        listed["zones"][0]["media_files"].as_array().unwrap().len(),
        100
    );
    assert_eq!(listed["zones"][0]["media_files"][0]["id"], first["id"]);
    assert_eq!(listed["total_files"], 150);
    let whole = get_zone(&app, &who, zone, &[]).await.json();
    assert_eq!(whole["media_files"].as_array().unwrap().len(), 150);
    let tail = get_zone(&app, &who, zone, &[("skip", "140")]).await.json();
    assert_eq!(tail["media_files"].as_array().unwrap().len(), 10);
    assert_eq!(
        tail["media_files"][9]["file_url"],
        "https://example.com/f149"
    );

    let reply = delete_zone(&app, &who, zone).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert_eq!(app.media_count().await, 0);
    app.assert_consistent().await;

    // A live zone with no live file (as the sweep reports them) is deleted as it is.
    let empty = Uuid::new_v4();
    client
        .execute(
            "insert into event_media_zones (id, event_id, title, created_at, updated_at, \
             is_deleted) values ($1, $2, 'Empty', now(), now(), false)",
            &[&empty, &who.event_id],
        )
        .await
        .unwrap();
    assert_eq!(
        get_zone(&app, &who, empty, &[]).await.json()["file_count"],
        0
    );
    assert_eq!(delete_zone(&app, &who, empty).await.status, 204);
    get_zone(&app, &who, empty, &[])
        .await
        .assert_error(404, "ZONE_NOT_FOUND");
}

/// The Plugs' zone table allows a zone without `created_at` (the column is nullable): such a
/// zone is answered with the time it was last updated (or the epoch), never a 5xx, and is
/// listed by that time.
#[tokio::test]
async fn a_zone_without_a_creation_time_is_answered() {
    let app = TestApp::new().await;
    if app.shape().await == Shape::Seed {
        return; // event_media.created_at is not null there
    }
    let who = app.organiser().await;
    let older = app.upload_png(&who).await;
    let media = app.upload_png(&who).await;
    let zone = zone_of(&media);
    app.db()
        .await
        .execute(
            "update event_media_zones set created_at = null, updated_at = null where id = $1",
            &[&zone],
        )
        .await
        .unwrap();
    let reply = get_zone(&app, &who, zone, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["created_at"], "1970-01-01T00:00:00Z");
    let listed = grouped(&app, &who, &[]).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(zone_ids(&listed.json()), [zone_of(&older), zone]);
    let edited = patch_zone(&app, &who, zone, br#"{"title": "t"}"#).await;
    assert_eq!(edited.status, 200, "{}", edited.text());
}

/// An edit racing a delete of the same zone: the edit either lands before the delete (200)
/// or finds the zone gone (404), never a 5xx, and the delete leaves nothing behind.
#[tokio::test]
async fn an_edit_racing_a_delete_is_applied_or_not_found() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    for round in 0..5 {
        let [png, _jpeg, _text] = album(&app, &who).await;
        let zone = zone_of(&png);
        let body = format!("{{\"title\": \"round {round}\"}}");
        let (edited, deleted) = tokio::join!(
            patch_zone(&app, &who, zone, body.as_bytes()),
            delete_zone(&app, &who, zone)
        );
        assert_eq!(deleted.status, 204, "{}", deleted.text());
        assert!(
            edited.status == 200 || edited.code() == "ZONE_NOT_FOUND",
            "round {round}: {} {}",
            edited.status,
            edited.text()
        );
        get_zone(&app, &who, zone, &[])
            .await
            .assert_error(404, "ZONE_NOT_FOUND");
        app.assert_consistent().await;
    }
}
