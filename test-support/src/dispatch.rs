//! One endpoint called in-process through the path Lambda takes: the shared adapter
//! (`shared::edge::serve_endpoint`, which also writes the request's metrics line) around the registry's dispatch, on a `lambda_http::Request`, with
//! the state narrowed to what the endpoint's registry entry declares.

use lambda_http::{Body, Request, Response};
use shared::AppState;
pub use shared::endpoint::Endpoint;

/// The registry's fixture of `endpoint`: (function folder, case) of
/// `events/<function>/<case>.json`.
pub fn fixture_of(endpoint: Endpoint) -> (&'static str, &'static str) {
    let spec = endpoint.spec();
    (spec.name, spec.fixture)
}

/// The response the function of `endpoint` gives `request` with `state`.
pub async fn serve(state: &AppState, endpoint: Endpoint, request: Request) -> Response<Body> {
    let state = state.narrowed_to(&endpoint.spec());
    let name = endpoint.spec().name;
    shared::edge::serve_endpoint(name, request, |request| endpoint.handle(&state, request))
        .await
        .expect("the adapter never returns Err")
}
