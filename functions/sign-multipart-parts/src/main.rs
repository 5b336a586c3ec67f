//! `sign-multipart-parts`: Signs a resumable upload's part PUTs. The endpoint is
//! `Endpoint::SignMultipartParts` in `shared::endpoint`; its handler is in `shared::api::multipart`.

use shared::endpoint::{Endpoint, entry};

// One line, as deploy-checks reads it.
#[rustfmt::skip]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::SignMultipartParts, entry::sign_multipart_parts).await
}
