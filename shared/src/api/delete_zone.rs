//! `DELETE /api/v1/events/{event_id}/media/zones/{zone_id}`: the zone's files, each as
//! delete-media deletes one (the object, then the row), then the zone itself, soft-deleted as
//! The Plugs does (`is_deleted`, `deleted_at`). 204; the zone is then not found.
//!
//! File by file, object before row: a failure midway (S3 refusing, the database gone) leaves
//! the zone with fewer files, each row still with its object, and the client sees the error;
//! deleting again finishes the job. Objects are deleted a few at a time, concurrently, so an
//! album of hundreds of files is gone well within the function's timeout.

use futures_util::future::join_all;

use uuid::Uuid;

use super::extract::OwnedZone;
use super::publish::remove_objects;
use crate::AppState;
use crate::db::media;
use crate::db::shape::Shape;
use crate::db::zones::{self, StoredFile};
use crate::edge::{ApiResult, empty_response};
use crate::error::ApiError;

/// Files read from the database at a time.
const FILES_PER_ROUND: i64 = 100;
/// Objects deleted at once.
const CONCURRENT_DELETES: usize = 16;

#[tracing::instrument(skip_all, fields(zone_id = %zone.row.id))]
pub async fn handle(state: &AppState, zone: OwnedZone) -> ApiResult {
    let OwnedZone {
        row,
        mut client,
        shape,
        ..
    } = zone;
    let mut deleted = 0;
    loop {
        let files = zones::stored_files(&client, shape, row.id, FILES_PER_ROUND).await?;
        if files.is_empty() {
            // A file added while the others went keeps the zone live: one more round.
            if zones::retire_emptied(&client, shape, row.id).await? {
                break;
            }
            continue;
        }
        deleted += files.len();
        delete_files(state, &mut client, shape, row.event_id, &files).await?;
    }
    tracing::info!(event_id = %row.event_id, files = deleted, "zone deleted");
    Ok(empty_response(204))
}

/// Each file's object, then its row; the rows of the objects that went are removed even when
/// another object's delete failed, and that failure is the answer.
async fn delete_files(
    state: &AppState,
    client: &mut deadpool_postgres::Client,
    shape: Shape,
    event_id: Uuid,
    files: &[StoredFile],
) -> Result<(), ApiError> {
    for batch in files.chunks(CONCURRENT_DELETES) {
        let outcomes = join_all(
            batch
                .iter()
                .map(|file| delete_object(state, event_id, file)),
        )
        .await;
        let mut failure = None;
        for (file, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    media::delete(client, shape, file.id).await?;
                }
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
    }
    Ok(())
}

async fn delete_object(
    state: &AppState,
    event_id: Uuid,
    file: &StoredFile,
) -> Result<(), ApiError> {
    remove_objects(state, event_id, file.id, file.s3_key.as_deref()).await
}
