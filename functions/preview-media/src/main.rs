//! `preview-media`: Answers an image's signed preview URL with a 302 to its JPEG preview,
//! making it first if needed. The endpoint is `Endpoint::PreviewMedia` in `shared::endpoint`;
//! its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::PreviewMedia, entry::preview_media).await
}
