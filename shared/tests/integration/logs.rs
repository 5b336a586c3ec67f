//! What the logs may not hold: the token, the JWT secret, the S3 secret key, or a presigned
//! URL's signature — at the level production logs at, through the production subscriber
//! (`shared::telemetry::subscriber`) with a writer that keeps what it is given.

use std::io::Write;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::support::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_hold_no_token_secret_or_signature() {
    let captured = Captured::default();
    let writer = captured.clone();
    // What the functions install (JSON: the template sets AWS_LAMBDA_LOG_FORMAT), at the
    // default level whatever RUST_LOG says here, writing to the capture instead of stdout.
    let subscriber = shared::telemetry::subscriber(
        shared::telemetry::Format::Json,
        tracing_subscriber::EnvFilter::new(shared::telemetry::DEFAULT_FILTER),
        move || writer.clone(),
    );
    let _guard = tracing::dispatcher::set_default(&subscriber);

    let app = TestApp::with(&[("INLINE_DOWNLOAD_MAX_BYTES", "0")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let mut signatures = Vec::new();
    for endpoint in [Endpoint::DownloadMedia, Endpoint::StreamMedia] {
        let reply = app.call(endpoint, request(endpoint, &who, id)).await;
        signatures.push(
            reply
                .header("location")
                .split("X-Amz-Signature=")
                .nth(1)
                .unwrap()
                .to_owned(),
        );
    }
    let ticket = app.ticket(&who, "a.jpg", "image/jpeg", 10).await;
    signatures.push(
        ticket["url"]
            .as_str()
            .unwrap()
            .split("X-Amz-Signature=")
            .nth(1)
            .unwrap()
            .to_owned(),
    );
    // Failures log too: a wrong token and a database error.
    app.call(
        Endpoint::ListMedia,
        with_header(
            request(Endpoint::ListMedia, &who, Uuid::nil()),
            "authorization",
            "Bearer not.a.token",
        ),
    )
    .await;
    app.call(
        Endpoint::DeleteMedia,
        request(Endpoint::DeleteMedia, &who, id),
    )
    .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("media uploaded"),
        "nothing was captured: {logs}"
    );
    let secret_key = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    for (what, needle) in [
        ("token", who.token.as_str()),
        ("JWT secret", SECRET),
        ("S3 secret key", secret_key.as_str()),
    ] {
        assert!(!logs.contains(needle), "the {what} is in the logs");
    }
    for signature in signatures {
        assert!(
            !logs.contains(&signature),
            "a presigned signature is in the logs"
        );
    }
}
