//! `list-media`: Lists an event's media. The logic lives in `shared::api::list`; this binary
//! only wires it to the Lambda runtime.

use lambda_http::Error;
use shared::{ReadState, api, http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Built once per container, shared by every request it serves; it reads the database
    // only, so no S3 client is built.
    let state: &'static ReadState = Box::leak(Box::new(ReadState::from_env().await?));
    http::run(move |request| api::list::handle(&state.auth, &state.db, request)).await
}
