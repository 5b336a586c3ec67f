//! Sabotage: infrastructure failures mid-request. Each answers a clean error within a bounded
//! time and leaves the bucket and the rows consistent with each other.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::support::*;

/// The same database and bucket, but S3 reached at `endpoint` (something that is not S3).
async fn with_s3_at(app: &TestApp, endpoint: &str) -> TestApp {
    app.sibling(&[
        ("AWS_ENDPOINT_URL_S3", endpoint),
        ("S3_TIMEOUT_SECONDS", "2"),
    ])
    .await
}

/// A port nothing listens on: a stopped S3 server.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Accepts connections and never answers: a hung S3 server. Lives as long as the test.
fn black_hole() -> (String, std::net::TcpListener) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, listener)
}

async fn timed(
    app: &TestApp,
    endpoint: Endpoint,
    request: lambda_http::Request,
) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = app.call(endpoint, request).await;
    (reply, started.elapsed())
}

#[tokio::test]
async fn with_s3_stopped_or_hung_every_write_path_fails_cleanly_and_in_time() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let ticket = app.ticket(&who, "a.jpg", "image/jpeg", 100).await;
    let upload_id = Uuid::parse_str(ticket["upload_id"].as_str().unwrap()).unwrap();

    let (hung_url, _hung) = black_hole();
    for (what, url) in [("stopped", closed_port()), ("hung", hung_url)] {
        let broken = with_s3_at(&app, &url).await;
        let calls = [
            (
                Endpoint::UploadMedia,
                with_multipart(
                    request(Endpoint::UploadMedia, &who, Uuid::nil()),
                    &[Part::file("file", "a.png", &png())],
                    &[],
                ),
            ),
            (
                Endpoint::DownloadMedia,
                request(Endpoint::DownloadMedia, &who, media_id),
            ),
            (
                Endpoint::DeleteMedia,
                request(Endpoint::DeleteMedia, &who, media_id),
            ),
            (
                Endpoint::CompleteUpload,
                request(Endpoint::CompleteUpload, &who, upload_id),
            ),
        ];
        for (endpoint, request) in calls {
            let (reply, elapsed) = timed(&broken, endpoint, request).await;
            reply.assert_error(500, "S3_CONNECTION_ERROR");
            // S3_TIMEOUT_SECONDS=2 bounds every S3 call; a Lambda must never reach its own timeout.
            assert!(
                elapsed < Duration::from_secs(10),
                "{what} S3: {endpoint:?} took {elapsed:?}"
            );
            app.assert_consistent().await;
        }
    }
    assert_eq!(
        app.media_count().await,
        1,
        "the delete must not remove the row while S3 is down"
    );
    // Presigning needs no S3 round trip: links keep working while S3 is down.
    let broken = with_s3_at(&app, &closed_port()).await;
    let stream = broken
        .call(
            Endpoint::StreamMedia,
            request(Endpoint::StreamMedia, &who, media_id),
        )
        .await;
    assert_eq!(stream.status, 302);

    // With S3 back, the retries finish the job.
    assert_eq!(
        app.call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, media_id)
        )
        .await
        .status,
        204
    );
    app.assert_consistent().await;
}

#[tokio::test]
async fn with_the_database_unreachable_requests_are_turned_away_with_503_and_write_nothing() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let unreachable = format!(
        "postgres://postgres@127.0.0.1:{}/x?sslmode=disable",
        closed_port().rsplit(':').next().unwrap()
    );
    let broken = app.sibling_on(&unreachable, &[]).await;
    for endpoint in token_endpoints() {
        let request = match endpoint {
            Endpoint::UploadMedia => with_multipart(
                request(endpoint, &who, Uuid::nil()),
                &[Part::file("file", "a.png", &png())],
                &[],
            ),
            Endpoint::CreateUpload => with_body(
                request(endpoint, &who, Uuid::nil()),
                br#"{"filename":"a.jpg","content_type":"image/jpeg","file_size":100}"#.to_vec(),
            ),
            _ => request(endpoint, &who, Uuid::new_v4()),
        };
        let started = Instant::now();
        let reply = broken.call(endpoint, request).await;
        reply.assert_error(503, "SERVICE_BUSY");
        assert_eq!(reply.header("retry-after"), "1", "{endpoint:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{endpoint:?} took {:?} to find the database refusing connections",
            started.elapsed()
        );
        assert!(
            !reply.text().contains("127.0.0.1"),
            "the cause leaked: {}",
            reply.text()
        );
    }
    assert!(app.object_keys().await.is_empty());
}

