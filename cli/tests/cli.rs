//! The real `plugs-media` binary, run with a crafted environment against the PostgreSQL and
//! SeaweedFS that `scripts/test.sh` starts: `doctor` on a healthy and on broken stacks,
//! `migrate-files` killed mid-run and run again, `sweep` with zones, and `analyze`. The stack's database and bucket come from
//! `test-support`, as the integration tests' do.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use shared::db;
use shared::storage::Storage;
use test_support::{PlugsSchema, Scratch, Snapshot};
use uuid::Uuid;

/// One test's database and bucket, and the environment that points the binary at them.
struct World {
    scratch: Scratch,
}

impl World {
    /// A fresh database (migrated with `plugs-media migrate` when `migrated`) and bucket. The
    /// database is first built in the shape of The Plugs' schema that `PLUGS_SCHEMA` names,
    /// as the integration tests' are.
    async fn new(migrated: bool) -> Self {
        let scratch = Scratch::create(
            "t",
            &[
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("SECRET_KEY", "cli-test-secret"),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        let world = Self { scratch };
        let schema = PlugsSchema::from_env().unwrap_or_else(|e| panic!("{e:#}"));
        schema.build(&world.db().await, false).await.unwrap();
        if migrated {
            let out = world.run(&["migrate"], &[]);
            assert!(out.status.success(), "{}", text(&out));
        }
        world
    }

    async fn storage(&self) -> Storage {
        self.scratch.storage(&[]).await.unwrap()
    }

    async fn db(&self) -> db::Client {
        let url = SecretString::from(self.scratch.database_url.clone());
        let pool = db::pool(&url, 1).unwrap();
        pool.get().await.unwrap()
    }

    /// The binary with only this world's environment (plus `overrides`; an empty value
    /// removes a variable).
    fn command(&self, args: &[&str], overrides: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_plugs-media"));
        command.args(args).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        let mut env = self.scratch.env.clone();
        for (k, v) in overrides {
            if v.is_empty() {
                env.remove(*k);
            } else {
                env.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        command.envs(env);
        command
    }

    fn run(&self, args: &[&str], overrides: &[(&str, &str)]) -> Output {
        self.command(args, overrides)
            .output()
            .expect("the binary runs")
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The doctor's line for `check`, asserting there is exactly one.
fn line_of(out: &Output, check: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        // "FAIL " then the check's name padded to 14 columns.
        .filter(|l| l.get(5..19).map(str::trim) == Some(check))
        .collect();
    assert_eq!(lines.len(), 1, "one line for {check}: {}", text(out));
    lines[0].to_owned()
}

#[tokio::test]
async fn doctor_passes_on_a_healthy_stack() {
    let world = World::new(true).await;
    let out = world.run(&["doctor", "--write"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for check in [
        "configuration",
        "jwt secret",
        "bucket",
        "bucket write",
        "database",
    ] {
        assert!(line_of(&out, check).starts_with("ok   "), "{}", text(&out));
    }
}

#[tokio::test]
async fn doctor_says_what_to_do_about_a_missing_bucket() {
    let world = World::new(true).await;
    let missing = format!("missing-{}", Uuid::new_v4().simple());
    let out = world.run(&["doctor", "--write"], &[("S3_BUCKET_NAME", &missing)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = line_of(&out, "bucket");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains(&missing), "{line}");
    assert!(
        line.contains("fix: S3 bucket not found: check S3_BUCKET_NAME"),
        "{line}"
    );
    // The write probe must not create the bucket (SeaweedFS would, on the first PUT).
    assert!(line_of(&out, "bucket write").starts_with("skip "));
    assert!(line_of(&out, "database").starts_with("ok   "));
    let again = world.run(&["doctor"], &[("S3_BUCKET_NAME", &missing)]);
    assert!(
        line_of(&again, "bucket").starts_with("FAIL "),
        "{}",
        text(&again)
    );
}

#[tokio::test]
async fn doctor_says_what_to_do_about_wrong_credentials() {
    let world = World::new(true).await;
    for (name, value) in [
        ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
        ("AWS_ACCESS_KEY_ID", "nobody"),
    ] {
        let out = world.run(&["doctor"], &[(name, value)]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let line = line_of(&out, "bucket");
        assert!(line.starts_with("FAIL "), "{line}");
        assert!(
            line.contains("fix: S3 credentials not configured"),
            "{line}"
        );
        assert!(!line.contains(value), "a credential was printed: {line}");
    }
}

#[tokio::test]
async fn doctor_says_what_to_do_about_an_unreachable_or_unmigrated_database() {
    let world = World::new(true).await;
    let out = world.run(
        &["doctor"],
        &[(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:9/plugs?sslmode=disable",
        )],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = line_of(&out, "database");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(line.contains("fix: check DATABASE_URL"), "{line}");
    assert!(line_of(&out, "bucket").starts_with("ok   "));

    let fresh = World::new(false).await;
    let out = fresh.run(&["doctor"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        line_of(&out, "database").contains("fix: run `plugs-media migrate`"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn doctor_lists_every_configuration_problem_on_one_line() {
    let world = World::new(true).await;
    let out = world.run(&["doctor"], &[("SECRET_KEY", ""), ("DATABASE_URL", "")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let line = line_of(&out, "configuration");
    assert!(line.starts_with("FAIL "), "{line}");
    assert!(
        line.contains("DATABASE_URL or DATABASE_SECRET_ARN is required"),
        "{line}"
    );
    assert!(
        line.contains("SECRET_KEY or JWT_SECRET_ARN is required"),
        "{line}"
    );
    assert!(line.contains("fix: set the variables listed"), "{line}");
}

/// A temporary uploads folder, removed when dropped.
struct Uploads(PathBuf);

impl Drop for Uploads {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `count` legacy rows of one event with small text files under `uploads/`; returns the
/// folder. With `missing`, one more row whose file is not on disk.
async fn legacy(world: &World, count: usize, missing: bool) -> Uploads {
    let dir = Uploads(std::env::temp_dir().join(format!("plugs-media-cli-{}", Uuid::new_v4())));
    let client = world.db().await;
    let (user, event) = (Uuid::new_v4(), Uuid::new_v4());
    client
        .execute(
            "insert into users (id, email) values ($1, 'o@example.com')",
            &[&user],
        )
        .await
        .unwrap();
    client
        .execute(
            "insert into events (id, user_id, title) values ($1, $2, 'Gig')",
            &[&event, &user],
        )
        .await
        .unwrap();
    let folder = dir.0.join(format!("events/{event}/general"));
    std::fs::create_dir_all(&folder).unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2023-06-01T18:00:00Z")
        .unwrap()
        .to_utc();
    let total = count + usize::from(missing);
    for i in 0..total {
        let name = format!("note-{i:04}.txt");
        let body = format!("note {i}\n").repeat(1 + i % 7);
        if i < count {
            std::fs::write(folder.join(&name), &body).unwrap();
        }
        client
            .execute(
                "insert into event_media (id, event_id, file_url, file_type, file_size, created_at) \
                 values ($1, $2, $3, 'text/plain', $4, $5)",
                &[
                    &Uuid::new_v4(),
                    &event,
                    &format!("/uploads/events/{event}/general/{name}"),
                    &(body.len() as i32),
                    &(start + chrono::Duration::seconds(i as i64)),
                ],
            )
            .await
            .unwrap();
    }
    dir
}

async fn migrated_rows(world: &World) -> i64 {
    world
        .db()
        .await
        .query_one(
            "select count(*) from event_media where s3_key is not null",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn migrate_files_killed_mid_run_finishes_on_the_next_run() {
    const FILES: usize = 300;
    let world = World::new(true).await;
    let uploads = legacy(&world, FILES, false).await;
    let dir = uploads.0.to_str().unwrap();

    let mut child = world
        .command(
            &["migrate-files", "--uploads-dir", dir, "--concurrency", "1"],
            &[],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while migrated_rows(&world).await < 5 {
        assert!(Instant::now() < deadline, "no progress within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = migrated_rows(&world).await;
    assert!(
        (5..FILES as i64).contains(&done_before),
        "the kill came too late to interrupt anything ({done_before} rows done)"
    );

    let report_path = uploads.0.join("report.json");
    let out = world.run(
        &[
            "migrate-files",
            "--uploads-dir",
            dir,
            "--verify",
            "--report",
            report_path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json = report(&report_path);
    let (migrated, adopted) = (
        json["migrated"].as_u64().unwrap(),
        json["adopted"].as_u64().unwrap(),
    );
    assert_eq!(json["already_done"].as_i64(), Some(done_before));
    assert_eq!(migrated + adopted, FILES as u64 - done_before as u64);
    assert!(adopted <= 1, "at most the one file in flight: {adopted}");
    assert_eq!(json["verified"].as_u64(), Some(migrated + adopted));
    assert_eq!(json["verify_failures"].as_u64(), Some(0));

    assert_eq!(migrated_rows(&world).await, FILES as i64);
    let storage = world.storage().await;
    let snapshot = Snapshot::take(&world.db().await, &storage).await.unwrap();
    assert_eq!(
        snapshot.objects.len(),
        FILES,
        "one object per row, no duplicates"
    );
    assert_eq!(snapshot.live_keys().len(), FILES);
    snapshot.assert_consistent(&storage).await;
}

#[tokio::test]
async fn migrate_files_exit_codes_dry_run_and_bad_input() {
    let world = World::new(true).await;
    let uploads = legacy(&world, 3, true).await;
    let dir = uploads.0.to_str().unwrap();

    let plan = world.run(&["migrate-files", "--uploads-dir", dir, "--dry-run"], &[]);
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(plan.status.code(), Some(3), "{}", text(&plan));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("upload ")).count(),
        3
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("MISSING ")).count(),
        1
    );
    assert!(stdout.contains("dry run: nothing was written"));
    assert_eq!(migrated_rows(&world).await, 0);
    assert!(world.storage().await.list("").await.unwrap().is_empty());

    let out = world.run(&["migrate-files", "--uploads-dir", dir], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("result: NOT clean: 1 rows stay on local storage"),
        "{stdout}"
    );
    assert_eq!(migrated_rows(&world).await, 3);

    for args in [
        vec!["migrate-files", "--uploads-dir", "/nonexistent/uploads"],
        vec!["migrate-files"],
        vec!["migrate-files", "--uploads-dir", dir, "--concurrency", "0"],
        vec!["migrate-files", "--uploads-dir", dir, "--limit", "-1"],
    ] {
        let out = world.run(&args, &[]);
        let code = out.status.code();
        assert!(matches!(code, Some(1 | 2)), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

/// A user and an event; returns the event's id.
async fn event(world: &World) -> Uuid {
    let client = world.db().await;
    let (user, event) = (Uuid::new_v4(), Uuid::new_v4());
    client
        .execute(
            "insert into users (id, email) values ($1, $2)",
            &[&user, &format!("{user}@example.com")],
        )
        .await
        .unwrap();
    client
        .execute(
            "insert into events (id, user_id, title) values ($1, $2, 'Gig')",
            &[&event, &user],
        )
        .await
        .unwrap();
    event
}

/// `sweep`'s lines about zones.
fn zone_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("zones ") || l.starts_with("  zone "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn sweep_reports_a_zone_with_no_live_file_and_deletes_it_when_told_to() {
    let world = World::new(true).await;
    let has_zones = shared::db::shape::detect(&world.db().await).await.unwrap()
        == shared::db::shape::Shape::Current;
    let event = event(&world).await;
    let zone = Uuid::new_v4();
    if has_zones {
        world
            .db()
            .await
            .execute(
                "insert into event_media_zones (id, event_id, created_at, updated_at, is_deleted) \
                 values ($1, $2, now() - interval '2 hours', now() - interval '2 hours', false)",
                &[&zone, &event],
            )
            .await
            .unwrap();
    }
    let is_deleted = async || -> Option<bool> {
        world
            .db()
            .await
            .query_opt(
                "select is_deleted from event_media_zones where id = $1",
                &[&zone],
            )
            .await
            .ok()
            .flatten()
            .map(|row| row.get(0))
    };

    // Report only: the zone is named and stays.
    let out = world.run(&["sweep"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    if !has_zones {
        // The seed era: no zone table, nothing to report, no error.
        assert_eq!(
            zone_lines(&out),
            ["zones with no live file:     0 (0 deleted)"],
            "{}",
            text(&out)
        );
        return;
    }
    assert_eq!(
        zone_lines(&out),
        [
            "zones with no live file:     1 (0 deleted)".to_owned(),
            format!("  zone    {zone}")
        ],
        "{}",
        text(&out)
    );
    assert_eq!(is_deleted().await, Some(false));
    // A grace period longer than the zone's age keeps it out of the report.
    let out = world.run(&["sweep", "--grace-seconds", "86400"], &[]);
    assert_eq!(
        zone_lines(&out),
        ["zones with no live file:     0 (0 deleted)"],
        "{}",
        text(&out)
    );

    // The function's switch, SWEEP_DELETE_ORPHANS, as the flag would.
    let out = world.run(&["sweep"], &[("SWEEP_DELETE_ORPHANS", "true")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        zone_lines(&out)[0],
        "zones with no live file:     1 (1 deleted)",
        "{}",
        text(&out)
    );
    assert_eq!(is_deleted().await, Some(true));
    let out = world.run(&["sweep", "--delete-orphans"], &[]);
    assert_eq!(
        zone_lines(&out),
        ["zones with no live file:     0 (0 deleted)"],
        "{}",
        text(&out)
    );
}

/// `readme-endpoints` on a copy of the README whose table is stale: the table becomes the
/// registry's, the rest stays byte for byte, and a second run changes nothing.
#[test]
fn readme_endpoints_rewrites_a_stale_table_and_only_the_table() {
    let dir = std::env::temp_dir().join(format!("plugs-media-readme-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let readme = dir.join("README.md");
    let table = shared::endpoint::readme_endpoint_table();
    let around = |table: &str| {
        format!(
            "# Title\n\n{}\n{table}{}\n\n## Next\n",
            shared::endpoint::README_TABLE_BEGIN,
            shared::endpoint::README_TABLE_END
        )
    };
    let stale = table.replace("| `stream-media` | 302 |", "| `stream-media` | 200 |");
    assert_ne!(stale, table, "the test must start from a stale table");
    std::fs::write(&readme, around(&stale)).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_plugs-media"))
            .args(["readme-endpoints", "--readme"])
            .arg(&readme)
            .output()
            .expect("the binary runs")
    };

    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), around(&table));
    let again = run();
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("up to date"),
        "{}",
        text(&again)
    );

    std::fs::write(&readme, "# Title\n\nno markers\n").unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no endpoint table markers"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&readme).unwrap(),
        "# Title\n\nno markers\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `analyze` through the binary: `--dry-run` counts and changes nothing; a run fills in the
/// row and prints its totals; a second run has nothing left to do. Exit code 3 while an
/// object is missing.
#[tokio::test]
async fn analyze_dry_run_then_run_then_nothing_left() {
    let world = World::new(true).await;
    let event = event(&world).await;
    let storage = world.storage().await;
    let sample = |name: &str| {
        std::fs::read(format!(
            "{}/../shared/tests/samples/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let (photo, gone) = (Uuid::new_v4(), Uuid::new_v4());
    let client = world.db().await;
    for (id, key, bytes) in [
        (
            photo,
            format!("events/{event}/media/a.jpg"),
            Some(sample("orientation-6.jpg")),
        ),
        (gone, format!("events/{event}/media/gone.jpg"), None),
    ] {
        if let Some(bytes) = bytes {
            let metadata = shared::storage::ObjectMetadata {
                event_id: event.to_string(),
                user_id: Uuid::nil().to_string(),
                original_filename: "a.jpg".into(),
            };
            storage
                .put_new(&key, bytes.into(), "image/jpeg", metadata)
                .await
                .unwrap();
        }
        client
            .execute(
                "insert into event_media (id, event_id, file_url, s3_key, file_type, file_size) \
                 values ($1, $2, $3, $3, 'image/jpeg', 1)",
                &[&id, &event, &key],
            )
            .await
            .unwrap();
    }
    let analysis = async |id: Uuid| -> (Option<i32>, Option<i32>, bool) {
        let row = world
            .db()
            .await
            .query_one(
                "select width, height, analyzed_at is not null from event_media where id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };

    let out = world.run(&["analyze", "--dry-run"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would analyse 2 files (image/jpeg 2)"),
        "{}",
        text(&out)
    );
    assert_eq!(analysis(photo).await, (None, None, false));

    let out = world.run(&["analyze"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{gone}: MISSING")),
        "{}",
        text(&out)
    );
    assert!(stdout.contains("1 analysed"), "{}", text(&out));
    assert_eq!(analysis(photo).await, (Some(48), Some(64), true));
    assert_eq!(analysis(gone).await, (None, None, false));

    // The photo is not looked at again; the missing object's row is, until it is fixed.
    client
        .execute(
            "update event_media set is_deleted = true where id = $1",
            &[&gone],
        )
        .await
        .unwrap();
    let out = world.run(&["analyze"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 files to analyse (none); looked at 0"),
        "{}",
        text(&out)
    );
}
