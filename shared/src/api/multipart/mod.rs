//! Resumable uploads (S3 multipart), under `/api/v1/events/{event_id}/media/multipart`: the
//! five steps Uppy's `@uppy/aws-s3` multipart mode calls (create, sign parts, list parts,
//! complete, abort), one handler module each. This module holds what they share: how a file
//! is cut into parts, and the open upload a request names.
//!
//! The upload is started at the object's final `events/…` key, so S3 assembles the file where
//! it stays: complete copies nothing, and its cost does not grow with the file (a listing of
//! the parts, S3's complete, a HEAD, the 8 KiB type check and the analysis' bounded reads).

pub mod abort;
pub mod complete;
pub mod create;
pub mod list_parts;
pub mod sign_parts;

use chrono::Utc;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use super::announce::whole;
use crate::AppState;
use crate::db::Unnamed;
use crate::db::multipart_uploads::{self, MultipartUpload};
use crate::error::ApiError;

/// S3's smallest part (all but the last).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;

/// The most parts one sign request may ask for (its answer stays far below Lambda's 6 MB).
pub const MAX_PARTS_PER_SIGNING: usize = 100;

/// How long a resumable upload stays open: a day to send 20 GiB, pausing and resuming. The
/// sweep aborts it after that; the bucket's lifecycle rule (2 days) is the backstop.
pub const UPLOAD_TTL: chrono::Duration = chrono::Duration::hours(24);

/// How a file is cut: every part `part_size` bytes but the last, which holds the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub file_size: u64,
    pub part_size: u64,
}

impl PartPlan {
    /// The server's choice for a file: whole MiB, at least S3's 5 MiB, and few enough parts
    /// for S3's 10,000.
    pub fn for_file(file_size: u64) -> Self {
        const MIB: u64 = 1024 * 1024;
        let smallest = file_size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
        Self {
            file_size,
            part_size: smallest.max(MIN_PART_BYTES),
        }
    }

    fn of(upload: &MultipartUpload) -> Self {
        Self {
            file_size: upload.file_size as u64,
            part_size: upload.part_size as u64,
        }
    }

    pub fn part_count(&self) -> i32 {
        self.file_size.div_ceil(self.part_size) as i32
    }

    /// The exact length of part `number` (1-based), or `None` outside the plan.
    pub fn part_length(&self, number: i32) -> Option<u64> {
        if number < 1 || number > self.part_count() {
            return None;
        }
        let before = (number as u64 - 1) * self.part_size;
        Some(self.part_size.min(self.file_size - before))
    }
}

/// The open upload `upload_id` of the event (already checked to be the caller's): 404
/// `UPLOAD_NOT_FOUND` when there is none, it is another event's, or it has expired.
async fn open_upload(
    client: &impl Unnamed,
    event_id: Uuid,
    upload_id: Uuid,
) -> Result<(MultipartUpload, PartPlan), ApiError> {
    match multipart_uploads::find(client, event_id, upload_id).await? {
        Some(upload) if upload.expires_at > Utc::now() => {
            let plan = PartPlan::of(&upload);
            Ok((upload, plan))
        }
        _ => Err(ApiError::UploadNotFound),
    }
}

/// A part number of the body, within the upload's plan.
fn check_part_number(plan: &PartPlan, number: i32, at: &[&str]) -> Result<(), ApiError> {
    if plan.part_length(number).is_none() {
        return Err(ApiError::validation(
            at,
            format!(
                "part numbers go from 1 to {} for this upload",
                plan.part_count()
            ),
        ));
    }
    Ok(())
}

/// A part number as openapi.yaml's `integer` promises it, JSON Schema's: `3` or `3.0`.
fn part_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    to_part_number(&serde_json::Number::deserialize(deserializer)?)
}

/// A list of [`part_number`]s.
fn part_numbers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i32>, D::Error> {
    Vec::<serde_json::Number>::deserialize(deserializer)?
        .iter()
        .map(to_part_number)
        .collect()
}

fn to_part_number<E: serde::de::Error>(number: &serde_json::Number) -> Result<i32, E> {
    whole(number)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| E::custom(format!("part number {number} is not a whole number")))
}

/// Aborts the upload in S3 and deletes its row in `tx` (the caller commits). The object at
/// its key goes too when it is the upload's own, assembled by a complete that could not
/// record it, but never when a media row records that key: then it is another upload path's
/// file that landed on the same key, and it is left alone.
pub(crate) async fn forget(
    state: &AppState,
    open: &MultipartUpload,
    tx: &impl Unnamed,
) -> Result<(), ApiError> {
    forget_upload(state, open, tx).await?;
    if !multipart_uploads::key_is_recorded(tx, &open.s3_key).await? {
        state
            .storage()
            .delete(&open.s3_key)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(())
}

/// Aborts the upload in S3 and deletes its row in `tx`, leaving any object at its key.
pub(crate) async fn forget_upload(
    state: &AppState,
    open: &MultipartUpload,
    tx: &impl Unnamed,
) -> Result<(), ApiError> {
    state
        .storage()
        .abort_multipart(&open.s3_key, &open.s3_upload_id)
        .await
        .map_err(ApiError::from)?;
    multipart_uploads::delete(tx, open.id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_numbers_are_whole_numbers_also_written_with_a_zero_fraction() {
        let read = |text: &str| part_numbers(&mut serde_json::Deserializer::from_str(text));
        assert_eq!(read("[1, 2.0, 10000]").unwrap(), [1, 2, 10000]);
        for bad in ["[1.5]", "[\"2\"]", "[1e20]"] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let one = part_number(&mut serde_json::Deserializer::from_str("3.0")).unwrap();
        assert_eq!(one, 3);
    }

    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * MIB;

    #[test]
    fn small_files_get_five_mib_parts_and_a_shorter_last_one() {
        let plan = PartPlan::for_file(12 * MIB + 1);
        assert_eq!(plan.part_size, 5 * MIB);
        assert_eq!(plan.part_count(), 3);
        assert_eq!(plan.part_length(1), Some(5 * MIB));
        assert_eq!(plan.part_length(3), Some(2 * MIB + 1));
        assert_eq!(plan.part_length(0), None);
        assert_eq!(plan.part_length(4), None);
        let tiny = PartPlan::for_file(1);
        assert_eq!((tiny.part_count(), tiny.part_length(1)), (1, Some(1)));
    }

    #[test]
    fn no_file_up_to_s3s_largest_object_needs_more_than_ten_thousand_parts() {
        for size in [
            1,
            5 * MIB,
            50 * GIB - 1,
            20 * GIB,
            48_828_125 * 1024,
            crate::config::S3_MAX_OBJECT_BYTES,
        ] {
            let plan = PartPlan::for_file(size);
            assert!(plan.part_size >= MIN_PART_BYTES, "{size}");
            assert!(plan.part_size.is_multiple_of(MIB), "{size}");
            assert!(plan.part_count() as u64 <= MAX_PARTS, "{size}");
            let lengths: u64 = (1..=plan.part_count())
                .map(|n| plan.part_length(n).unwrap())
                .sum();
            assert_eq!(lengths, size);
        }
        assert_eq!(PartPlan::for_file(20 * GIB).part_count(), 4096);
    }
}
