//! `add-zone-files`: Stores more files in an existing zone (album). The endpoint is
//! `Endpoint::AddZoneFiles` in `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::AddZoneFiles, entry::add_zone_files).await
}
