//! `list-zones`: Lists an event's media grouped by zone (album). The endpoint is `Endpoint::ListZones` in
//! `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::ListZones, entry::list_zones).await
}
