//! The sweep: leaves nothing behind that no row accounts for.
//!
//! 1. Pending direct uploads past their expiry are deleted with their temp objects.
//! 2. Objects under `temp/` that no pending upload owns (a completed upload whose temp delete
//!    failed) are deleted once older than the grace period.
//! 3. Objects under `events/` that no live row points to are reported once older than the
//!    grace period, and deleted when configured to. A preview variant
//!    (`events/{event_id}/previews/{media_id}/…`) belongs to its media id's live row; without
//!    one it is an orphan like any other object.
//! 4. Live rows whose object is missing are reported (never changed: a human decides). A
//!    preview variant recorded as stored whose object is missing is forgotten instead, once
//!    its record is older than the grace period: the next request renders it again.
//! 6. Resumable (multipart) uploads past their expiry are aborted in S3 with their rows (and
//!    the object of one S3 assembled but the API never recorded); uploads S3 holds that no
//!    row accounts for (a create that failed after S3 started it) are aborted once older than
//!    the grace period. The bucket's `AbortIncompleteMultipartUpload` rule is the backstop.
//! 5. On The Plugs' current schema, live zones with no live file (left by a crash or an older
//!    client) are reported once older than the grace period, and soft-deleted as The Plugs
//!    does when configured to. The seed era has no zones.
//!
//! The grace period keeps the sweep away from uploads in flight, between their S3 write and
//! their row insert, and from zones being filled (see `db::zones::orphans`).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::config::Config;
use crate::db::shape::Shape;
use crate::db::{Database, DbError, media, multipart_uploads, pending_uploads, zones};
use crate::keys;
use crate::preview::PreviewSize;
use crate::storage::{Storage, StorageError};

/// Why a sweep stopped. It answers no client: the function logs it and the next schedule
/// tries again, and whatever was left is still there to find.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The database could not be reached or a statement failed.
    #[error("the database failed")]
    Database(#[from] DbError),
    /// The bucket could not be listed, or an object could not be deleted.
    #[error("the bucket failed")]
    Storage(#[from] StorageError),
}

/// What the sweep works on: the database and the bucket. No JWT key: it checks no tokens.
pub struct SweepTarget<'a> {
    pub db: &'a Database,
    pub storage: &'a Storage,
}

/// How many expired uploads one query fetches.
const BATCH: i64 = 500;

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub grace: Duration,
    pub delete_orphans: bool,
    pub now: DateTime<Utc>,
}

impl SweepOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            grace: config.sweep_grace,
            delete_orphans: config.sweep_delete_orphans,
            now: Utc::now(),
        }
    }
}

/// What one sweep found and did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub expired_uploads_removed: usize,
    pub stray_temp_objects_removed: usize,
    pub objects_checked: usize,
    pub orphan_objects: Vec<String>,
    pub orphan_objects_deleted: usize,
    pub rows_missing_their_object: Vec<String>,
    /// Keys of recorded preview variants whose object was gone; their records are forgotten.
    pub preview_records_forgotten: Vec<String>,
    /// Ids of live zones with no live file (current shape only).
    pub orphan_zones: Vec<String>,
    pub orphan_zones_deleted: usize,
    /// Resumable uploads aborted: expired ones, and those S3 held without a row.
    pub expired_multipart_uploads_aborted: usize,
}

pub async fn run(
    state: &SweepTarget<'_>,
    options: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport {
        expired_uploads_removed: remove_expired_uploads(state, options.now).await?,
        ..SweepReport::default()
    };
    let cutoff = options.now - options.grace;
    report.stray_temp_objects_removed = remove_stray_temp_objects(state, cutoff).await?;
    report.expired_multipart_uploads_aborted = abort_expired_multipart_uploads(state, options.now)
        .await?
        + abort_unrecorded_multipart_uploads(state, cutoff).await?;
    check_event_objects(state, options, cutoff, &mut report).await?;
    check_zones(state, options, cutoff, &mut report).await?;
    tracing::info!(
        expired_uploads_removed = report.expired_uploads_removed,
        stray_temp_objects_removed = report.stray_temp_objects_removed,
        objects_checked = report.objects_checked,
        orphan_objects = report.orphan_objects.len(),
        orphan_objects_deleted = report.orphan_objects_deleted,
        rows_missing_their_object = report.rows_missing_their_object.len(),
        preview_records_forgotten = report.preview_records_forgotten.len(),
        orphan_zones = report.orphan_zones.len(),
        orphan_zones_deleted = report.orphan_zones_deleted,
        expired_multipart_uploads_aborted = report.expired_multipart_uploads_aborted,
        "sweep finished"
    );
    Ok(report)
}

async fn remove_expired_uploads(
    state: &SweepTarget<'_>,
    now: DateTime<Utc>,
) -> Result<usize, SweepError> {
    let client = state.db.get().await?;
    let mut removed = 0;
    loop {
        let batch = pending_uploads::expired(&client, now, BATCH).await?;
        if batch.is_empty() {
            return Ok(removed);
        }
        for upload in batch {
            // Object first: a failure leaves the row, so the next sweep tries again.
            state.storage.delete(&upload.temp_key).await?;
            pending_uploads::delete(&client, upload.id).await?;
            removed += 1;
        }
    }
}

