//! A function's whole `main`: logging, the state its registry entry declares (built once per
//! container, shared by every request it serves), then the Lambda runtime loop.

use std::future::Future;

use lambda_http::Request;

use crate::edge::{self, ApiResult};
use crate::endpoint::Endpoint;
use crate::{AppState, MakeS3Client, S3Client, telemetry};

/// A function's `main`: `shared::serve!(Endpoint::GetMedia, entry::get_media).await` serves
/// the endpoint through its own entry point (`shared::endpoint::entry`), so the binary links
/// only that handler, and with the S3 client choice of its registry entry made at compile
/// time, so a function without one links no S3 client code. deploy-checks checks that each
/// `main.rs` pairs the endpoint with its entry point.
#[macro_export]
macro_rules! serve {
    ($endpoint:expr, $entry:expr $(,)?) => {
        $crate::lambda::serve::<{ $endpoint.spec().builds_s3_client() }, _, _>($endpoint, $entry)
    };
}

/// Serves `endpoint` on the Lambda runtime until the container is stopped, each request
/// through `entry`. `S3_CLIENT` is the endpoint's `builds_s3_client()`: call it through
/// [`serve!`](crate::serve!), which evaluates it at compile time.
pub async fn serve<const S3_CLIENT: bool, F, Fut>(
    endpoint: Endpoint,
    entry: F,
) -> Result<(), lambda_http::Error>
where
    S3Client<S3_CLIENT>: MakeS3Client,
    F: Fn(&'static AppState, Request) -> Fut + Send + Sync,
    Fut: Future<Output = ApiResult> + Send,
{
    telemetry::init();
    let spec = endpoint.spec();
    let state = AppState::for_function::<S3_CLIENT>(&spec).await?;
    let state: &'static AppState = Box::leak(Box::new(state));
    edge::run(spec.name, move |request| entry(state, request)).await
}
