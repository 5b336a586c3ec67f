//! One endpoint called in-process through the path Lambda takes: the shared adapter
//! (`shared::http::serve`) around the endpoint's handler, on a `lambda_http::Request`.

use lambda_http::{Body, Request, Response};
use shared::{AppState, api};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Upload,
    List,
    Get,
    Download,
    Stream,
    Delete,
    CreateUpload,
    CompleteUpload,
}

impl Endpoint {
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Upload,
        Endpoint::List,
        Endpoint::Get,
        Endpoint::Download,
        Endpoint::Stream,
        Endpoint::Delete,
        Endpoint::CreateUpload,
        Endpoint::CompleteUpload,
    ];

    /// The fixture (`events/<function>/<case>.json`) that calls this endpoint.
    pub fn fixture(self) -> (&'static str, &'static str) {
        match self {
            Endpoint::Upload => ("upload-media", "upload-photo"),
            Endpoint::List => ("list-media", "list-all"),
            Endpoint::Get => ("get-media", "get-one"),
            Endpoint::Download => ("download-media", "download"),
            Endpoint::Stream => ("stream-media", "stream"),
            Endpoint::Delete => ("delete-media", "delete"),
            Endpoint::CreateUpload => ("create-upload", "create-video-upload"),
            Endpoint::CompleteUpload => ("complete-upload", "complete"),
        }
    }
}

/// The response the function of `endpoint` gives `request` with `state`.
pub async fn serve(state: &AppState, endpoint: Endpoint, request: Request) -> Response<Body> {
    shared::http::serve(request, |request| async move {
        match endpoint {
            Endpoint::Upload => api::upload::handle(state, request).await,
            Endpoint::List => api::list::handle(state, request).await,
            Endpoint::Get => api::get::handle(state, request).await,
            Endpoint::Download => api::download::handle(state, request).await,
            Endpoint::Stream => api::stream::handle(state, request).await,
            Endpoint::Delete => api::delete::handle(state, request).await,
            Endpoint::CreateUpload => api::create_upload::handle(state, request).await,
            Endpoint::CompleteUpload => api::complete_upload::handle(state, request).await,
        }
    })
    .await
    .expect("the adapter never returns Err")
}
