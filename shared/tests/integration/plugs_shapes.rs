//! Every endpoint on a database built from The Plugs' own SQL, in each shape, with The Plugs'
//! seed rows in it: its rows read back through the API, and rows the API writes read back
//! the way The Plugs' own code reads them (from the row in the seed era, from the zone named
//! by both `zone_id` and `batch_id` after 7a9d6f4f8420).

use serde_json::Value;
use shared::db::shape::Shape;
use test_support::PlugsSchema;
use uuid::Uuid;

use crate::support::*;

const PLUGS_USER: &str = "00000000-0000-4000-8000-000000000001";
const PLUGS_EVENT: &str = "00000000-0000-4000-8000-000000000002";
const OLD_PHOTO: &str = "00000000-0000-4000-8000-000000000003";
const OLD_PLAIN: &str = "00000000-0000-4000-8000-000000000004";

fn plugs_organiser() -> Organiser {
    let user_id = Uuid::parse_str(PLUGS_USER).unwrap();
    Organiser {
        user_id,
        event_id: Uuid::parse_str(PLUGS_EVENT).unwrap(),
        token: token_for(user_id),
    }
}

/// `(title, description, tags, zone is deleted)` of media `id` as The Plugs reads it.
async fn as_the_plugs_reads(
    app: &TestApp,
    id: Uuid,
) -> (Option<String>, Option<String>, Option<String>, bool) {
    let sql = match app.shape().await {
        Shape::Seed => "select title, description, tags, is_deleted from event_media where id = $1",
        Shape::Current => {
            "select z.title, z.description, z.tags, z.is_deleted from event_media m
             join event_media_zones z on z.id = m.zone_id and z.id = m.batch_id
             where m.id = $1"
        }
    };
    let row = app.db().await.query_one(sql, &[&id]).await.unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// The zone id of media `id` (null on the seed shape).
async fn zone_of(app: &TestApp, id: Uuid) -> Option<Uuid> {
    match app.shape().await {
        Shape::Seed => None,
        Shape::Current => app
            .db()
            .await
            .query_one("select zone_id from event_media where id = $1", &[&id])
            .await
            .unwrap()
            .get(0),
    }
}

fn media_id(media: &Value) -> Uuid {
    Uuid::parse_str(media["id"].as_str().unwrap()).unwrap()
}

fn batch_id(media: &Value) -> Option<Uuid> {
    media["batch_id"]
        .as_str()
        .map(|id| Uuid::parse_str(id).unwrap())
}

async fn the_plugs_rows_read_back(app: &TestApp, who: &Organiser) {
    let reply = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, who, Uuid::nil()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("x-total-count"),
        "2",
        "the soft-deleted row is not listed"
    );
    let items = reply.json();
    let ids: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [OLD_PLAIN, OLD_PHOTO], "newest first");
    let photo = &items[1];
    assert_eq!(photo["title"], "Old photo");
    assert_eq!(photo["description"], "On stage");
    assert_eq!(photo["tags"], serde_json::json!(["a", "b"]));
    let photo_id = Uuid::parse_str(OLD_PHOTO).unwrap();
    assert_eq!(batch_id(photo), zone_of(app, photo_id).await);

    let reply = app
        .call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, who, photo_id),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(&reply.json(), photo);

    // The type filter, on the row's own `file_type`.
    let reply = app
        .call(
            Endpoint::ListMedia,
            with_query(
                request(Endpoint::ListMedia, who, Uuid::nil()),
                &[("file_type", "image/png")],
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let pngs = reply.json();
    assert_eq!(pngs.as_array().unwrap().len(), 1, "{pngs}");
    assert_eq!(pngs[0]["id"], OLD_PLAIN);

    // Its file is still on The Plugs' disk (`s3_key` null): nothing to download or stream.
    for endpoint in [Endpoint::DownloadMedia, Endpoint::StreamMedia] {
        app.call(endpoint, request(endpoint, who, photo_id))
            .await
            .assert_error(404, "FILE_NOT_FOUND");
    }
}

/// What The Plugs reads about the zone of each media row of `ids`, beyond its metadata: the
/// zone is the row's event's, `batch_id` names it as `zone_id` does, both carry the row's
/// creation time, and the zone is live with no deletion time (current shape only).
async fn zones_are_as_the_plugs_writes_them(app: &TestApp, ids: &[Uuid]) {
    let rows = app
        .db()
        .await
        .query(
            "select m.id, z.event_id = m.event_id, m.batch_id = m.zone_id, \
             z.created_at = m.created_at, z.updated_at is not null, z.is_deleted, \
             z.deleted_at is null \
             from event_media m join event_media_zones z on z.id = m.zone_id \
             where m.id = any($1)",
            &[&ids],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), ids.len(), "every row has its zone");
    for row in rows {
        let id: Uuid = row.get(0);
        let facts: (bool, bool, bool, bool, bool, bool) = (
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
            row.get(5),
            row.get(6),
        );
        assert_eq!(facts, (true, true, true, true, false, true), "{id}");
    }
}

