//! Moving The Plugs' files from the server's `uploads/` folder into the bucket: the work of
//! `plugs-media migrate-files`, in the CLI's library so tests can run it in-process while no
//! Lambda function compiles or links it.
//!
//! Each live row with `s3_key` null and a `file_url` of `/uploads/...` is read from disk,
//! checked (size, type signature), written under the spec's key layout with SSE and the
//! metadata the upload endpoint writes, and only then pointed at its object. The key is
//! derived from the row alone, so a run killed at any point and started again targets the same
//! keys: an object already there with the same bytes is adopted, a different one is reported
//! as a conflict and left alone. Local files are never deleted.
//!
//! On The Plugs' current schema a migrated row keeps its zone; a row with none (written
//! before zones by an old Plugs) gets a zone of its own when it is pointed at its object, as
//! The Plugs' data move of `7a9d6f4f8420` gives one (see `queries::set_moved_to_bucket`).

mod queries;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use serde::Serialize;
use uuid::Uuid;

use shared::analysis;
use shared::config::Config;
use shared::db::shape::{self, Shape};
use shared::keys::{event_media_key, next_instant};
use shared::media_type::{self, sanitize_file_name};
use shared::storage::{ObjectInfo, ObjectMetadata, Storage, StorageError};

use self::queries::{LocalFile, MovedToBucket};

/// The URL prefix The Plugs gave files stored on its own disk.
pub const LOCAL_PREFIX: &str = "/uploads/";

/// How a run is asked to behave.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder `/uploads/` URLs point into.
    pub uploads_dir: PathBuf,
    /// Read and check everything, write nothing (neither objects nor rows).
    pub dry_run: bool,
    /// Files in flight at once (at least 1).
    pub concurrency: usize,
    /// Handle at most this many rows (the oldest first).
    pub limit: Option<usize>,
    /// After the run, read back every object written or adopted and compare size and MD5.
    pub verify: bool,
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written to the bucket and the row updated (in a dry run: would be).
    Migrated,
    /// The same bytes were already at the key (an earlier, interrupted run); the row updated.
    Adopted,
    /// The file is not on disk.
    Missing,
    /// Something else is at the key (or another row claims it); nothing was changed.
    Conflict,
    /// The row or file cannot be migrated as it is: not a local URL, a path leaving the
    /// uploads folder, an empty file, a size that contradicts the row, a type not allowed.
    Rejected,
    /// S3, the database or the disk failed; a rerun may succeed.
    Failed,
}

/// One row's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub media_id: Uuid,
    pub event_id: Uuid,
    /// The `file_url` the row had before the run.
    pub file_url: String,
    /// The file on disk, when the URL could be mapped to one.
    pub path: Option<PathBuf>,
    /// The object's key, once it was known.
    pub key: Option<String>,
    pub bytes: u64,
    /// Hex MD5 of the file, once it was read.
    pub md5: Option<String>,
    pub outcome: Outcome,
    /// Why, for every outcome but `migrated` and `adopted`.
    pub detail: Option<String>,
    /// With `--verify`: whether the object read back matched the file.
    pub verified: Option<bool>,
    #[serde(skip)]
    seq: usize,
}

/// The counts of a run, and every row's line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    /// Live rows already in the bucket before the run (uploaded through the API or migrated
    /// by an earlier run); not touched.
    pub already_done: u64,
    /// Rows this run looked at.
    pub considered: usize,
    pub migrated: usize,
    pub adopted: usize,
    pub missing: usize,
    pub conflicts: usize,
    pub rejected: usize,
    pub failed: usize,
    /// Bytes written (or, in a dry run, that would be) plus bytes adopted.
    pub bytes: u64,
    /// With `--verify`: objects read back, and how many of them did not match.
    pub verified: usize,
    pub verify_failures: usize,
    pub seconds: f64,
    pub items: Vec<Item>,
}

impl Summary {
    /// Clean: every row this run looked at is in the bucket (or, in a dry run, would be) and
    /// every verified object matched. Missing files, conflicts, rejected rows and failures all
    /// leave rows on local storage, so none of them is clean.
    pub fn is_clean(&self) -> bool {
        self.missing + self.conflicts + self.rejected + self.failed + self.verify_failures == 0
    }

