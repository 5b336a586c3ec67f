//! `get-media`: Returns one media item's metadata. The endpoint is `Endpoint::GetMedia` in
//! `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::GetMedia, entry::get_media).await
}
