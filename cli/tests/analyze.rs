//! `plugs-media analyze` in-process, against the real database and bucket: rows stored
//! before analysis existed get the values an upload would have recorded; a run stopped after
//! some rows resumes with the others; a file whose headers cannot be read is marked and not
//! tried again; a row whose object is missing is left for the next run; `--dry-run` counts
//! and changes nothing.

use std::collections::BTreeMap;

use plugs_media::analyze::{self, Options, Quiet, Summary};
use serde_json::Value;
use uuid::Uuid;

use crate::support::*;

// The harness of shared's integration tests (a database and a bucket per test), shared rather
// than copied; this file uses only part of it.
#[path = "../../shared/tests/integration/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/tests/samples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

type Stored = (Option<i32>, Option<i32>, Option<i64>, bool);

/// Every row's analysis, by id: `(width, height, duration_ms, marked)`.
async fn rows(app: &TestApp) -> BTreeMap<Uuid, Stored> {
    app.db()
        .await
        .query(
            "select id, width, height, duration_ms, analyzed_at is not null from event_media",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect()
}

/// Forgets every analysis, as on a database written before it existed.
async fn forget(app: &TestApp) {
    app.db()
        .await
        .execute(
            "update event_media set width = null, height = null, duration_ms = null, \
             analyzed_at = null",
            &[],
        )
        .await
        .unwrap();
}

async fn run(app: &TestApp, options: Options) -> Summary {
    analyze::run(&app.state.db.pool(), app.state.storage(), &options, &Quiet)
        .await
        .expect("the run starts")
}

fn options() -> Options {
    Options {
        dry_run: false,
        batch_size: 2,
        concurrency: 2,
        limit: None,
    }
}

fn id_of(media: &Value) -> Uuid {
    Uuid::parse_str(media["id"].as_str().unwrap()).unwrap()
}

/// The world: four analysable files, one unreadable, one whose object is gone, one text.
struct World {
    app: TestApp,
    /// What ingest recorded, before it was forgotten.
    at_ingest: BTreeMap<Uuid, Stored>,
    unreadable: Uuid,
    missing: Uuid,
    text: Uuid,
}

async fn world() -> World {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let mut ids = Vec::new();
    for (name, mime) in [
        ("portrait.jpg", "image/jpeg"),
        ("still.png", "image/png"),
        ("clip.webm", "video/webm"),
        ("tone.wav", "audio/wav"),
        ("cut.mp4", "video/mp4"),
        ("gone.gif", "image/gif"),
    ] {
        let file = match name {
            "portrait.jpg" => sample("orientation-6.jpg"),
            "cut.mp4" => sample("truncated.mp4"),
            "gone.gif" => sample("anim.gif"),
            other => sample(other),
        };
        let reply = app.direct_upload(&who, name, mime, file).await;
        assert_eq!(reply.status, 201, "{name}: {}", reply.text());
        ids.push(id_of(&reply.json()));
    }
    let text = app.upload(&who, "notes.txt", b"doors at 7\n", &[]).await;
    assert_eq!(text.status, 201, "{}", text.text());
    let at_ingest = rows(&app).await;
    assert_eq!(at_ingest[&ids[0]], (Some(48), Some(64), None, true));
    let missing = ids[5];
    let key: String = app
        .db()
        .await
        .query_one("select s3_key from event_media where id = $1", &[&missing])
        .await
        .unwrap()
        .get(0);
    app.state.storage().delete(&key).await.unwrap();
    forget(&app).await;
    World {
        app,
        at_ingest,
        unreadable: ids[4],
        missing,
        text: id_of(&text.json()),
    }
}

#[tokio::test]
async fn a_dry_run_counts_by_type_and_changes_nothing() {
    let w = world().await;
    let before = rows(&w.app).await;
    let summary = run(
        &w.app,
        Options {
            dry_run: true,
            ..options()
        },
    )
    .await;
    assert_eq!(summary.pending(), 6, "{summary:?}");
    assert_eq!(summary.pending_by_type["video/mp4"], 1);
    assert_eq!(summary.pending_by_type["image/jpeg"], 1);
    assert!(!summary.pending_by_type.contains_key("text/plain"));
    assert_eq!(summary.considered, 0);
    assert_eq!(rows(&w.app).await, before);
}

#[tokio::test]
async fn a_run_fills_in_what_ingest_records_and_resumes_after_a_stop() {
    let w = world().await;
    // Stopped after three rows.
    let first = run(
        &w.app,
        Options {
            limit: Some(3),
            ..options()
        },
    )
    .await;
    assert_eq!(first.considered, 3, "{first:?}");
    let marked = rows(&w.app).await.values().filter(|r| r.3).count();
    assert_eq!(marked, 3 - usize::try_from(first.missing).unwrap());

    // The rest: the run carries on, the missing object is counted and left unmarked.
    let second = run(&w.app, options()).await;
    assert_eq!(first.considered + second.considered, 6 + first.missing);
    assert_eq!(first.missing + second.missing, 1 + first.missing);
    assert!(!second.is_clean());
    assert_eq!(first.unreadable + second.unreadable, 1);
    assert_eq!(first.analysed + second.analysed, 4);

    let after = rows(&w.app).await;
    for (id, stored) in &after {
        if *id == w.missing {
            assert_eq!(
                *stored,
                (None, None, None, false),
                "the missing object's row"
            );
        } else if *id == w.text {
            assert_eq!(*stored, (None, None, None, false), "text is not analysed");
        } else if *id == w.unreadable {
            assert_eq!(
                *stored,
                (None, None, None, true),
                "the cut mp4: marked, nulls"
            );
        } else {
            assert_eq!(stored, &w.at_ingest[id], "{id}: what ingest recorded");
        }
    }

    // A third run looks only at the missing object's row: the unreadable file is not retried.
    let third = run(&w.app, options()).await;
    assert_eq!(
        (third.considered, third.missing, third.unreadable),
        (1, 1, 0)
    );
    assert_eq!(rows(&w.app).await, after);
}
