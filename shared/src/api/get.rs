//! `GET /api/v1/events/{event_id}/media/{media_id}`: one item's metadata.

use lambda_http::Request;

use super::{MediaJson, owned_media, routes};
use crate::AppState;
use crate::http::{ApiResult, json_response};

#[tracing::instrument(skip_all)]
pub async fn handle(state: &AppState, request: Request) -> ApiResult {
    let (row, _client) = owned_media(state, &request, routes::MEDIA_ITEM).await?;
    Ok(json_response(200, &MediaJson::from(row)))
}
