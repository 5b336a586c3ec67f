//! `delete-zone`: Deletes a zone (album): its files' objects and rows, then the zone. The endpoint is `Endpoint::DeleteZone` in
//! `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::DeleteZone, entry::delete_zone).await
}
