//! `delete-media`: Deletes a media file from S3 and the database. The endpoint is
//! `Endpoint::DeleteMedia` in `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::DeleteMedia, entry::delete_media).await
}
