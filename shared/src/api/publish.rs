//! Shared by the two ways a file is published (the form upload and a direct upload's
//! complete): writing it at a free `events/` key, and taking it back when its row cannot be
//! recorded; and removing a media item's objects (delete-media, delete-zone).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::keys::{self, S3Key, event_media_key, next_instant};
use crate::preview::PreviewSize;
use crate::storage::StorageError;

/// How many neighbouring keys to try when a key is taken (only writes to the same event in
/// the same microsecond collide).
const KEY_ATTEMPTS: usize = 5;

/// Runs `write` with the event's key for `start`, then for the following microseconds, until
/// a write finds its key free (`write` must refuse to overwrite); returns the key and the
/// instant that named it.
pub(super) async fn write_at_free_key<F, Fut>(
    event_id: Uuid,
    start: DateTime<Utc>,
    extension: &str,
    mut write: F,
) -> Result<(S3Key, DateTime<Utc>), ApiError>
where
    F: FnMut(S3Key) -> Fut,
    Fut: std::future::Future<Output = Result<(), StorageError>>,
{
    let mut at = start;
    for _ in 0..KEY_ATTEMPTS {
        let key = event_media_key(event_id, at, extension);
        match write(key.clone()).await {
            Ok(()) => return Ok((key, at)),
            Err(StorageError::AlreadyExists) => at = next_instant(at),
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::from(StorageError::Other(format!(
        "no free key after {KEY_ATTEMPTS} attempts"
    ))))
}

/// Best effort: the request already failed; a leftover object is logged for the sweep.
pub(super) async fn remove_orphan(state: &AppState, key: &S3Key) {
    if let Err(err) = state.storage().delete(key.as_str()).await {
        tracing::error!(key = %key, error = %err, "could not remove the object of a failed upload");
    }
}

/// Removes a media item's objects before its row: the preview variants first (they are made
/// again from the original, never the other way round), then the original. Deleting a
/// variant that was never made succeeds, as S3 deletes do.
pub(super) async fn remove_objects(
    state: &AppState,
    event_id: Uuid,
    media_id: Uuid,
    original: Option<&str>,
) -> Result<(), ApiError> {
    let storage = state.storage();
    let variants = PreviewSize::ALL.map(|size| keys::preview_key(event_id, media_id, size));
    futures_util::future::try_join_all(variants.iter().map(|key| storage.delete(key.as_str())))
        .await?;
    if let Some(key) = original {
        storage.delete(key).await?;
    }
    Ok(())
}
