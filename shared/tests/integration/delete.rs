use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn delete_removes_the_object_and_the_row() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let keep = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();

    let reply = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert_eq!(app.object_keys().await, [keep["s3_key"].as_str().unwrap()]);
    assert_eq!(app.media_count().await, 1);

    app.call(
        Endpoint::DeleteMedia,
        request(Endpoint::DeleteMedia, &who, id),
    )
    .await
    .assert_error(404, "MEDIA_NOT_FOUND");
}

#[tokio::test]
async fn when_s3_refuses_the_delete_the_row_stays_and_a_retry_finishes() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();

    let broken = app.sibling(&[("AWS_SECRET_ACCESS_KEY", "wrong")]).await;
    let reply = broken
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(
        app.media_count().await,
        1,
        "the row must stay while its object exists"
    );
    assert_eq!(app.object_keys().await.len(), 1);

    let retry = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id),
        )
        .await;
    assert_eq!(retry.status, 204);
    assert_eq!(app.media_count().await, 0);
    assert!(app.object_keys().await.is_empty());
}

/// Rounds of [`concurrent_deletes_of_a_zones_last_files_retire_it_once_and_never_early`]:
/// enough that two unlocked deletes interleave in some of them.
const ZONE_ROUNDS: usize = 60;

/// Two connections delete two files of one zone at the same moment, round after round: when
/// they were the zone's last live files, the zone ends soft-deleted, by exactly one of them;
/// when a third file stays, the zone stays live. A trigger records every retirement with the
/// live files the zone had at that instant.
#[tokio::test]
async fn concurrent_deletes_of_a_zones_last_files_retire_it_once_and_never_early() {
    use shared::db::{media, shape::Shape};

    let app = TestApp::on_plugs(test_support::PlugsSchema::Current, false).await;
    let who = app.organiser().await;
    app.db()
        .await
        .batch_execute(
            "create table zone_retirements (zone_id uuid not null, live_files bigint not null);
             create function record_retirement() returns trigger language plpgsql as $$
             begin
                 insert into zone_retirements values (new.id,
                     (select count(*) from event_media where zone_id = new.id and not is_deleted));
                 return new;
             end $$;
             create trigger record_retirement after update on event_media_zones for each row
             when (not old.is_deleted and new.is_deleted) execute function record_retirement();",
        )
        .await
        .unwrap();

    let mut emptied = Vec::new();
    let mut kept = Vec::new();
    for round in 0..ZONE_ROUNDS {
        // Odd rounds keep a third file in the zone.
        let files = if round % 2 == 0 { 2 } else { 3 };
        let zone = Uuid::new_v4();
        let ids: Vec<Uuid> = (0..files).map(|_| Uuid::new_v4()).collect();
        let client = app.db().await;
        client
            .execute(
                "insert into event_media_zones (id, event_id, title, tags, created_at, \
                 updated_at, is_deleted) values ($1, $2, 'Album', 'a, b', now(), now(), false)",
                &[&zone, &who.event_id],
            )
            .await
            .unwrap();
        client
            .execute(
                "insert into event_media (id, event_id, file_url, file_type, created_at, \
                 is_deleted, zone_id, batch_id) \
                 select id, $2, 'https://bucket.example/' || id, 'image/png', now(), false, \
                        $1, $1 from unnest($3::uuid[]) as id",
                &[&zone, &who.event_id, &ids],
            )
            .await
            .unwrap();
        drop(client);

        let (mut first, mut second) = (app.db().await, app.db().await);
        let (a, b) = tokio::join!(
            media::delete(&mut first, Shape::Current, ids[0]),
            media::delete(&mut second, Shape::Current, ids[1]),
        );
        assert!(a.unwrap() && b.unwrap(), "round {round}: both rows deleted");
        drop((first, second));

        let row = app
            .db()
            .await
            .query_one(
                "select is_deleted, deleted_at is not null from event_media_zones where id = $1",
                &[&zone],
            )
            .await
            .unwrap();
        let (is_deleted, has_deleted_at): (bool, bool) = (row.get(0), row.get(1));
        if files == 2 {
            assert!(
                is_deleted && has_deleted_at,
                "round {round}: the emptied zone is soft-deleted"
            );
            emptied.push(zone);
        } else {
            assert!(
                !is_deleted && !has_deleted_at,
                "round {round}: a zone with a live file stays live"
            );
            kept.push(zone);
        }
    }

    let retirements: Vec<(Uuid, i64)> = app
        .db()
        .await
        .query("select zone_id, live_files from zone_retirements", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut retired: Vec<Uuid> = retirements.iter().map(|(zone, _)| *zone).collect();
    retired.sort();
    emptied.sort();
    assert_eq!(retired, emptied, "each emptied zone retired exactly once");
    assert!(
        retirements.iter().all(|(_, live)| *live == 0),
        "never while a file is live: {retirements:?}"
    );
    assert!(kept.iter().all(|zone| !retired.contains(zone)));
}
