//! `abort-multipart-upload`: Aborts a resumable upload and forgets it. The endpoint is
//! `Endpoint::AbortMultipartUpload` in `shared::endpoint`; its handler is in `shared::api::multipart`.

use shared::endpoint::{Endpoint, entry};

// One line, as deploy-checks reads it.
#[rustfmt::skip]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::AbortMultipartUpload, entry::abort_multipart_upload).await
}
