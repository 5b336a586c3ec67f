//! `list-media`: Lists an event's media. The endpoint is `Endpoint::ListMedia` in
//! `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::ListMedia, entry::list_media).await
}
