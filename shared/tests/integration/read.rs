use serde_json::Value;
use uuid::Uuid;

use crate::support::*;

fn id_of(media: &Value) -> Uuid {
    Uuid::parse_str(media["id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn list_is_newest_first_filtered_and_paged_with_a_total() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let first = app.upload_png(&who).await;
    let second = app.upload(&who, "a.jpg", &jpeg(64), &[]).await.json();
    let third = app.upload(&who, "notes.txt", b"hello", &[]).await.json();

    let all = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
        .await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.header("x-total-count"), "3");
    let ids: Vec<Uuid> = all.json().as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, [id_of(&third), id_of(&second), id_of(&first)]);
    assert_eq!(all.json()[0], third, "list items have the upload's JSON");

    let list = |pairs: &[(&str, &str)]| {
        app.call(
            Endpoint::ListMedia,
            with_query(request(Endpoint::ListMedia, &who, Uuid::nil()), pairs),
        )
    };
    let jpeg_only = list(&[("file_type", "image/jpeg")]).await;
    assert_eq!(jpeg_only.json().as_array().unwrap().len(), 1);
    assert_eq!(jpeg_only.header("x-total-count"), "1");
    let images = list(&[("file_type", "image/")]).await;
    assert_eq!(images.header("x-total-count"), "2");
    let page = list(&[("skip", "1"), ("limit", "1")]).await;
    assert_eq!(
        page.json()
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect::<Vec<_>>(),
        [id_of(&second)]
    );
    assert_eq!(page.header("x-total-count"), "3");
    let beyond = list(&[("skip", "10")]).await;
    assert_eq!(beyond.json(), serde_json::json!([]));
    assert_eq!(beyond.header("x-total-count"), "3");

    for bad in [
        ("skip", "-1"),
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "abc"),
    ] {
        list(&[bad]).await.assert_error(422, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn the_spec_list_fixture_filters_jpeg_with_limit_10() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    app.upload_png(&who).await;
    let jpeg_media = app.upload(&who, "a.jpg", &jpeg(64), &[]).await.json();
    let reply = app
        .call(
            Endpoint::ListMedia,
            fixture(
                "list-media",
                "list-images",
                who.event_id,
                Uuid::nil(),
                &who.token,
            ),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!([jpeg_media]));
}

#[tokio::test]
async fn soft_deleted_rows_are_invisible() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    app.db()
        .await
        .execute(
            "update event_media set is_deleted = true where id = $1",
            &[&id_of(&media)],
        )
        .await
        .unwrap();
    let list = app
        .call(
            Endpoint::ListMedia,
            request(Endpoint::ListMedia, &who, Uuid::nil()),
        )
        .await;
    assert_eq!(list.json(), serde_json::json!([]));
    app.call(
        Endpoint::GetMedia,
        request(Endpoint::GetMedia, &who, id_of(&media)),
    )
    .await
    .assert_error(404, "MEDIA_NOT_FOUND");
}

#[tokio::test]
async fn get_returns_the_media_json() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let reply = app
        .call(
            Endpoint::GetMedia,
            request(Endpoint::GetMedia, &who, id_of(&media)),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), media);
    app.call(
        Endpoint::GetMedia,
        request(Endpoint::GetMedia, &who, Uuid::new_v4()),
    )
    .await
    .assert_error(404, "MEDIA_NOT_FOUND");
}

#[tokio::test]
async fn a_small_file_downloads_as_bytes_with_an_attachment_disposition() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app.upload(&who, "Fête été.png", &png(), &[]).await;
    let media = reply.json();
    let download = app
        .call(
            Endpoint::DownloadMedia,
            request(Endpoint::DownloadMedia, &who, id_of(&media)),
        )
        .await;
    assert_eq!(download.status, 200);
    assert_eq!(download.body.as_ref(), png().as_slice());
    assert_eq!(download.header("content-type"), "image/png");
    assert_eq!(download.header("content-length"), png().len().to_string());
    assert_eq!(download.header("x-content-type-options"), "nosniff");
    assert_eq!(
        download.header("content-disposition"),
        "attachment; filename=\"F_te _t_.png\"; filename*=UTF-8''F%C3%AAte%20%C3%A9t%C3%A9.png"
    );
}

