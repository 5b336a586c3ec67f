//! What a browser may send to the bucket: every header of a direct-upload ticket must be one
//! the bucket's CORS rule in template.yaml allows (S3 refuses the preflight otherwise, and
//! the upload never starts), and the ticket carries exactly the headers its URL signs.
//! The harness runs with the environment Lambda gives a function (`_X_AMZN_TRACE_ID`,
//! `AWS_LAMBDA_FUNCTION_NAME`), under which the SDK adds headers of its own to requests.

use std::collections::BTreeSet;

use serde_json::json;
use uuid::Uuid;

use crate::support::*;

/// Headers the browser sets itself and never names in a preflight (Fetch's forbidden
/// request-header names), though the signature covers them.
const SET_BY_THE_BROWSER: &[&str] = &["content-length"];

/// `AllowedHeaders` of the bucket's CORS rules in template.yaml, lowercased.
fn template_bucket_allowed_headers() -> Vec<String> {
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let template: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The media bucket by name: the stack's other bucket holds its access logs.
    let bucket = &template["Resources"]["MediaBucket"];
    assert_eq!(
        bucket["Type"].as_str(),
        Some("AWS::S3::Bucket"),
        "template.yaml has a MediaBucket"
    );
    let rules = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .expect("the bucket has CORS rules");
    let allowed: Vec<String> = rules
        .iter()
        .flat_map(|rule| rule["AllowedHeaders"].as_sequence().into_iter().flatten())
        .map(|h| h.as_str().expect("a literal header").to_ascii_lowercase())
        .collect();
    assert!(!allowed.is_empty(), "the bucket's CORS allows no header");
    allowed
}

/// S3's matching of a request header against an `AllowedHeaders` entry: case-insensitive,
/// `*` standing for any run of characters (so `x-amz-*` does not match `x-amzn-…`).
fn cors_allows(pattern: &str, header: &str) -> bool {
    let (pattern, header) = (pattern.to_ascii_lowercase(), header.to_ascii_lowercase());
    match pattern.split_once('*') {
        None => pattern == header,
        Some((prefix, rest)) => {
            let Some(tail) = header.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| cors_allows(rest, &tail[i..]))
        }
    }
}

/// The headers a presigned URL's signature covers (`X-Amz-SignedHeaders`), minus `host`.
fn signed_headers(url: &str) -> BTreeSet<String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let list = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap_or_else(|| panic!("no X-Amz-SignedHeaders in {url}"));
    list.split("%3B")
        .flat_map(|h| h.split(';'))
        .filter(|h| *h != "host")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_cors_glob_matches_as_s3_does() {
    assert!(cors_allows("x-amz-meta-*", "x-amz-meta-event_id"));
    assert!(cors_allows("X-Amz-Meta-*", "x-amz-meta-user_id"));
    assert!(cors_allows("content-type", "Content-Type"));
    assert!(cors_allows("*", "x-amzn-trace-id"));
    assert!(cors_allows("x-*-id", "x-amzn-trace-id"));
    assert!(!cors_allows("x-amz-*", "x-amzn-trace-id"));
    assert!(!cors_allows("content-type", "content-md5"));
    assert!(!cors_allows("x-amz-meta-*", "x-amz-metadata"));
}

#[tokio::test]
async fn every_ticket_header_is_signed_and_allowed_by_the_buckets_cors_rule() {
    // The condition on Lambda, where the runtime sets _X_AMZN_TRACE_ID for each invocation
    // (the harness refuses to run without it too).
    assert!(
        std::env::var_os("_X_AMZN_TRACE_ID").is_some()
            && std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
        "run with the stack's environment (scripts/lib.sh stack_start), which gives the \
         tests Lambda's _X_AMZN_TRACE_ID and AWS_LAMBDA_FUNCTION_NAME"
    );
    let app = TestApp::new().await;
    let who = app.organiser().await;
    let reply = app
        .create_upload(
            &who,
            json!({"filename": "stage photo.jpg", "content_type": "image/jpeg", "file_size": 2048,
                   "checksum_md5": "9e107d9d372bb6826bd81d3542a419d6"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let ticket = reply.json();
    let headers: BTreeSet<String> = ticket["headers"]
        .as_object()
        .expect("the ticket has headers")
        .keys()
        .cloned()
        .collect();

    let allowed = template_bucket_allowed_headers();
    for header in headers
        .iter()
        .filter(|h| !SET_BY_THE_BROWSER.contains(&h.as_str()))
    {
        assert!(
            allowed.iter().any(|pattern| cors_allows(pattern, header)),
            "the ticket asks the browser to send {header}, which the bucket's CORS rule \
             (AllowedHeaders {allowed:?}) refuses in the preflight; ticket headers: {headers:?}"
        );
    }
    assert_eq!(
        headers,
        signed_headers(ticket["url"].as_str().unwrap()),
        "the ticket's headers must be exactly the ones its URL signs"
    );
}

#[tokio::test]
async fn presigned_download_and_stream_urls_need_no_header() {
    let app = TestApp::with(&[("INLINE_DOWNLOAD_MAX_BYTES", "16")]).await;
    let who = app.organiser().await;
    let media = app.upload_png(&who).await;
    let media_id = Uuid::parse_str(media["id"].as_str().unwrap()).unwrap();
    for endpoint in [Endpoint::DownloadMedia, Endpoint::StreamMedia] {
        let reply = app
            .call(
                endpoint,
                with_query(request(endpoint, &who, media_id), &[("redirect", "false")]),
            )
            .await;
        assert_eq!(reply.status, 200, "{endpoint:?}: {}", reply.text());
        let url = reply.json()["url"].as_str().unwrap().to_owned();
        assert_eq!(
            signed_headers(&url),
            BTreeSet::new(),
            "{endpoint:?}: a link a <video> or <a> follows can send no header: {url}"
        );
    }
}
