//! A function's whole `main`: logging, the state its registry entry declares (built once per
//! container, shared by every request it serves), then the Lambda runtime loop.

use std::future::Future;

use lambda_http::Request;

use crate::edge::{self, ApiResult};
use crate::endpoint::Endpoint;
use crate::{AppState, telemetry};

/// Serves `endpoint` on the Lambda runtime until the container is stopped, each request
/// through `entry`, the endpoint's own entry point (`shared::endpoint::entry`), so the binary
/// links only that handler. deploy-checks checks that each `main.rs` pairs the two.
pub async fn serve<F, Fut>(endpoint: Endpoint, entry: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static AppState, Request) -> Fut + Send + Sync,
    Fut: Future<Output = ApiResult> + Send,
{
    telemetry::init();
    let spec = endpoint.spec();
    let state: &'static AppState = Box::leak(Box::new(AppState::for_function(&spec).await?));
    edge::run(move |request| entry(state, request)).await
}
