//! `get-media`: Returns one media item's metadata. The endpoint is `Endpoint::GetMedia` in
//! `shared::endpoint`; its handler is in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::endpoint::Endpoint::GetMedia).await
}
