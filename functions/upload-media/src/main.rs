//! `upload-media`: Stores an uploaded file in S3 and records it. The logic lives in `shared::api::upload`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{AppState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env().await?));
    http::run(move |request| api::upload::handle(state, request)).await
}
