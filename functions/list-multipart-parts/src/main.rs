//! `list-multipart-parts`: Lists the parts S3 holds for a resumable upload. The endpoint is
//! `Endpoint::ListMultipartParts` in `shared::endpoint`; its handler is in `shared::api::multipart`.

use shared::endpoint::{Endpoint, entry};

// One line, as deploy-checks reads it.
#[rustfmt::skip]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::ListMultipartParts, entry::list_multipart_parts).await
}
