//! `upload-media`: Stores an uploaded file in S3 and records it. The endpoint is
//! `Endpoint::UploadMedia` in `shared::endpoint`; its handler is in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::endpoint::Endpoint::UploadMedia).await
}
