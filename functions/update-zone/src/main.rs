//! `update-zone`: Edits a zone's (album's) title, description and tags. The endpoint is `Endpoint::UpdateZone` in
//! `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::UpdateZone, entry::update_zone).await
}
