use uuid::Uuid;

use crate::support::*;

#[tokio::test]
async fn delete_removes_the_object_and_the_row() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let keep = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();

    let reply = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert_eq!(app.object_keys().await, [keep["s3_key"].as_str().unwrap()]);
    assert_eq!(app.media_count().await, 1);

    app.call(
        Endpoint::DeleteMedia,
        request(Endpoint::DeleteMedia, &who, id),
    )
    .await
    .assert_error(404, "MEDIA_NOT_FOUND");
}

#[tokio::test]
async fn when_s3_refuses_the_delete_the_row_stays_and_a_retry_finishes() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();

    let broken = app.sibling(&[("AWS_SECRET_ACCESS_KEY", "wrong")]).await;
    let reply = broken
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id),
        )
        .await;
    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(
        app.media_count().await,
        1,
        "the row must stay while its object exists"
    );
    assert_eq!(app.object_keys().await.len(), 1);

    let retry = app
        .call(
            Endpoint::DeleteMedia,
            request(Endpoint::DeleteMedia, &who, id),
        )
        .await;
    assert_eq!(retry.status, 204);
    assert_eq!(app.media_count().await, 0);
    assert!(app.object_keys().await.is_empty());
}
