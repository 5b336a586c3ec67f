//! `list-media`: Lists an event's media. The endpoint is `Endpoint::ListMedia` in
//! `shared::endpoint`; its handler is in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::endpoint::Endpoint::ListMedia).await
}
