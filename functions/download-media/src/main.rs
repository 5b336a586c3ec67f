//! `download-media`: Downloads a media file (bytes, or a redirect to S3). The endpoint is
//! `Endpoint::DownloadMedia` in `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::DownloadMedia, entry::download_media).await
}
