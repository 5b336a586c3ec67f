//! `create-upload`: Starts a direct-to-S3 upload (a presigned PUT bound to the declared file).
//! The endpoint is `Endpoint::CreateUpload` in `shared::endpoint`; its handler is in
//! `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::CreateUpload, entry::create_upload).await
}
