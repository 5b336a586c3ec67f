//! `stream-media`: Redirects to a presigned URL for streaming. The endpoint is
//! `Endpoint::StreamMedia` in `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::StreamMedia, entry::stream_media).await
}
