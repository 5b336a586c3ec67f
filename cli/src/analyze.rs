//! `plugs-media analyze`: fills in `width`, `height` and `duration_ms` of the rows stored
//! before media analysis existed (uploads through the API, and files moved by an earlier
//! `migrate-files`), reading each object's headers from the bucket in bounded ranges, as a
//! direct upload's complete does ([`shared::analysis`]).
//!
//! Resumable by construction: a row is picked while its `analyzed_at` is null, and an
//! analysed row gets `analyzed_at` in the same statement as its values, so a run stopped at
//! any point and started again carries on where it stopped. A file whose headers cannot be
//! read is marked too (its values stay null), so a bad file is tried once, not on every run.
//! Only a row whose object is missing, or whose read failed (S3 or the database down), is
//! left unmarked: the next run tries it again. Rows are taken in batches by id, and a run
//! never looks at a row twice, so rows left unmarked do not hold it up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use serde::Serialize;
use uuid::Uuid;

use shared::analysis::{self, Analysis, Kind, S3Object};
use shared::db::{DbError, Unnamed};
use shared::storage::{Storage, StorageError};

/// How a run is asked to behave.
#[derive(Debug, Clone)]
pub struct Options {
    /// Count what would be analysed, by type; read and write nothing.
    pub dry_run: bool,
    /// Rows fetched per query.
    pub batch_size: i64,
    /// Files analysed at once (at least 1).
    pub concurrency: usize,
    /// Analyse at most this many rows (in id order).
    pub limit: Option<u64>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    /// Live rows of an analysed type still to analyse when the run started, by type.
    pub pending_by_type: BTreeMap<String, u64>,
    /// Rows this run looked at.
    pub considered: u64,
    /// Rows marked analysed with at least one value found.
    pub analysed: u64,
    /// Rows marked analysed whose headers could not be read (values null; not retried).
    pub unreadable: u64,
    /// Rows whose object is not in the bucket (not marked: retried by the next run).
    pub missing: u64,
    /// Rows whose read or update failed (not marked: retried by the next run).
    pub failed: u64,
    /// Rows that someone else marked analysed while this run read them.
    pub skipped: u64,
    pub seconds: f64,
}

impl Summary {
    /// Whether every row this run looked at is now marked.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.failed == 0
    }

    pub fn pending(&self) -> u64 {
        self.pending_by_type.values().sum()
    }
}

/// Told about the run as it goes (the CLI draws a progress bar with it).
pub trait Progress: Send + Sync {
    /// How many rows the run will look at.
    fn planned(&self, _rows: u64) {}
    /// One row is done; `problem` says why it is not analysed, if it is not.
    fn finished(&self, _id: Uuid, _problem: Option<&str>) {}
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;

impl Progress for Quiet {}

/// Why a run could not run at all (per-row problems are counted instead).
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot reach the database")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database query failed")]
    Database(#[from] DbError),
}

impl From<tokio_postgres::Error> for AnalyzeError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Database(err.into())
    }
}

/// One row to analyse.
#[derive(Debug, Clone)]
struct Pending {
    id: Uuid,
    s3_key: String,
    file_type: String,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Analysed,
    Unreadable(String),
    Missing,
    Failed(String),
    Skipped,
}

