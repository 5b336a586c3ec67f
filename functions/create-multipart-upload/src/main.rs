//! `create-multipart-upload`: Starts a resumable (S3 multipart) upload. The endpoint is
//! `Endpoint::CreateMultipartUpload` in `shared::endpoint`; its handler is in `shared::api::multipart`.

use shared::endpoint::{Endpoint, entry};

// One line, as deploy-checks reads it.
#[rustfmt::skip]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::CreateMultipartUpload, entry::create_multipart_upload).await
}
