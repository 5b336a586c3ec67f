//! `POST /api/v1/events/{event_id}/media`: store the files, then their rows.
//!
//! Everything that can be refused is refused before the first byte reaches S3. Each object is
//! written under a new key that is never overwritten; if its row cannot be inserted the
//! object is deleted again, so no object outlives a failed file.
//!
//! One file (`file`, or a single `files`) answers its media JSON, or the error, as always.
//! Several answer the batch shape ([`super::batch`]): on the current shape they share one new
//! zone holding the form's metadata; on the seed era each row holds that metadata itself.

use uuid::Uuid;

use super::batch::{BatchZone, Destination, Metadata, store_all, store_file};
use super::extract::{Input, OwnedEvent};
use super::{MediaJson, upload_form};
use crate::AppState;
use crate::db::media::Zone;
use crate::edge::{ApiResult, json_response};

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, event: OwnedEvent, input: Input) -> ApiResult {
    let OwnedEvent {
        user,
        event_id,
        client,
        shape,
        links,
        ..
    } = event;
    let form = upload_form::read(input.into_request()).await?;
    let to = Destination {
        state,
        event_id,
        user_id: user.id,
        client: &client,
        shape,
        links: &links,
    };
    let zone_id = Uuid::new_v4();
    if let [file] = form.files.as_slice() {
        let tags = form.tags.join(", ");
        let metadata = Metadata {
            title: form.title.as_deref(),
            description: form.description.as_deref(),
            tags: &tags,
        };
        let row = store_file(&to, file, metadata, Zone::Own(zone_id)).await?;
        return Ok(json_response(201, &MediaJson::new(row, &links)));
    }
    let batch = store_all(&to, &form, BatchZone::New(zone_id)).await?;
    tracing::info!(%event_id, stored = batch.total_successful, failed = batch.total_failed, "batch uploaded");
    Ok(json_response(201, &batch))
}