/// Expired resumable uploads, each under its row lock (one a complete holds is skipped: it
/// finishes it or fails it): S3's upload first, then an object S3 may have assembled for it,
/// then the row, so a failure leaves the row for the next sweep.
async fn abort_expired_multipart_uploads(
    state: &SweepTarget<'_>,
    now: DateTime<Utc>,
) -> Result<usize, SweepError> {
    let mut client = state.db.get().await?;
    let mut aborted = 0;
    loop {
        let tx = client.transaction().await.map_err(DbError::from)?;
        let batch = multipart_uploads::lock_expired(&tx, now, BATCH).await?;
        if batch.is_empty() {
            return Ok(aborted);
        }
        for upload in batch {
            state
                .storage
                .abort_multipart(&upload.s3_key, &upload.s3_upload_id)
                .await?;
            if !multipart_uploads::key_is_recorded(&tx, &upload.s3_key).await? {
                state.storage.delete(&upload.s3_key).await?;
            }
            multipart_uploads::delete(&tx, upload.id).await?;
            aborted += 1;
        }
        tx.commit().await.map_err(DbError::from)?;
    }
}

/// Multipart uploads S3 holds under `events/` that no row accounts for, once older than the
/// grace period (a create between S3's start and its row insert is younger).
async fn abort_unrecorded_multipart_uploads(
    state: &SweepTarget<'_>,
    cutoff: DateTime<Utc>,
) -> Result<usize, SweepError> {
    let listed = state.storage.list_multipart_uploads("events/").await?;
    // Rows are read after the listing: an upload recorded in between is known.
    let recorded: HashSet<String> = {
        let client = state.db.get().await?;
        multipart_uploads::open(&client)
            .await?
            .into_iter()
            .map(|(upload_id, _)| upload_id)
            .collect()
    };
    let mut aborted = 0;
    for upload in listed {
        if !recorded.contains(&upload.upload_id) && is_older(upload.initiated, cutoff) {
            state
                .storage
                .abort_multipart(&upload.key, &upload.upload_id)
                .await?;
            aborted += 1;
        }
    }
    Ok(aborted)
}

async fn remove_stray_temp_objects(
    state: &SweepTarget<'_>,
    cutoff: DateTime<Utc>,
) -> Result<usize, SweepError> {
    let owned: HashSet<String> = {
        let client = state.db.get().await?;
        pending_uploads::temp_keys(&client)
            .await?
            .into_iter()
            .collect()
    };
    let mut removed = 0;
    for object in state.storage.list("temp/").await? {
        if !owned.contains(&object.key) && is_older(object.last_modified, cutoff) {
            state.storage.delete(&object.key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

async fn check_event_objects(
    state: &SweepTarget<'_>,
    options: &SweepOptions,
    cutoff: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    let objects = state.storage.list("events/").await?;
    // Rows are read after the listing: a row inserted in between points at an object listed
    // already, never the other way round.
    let (live, live_media, assembling): (HashSet<String>, HashSet<Uuid>, HashSet<String>) = {
        let client = state.db.get().await?;
        let keys = media::live_keys(&client).await?.into_iter().collect();
        let ids = media::live_ids(&client).await?.into_iter().collect();
        // An object S3 assembled for a resumable upload that is not recorded yet (a complete
        // in flight, or one to retry): the upload's expiry decides, not the object's age.
        let assembling = multipart_uploads::open(&client)
            .await?
            .into_iter()
            .map(|(_, key)| key)
            .collect();
        (keys, ids, assembling)
    };
    report.objects_checked = objects.len();
    let listed: HashSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let accounted_for = |key: &str| match keys::preview_media_id(key) {
        Some(media_id) => live_media.contains(&media_id),
        None => live.contains(key) || assembling.contains(key),
    };
    for object in &objects {
        if !accounted_for(&object.key) && is_older(object.last_modified, cutoff) {
            report.orphan_objects.push(object.key.clone());
        }
    }
    if options.delete_orphans {
        for key in &report.orphan_objects {
            state.storage.delete(key).await?;
            report.orphan_objects_deleted += 1;
        }
    }
    let mut missing: Vec<String> = live
        .into_iter()
        .filter(|k| !listed.contains(k.as_str()))
        .collect();
    missing.sort();
    report.rows_missing_their_object = missing;
    report.preview_records_forgotten = forget_missing_variants(state, &listed, cutoff).await?;
    Ok(())
}

/// Recorded preview variants whose object the listing lacks (deleted by hand, or lost): their
/// records go, or preview-media would keep redirecting to a 404. Only records older than the
/// grace period are read, so a variant stored after the listing is never among them.
async fn forget_missing_variants(
    state: &SweepTarget<'_>,
    listed: &HashSet<&str>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, SweepError> {
    let client = state.db.get().await?;
    let mut forgotten = Vec::new();
    for variant in media::recorded_preview_variants(&client, cutoff).await? {
        let Some(size) = PreviewSize::from_name(&variant.size) else {
            continue;
        };
        let key = keys::preview_key(variant.event_id, variant.media_id, size);
        if !listed.contains(key.as_str())
            && media::forget_preview_variant(&client, &variant, cutoff).await?
        {
            forgotten.push(key.to_string());
        }
    }
    forgotten.sort();
    Ok(forgotten)
}

/// Live zones with no live file: reported, and soft-deleted when configured to. Each one is
/// checked again under its row lock before it is retired, so one that a file reached since the
/// listing stays (and is no longer reported).
async fn check_zones(
    state: &SweepTarget<'_>,
    options: &SweepOptions,
    cutoff: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    let mut client = state.db.get().await?;
    if state.db.shape(&client).await? == Shape::Seed {
        return Ok(());
    }
    let orphans = zones::orphans(&client, cutoff, options.now).await?;
    for zone_id in orphans {
        if options.delete_orphans {
            if !zones::retire_orphan(&mut client, zone_id, cutoff, options.now).await? {
                continue;
            }
            report.orphan_zones_deleted += 1;
        }
        report.orphan_zones.push(zone_id.to_string());
    }
    Ok(())
}

/// Objects without a date are treated as old: they cannot be in flight.
fn is_older(modified: Option<DateTime<Utc>>, cutoff: DateTime<Utc>) -> bool {
    modified.is_none_or(|m| m < cutoff)
}
