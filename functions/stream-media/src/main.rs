//! `stream-media`: Redirects to a presigned URL for streaming. The endpoint is
//! `Endpoint::StreamMedia` in `shared::endpoint`; its handler is in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::endpoint::Endpoint::StreamMedia).await
}
