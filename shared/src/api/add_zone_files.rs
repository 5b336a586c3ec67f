//! `POST /api/v1/events/{event_id}/media/zones/{zone_id}/files`: more files into an existing
//! zone (album). The form is `upload-media`'s; the files take the zone's title, description
//! and tags, so a form that sends any of those is refused (change them on the zone itself).
//! The answer is always the batch shape ([`super::batch`]), for one file too.
//!
//! Each row joins the zone under the zone's row lock: a zone deleted meanwhile answers 404
//! `ZONE_NOT_FOUND`, and the file being stored then leaves no object. On the seed-era schema
//! a zone is one media item and cannot hold more: 409 `ZONES_UNAVAILABLE`.

use super::batch::{BatchZone, Destination, store_all};
use super::extract::{Input, OwnedZone};
use super::upload_form;
use crate::AppState;
use crate::db::shape::Shape;
use crate::edge::{ApiResult, json_response};
use crate::error::ApiError;

#[tracing::instrument(skip_all, fields(zone_id = %zone.row.id))]
pub async fn handle(state: &AppState, zone: OwnedZone, input: Input) -> ApiResult {
    let OwnedZone {
        user,
        row,
        client,
        shape,
        links,
        ..
    } = zone;
    if shape == Shape::Seed {
        return Err(ApiError::ZonesUnavailable);
    }
    let form = upload_form::read(input.into_request()).await?;
    if let Some(part) = form.metadata_parts.first() {
        return Err(ApiError::validation(
            &["body", part],
            "the files take the zone's title, description and tags: send none of them here \
             (change them on the zone itself)",
        ));
    }
    let to = Destination {
        state,
        event_id: row.event_id,
        user_id: user.id,
        client: &client,
        shape,
        links: &links,
    };
    let batch = store_all(&to, &form, BatchZone::Existing(row.id)).await?;
    tracing::info!(event_id = %row.event_id, stored = batch.total_successful, failed = batch.total_failed, "files added to a zone");
    Ok(json_response(201, &batch))
}