/// The pool's one connection (the default size) held by one request: the next waits the
/// configured time (1 s here, which a loaded machine's connection check also fits in), then
/// is turned away with 503 and `Retry-After`, having written nothing, and is served once the
/// connection is free again.
#[tokio::test]
async fn a_request_that_finds_the_pool_busy_past_its_wait_is_turned_away_with_503() {
    let app = TestApp::with(&[("DATABASE_POOL_TIMEOUT_MS", "1000")]).await;
    let who = app.organiser().await;
    let held = app.state.db.get().await.unwrap();
    let png = png();
    let started = Instant::now();
    let reply = app.upload(&who, "a.png", &png, &[]).await;
    let waited = started.elapsed();
    reply.assert_error(503, "SERVICE_BUSY");
    assert_eq!(reply.header("retry-after"), "1");
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(3),
        "the request waited {waited:?} for a connection, not the 1 s configured"
    );
    drop(held);
    assert!(app.object_keys().await.is_empty());
    assert_eq!(app.upload(&who, "a.png", &png, &[]).await.status, 201);
}

/// A TCP relay to the stack's PostgreSQL that can be switched off and on: what a restart of
/// the server looks like from a container (while off, connections are refused and the open
/// ones are cut), without stopping the server the other tests share.
struct Relay {
    address: std::net::SocketAddr,
    upstream: String,
    running: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Relay {
    async fn to(upstream: String) -> Self {
        let address = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let relay = Self {
            address,
            upstream,
            running: std::sync::Mutex::new(Vec::new()),
        };
        relay.start().await;
        relay
    }

    async fn start(&self) {
        let listener = tokio::net::TcpListener::bind(self.address).await.unwrap();
        let upstream = self.upstream.clone();
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = accepted.clone();
        let accept = tokio::spawn(async move {
            let _cut_on_abort = AbortOnDrop(connections.clone());
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        self.running.lock().unwrap().push(accept);
    }

    /// Closes the listener and cuts every open connection.
    async fn stop(&self) {
        for task in self.running.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Aborts the relayed connections when the accept loop ends (it is aborted by `stop`).
struct AbortOnDrop(std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in self.0.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// While the database is down (restarting), every request is turned away at once with 503
/// and `Retry-After`, not left to hang until the function's timeout; when it is back, the
/// same container (the same pool, no restart) serves the next request.
#[tokio::test]
async fn while_the_database_restarts_requests_get_503_at_once_and_then_recover() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let server = app.database_url.split('@').nth(1).unwrap();
    let server = server.split(['/', '?']).next().unwrap().to_owned();
    let relay = Relay::to(server).await;
    let relayed = test_support::stack::through_proxy(&app.database_url, &relay.address.to_string());
    let container = app.sibling_on(&relayed, &[]).await;
    let list = || {
        container.call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
    };
    assert_eq!(list().await.status, 200);

    relay.stop().await;
    for _ in 0..3 {
        let started = Instant::now();
        let reply = list().await;
        let took = started.elapsed();
        reply.assert_error(503, "SERVICE_BUSY");
        assert_eq!(reply.header("retry-after"), "1");
        eprintln!("database down: 503 in {took:?}");
        assert!(took < Duration::from_secs(2), "503 took {took:?}");
    }

    relay.start().await;
    let reply = list().await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn a_database_failure_after_the_copy_leaves_the_upload_completable() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let ticket = app.ready_upload(&who, "a.jpg", jpeg(2048)).await;
    let upload_id = Uuid::parse_str(ticket["upload_id"].as_str().unwrap()).unwrap();
    app.refuse_media_inserts().await;
    app.call(
        Endpoint::CompleteUpload,
        request(Endpoint::CompleteUpload, &who, upload_id),
    )
    .await
    .assert_error(500, "DATABASE_ERROR");
    app.assert_consistent().await;
    assert_eq!(
        app.object_keys().await.len(),
        1,
        "the uploaded temp object must stay for a retry"
    );

    app.db()
        .await
        .batch_execute("drop trigger refuse_media on event_media")
        .await
        .unwrap();
    let retry = app
        .call(
            Endpoint::CompleteUpload,
            request(Endpoint::CompleteUpload, &who, upload_id),
        )
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text());
    app.assert_consistent().await;
}

#[tokio::test]
async fn a_pooled_connection_killed_by_a_database_restart_is_replaced() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let list = || {
        app.call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
    };
    assert_eq!(list().await.status, 200);
    // What a restart does to a frozen container's sockets: the server ends every session.
    let database: String = app
        .db()
        .await
        .query_one("select current_database()", &[])
        .await
        .unwrap()
        .get(0);
    let admin = create_database_admin().await;
    admin
        .execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .unwrap();
    let reply = list().await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}