#[tokio::test]
async fn a_large_file_redirects_to_a_presigned_url_that_s3_honours() {
    let app = TestApp::with(&[("INLINE_DOWNLOAD_MAX_BYTES", "16")]).await;
    let who = app.organiser().await;
    let bytes = jpeg(4096);
    let media = app.upload(&who, "big photo.jpg", &bytes, &[]).await.json();

    let reply = app
        .call(
            Endpoint::DownloadMedia,
            request(Endpoint::DownloadMedia, &who, id_of(&media)),
        )
        .await;
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), "no-store");
    let url = reply.header("location").to_owned();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let (status, headers, body) = http_get(&url, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, bytes);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert!(headers["content-disposition"].starts_with("attachment; filename=\"big photo.jpg\""));

    // A tampered URL is refused by S3 itself.
    let tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=900");
    assert_eq!(http_get(&tampered, &[]).await.0, 403);

    let json = app
        .call(
            Endpoint::DownloadMedia,
            with_query(
                request(Endpoint::DownloadMedia, &who, id_of(&media)),
                &[("redirect", "false")],
            ),
        )
        .await;
    assert_eq!(json.status, 200);
    assert!(
        json.json()["url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature=")
    );
    assert!(json.json()["expires_at"].is_string());
}

#[tokio::test]
async fn an_expired_presigned_url_is_refused() {
    let app = TestApp::with(&[("PRESIGNED_URL_TTL_SECONDS", "1")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let reply = app
        .call(
            Endpoint::StreamMedia,
            request(Endpoint::StreamMedia, &who, id_of(&media)),
        )
        .await;
    let url = reply.header("location").to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(http_get(&url, &[]).await.0, 403);
}

#[tokio::test]
async fn stream_redirects_inline_and_s3_serves_ranges() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let bytes = jpeg(10_000);
    let media = app.upload(&who, "clip.jpg", &bytes, &[]).await.json();
    let reply = app
        .call(
            Endpoint::StreamMedia,
            request(Endpoint::StreamMedia, &who, id_of(&media)),
        )
        .await;
    assert_eq!(reply.status, 302);
    let url = reply.header("location").to_owned();
    let (status, headers, body) = http_get(&url, &[("range", "bytes=100-199")]).await;
    assert_eq!(status, 206);
    assert_eq!(body, &bytes[100..200]);
    assert!(headers["content-disposition"].starts_with("inline;"));

    let json = app
        .call(
            Endpoint::StreamMedia,
            with_query(
                request(Endpoint::StreamMedia, &who, id_of(&media)),
                &[("redirect", "false")],
            ),
        )
        .await;
    assert_eq!(json.status, 200);
    assert!(json.json()["url"].is_string());
}

#[tokio::test]
async fn svg_is_never_served_inline() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let media = app.upload(&who, "logo.svg", svg, &[]).await.json();
    assert_eq!(media["file_type"], "image/svg+xml");
    let reply = app
        .call(
            Endpoint::StreamMedia,
            request(Endpoint::StreamMedia, &who, id_of(&media)),
        )
        .await;
    let (_, headers, _) = http_get(reply.header("location"), &[]).await;
    assert!(
        headers["content-disposition"].starts_with("attachment;"),
        "{headers:?}"
    );
}

#[tokio::test]
async fn a_row_whose_object_is_gone_answers_file_not_found() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    app.state
        .storage()
        .delete(media["s3_key"].as_str().unwrap())
        .await
        .unwrap();
    app.call(
        Endpoint::DownloadMedia,
        request(Endpoint::DownloadMedia, &who, id_of(&media)),
    )
    .await
    .assert_error(404, "FILE_NOT_FOUND");
}

/// The page and `X-Total-Count` come from one snapshot: while rows come and go, a first page
/// smaller than `limit` always holds exactly the total.
#[tokio::test]
async fn the_total_and_the_page_agree_while_rows_come_and_go() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let writer = app.db().await;
    let event_id = who.event_id;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut writes = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                writer
                    .execute(
                        "insert into event_media (id, event_id, file_url, file_type) \
                         values (gen_random_uuid(), $1, 'https://example.com/x', 'image/png')",
                        &[&event_id],
                    )
                    .await
                    .unwrap();
                if writes % 2 == 1 {
                    writer
                        .execute(
                            "delete from event_media where id = \
                             (select id from event_media where event_id = $1 limit 1)",
                            &[&event_id],
                        )
                        .await
                        .unwrap();
                }
                writes += 1;
            }
            writes
        }
    });
    let mut disagreements = Vec::new();
    for _ in 0..300 {
        let reply = app
            .call(
                Endpoint::ListMedia,
                with_query(
                    request(Endpoint::ListMedia, &who, Uuid::nil()),
                    &[("limit", "1000")],
                ),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let page = reply.json().as_array().unwrap().len();
        let total: usize = reply.header("x-total-count").parse().unwrap();
        if page != total {
            disagreements.push((page, total));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = churn.await.unwrap();
    assert!(writes > 100, "the rows hardly changed ({writes} writes)");
    assert!(
        disagreements.is_empty(),
        "page length and X-Total-Count disagreed {} times of 300: {:?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(5)]
    );
}
