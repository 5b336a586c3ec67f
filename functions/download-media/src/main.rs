//! `download-media`: Downloads a media file (bytes, or a redirect to S3). The endpoint is
//! `Endpoint::DownloadMedia` in `shared::endpoint`; its handler is in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::endpoint::Endpoint::DownloadMedia).await
}
