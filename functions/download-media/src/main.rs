//! `download-media`: Downloads a media file (bytes, or a redirect to S3). The logic lives in `shared::api::download`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{AppState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env().await?));
    http::run(move |request| api::download::handle(state, request)).await
}
