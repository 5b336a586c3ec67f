//! The request metrics (CloudWatch EMF) the functions write: one line per request, through the
//! production subscriber, keeping the format's rules, with the values of the request it
//! reports: the status class and error code, the body sizes and the database pool's wait.

use uuid::Uuid;

use crate::support::*;

/// The metrics lines of `endpoint` among `logs`, in order.
fn lines_of(logs: &str, endpoint: Endpoint) -> Vec<serde_json::Value> {
    test_support::emf::documents(logs)
        .into_iter()
        .filter(|line| line["Endpoint"] == endpoint.spec().name)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn every_request_writes_one_metrics_line_with_its_own_values() {
    let (captured, _guard) = CapturedLogs::install();

    // Long enough to open a connection on a loaded machine, short enough to wait out once.
    let app = TestApp::with(&[("DATABASE_POOL_TIMEOUT_MS", "1000")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    let found = app
        .call(Endpoint::GetMedia, request(Endpoint::GetMedia, &who, id))
        .await;
    assert_eq!(found.status, 200, "{}", found.text());
    app.call(
        Endpoint::GetMedia,
        request(Endpoint::GetMedia, &who, Uuid::new_v4()),
    )
    .await
    .assert_error(404, "MEDIA_NOT_FOUND");
    // Refused before the database: no token.
    app.call(
        Endpoint::GetMedia,
        without_header(request(Endpoint::GetMedia, &who, id), "authorization"),
    )
    .await
    .assert_error(401, "AUTHENTICATION_REQUIRED");
    // 503: the pool's one connection is held for longer than the wait.
    let held = app.state.db.get().await.unwrap();
    app.call(Endpoint::GetMedia, request(Endpoint::GetMedia, &who, id))
        .await
        .assert_error(503, "SERVICE_BUSY");
    drop(held);

    let logs = captured.text();
    for line in test_support::emf::documents(&logs) {
        assert_eq!(
            test_support::emf::problems(&line),
            Vec::<String>::new(),
            "{line}"
        );
    }
    let uploads = lines_of(&logs, Endpoint::UploadMedia);
    assert_eq!(uploads.len(), 1, "{logs}");
    assert_eq!(uploads[0]["Status"], 201);
    // The multipart body that carried the PNG.
    assert!(uploads[0]["BytesIn"].as_f64().unwrap() > png().len() as f64);

    let gets = lines_of(&logs, Endpoint::GetMedia);
    assert_eq!(gets.len(), 4, "one line per request: {gets:?}");
    let [found, missing, anonymous, busy] = &gets[..] else {
        unreachable!()
    };
    assert_eq!(found["StatusClass"], "2xx");
    assert!(found.get("ErrorCode").is_none());
    assert!(found["BytesOut"].as_f64().unwrap() > 0.0);
    assert_eq!(found["BytesIn"], 0.0);
    assert!(found["PoolWait"].is_number(), "{found}");

    assert_eq!(missing["StatusClass"], "4xx");
    assert_eq!(missing["Status4xx"], 1.0);
    assert_eq!(missing["ErrorCode"], "MEDIA_NOT_FOUND");

    assert_eq!(anonymous["ErrorCode"], "AUTHENTICATION_REQUIRED");
    assert!(
        anonymous.get("PoolWait").is_none(),
        "refused before asking for a connection: {anonymous}"
    );

    assert_eq!(busy["ServiceBusy"], 1.0);
    assert_eq!(busy["Status5xx"], 1.0);
    assert!(
        busy["PoolWait"].as_f64().unwrap() >= 1000.0,
        "the wait for the held connection: {busy}"
    );
    assert!(busy["Latency"].as_f64().unwrap() >= busy["PoolWait"].as_f64().unwrap());
}
