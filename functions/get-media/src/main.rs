//! `get-media`: Returns one media item's metadata. The logic lives in `shared::api::get`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{ReadState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves; it reads the database
    // only, so no S3 client is built.
    let state: &'static ReadState = Box::leak(Box::new(ReadState::from_env().await?));
    http::run(move |request| api::get::handle(&state.auth, &state.db, request)).await
}
