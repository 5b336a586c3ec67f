//! `get-zone`: Returns one zone (album) with its files. The endpoint is `Endpoint::GetZone` in
//! `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::GetZone, entry::get_zone).await
}
