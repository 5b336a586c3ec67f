//! `migrate-files` in-process: a database shaped like The Plugs' before the bucket (rows with
//! `/uploads/...` URLs), its uploads folder made in a temporary directory, and the real bucket
//! (the PostgreSQL and SeaweedFS that `scripts/test.sh` starts).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use plugs_media::migrate_files::{Migrator, Options, Outcome, Quiet, Summary};
use shared::keys::event_media_key;
use shared::storage::{ObjectMetadata, Storage};
use uuid::Uuid;

use crate::support::*;

// The harness of shared's integration tests (a database and a bucket per test), shared rather
// than copied; this file uses only part of it.
#[path = "../../shared/tests/integration/support.rs"]
#[allow(dead_code, unused_imports)]
mod support;

const USER: Uuid = Uuid::from_u128(0x1111_0000_0000_4000_8000_0000_0000_0001);
const EVENT: Uuid = Uuid::from_u128(0x2222_0000_0000_4000_8000_0000_0000_0001);
const PHOTO: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0001);
/// Inserted in the same microsecond as PHOTO, as a batch insert would.
const TWIN: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0002);
const DOC: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0003);
const NOTES: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0004);
const DONE: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0005);
const DELETED: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0006);
const GONE: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0007);
const ESCAPE: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0008);
const FAKE_PNG: Uuid = Uuid::from_u128(0x3333_0000_0000_4000_8000_0000_0000_0009);

const DONE_KEY: &str =
    "events/22220000-0000-4000-8000-000000000001/media/2024/02/02/020202_000002.png";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 3, 4, 5, 6, 7).unwrap() + Duration::microseconds(123_456)
}

fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// A folder under the system's temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

