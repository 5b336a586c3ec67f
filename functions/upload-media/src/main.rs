//! `upload-media`: Stores an uploaded file in S3 and records it. The endpoint is
//! `Endpoint::UploadMedia` in `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::UploadMedia, entry::upload_media).await
}