    fn count(&mut self) {
        for item in &self.items {
            match item.outcome {
                Outcome::Migrated => self.migrated += 1,
                Outcome::Adopted => self.adopted += 1,
                Outcome::Missing => self.missing += 1,
                Outcome::Conflict => self.conflicts += 1,
                Outcome::Rejected => self.rejected += 1,
                Outcome::Failed => self.failed += 1,
            }
            if matches!(item.outcome, Outcome::Migrated | Outcome::Adopted) {
                self.bytes += item.bytes;
            }
            if let Some(ok) = item.verified {
                self.verified += 1;
                self.verify_failures += usize::from(!ok);
            }
        }
    }
}

/// Told about the run as it goes (the CLI draws a progress bar with it).
pub trait Progress: Send + Sync {
    /// The plan: how many rows, and how many bytes their files hold on disk.
    fn planned(&self, _files: u64, _bytes: u64) {}
    /// One row is done.
    fn finished(&self, _item: &Item) {}
    /// The read-back of `--verify` starts.
    fn verifying(&self, _objects: u64) {}
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {}

/// Why a run could not run at all (per-row problems are [`Outcome`]s instead).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the uploads folder {path} cannot be used: {source}")]
    UploadsDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot reach the database")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Database(#[from] shared::db::DbError),
}

/// What a run needs: the rows, the bucket, and the configuration that shapes `file_url`.
pub struct Migrator<'a> {
    pub pool: &'a Pool,
    pub storage: &'a Storage,
    pub config: &'a Config,
}

