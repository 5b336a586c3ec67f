//! `get-media`: Returns one media item's metadata. The logic lives in `shared::api::get`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{AppState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env().await?));
    http::run(move |request| api::get::handle(state, request)).await
}