#[allow(clippy::new_without_default)] // a new folder each call: no default value
impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("plugs-media-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Plugs before the bucket: the uploads folder and its rows.
pub struct Legacy {
    /// Holds `uploads/` and, beside it, a file a hostile URL points at.
    pub root: TempDir,
}

impl Legacy {
    pub fn uploads(&self) -> PathBuf {
        self.root.0.join("uploads")
    }

    fn options(&self) -> Options {
        Options {
            uploads_dir: self.uploads(),
            dry_run: false,
            concurrency: 3,
            limit: None,
            verify: false,
        }
    }

    /// The file behind a row, as written.
    fn file(&self, url: &str) -> Vec<u8> {
        std::fs::read(self.uploads().join(url.strip_prefix("/uploads/").unwrap())).unwrap()
    }
}

struct Row {
    id: Uuid,
    url: String,
    bytes: Option<Vec<u8>>,
    file_type: &'static str,
    file_size: Option<i32>,
    original_filename: Option<&'static str>,
    created_at: DateTime<Utc>,
}

fn url(category: &str, name: &str) -> String {
    format!("/uploads/events/{EVENT}/{category}/{name}")
}

/// The rows every fixture has: five to migrate (two sharing a microsecond), one already in
/// the bucket, one soft-deleted. `with_problems` adds a missing file, a URL that leaves the
/// uploads folder and an executable named `.png`.
fn fixture_rows(with_problems: bool) -> Vec<Row> {
    let size = |b: &[u8]| Some(b.len() as i32);
    let twin = {
        let mut b = png();
        b.extend_from_slice(b"twin");
        b
    };
    let mut rows = vec![
        Row {
            id: PHOTO,
            url: url("images", "photo.png"),
            bytes: Some(png()),
            file_type: "image/png",
            file_size: size(&png()),
            original_filename: None,
            created_at: t0(),
        },
        Row {
            id: TWIN,
            url: url("images", "photo-2.png"),
            file_size: size(&twin),
            bytes: Some(twin),
            file_type: "image/png",
            original_filename: Some("Dance floor.png"),
            created_at: t0(),
        },
        Row {
            id: DOC,
            url: url("documents", "programme.pdf"),
            bytes: Some(pdf()),
            // Empty in The Plugs' old rows: filled in by the migration.
            file_type: "",
            file_size: None,
            original_filename: Some("Programme (final).pdf"),
            created_at: t0() + Duration::minutes(3),
        },
        Row {
            id: NOTES,
            url: url("general", "notes.txt"),
            bytes: Some(b"doors open at 7\n".to_vec()),
            file_type: "text/plain",
            file_size: Some(16),
            original_filename: None,
            created_at: t0() + Duration::days(40),
        },
        Row {
            id: DELETED,
            url: url("images", "deleted.png"),
            bytes: Some(png()),
            file_type: "image/png",
            file_size: size(&png()),
            original_filename: None,
            created_at: t0() + Duration::minutes(1),
        },
    ];
    if with_problems {
        rows.extend([
            Row {
                id: GONE,
                url: url("images", "gone.jpg"),
                bytes: None,
                file_type: "image/jpeg",
                file_size: Some(2048),
                original_filename: None,
                created_at: t0() + Duration::minutes(5),
            },
            Row {
                id: ESCAPE,
                url: "/uploads/../secret.txt".into(),
                bytes: None,
                file_type: "text/plain",
                file_size: None,
                original_filename: None,
                created_at: t0() + Duration::minutes(6),
            },
            Row {
                id: FAKE_PNG,
                url: url("images", "tool.png"),
                bytes: Some(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0>\0".to_vec()),
                file_type: "image/png",
                file_size: Some(20),
                original_filename: None,
                created_at: t0() + Duration::minutes(7),
            },
        ]);
    }
    rows
}

/// Writes the uploads folder and the rows; the already-migrated row gets its object.
pub async fn legacy(app: &TestApp, with_problems: bool) -> Legacy {
    let root = TempDir::new();
    let legacy = Legacy { root };
    // What `/uploads/../secret.txt` would reach if it were followed.
    std::fs::write(legacy.root.0.join("secret.txt"), b"not for the bucket\n").unwrap();
    let client = app.db().await;
    client
        .execute(
            "insert into users (id, email) values ($1, 'organiser@example.com')",
            &[&USER],
        )
        .await
        .unwrap();
    client
        .execute(
            "insert into events (id, user_id, title) values ($1, $2, 'Launch party')",
            &[&EVENT, &USER],
        )
        .await
        .unwrap();
    for row in fixture_rows(with_problems) {
        if let Some(bytes) = &row.bytes {
            let path = legacy
                .uploads()
                .join(row.url.strip_prefix("/uploads/").unwrap());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        client
            .execute(
                "insert into event_media (id, event_id, file_url, file_type, file_size, \
                 original_filename, created_at, is_deleted) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &row.id,
                    &EVENT,
                    &row.url,
                    &row.file_type,
                    &row.file_size,
                    &row.original_filename,
                    &row.created_at,
                    &(row.id == DELETED),
                ],
            )
            .await
            .unwrap();
    }
    app.state
        .storage()
        .put_new(
            DONE_KEY,
            Bytes::from(png()),
            "image/png",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    client
        .execute(
            "insert into event_media (id, event_id, file_url, s3_key, file_type, file_size, created_at) \
             values ($1, $2, $3, $4, 'image/png', $5, $6)",
            &[
                &DONE,
                &EVENT,
                &app.state.file_url(DONE_KEY),
                &DONE_KEY,
                &(png().len() as i32),
                &(t0() - Duration::days(1)),
            ],
        )
        .await
        .unwrap();
    legacy
}

async fn run(app: &TestApp, legacy: &Legacy, options: &Options) -> Summary {
    run_with(app, app.state.storage(), legacy, options).await
}

async fn run_with(
    app: &TestApp,
    storage: &Storage,
    _legacy: &Legacy,
    options: &Options,
) -> Summary {
    Migrator {
        pool: &app.state.db.pool(),
        storage,
        config: &app.state.config,
    }
    .run(options, &Quiet)
    .await
    .expect("the run starts")
}

/// What a row looks like after the run.
#[derive(Debug, PartialEq)]
struct RowState {
    s3_key: Option<String>,
    file_url: String,
    file_type: String,
    file_size: Option<i32>,
    original_filename: Option<String>,
    is_deleted: bool,
}

/// What an object looks like.
#[derive(Debug, PartialEq)]
struct ObjectState {
    bytes: Bytes,
    content_type: Option<String>,
    sse: Option<String>,
    metadata: BTreeMap<String, String>,
}

/// Every row and every object, for comparing two worlds.
async fn snapshot(app: &TestApp) -> (BTreeMap<Uuid, RowState>, BTreeMap<String, ObjectState>) {
    let rows = app
        .db()
        .await
        .query(
            "select id, s3_key, file_url, file_type, file_size, original_filename, is_deleted \
             from event_media",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get("id"),
                RowState {
                    s3_key: r.get("s3_key"),
                    file_url: r.get("file_url"),
                    file_type: r.get("file_type"),
                    file_size: r.get("file_size"),
                    original_filename: r.get("original_filename"),
                    is_deleted: r.get("is_deleted"),
                },
            )
        })
        .collect();
    let mut objects = BTreeMap::new();
    for key in app.object_keys().await {
        let info = app.state.storage().info(&key).await.unwrap();
        objects.insert(
            key.clone(),
            ObjectState {
                bytes: app.state.storage().download(&key).await.unwrap(),
                content_type: info.content_type,
                sse: info.server_side_encryption,
                metadata: info.metadata.into_iter().collect(),
            },
        );
    }
    (rows, objects)
}

/// The key the migration must give a row.
fn key_of(at: DateTime<Utc>, ext: &str) -> String {
    event_media_key(EVENT, at, ext).to_string()
}

fn outcome_of(summary: &Summary, id: Uuid) -> Outcome {
    summary
        .items
        .iter()
        .find(|i| i.media_id == id)
        .unwrap_or_else(|| panic!("{id} not in the report"))
        .outcome
}

#[tokio::test]
async fn exactly_the_pending_rows_move_into_the_bucket_byte_for_byte() {
    let app = TestApp::new().await;
    let legacy = legacy(&app, true).await;
    let summary = run(
        &app,
        &legacy,
        &Options {
            verify: true,
            ..legacy.options()
        },
    )
    .await;

    assert_eq!(
        (
            summary.migrated,
            summary.adopted,
            summary.missing,
            summary.conflicts,
            summary.rejected,
            summary.failed
        ),
        (4, 0, 1, 0, 2, 0),
        "{summary:#?}"
    );
    assert_eq!(summary.already_done, 1);
    assert_eq!(
        summary.considered, 7,
        "the deleted and the done row are not looked at"
    );
    assert_eq!((summary.verified, summary.verify_failures), (4, 0));
    assert!(!summary.is_clean());
    assert_eq!(outcome_of(&summary, GONE), Outcome::Missing);
    assert_eq!(outcome_of(&summary, ESCAPE), Outcome::Rejected);
    assert_eq!(outcome_of(&summary, FAKE_PNG), Outcome::Rejected);

    let expected = [
        (PHOTO, key_of(t0(), "png"), "image/png", "photo.png"),
        (
            TWIN,
            key_of(t0() + Duration::microseconds(1), "png"),
            "image/png",
            "Dance floor.png",
        ),
        (
            DOC,
            key_of(t0() + Duration::minutes(3), "pdf"),
            "application/pdf",
            "Programme (final).pdf",
        ),
        (
            NOTES,
            key_of(t0() + Duration::days(40), "txt"),
            "text/plain",
            "notes.txt",
        ),
    ];
    let (rows, objects) = snapshot(&app).await;
    let mut expected_keys: Vec<&str> = expected.iter().map(|e| e.1.as_str()).collect();
    expected_keys.push(DONE_KEY);
    expected_keys.sort();
    assert_eq!(
        objects.keys().map(String::as_str).collect::<Vec<_>>(),
        expected_keys
    );

    let old_urls: BTreeMap<Uuid, String> = fixture_rows(true)
        .into_iter()
        .map(|r| (r.id, r.url))
        .collect();
    for (id, key, mime, name) in &expected {
        let row = &rows[id];
        assert_eq!(row.s3_key.as_deref(), Some(key.as_str()), "{id}");
        assert_eq!(
            row.file_url,
            format!(
                "https://{}.s3.us-east-1.amazonaws.com/{key}",
                app.state.storage().bucket()
            )
        );
        assert_eq!(row.file_type, *mime);
        assert_eq!(row.original_filename.as_deref(), Some(*name));
        let local = legacy.file(&old_urls[id]);
        assert_eq!(row.file_size, Some(local.len() as i32));
        let object = &objects[key];
        assert_eq!(object.bytes.as_ref(), local.as_slice(), "{key}");
        assert_eq!(object.sse.as_deref(), Some("AES256"));
        assert_eq!(object.content_type.as_deref(), Some(*mime));
        assert_eq!(object.metadata["event_id"], EVENT.to_string());
        assert_eq!(object.metadata["user_id"], USER.to_string());
        assert_eq!(object.metadata["original_filename"], *name);
    }
    // The rows that were not to move did not.
    for id in [GONE, ESCAPE, FAKE_PNG, DELETED] {
        assert_eq!(rows[&id].s3_key, None, "{id}");
        assert_eq!(rows[&id].file_url, old_urls[&id], "{id}");
    }
    assert_eq!(rows[&DONE].s3_key.as_deref(), Some(DONE_KEY));
    // Local files are never deleted.
    assert!(legacy.uploads().join(&old_urls[&PHOTO][9..]).exists());
    assert!(legacy.uploads().join(&old_urls[&DELETED][9..]).exists());

    // A second run has only the problems left, and changes nothing.
    let again = run(&app, &legacy, &legacy.options()).await;
    assert_eq!(
        (
            again.considered,
            again.migrated,
            again.adopted,
            again.already_done
        ),
        (3, 0, 0, 5)
    );
    assert_eq!(snapshot(&app).await, (rows, objects));
}

#[tokio::test]
async fn an_interrupted_run_resumes_to_the_state_of_an_uninterrupted_one() {
    let cdn = [("PUBLIC_BASE_URL", "https://cdn.example.com")];
    // The reference: one run, start to end.
    let whole = TestApp::with(&cdn).await;
    let legacy_whole = legacy(&whole, false).await;
    let summary = run(&whole, &legacy_whole, &legacy_whole.options()).await;
    assert!(summary.is_clean(), "{summary:#?}");
    assert_eq!(summary.migrated, 4);
    let reference = snapshot(&whole).await;

    let app = TestApp::with(&cdn).await;
    let legacy = legacy(&app, false).await;
    // 1. A run stopped after two rows (the oldest: PHOTO and TWIN).
    let first = run(
        &app,
        &legacy,
        &Options {
            limit: Some(2),
            ..legacy.options()
        },
    )
    .await;
    assert_eq!((first.considered, first.migrated), (2, 2));
    // 2. A run killed between writing DOC's object and recording it in its row.
    app.state
        .storage()
        .put_new(
            &key_of(t0() + Duration::minutes(3), "pdf"),
            Bytes::from(pdf()),
            "application/pdf",
            ObjectMetadata {
                event_id: EVENT.to_string(),
                user_id: USER.to_string(),
                original_filename: "Programme (final).pdf".into(),
            },
        )
        .await
        .unwrap();
    // 3. A run while S3 is unreachable: every row fails and nothing changes.
    let before = snapshot(&app).await;
    let down = Storage::from_config(&config(
        &app.database_url,
        app.state.storage().bucket(),
        &[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")],
    ))
    .await;
    let failed = run_with(&app, &down, &legacy, &legacy.options()).await;
    assert_eq!((failed.considered, failed.failed), (2, 2), "{failed:#?}");
    assert!(
        failed
            .items
            .iter()
            .all(|i| i.detail.as_deref().unwrap_or("").contains("unreachable"))
    );
    assert!(!failed.is_clean());
    assert_eq!(snapshot(&app).await, before);
    // 4. The rerun finishes the job: DOC's object is adopted, NOTES uploaded.
    let resumed = run(&app, &legacy, &legacy.options()).await;
    assert!(resumed.is_clean(), "{resumed:#?}");
    assert_eq!(
        (
            resumed.considered,
            resumed.migrated,
            resumed.adopted,
            resumed.already_done
        ),
        (2, 1, 1, 3)
    );
    assert_eq!(outcome_of(&resumed, DOC), Outcome::Adopted);
    assert_eq!(snapshot(&app).await, reference);
    // 5. Nothing left to do.
    let idle = run(&app, &legacy, &legacy.options()).await;
    assert_eq!((idle.considered, idle.already_done), (0, 5));
    assert!(idle.is_clean());
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_plans_what_the_real_run_does() {
    let app = TestApp::new().await;
    let legacy = legacy(&app, true).await;
    // An earlier run left PHOTO's object behind: the plan adopts it.
    app.state
        .storage()
        .put_new(
            &key_of(t0(), "png"),
            Bytes::from(png()),
            "image/png",
            ObjectMetadata::default(),
        )
        .await
        .unwrap();
    let before = snapshot(&app).await;
    let plan = run(
        &app,
        &legacy,
        &Options {
            dry_run: true,
            verify: true,
            ..legacy.options()
        },
    )
    .await;
    assert_eq!(snapshot(&app).await, before);
    assert!(plan.dry_run);
    assert_eq!(
        (plan.migrated, plan.adopted, plan.missing, plan.rejected),
        (3, 1, 1, 2)
    );
    assert_eq!(plan.verified, 0, "a dry run reads nothing back");

    let real = run(&app, &legacy, &legacy.options()).await;
    let outcomes = |s: &Summary| -> Vec<(Uuid, Outcome, Option<String>)> {
        s.items
            .iter()
            .map(|i| (i.media_id, i.outcome, i.key.clone()))
            .collect()
    };
    assert_eq!(outcomes(&plan), outcomes(&real));
    assert_eq!(plan.bytes, real.bytes);
}

#[tokio::test]
async fn a_different_object_at_the_key_is_a_conflict_and_is_not_overwritten() {
    let app = TestApp::new().await;
    let legacy = legacy(&app, false).await;
    let photo_key = key_of(t0(), "png");
    let notes_key = key_of(t0() + Duration::days(40), "txt");
    // Same size as the file but other bytes (caught by the checksum), and another size.
    let mut same_size = png();
    same_size[20] ^= 0xff;
    let storage = app.state.storage();
    for (key, bytes) in [
        (&photo_key, same_size.clone()),
        (&notes_key, b"other".to_vec()),
    ] {
        storage
            .put_new(
                key,
                Bytes::from(bytes),
                "application/octet-stream",
                ObjectMetadata::default(),
            )
            .await
            .unwrap();
    }
    let summary = run(&app, &legacy, &legacy.options()).await;
    assert_eq!(
        (summary.conflicts, summary.migrated),
        (2, 2),
        "{summary:#?}"
    );
    assert!(!summary.is_clean());
    assert_eq!(outcome_of(&summary, PHOTO), Outcome::Conflict);
    assert_eq!(outcome_of(&summary, NOTES), Outcome::Conflict);
    assert_eq!(
        storage.download(&photo_key).await.unwrap().as_ref(),
        same_size.as_slice()
    );
    assert_eq!(
        storage.download(&notes_key).await.unwrap().as_ref(),
        b"other"
    );
    let (rows, _) = snapshot(&app).await;
    assert_eq!(rows[&PHOTO].s3_key, None);
    assert_eq!(rows[&NOTES].s3_key, None);
}

#[tokio::test]
async fn a_missing_uploads_folder_is_an_error_before_anything_runs() {
    let app = TestApp::new().await;
    let legacy = legacy(&app, false).await;
    let err = Migrator {
        pool: &app.state.db.pool(),
        storage: app.state.storage(),
        config: &app.state.config,
    }
    .run(
        &Options {
            uploads_dir: Path::new(&legacy.root.0).join("nope"),
            ..legacy.options()
        },
        &Quiet,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// `(zone_id, batch_id)` of a row (current shape).
async fn zone_of(app: &TestApp, id: Uuid) -> (Option<Uuid>, Option<Uuid>) {
    let row = app
        .db()
        .await
        .query_one(
            "select zone_id, batch_id from event_media where id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// A zone's row as The Plugs reads it.
#[derive(Debug, PartialEq)]
struct ZoneState {
    event_id: Uuid,
    title: Option<String>,
    description: Option<String>,
    tags: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    is_deleted: bool,
    deleted_at: Option<DateTime<Utc>>,
}

async fn zone_state(app: &TestApp, zone_id: Uuid) -> ZoneState {
    let row = app
        .db()
        .await
        .query_one(
            "select event_id, title, description, tags, created_at, updated_at, is_deleted, \
             deleted_at from event_media_zones where id = $1",
            &[&zone_id],
        )
        .await
        .unwrap();
    ZoneState {
        event_id: row.get(0),
        title: row.get(1),
        description: row.get(2),
        tags: row.get(3),
        created_at: row.get(4),
        updated_at: row.get(5),
        is_deleted: row.get(6),
        deleted_at: row.get(7),
    }
}

async fn zone_count(app: &TestApp) -> i64 {
    app.db()
        .await
        .query_one("select count(*) from event_media_zones", &[])
        .await
        .unwrap()
        .get(0)
}

/// The organiser of the fixture's event.
fn organiser() -> Organiser {
    Organiser {
        user_id: USER,
        event_id: EVENT,
        token: token_for(USER),
    }
}

/// The media JSON get-media answers for `id`.
async fn media_json(app: &TestApp, id: Uuid) -> serde_json::Value {
    let reply = app
        .call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, &organiser(), id),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn on_the_current_schema_migrated_rows_keep_their_zone_or_get_one_of_their_own() {
    let app = TestApp::on_plugs(test_support::PlugsSchema::Current, false).await;
    let legacy = legacy(&app, false).await;
    // PHOTO and TWIN were uploaded together by a Plugs with zones: one zone, with metadata.
    // The other rows were written before zones (no zone_id).
    let album = Uuid::new_v4();
    let client = app.db().await;
    client
        .execute(
            "insert into event_media_zones (id, event_id, title, description, tags, created_at, \
             updated_at, is_deleted) values ($1, $2, 'Dance floor', 'Night one', 'party, night', \
             $3, $3, false)",
            &[&album, &EVENT, &t0()],
        )
        .await
        .unwrap();
    client
        .execute(
            "update event_media set zone_id = $1, batch_id = $1 where id = any($2)",
            &[&album, &vec![PHOTO, TWIN]],
        )
        .await
        .unwrap();
    let album_before = zone_state(&app, album).await;

    let summary = run(&app, &legacy, &legacy.options()).await;
    assert!(summary.is_clean(), "{summary:#?}");
    assert_eq!(summary.migrated, 4);

    // Kept: the album's rows still point at it, and the album did not change.
    for id in [PHOTO, TWIN] {
        assert_eq!(zone_of(&app, id).await, (Some(album), Some(album)), "{id}");
        let media = media_json(&app, id).await;
        assert_eq!(media["batch_id"], album.to_string());
        assert_eq!(media["title"], "Dance floor");
        assert_eq!(media["tags"], serde_json::json!(["party", "night"]));
    }
    assert_eq!(zone_state(&app, album).await, album_before);

    // A zone of its own for each row that had none, as The Plugs' data move gives one.
    let mut own = Vec::new();
    for id in [DOC, NOTES] {
        let (zone_id, batch_id) = zone_of(&app, id).await;
        let zone_id = zone_id.unwrap_or_else(|| panic!("{id} has a zone"));
        assert_eq!(batch_id, Some(zone_id), "batch_id names the zone: {id}");
        let row = app
            .db()
            .await
            .query_one(
                "select created_at, updated_at from event_media where id = $1",
                &[&id],
            )
            .await
            .unwrap();
        assert_eq!(
            zone_state(&app, zone_id).await,
            ZoneState {
                event_id: EVENT,
                title: None,
                description: None,
                tags: None,
                created_at: row.get(0),
                updated_at: row.get(1),
                is_deleted: false,
                deleted_at: None,
            },
            "{id}"
        );
        let media = media_json(&app, id).await;
        assert_eq!(media["batch_id"], zone_id.to_string());
        assert!(media["title"].is_null(), "{media}");
        own.push(zone_id);
    }
    assert_ne!(own[0], own[1], "each row gets a zone of its own");
    assert!(!own.contains(&album));

    // Rows the run did not move are left as they were: the soft-deleted one has no zone.
    assert_eq!(zone_of(&app, DELETED).await, (None, None));
    // Every live row is in a live zone of its event, as The Plugs' listing joins them.
    let strays: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from event_media m left join event_media_zones z \
             on z.id = m.zone_id and z.event_id = m.event_id and not z.is_deleted \
             where not m.is_deleted and m.s3_key is not null and m.id <> $1 and z.id is null",
            &[&DONE],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(strays, 0);

    // A second run moves nothing and makes no zone.
    let before = zone_count(&app).await;
    let again = run(&app, &legacy, &legacy.options()).await;
    assert_eq!((again.considered, again.migrated), (0, 0));
    assert_eq!(zone_count(&app).await, before);
}

#[tokio::test]
async fn on_the_seed_era_schema_migrated_rows_keep_their_metadata_and_get_no_zone() {
    let app = TestApp::on_plugs(test_support::PlugsSchema::Seed, false).await;
    let legacy = legacy(&app, false).await;
    app.db()
        .await
        .execute(
            "update event_media set title = 'Dance floor', tags = 'party, night' where id = $1",
            &[&PHOTO],
        )
        .await
        .unwrap();

    let summary = run(&app, &legacy, &legacy.options()).await;
    assert!(summary.is_clean(), "{summary:#?}");
    assert_eq!(summary.migrated, 4);

    let media = media_json(&app, PHOTO).await;
    assert!(media["batch_id"].is_null(), "{media}");
    assert_eq!(media["title"], "Dance floor");
    assert_eq!(media["tags"], serde_json::json!(["party", "night"]));
    let zone_table: Option<String> = app
        .db()
        .await
        .query_one("select to_regclass('event_media_zones')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(zone_table, None, "no zone table is made on the seed era");
}

/// A migrated file is analysed as an upload's would be: the PNG's size from its header, the
/// row marked; the PDF, a type not analysed, left unmarked.
#[tokio::test]
async fn migrated_files_are_analysed_as_an_upload_would_be() {
    let app = TestApp::new().await;
    let legacy = legacy(&app, false).await;
    let summary = run(&app, &legacy, &legacy.options()).await;
    assert_eq!(summary.migrated, 4, "{summary:#?}");
    let analysis = |id: Uuid| {
        let app = &app;
        async move {
            let row = app
                .db()
                .await
                .query_one(
                    "select width, height, duration_ms, analyzed_at is not null \
                     from event_media where id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            let found: (Option<i32>, Option<i32>, Option<i64>, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            found
        }
    };
    assert_eq!(analysis(PHOTO).await, (Some(1), Some(1), None, true));
    assert_eq!(analysis(DOC).await, (None, None, None, false));
    assert_eq!(media_json(&app, PHOTO).await["width"], 1);
}