/// Runs the analysis over every pending row (or counts them, with `dry_run`).
pub async fn run(
    pool: &Pool,
    storage: &Storage,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Summary, AnalyzeError> {
    let started = Instant::now();
    let mut summary = Summary {
        dry_run: options.dry_run,
        pending_by_type: pending_by_type(pool).await?,
        ..Summary::default()
    };
    let planned = options
        .limit
        .map_or(summary.pending(), |limit| limit.min(summary.pending()));
    progress.planned(planned);
    if options.dry_run {
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let mut after = Uuid::nil();
    let mut left = planned;
    while left > 0 {
        let size = options
            .batch_size
            .min(i64::try_from(left).unwrap_or(i64::MAX));
        let batch = next_batch(pool, after, size).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        left = left.saturating_sub(batch.len() as u64);
        let outcomes: Vec<(Uuid, Outcome)> = futures_util::stream::iter(batch)
            .map(|row| async move { (row.id, analyse_row(pool, storage, &row).await) })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        for (id, outcome) in outcomes {
            count(&mut summary, &outcome);
            progress.finished(id, problem(&outcome).as_deref());
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn count(summary: &mut Summary, outcome: &Outcome) {
    summary.considered += 1;
    match outcome {
        Outcome::Analysed => summary.analysed += 1,
        Outcome::Unreadable(_) => summary.unreadable += 1,
        Outcome::Missing => summary.missing += 1,
        Outcome::Failed(_) => summary.failed += 1,
        Outcome::Skipped => summary.skipped += 1,
    }
}

fn problem(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Analysed | Outcome::Skipped => None,
        Outcome::Unreadable(why) => Some(format!("not analysable: {why}")),
        Outcome::Missing => Some("MISSING: no object under its key".to_owned()),
        Outcome::Failed(why) => Some(format!("FAILED: {why}")),
    }
}

/// Reads one row's object and records what was found.
async fn analyse_row(pool: &Pool, storage: &Storage, row: &Pending) -> Outcome {
    let info = match storage.info(&row.s3_key).await {
        Ok(info) => info,
        Err(StorageError::NotFound) => return Outcome::Missing,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    let object = S3Object::new(storage.clone(), row.s3_key.clone(), info.etag, info.size);
    let (found, outcome) = match analysis::try_analyze(&row.file_type, Arc::new(object)).await {
        Some(Ok(found)) if found == Analysis::default() => (
            found,
            Outcome::Unreadable("no size or duration in its headers".into()),
        ),
        Some(Ok(found)) => (found, Outcome::Analysed),
        // A read that failed (S3 went away mid-file) is not the file's fault: retry it.
        Some(Err(analysis::NotAnalysed::Io(why))) => return Outcome::Failed(why),
        Some(Err(why)) => (Analysis::default(), Outcome::Unreadable(why.to_string())),
        None => (
            Analysis::default(),
            Outcome::Unreadable("type not analysed".into()),
        ),
    };
    match record(pool, row.id, &found).await {
        Ok(true) => outcome,
        Ok(false) => Outcome::Skipped,
        Err(err) => Outcome::Failed(format!("{err:#}")),
    }
}

/// Live rows in the bucket of an analysed type with no analysis yet, by type.
async fn pending_by_type(pool: &Pool) -> Result<BTreeMap<String, u64>, AnalyzeError> {
    let client = pool.get().await?;
    let rows = client
        .query_unnamed(
            "select file_type, count(*) from event_media \
             where analyzed_at is null and not is_deleted and s3_key is not null \
             and file_type = any($1) group by file_type",
            &[&Kind::analysed_types()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
        .collect())
}

/// The next `size` pending rows after `after`, by id.
async fn next_batch(pool: &Pool, after: Uuid, size: i64) -> Result<Vec<Pending>, AnalyzeError> {
    let client = pool.get().await?;
    let rows = client
        .query_unnamed(
            "select id, s3_key, file_type from event_media \
             where analyzed_at is null and not is_deleted and s3_key is not null \
             and file_type = any($1) and id > $2 order by id limit $3",
            &[&Kind::analysed_types(), &after, &size],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Pending {
            id: r.get(0),
            s3_key: r.get(1),
            file_type: r.get(2),
        })
        .collect())
}

/// Records the analysis of one row and marks it; false when it was marked meanwhile (by
/// another run, or by nobody: an upload marks its own row when it is written).
async fn record(pool: &Pool, id: Uuid, found: &Analysis) -> Result<bool, AnalyzeError> {
    let client = pool.get().await?;
    let updated = client
        .execute_unnamed(
            "update event_media set width = $2, height = $3, duration_ms = $4, \
             analyzed_at = now() where id = $1 and analyzed_at is null",
            &[&id, &found.width, &found.height, &found.duration_ms],
        )
        .await?;
    Ok(updated == 1)
}
