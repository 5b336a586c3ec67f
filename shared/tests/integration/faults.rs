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
async fn with_the_database_down_requests_fail_cleanly_and_write_nothing() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let unreachable = format!(
        "postgres://postgres@127.0.0.1:{}/x?sslmode=disable",
        closed_port().rsplit(':').next().unwrap()
    );
    let broken = app.sibling_on(&unreachable, &[]).await;
    for endpoint in Endpoint::ALL {
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
        let reply = broken.call(endpoint, request).await;
        reply.assert_error(500, "DATABASE_ERROR");
        assert!(
            !reply.text().contains("127.0.0.1"),
            "the cause leaked: {}",
            reply.text()
        );
    }
    assert!(app.object_keys().await.is_empty());
}

#[tokio::test]
async fn an_exhausted_pool_is_a_clean_database_error() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let held: Vec<_> =
        futures_util::future::join_all((0..shared::POOL_SIZE).map(|_| app.state.db.get()))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let png = png();
    let reply = app.upload(&who, "a.png", &png, &[]).await;
    reply.assert_error(500, "DATABASE_ERROR");
    drop(held);
    assert!(app.object_keys().await.is_empty());
    assert_eq!(app.upload(&who, "a.png", &png, &[]).await.status, 201);
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
