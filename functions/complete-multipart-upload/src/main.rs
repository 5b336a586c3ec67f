//! `complete-multipart-upload`: Assembles a resumable upload in S3, checks it and records it as media. The endpoint is
//! `Endpoint::CompleteMultipartUpload` in `shared::endpoint`; its handler is in `shared::api::multipart`.

use shared::endpoint::{Endpoint, entry};

// One line, as deploy-checks reads it.
#[rustfmt::skip]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::CompleteMultipartUpload, entry::complete_multipart_upload).await
}
