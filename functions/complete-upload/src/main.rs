//! `complete-upload`: Checks a direct upload's object and records it as media. The endpoint is
//! `Endpoint::CompleteUpload` in `shared::endpoint`; its handler is in `shared::api`.

use shared::endpoint::{Endpoint, entry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve!(Endpoint::CompleteUpload, entry::complete_upload).await
}