/// An upload (with metadata or without) writes what The Plugs reads, on the current shape a
/// zone of its own named by `batch_id`; deleting the zone's only file soft-deletes the zone.
async fn uploads_read_back_as_the_plugs_reads_them(app: &TestApp, who: &Organiser) {
    let reply = app
        .upload(
            who,
            "stage.png",
            &png(),
            &[
                ("title", "Stage"),
                ("description", "Night"),
                ("tags", "x,y ,z"),
            ],
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let media = reply.json();
    let id = media_id(&media);
    assert_eq!(
        as_the_plugs_reads(app, id).await,
        (
            Some("Stage".into()),
            Some("Night".into()),
            Some("x, y, z".into()),
            false
        )
    );
    let zone = zone_of(app, id).await;
    assert_eq!(batch_id(&media), zone);
    assert_eq!(zone.is_some(), app.shape().await == Shape::Current);

    let bare = app.upload(who, "bare.png", &png(), &[]).await;
    assert_eq!(bare.status, 201, "{}", bare.text());
    let bare = bare.json();
    assert_eq!(batch_id(&bare), zone_of(app, media_id(&bare)).await);
    if zone.is_some() {
        assert_ne!(batch_id(&bare), zone, "every upload has a zone of its own");
    }

    assert_eq!(
        as_the_plugs_reads(app, media_id(&bare)).await,
        (None, None, Some(String::new()), false),
        "no title, no description, no tags"
    );

    // A direct upload, with its metadata declared as a list of tags.
    let ticket = app
        .create_upload(
            who,
            serde_json::json!({
                "filename": "d.jpg", "content_type": "image/jpeg", "file_size": 64,
                "title": "Backstage", "description": "Before the show", "tags": ["p", " q"],
            }),
        )
        .await;
    assert_eq!(ticket.status, 201, "{}", ticket.text());
    let ticket = ticket.json();
    let (status, text) = put(&ticket, jpeg(64)).await;
    assert_eq!(status, 200, "{text}");
    let direct = app
        .complete_upload(who, ticket["upload_id"].as_str().unwrap())
        .await;
    assert_eq!(direct.status, 201, "{}", direct.text());
    let direct = direct.json();
    assert_eq!(batch_id(&direct), zone_of(app, media_id(&direct)).await);
    assert_eq!(
        as_the_plugs_reads(app, media_id(&direct)).await,
        (
            Some("Backstage".into()),
            Some("Before the show".into()),
            Some("p, q".into()),
            false
        )
    );
    if zone.is_some() {
        zones_are_as_the_plugs_writes_them(app, &[id, media_id(&bare), media_id(&direct)]).await;
    }

    // Its bytes come back through download and stream.
    let download = app
        .call(
            Endpoint::DownloadMedia,
            request(Endpoint::DownloadMedia, who, id),
        )
        .await;
    assert_eq!(download.status, 200, "{}", download.text());
    assert_eq!(download.body.as_ref(), png().as_slice());
    let stream = app
        .call(
            Endpoint::StreamMedia,
            request(Endpoint::StreamMedia, who, id),
        )
        .await;
    assert_eq!(stream.status, 302, "{}", stream.text());
    let (status, _, body) = http_get(stream.header("location"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, png());

    let reply = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, who, id),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    if let Some(zone) = zone {
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
    app.assert_consistent().await;
}

/// The Plugs' rows as zones (on the seed era, each item its own), and a zone edited and
/// deleted through the API as The Plugs reads it afterwards.
async fn zones_read_back_as_the_plugs_reads_them(app: &TestApp, who: &Organiser) {
    let photo_id = Uuid::parse_str(OLD_PHOTO).unwrap();
    let photo_zone = zone_of(app, photo_id).await.unwrap_or(photo_id);
    let plain_id = Uuid::parse_str(OLD_PLAIN).unwrap();
    let plain_zone = zone_of(app, plain_id).await.unwrap_or(plain_id);
    let reply = app
        .call(
            Endpoint::ListZones,
            request(Endpoint::ListZones, who, Uuid::nil()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let grouped = reply.json();
    let zones: Vec<&str> = grouped["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["zone_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        zones,
        [plain_zone.to_string(), photo_zone.to_string()],
        "newest first, the soft-deleted row's zone left out"
    );
    assert_eq!(
        (&grouped["total_zones"], &grouped["total_files"]),
        (&2.into(), &2.into())
    );
    let photo = &grouped["zones"][1];
    assert_eq!(photo["title"], "Old photo");
    assert_eq!(photo["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(photo["media_files"][0]["id"], OLD_PHOTO);

    let reply = app
        .call(
            Endpoint::UpdateZone,
            with_body(
                request(Endpoint::UpdateZone, who, photo_zone),
                br#"{"title": "Renamed", "tags": ["c", "d"]}"#.to_vec(),
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        as_the_plugs_reads(app, photo_id).await,
        (
            Some("Renamed".into()),
            Some("On stage".into()),
            Some("c, d".into()),
            false
        )
    );

    let reply = app
        .call(
            Endpoint::DeleteZone,
            request(Endpoint::DeleteZone, who, plain_zone),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    match app.shape().await {
        Shape::Seed => {
            let gone: i64 = app
                .db()
                .await
                .query_one(
                    "select count(*) from event_media where id = $1",
                    &[&plain_id],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(gone, 0, "deleted as delete-media deletes");
        }
        Shape::Current => {
            let row = app
                .db()
                .await
                .query_one(
                    "select is_deleted, deleted_at is not null from event_media_zones \
                     where id = $1",
                    &[&plain_zone],
                )
                .await
                .unwrap();
            assert_eq!((row.get::<_, bool>(0), row.get::<_, bool>(1)), (true, true));
        }
    }
}

async fn every_endpoint_works_on(schema: PlugsSchema, shape: Shape) {
    let app = TestApp::on_plugs(schema, true).await;
    assert_eq!(app.shape().await, shape);
    let who = plugs_organiser();
    the_plugs_rows_read_back(&app, &who).await;
    zones_read_back_as_the_plugs_reads_them(&app, &who).await;
    uploads_read_back_as_the_plugs_reads_them(&app, &who).await;
    the_sweep_leaves_the_plugs_data_alone(&app).await;
}

/// `(id, is_deleted)` of every zone (none on the seed shape).
async fn zone_states(app: &TestApp) -> Vec<(Uuid, bool)> {
    if app.shape().await == Shape::Seed {
        return Vec::new();
    }
    app.db()
        .await
        .query(
            "select id, is_deleted from event_media_zones order by id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// The sweep, told to delete and with no grace period, finds nothing to do among The Plugs'
/// rows (their files still on its disk) and ours: every live zone holds a live file.
async fn the_sweep_leaves_the_plugs_data_alone(app: &TestApp) {
    let before = app.snapshot().await;
    let zones_before = zone_states(app).await;
    let target = app.sweep_target();
    let options = shared::sweep::SweepOptions {
        grace: std::time::Duration::ZERO,
        delete_orphans: true,
        now: chrono::Utc::now() + chrono::Duration::seconds(1),
    };
    let report = shared::sweep::run(&target, &options).await.unwrap();
    assert!(report.orphan_zones.is_empty(), "{report:?}");
    assert!(report.orphan_objects.is_empty(), "{report:?}");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(zone_states(app).await, zones_before);
}

#[tokio::test]
async fn every_endpoint_works_on_the_plugs_seed_era_database() {
    every_endpoint_works_on(PlugsSchema::Seed, Shape::Seed).await;
}

#[tokio::test]
async fn every_endpoint_works_on_the_plugs_current_database() {
    every_endpoint_works_on(PlugsSchema::Current, Shape::Current).await;
}

/// Deleting one file of a zone that still has another live file leaves the zone live.
#[tokio::test]
async fn a_zone_with_a_live_file_left_stays_live() {
    let app = TestApp::on_plugs(PlugsSchema::Current, false).await;
    let who = app.organiser().await;
    let first = app.upload_png(&who).await;
    let second = app.upload_png(&who).await;
    let zone = batch_id(&first).unwrap();
    // Two files of one zone, as The Plugs' multi-file upload writes them.
    app.db()
        .await
        .execute(
            "update event_media set zone_id = $1, batch_id = $1 where id = $2",
            &[&zone, &media_id(&second)],
        )
        .await
        .unwrap();
    let reply = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, media_id(&first)),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let live: bool = app
        .db()
        .await
        .query_one(
            "select not is_deleted from event_media_zones where id = $1",
            &[&zone],
        )
        .await
        .unwrap()
        .get(0);
    assert!(live);
}