impl Migrator<'_> {
    pub async fn run(
        &self,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<Summary, MigrateError> {
        let started = Instant::now();
        let root = tokio::fs::canonicalize(&options.uploads_dir)
            .await
            .map_err(|source| MigrateError::UploadsDir {
                path: options.uploads_dir.clone(),
                source,
            })?;
        let client = self.pool.get().await?;
        let shape = shape::detect(&client)
            .await
            .map_err(shared::db::DbError::from)?;
        let already_done = queries::count_in_bucket(&client).await?.max(0) as u64;
        let limit = options.limit.map(|n| n.min(i64::MAX as usize) as i64);
        let rows = queries::local_files(&client, limit).await?;
        let instants = key_instants(&client, &rows).await?;
        drop(client);

        let mut planned_bytes = 0;
        for row in &rows {
            if let Ok(path) = local_path(&root, &row.file_url)
                && let Ok(meta) = tokio::fs::metadata(&path).await
            {
                planned_bytes += meta.len();
            }
        }
        progress.planned(rows.len() as u64, planned_bytes);

        let concurrency = options.concurrency.max(1);
        let mut items: Vec<Item> = futures_util::stream::iter(rows.iter().enumerate())
            .map(|(seq, row)| {
                let at = instants.get(&row.id).copied().unwrap_or(row.created_at);
                let root = &root;
                async move {
                    let item = self
                        .migrate_one(root, shape, seq, row, at, options.dry_run)
                        .await;
                    progress.finished(&item);
                    item
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        items.sort_by_key(|item| item.seq);

        if options.verify && !options.dry_run {
            let to_verify = items
                .iter()
                .filter(|i| matches!(i.outcome, Outcome::Migrated | Outcome::Adopted))
                .count();
            progress.verifying(to_verify as u64);
            futures_util::stream::iter(items.iter_mut())
                .for_each_concurrent(concurrency, |item| self.verify_one(item))
                .await;
        }

        let mut summary = Summary {
            dry_run: options.dry_run,
            already_done,
            considered: items.len(),
            migrated: 0,
            adopted: 0,
            missing: 0,
            conflicts: 0,
            rejected: 0,
            failed: 0,
            bytes: 0,
            verified: 0,
            verify_failures: 0,
            seconds: 0.0,
            items,
        };
        summary.count();
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    #[tracing::instrument(skip_all, fields(media_id = %row.id))]
    async fn migrate_one(
        &self,
        root: &Path,
        shape: Shape,
        seq: usize,
        row: &LocalFile,
        at: DateTime<Utc>,
        dry_run: bool,
    ) -> Item {
        let mut item = Item {
            media_id: row.id,
            event_id: row.event_id,
            file_url: row.file_url.clone(),
            path: None,
            key: None,
            bytes: 0,
            md5: None,
            outcome: Outcome::Failed,
            detail: None,
            verified: None,
            seq,
        };
        match self
            .try_migrate(root, shape, row, at, dry_run, &mut item)
            .await
        {
            Ok(outcome) => item.outcome = outcome,
            Err((outcome, detail)) => {
                item.outcome = outcome;
                item.detail = Some(detail);
            }
        }
        item
    }

    async fn try_migrate(
        &self,
        root: &Path,
        shape: Shape,
        row: &LocalFile,
        at: DateTime<Utc>,
        dry_run: bool,
        item: &mut Item,
    ) -> Result<Outcome, (Outcome, String)> {
        let path = local_path(root, &row.file_url).map_err(|why| (Outcome::Rejected, why))?;
        item.path = Some(path.clone());
        let bytes = read_inside(root, &path).await?;
        item.bytes = bytes.len() as u64;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let checked = check(row, &bytes, &file_name).map_err(|why| (Outcome::Rejected, why))?;
        let md5 = hex::encode(Md5::digest(&bytes));
        item.md5 = Some(md5.clone());
        let key = event_media_key(row.event_id, at, checked.extension).to_string();
        item.key = Some(key.clone());

        let client = self.pool.get().await.map_err(failed)?;
        if let Some(holder) = queries::holder_of_key(&client, &key)
            .await
            .map_err(failed)?
            .filter(|holder| *holder != row.id)
        {
            return Err((
                Outcome::Conflict,
                format!("media {holder} already uses {key}"),
            ));
        }
        drop(client);

        let outcome = match self.storage.info(&key).await {
            Ok(existing) => self.compare(&key, &existing, &bytes, &md5).await?,
            Err(StorageError::NotFound) if dry_run => Outcome::Migrated,
            Err(StorageError::NotFound) => {
                let metadata = ObjectMetadata {
                    event_id: row.event_id.to_string(),
                    user_id: row.owner_id.to_string(),
                    original_filename: checked.original_filename.clone(),
                };
                match self
                    .storage
                    .put_new(&key, bytes.clone(), checked.mime, metadata)
                    .await
                {
                    Ok(()) => Outcome::Migrated,
                    // Another run got there between our HEAD and PUT.
                    Err(StorageError::AlreadyExists) => {
                        let existing = self.storage.info(&key).await.map_err(failed)?;
                        self.compare(&key, &existing, &bytes, &md5).await?
                    }
                    Err(err) => return Err(failed(err)),
                }
            }
            Err(err) => return Err(failed(err)),
        };
        if dry_run {
            return Ok(outcome);
        }

        let file_url = self.config.file_url(&key);
        let analysis = analysis::analyze(checked.mime, Arc::new(bytes.clone()), &key).await;
        let client = self.pool.get().await.map_err(failed)?;
        let moved = MovedToBucket {
            id: row.id,
            s3_key: &key,
            file_url: &file_url,
            file_size: checked.size,
            file_type: checked.mime,
            original_filename: &checked.original_filename,
            analysis,
        };
        if queries::set_moved_to_bucket(&client, shape, &moved)
            .await
            .map_err(failed)?
        {
            Ok(outcome)
        } else {
            Err((
                Outcome::Failed,
                "the row was migrated or deleted by someone else during the run; its object \
                 stays in the bucket"
                    .to_owned(),
            ))
        }
    }

    /// Whether the object already at `key` holds exactly `bytes`.
    async fn compare(
        &self,
        key: &str,
        existing: &ObjectInfo,
        bytes: &Bytes,
        md5: &str,
    ) -> Result<Outcome, (Outcome, String)> {
        if existing.size != bytes.len() as u64 {
            return Err((
                Outcome::Conflict,
                format!(
                    "{key} already holds {} bytes, the file has {}",
                    existing.size,
                    bytes.len()
                ),
            ));
        }
        if existing
            .etag
            .as_deref()
            .is_some_and(|etag| etag.eq_ignore_ascii_case(md5))
        {
            return Ok(Outcome::Adopted);
        }
        // The ETag is not a plain MD5 for every upload (multipart, SSE-KMS): compare bytes.
        let stored = self.storage.download(key).await.map_err(failed)?;
        if stored == *bytes {
            Ok(Outcome::Adopted)
        } else {
            Err((
                Outcome::Conflict,
                format!("{key} already holds other bytes of the same size"),
            ))
        }
    }

    async fn verify_one(&self, item: &mut Item) {
        if !matches!(item.outcome, Outcome::Migrated | Outcome::Adopted) {
            return;
        }
        let (Some(key), Some(md5)) = (&item.key, &item.md5) else {
            return;
        };
        let result = self.storage.download(key).await;
        let ok = match &result {
            Ok(stored) => {
                stored.len() as u64 == item.bytes && hex::encode(Md5::digest(stored)) == *md5
            }
            Err(_) => false,
        };
        if !ok {
            let why = match result {
                Ok(stored) => format!(
                    "read back {} bytes that do not match the file",
                    stored.len()
                ),
                Err(err) => format!("could not read the object back: {err}"),
            };
            item.detail = Some(why);
        }
        item.verified = Some(ok);
    }
}

fn failed(err: impl std::fmt::Display) -> (Outcome, String) {
    (Outcome::Failed, err.to_string())
}

/// The instant that names each row's key: its `created_at`, except that rows of one event
/// sharing a microsecond (a batch insert gives every row the same `now()`) get the following
/// free microseconds, in id order. It depends only on the event's live rows, so a rerun hands
/// out the same instants.
async fn key_instants(
    client: &shared::db::Client,
    rows: &[LocalFile],
) -> Result<HashMap<Uuid, DateTime<Utc>>, shared::db::DbError> {
    let mut event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
    event_ids.sort();
    event_ids.dedup();
    let all = queries::instants_of_events(client, &event_ids).await?;
    Ok(assign_instants(&all))
}

/// `rows` must be ordered by event, then time, then id.
fn assign_instants(rows: &[(Uuid, Uuid, DateTime<Utc>)]) -> HashMap<Uuid, DateTime<Utc>> {
    let mut out = HashMap::with_capacity(rows.len());
    let mut last: Option<(Uuid, DateTime<Utc>)> = None;
    for &(id, event_id, created_at) in rows {
        let at = match last {
            Some((event, previous)) if event == event_id && created_at <= previous => {
                next_instant(previous)
            }
            _ => created_at,
        };
        out.insert(id, at);
        last = Some((event_id, at));
    }
    out
}

/// Maps `/uploads/a/b.png` to `<root>/a/b.png`. Refuses anything else: other URLs, and any
/// path with `..`, `.`, empty or absolute segments (also when percent-encoded).
pub fn local_path(root: &Path, file_url: &str) -> Result<PathBuf, String> {
    let Some(relative) = file_url.strip_prefix(LOCAL_PREFIX) else {
        return Err(format!(
            "file_url {file_url:?} is not a local {LOCAL_PREFIX} path"
        ));
    };
    let decoded = percent_encoding::percent_decode_str(relative)
        .decode_utf8()
        .map_err(|_| format!("file_url {file_url:?} is not valid UTF-8 once decoded"))?;
    let refuse = || format!("file_url {file_url:?} leaves the uploads folder or is malformed");
    if decoded.is_empty()
        || decoded.contains('\\')
        || decoded.contains('\0')
        || decoded
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(refuse());
    }
    let relative = Path::new(decoded.as_ref());
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(refuse());
    }
    Ok(root.join(relative))
}

/// Reads a file, refusing one that a symbolic link takes outside `root`.
async fn read_inside(root: &Path, path: &Path) -> Result<Bytes, (Outcome, String)> {
    let not_found = |err: &std::io::Error| err.kind() == std::io::ErrorKind::NotFound;
    let real = match tokio::fs::canonicalize(path).await {
        Ok(real) => real,
        Err(err) if not_found(&err) => {
            return Err((
                Outcome::Missing,
                format!("{} does not exist", path.display()),
            ));
        }
        Err(err) => return Err(failed(format!("{}: {err}", path.display()))),
    };
    if !real.starts_with(root) {
        return Err((
            Outcome::Rejected,
            format!("{} leads outside the uploads folder", path.display()),
        ));
    }
    match tokio::fs::read(&real).await {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(err) if not_found(&err) => Err((
            Outcome::Missing,
            format!("{} does not exist", path.display()),
        )),
        Err(err) => Err(failed(format!("{}: {err}", path.display()))),
    }
}

/// What the checks of a file found out.
#[derive(Debug)]
struct Checked {
    mime: &'static str,
    extension: &'static str,
    size: i32,
    original_filename: String,
}

/// The checks the upload endpoint makes, against the file and against its row.
fn check(row: &LocalFile, bytes: &[u8], file_name: &str) -> Result<Checked, String> {
    if bytes.is_empty() {
        return Err("the file is empty".to_owned());
    }
    let size = i32::try_from(bytes.len())
        .map_err(|_| format!("{} bytes do not fit event_media.file_size", bytes.len()))?;
    if let Some(recorded) = row.file_size.filter(|s| *s > 0)
        && recorded != size
    {
        return Err(format!(
            "the file has {size} bytes but the row records {recorded}"
        ));
    }
    let kind = media_type::detect(bytes, file_name).map_err(|e| e.to_string())?;
    let original_filename = sanitize_file_name(
        row.original_filename
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(file_name),
    );
    Ok(Checked {
        mime: kind.mime,
        extension: kind.extension,
        size,
        original_filename,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn upload_urls_map_into_the_uploads_folder() {
        let root = Path::new("/srv/uploads");
        assert_eq!(
            local_path(root, "/uploads/events/e1/images/a b.png").unwrap(),
            Path::new("/srv/uploads/events/e1/images/a b.png")
        );
        assert_eq!(
            local_path(root, "/uploads/events/e1/images/a%20b.png").unwrap(),
            Path::new("/srv/uploads/events/e1/images/a b.png")
        );
    }

    #[test]
    fn urls_that_leave_the_uploads_folder_are_refused() {
        let root = Path::new("/srv/uploads");
        for url in [
            "/uploads/../etc/passwd",
            "/uploads/events/../../etc/passwd",
            "/uploads/%2e%2e/etc/passwd",
            "/uploads/events/%2F/etc",
            "/uploads//etc/passwd",
            "/uploads/./a.png",
            "/uploads/a\\..\\b.png",
            "/uploads/",
            "/uploads/a%00.png",
            "/other/a.png",
            "https://cdn.example.com/uploads/a.png",
            "uploads/a.png",
        ] {
            assert!(local_path(root, url).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn rows_sharing_a_microsecond_get_distinct_instants() {
        let t = Utc.with_ymd_and_hms(2023, 5, 1, 10, 0, 0).unwrap();
        let us = Duration::microseconds;
        let (e1, e2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let ids: Vec<Uuid> = (10..16).map(Uuid::from_u128).collect();
        let rows = [
            (ids[0], e1, t),
            (ids[1], e1, t),
            (ids[2], e1, t + us(1)),
            (ids[3], e1, t + us(5)),
            (ids[4], e2, t),
            (ids[5], e2, t),
        ];
        let got = assign_instants(&rows);
        assert_eq!(got[&ids[0]], t);
        assert_eq!(got[&ids[1]], t + us(1));
        assert_eq!(got[&ids[2]], t + us(2));
        assert_eq!(got[&ids[3]], t + us(5));
        assert_eq!(got[&ids[4]], t);
        assert_eq!(got[&ids[5]], t + us(1));
    }

    fn row(file_size: Option<i32>, original_filename: Option<&str>) -> LocalFile {
        LocalFile {
            id: Uuid::nil(),
            event_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            file_url: "/uploads/x".into(),
            file_type: String::new(),
            file_size,
            original_filename: original_filename.map(str::to_owned),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn files_are_checked_like_uploads_and_against_their_row() {
        let text = b"hello\n";
        let ok = check(&row(None, None), text, "notes.txt").unwrap();
        assert_eq!((ok.mime, ok.extension, ok.size), ("text/plain", "txt", 6));
        assert_eq!(ok.original_filename, "notes.txt");
        let named = check(&row(Some(6), Some("My notes.txt")), text, "f1.txt").unwrap();
        assert_eq!(named.original_filename, "My notes.txt");
        assert!(
            check(&row(Some(7), None), text, "notes.txt")
                .unwrap_err()
                .contains("records 7")
        );
        assert!(check(&row(None, None), b"", "notes.txt").is_err());
        assert!(check(&row(None, None), b"\x7fELF\x02\x01\x01\0\0\0", "a.png").is_err());
    }
}
