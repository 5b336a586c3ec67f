//! `create-upload`: Starts a direct-to-S3 upload (a presigned PUT bound to the declared file). The logic lives in `shared::api::create_upload`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{AppState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env().await?));
    http::run(move |request| api::create_upload::handle(state, request)).await
}
