//! `GET /api/v1/events/{event_id}/media/{media_id}`: one item's metadata.

use lambda_http::Request;

use super::{MediaJson, owned_media, routes};
use crate::auth::Authenticator;
use crate::db::Database;
use crate::http::{ApiResult, json_response};

/// Reads the database only: it is given no S3 client.
#[tracing::instrument(skip_all)]
pub async fn handle(auth: &Authenticator, db: &Database, request: Request) -> ApiResult {
    let (row, _client) = owned_media(auth, db, &request, routes::MEDIA_ITEM).await?;
    Ok(json_response(200, &MediaJson::from(row)))
}
