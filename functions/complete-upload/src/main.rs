//! `complete-upload`: Checks a direct upload's object and records it as media. The logic lives in `shared::api::complete_upload`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{AppState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env().await?));
    http::run(move |request| api::complete_upload::handle(state, request)).await
}
