//! A function's whole `main`: logging, the state its registry entry declares (built once per
//! container, shared by every request it serves), then the Lambda runtime loop.

use crate::endpoint::Endpoint;
use crate::{AppState, edge, telemetry};

/// Serves `endpoint` on the Lambda runtime until the container is stopped.
pub async fn serve(endpoint: Endpoint) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let spec = endpoint.spec();
    let state: &'static AppState = Box::leak(Box::new(AppState::for_function(&spec).await?));
    edge::run(move |request| endpoint.handle(state, request)).await
}
