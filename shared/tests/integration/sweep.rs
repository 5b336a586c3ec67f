//! The sweep and zones. On The Plugs' current schema a live zone with no live file (left by a
//! crash, or by an older client that deleted its files without retiring it) is reported once
//! past the grace period and soft-deleted when the sweep is told to delete orphans; a zone
//! that is young, holds a live file, or belongs to an event with a direct upload in flight is
//! left alone. The seed era has no zone table, and the sweep must not look for one there.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::sweep::{self, SweepOptions, SweepReport};
use test_support::PlugsSchema;
use uuid::Uuid;

use crate::support::*;

async fn sweep_with(app: &TestApp, grace: Duration, delete_orphans: bool) -> SweepReport {
    let options = SweepOptions {
        grace,
        delete_orphans,
        now: Utc::now(),
    };
    sweep::run(&app.sweep_target(), &options).await.unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

/// A live zone of `event_id` with no file, created and last updated `age` ago, as a crash
/// between a zone and its first file would leave it.
async fn empty_zone(app: &TestApp, event_id: Uuid, age: chrono::Duration) -> Uuid {
    let id = Uuid::new_v4();
    app.db()
        .await
        .execute(
            "insert into event_media_zones \
             (id, event_id, title, description, tags, created_at, updated_at, is_deleted) \
             values ($1, $2, 'Left behind', null, 'a, b', now() - $3 * interval '1 second', \
                     now() - $3 * interval '1 second', false)",
            &[&id, &event_id, &(age.num_seconds() as f64)],
        )
        .await
        .unwrap();
    id
}

/// `(is_deleted, deleted_at)` of a zone.
async fn zone_state(app: &TestApp, zone_id: Uuid) -> (bool, Option<DateTime<Utc>>) {
    let row = app
        .db()
        .await
        .query_one(
            "select is_deleted, deleted_at from event_media_zones where id = $1",
            &[&zone_id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn zone_of(media: &serde_json::Value) -> Uuid {
    Uuid::parse_str(media["batch_id"].as_str().expect("a zone id")).unwrap()
}

fn ids(zones: &[Uuid]) -> Vec<String> {
    zones.iter().map(Uuid::to_string).collect()
}

#[tokio::test]
async fn a_live_zone_with_no_live_file_is_reported_then_soft_deleted_past_the_grace_period() {
    let app = TestApp::on_plugs(PlugsSchema::Current, false).await;
    let who = app.organiser().await;

    // Kept: a zone with a live file, however old.
    let kept = app.upload_png(&who).await;
    let kept_zone = zone_of(&kept);
    app.db()
        .await
        .execute(
            "update event_media_zones set created_at = now() - interval '5 hours', \
             updated_at = now() - interval '5 hours' where id = $1",
            &[&kept_zone],
        )
        .await
        .unwrap();
    // Orphans: a zone a crash left without files, and one whose only file an older client
    // deleted without retiring the zone.
    let crashed = empty_zone(&app, who.event_id, chrono::Duration::hours(3)).await;
    let emptied = zone_of(&app.upload_png(&who).await);
    app.db()
        .await
        .batch_execute(&format!(
            "delete from event_media where zone_id = '{emptied}'; \
             update event_media_zones set created_at = now() - interval '2 hours', \
             updated_at = now() - interval '2 hours' where id = '{emptied}'"
        ))
        .await
        .unwrap();
    // Left alone: a zone younger than the grace period (being filled now), one already
    // deleted, and one of an event whose direct upload is in flight.
    let young = empty_zone(&app, who.event_id, chrono::Duration::minutes(1)).await;
    let retired = empty_zone(&app, who.event_id, chrono::Duration::hours(4)).await;
    app.db()
        .await
        .execute(
            "update event_media_zones set is_deleted = true, deleted_at = now() - interval '4 hours' \
             where id = $1",
            &[&retired],
        )
        .await
        .unwrap();
    let uploading = app.organiser().await;
    let ticket = app
        .ticket(&uploading, "album-1.jpg", "image/jpeg", 100)
        .await;
    let filling = empty_zone(&app, uploading.event_id, chrono::Duration::hours(2)).await;

    // Reported, not changed, without --delete-orphans.
    let report = sweep_with(&app, HOUR, false).await;
    assert_eq!(report.orphan_zones, ids(&[crashed, emptied]));
    assert_eq!(report.orphan_zones_deleted, 0);
    for zone in [crashed, emptied, young, filling, kept_zone] {
        assert_eq!(zone_state(&app, zone).await, (false, None), "{zone}");
    }

    // Soft-deleted as The Plugs does, with it.
    let report = sweep_with(&app, HOUR, true).await;
    assert_eq!(report.orphan_zones, ids(&[crashed, emptied]));
    assert_eq!(report.orphan_zones_deleted, 2);
    for zone in [crashed, emptied] {
        let (is_deleted, deleted_at) = zone_state(&app, zone).await;
        assert!(is_deleted, "{zone}");
        let deleted_at = deleted_at.expect("deleted_at is set");
        assert!(Utc::now() - deleted_at < chrono::Duration::minutes(1));
    }
    for zone in [young, filling, kept_zone] {
        assert_eq!(zone_state(&app, zone).await, (false, None), "{zone}");
    }
    let (_, retired_at) = zone_state(&app, retired).await;
    assert!(
        Utc::now() - retired_at.unwrap() > chrono::Duration::hours(3),
        "a zone deleted before is not deleted again"
    );
    let reply = app
        .call(
            Endpoint::GetMedia,
            request(
                Endpoint::GetMedia,
                &who,
                Uuid::parse_str(kept["id"].as_str().unwrap()).unwrap(),
            ),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["title"], "Photo");

    // Nothing left to report.
    assert!(sweep_with(&app, HOUR, true).await.orphan_zones.is_empty());

    // What kept the other two was the grace period and the upload in flight: once the upload
    // expires (the sweep removes it) and the grace is over, they are orphans too.
    app.db()
        .await
        .execute(
            "update media_pending_uploads set expires_at = now() - interval '1 minute' \
             where id = $1",
            &[&Uuid::parse_str(ticket["upload_id"].as_str().unwrap()).unwrap()],
        )
        .await
        .unwrap();
    let report = sweep_with(&app, Duration::from_secs(1), true).await;
    assert_eq!(report.expired_uploads_removed, 1);
    assert_eq!(report.orphan_zones, ids(&[filling, young]));
    assert_eq!(report.orphan_zones_deleted, 2);
    assert_eq!(zone_state(&app, kept_zone).await, (false, None));
}

#[tokio::test]
async fn on_the_seed_era_schema_the_sweep_finds_no_zones_and_changes_no_row() {
    let app = TestApp::on_plugs(PlugsSchema::Seed, true).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    assert!(media["batch_id"].is_null(), "{media}");
    let before = app.snapshot().await;

    let report = sweep_with(&app, Duration::ZERO, true).await;
    assert!(report.orphan_zones.is_empty());
    assert_eq!(report.orphan_zones_deleted, 0);
    assert_eq!(app.snapshot().await, before);
    let live: i64 = app
        .db()
        .await
        .query_one("select count(*) from event_media where not is_deleted", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 3, "The Plugs' two live seed rows and the upload");
}
