//! Lambda's 6 MB limits: answers built from the largest rows the API can hold still fit,
//! because a list page stops where the next item would not.

use std::collections::HashSet;

use shared::db::shape::Shape;
use uuid::Uuid;

use crate::support::*;

/// Rows with every field at its own limit, in the characters that grow most on the way out:
/// `"` is `\"` in the body and `\\\"` in Lambda's response JSON (4 bytes), an emoji is 4 bytes.
/// `file_url`, `s3_key` and `file_type` fill their columns.
async fn insert_worst_case_rows(app: &TestApp, event_id: Uuid, count: i32) -> Vec<Uuid> {
    let title = "😀".repeat(256);
    let description = "\"".repeat(10_000);
    let tags = vec!["\"".repeat(64); 50].join(", ");
    let file_type = format!("application/{}", "x".repeat(255 - "application/".len()));
    let sql = match app.shape().await {
        Shape::Seed => {
            "insert into event_media (id, event_id, title, description, file_url, s3_key, \
             file_type, file_size, tags, original_filename, created_at, updated_at, is_deleted) \
             select gen_random_uuid(), $1, $2, $3, \
                    rpad('https://cdn.example.com/', 508, 'u') || lpad(i::text, 4, '0'), \
                    rpad('events/', 508, 'k') || lpad(i::text, 4, '0'), \
                    $4, 2147483647, $5, rpad('', 255, '\"'), \
                    now() - make_interval(secs => i), now(), false \
             from generate_series(1, $6::int) i returning id"
        }
        // One zone per row, as The Plugs writes them; the zone holds the metadata.
        Shape::Current => {
            "with r as (select gen_random_uuid() as zone_id, i from generate_series(1, $6::int) i), \
             z as (insert into event_media_zones \
                   (id, event_id, title, description, tags, created_at, updated_at, is_deleted) \
                   select zone_id, $1, $2, $3, $5, now(), now(), false from r) \
             insert into event_media (id, event_id, file_url, s3_key, file_type, file_size, \
             original_filename, created_at, updated_at, is_deleted, zone_id, batch_id) \
             select gen_random_uuid(), $1, \
                    rpad('https://cdn.example.com/', 508, 'u') || lpad(i::text, 4, '0'), \
                    rpad('events/', 508, 'k') || lpad(i::text, 4, '0'), \
                    $4, 2147483647, rpad('', 255, '\"'), \
                    now() - make_interval(secs => i), now(), false, zone_id, zone_id \
             from r returning id"
        }
    };
    let rows = app
        .db()
        .await
        .query(
            sql,
            &[&event_id, &title, &description, &file_type, &tags, &count],
        )
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// `</path?query>; rel="next"` → the query's pairs, decoded.
fn next_link_query(link: &str, path: &str) -> Vec<(String, String)> {
    let target = link
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("not a next link: {link}"));
    let (link_path, query) = target.split_once('?').unwrap();
    assert_eq!(link_path, path);
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

#[tokio::test]
async fn a_thousand_largest_rows_list_in_pages_that_fit_and_links_reach_every_row_once() {
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let inserted = insert_worst_case_rows(&app, who.event_id, 1000).await;
    let path = format!("/api/v1/events/{}/media", who.event_id);

    let mut query = vec![
        ("limit".to_owned(), "1000".to_owned()),
        ("file_type".to_owned(), "application/".to_owned()),
    ];
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // The harness fails any answer over Lambda's response limit.
        let page = app
            .call(
                Endpoint::ListMedia,
                with_query(request(Endpoint::ListMedia, &who, Uuid::nil()), &pairs),
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert_eq!(page.header("x-total-count"), "1000");
        let items = page.json().as_array().unwrap().clone();
        assert!(!items.is_empty());
        seen.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page.headers.get("link") {
            Some(link) => query = next_link_query(link.to_str().unwrap(), &path),
            None => break,
        }
        assert!(pages < 100, "the links never end");
    }
    assert!(pages > 1, "1000 worst-case rows cannot fit one answer");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 1000, "every row exactly once");
    assert_eq!(unique.len(), 1000, "every row exactly once");
    let expected: Vec<String> = inserted.iter().map(Uuid::to_string).collect();
    assert_eq!(seen, expected, "newest first across pages");
}

#[tokio::test]
async fn a_text_file_whose_escaped_form_would_not_fit_is_redirected_not_refused() {
    // The largest inline download Lambda can carry, so the escaping is what decides.
    let app = TestApp::with(&[("INLINE_DOWNLOAD_MAX_BYTES", "4706376")]).await;
    let who = app.organiser().await;
    // 3.2 MB of line breaks: lambda_http sends text as text, and each `\n` becomes `\\n` in
    // the response JSON, 6.4 MB in all.
    let lines = vec![b'\n'; 3_200_000];
    let media = app.upload(&who, "lines.txt", &lines, &[]).await;
    assert_eq!(media.status, 201, "{}", media.text());
    let id = Uuid::parse_str(media.json()["id"].as_str().unwrap()).unwrap();

    let reply = app
        .call(
            Endpoint::DownloadMedia,
            request(Endpoint::DownloadMedia, &who, id),
        )
        .await;
    assert_eq!(reply.status, 302, "{}", reply.text());
    let (status, _, body) = http_get(reply.header("location"), &[]).await;
    assert_eq!(status, 200);
    assert!(body == lines, "S3 serves the file as uploaded");

    // A small text file still comes back inline.
    let note = app.upload(&who, "note.txt", b"hello\n", &[]).await.json();
    let id = Uuid::parse_str(note["id"].as_str().unwrap()).unwrap();
    let reply = app
        .call(
            Endpoint::DownloadMedia,
            request(Endpoint::DownloadMedia, &who, id),
        )
        .await;
    assert_eq!((reply.status, reply.body.as_ref()), (200, &b"hello\n"[..]));
}
