//! The sizes Lambda measures: the JSON of a response as the runtime posts it back, and of the
//! event API Gateway sends for a request. Both are capped at about 6 MB, and neither
//! `cargo lambda watch` nor the in-process tests enforce that, so the edge
//! ([`crate::edge::serve`]) does. Sizes are computed from the parts (header map, body
//! length and bytes to escape) so a multi-megabyte body is never serialized a second time.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, SET_COOKIE};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::{Body, Request, RequestExt};

/// The most a synchronous invocation may return: 6 MiB + 100 bytes of response JSON, as
/// Lambda's refusal states ("Exceeded maximum allowed payload size (6291556 bytes)").
pub const RESPONSE_MAX_BYTES: usize = 6 * 1024 * 1024 + 100;

/// The most a synchronous invocation may receive: 6 MiB of event JSON ("Request must be
/// smaller than 6291456 bytes for the InvokeFunction operation").
pub const REQUEST_MAX_BYTES: usize = 6 * 1024 * 1024;

/// What a body adds to the response JSON besides its value: `,"body":`.
const BODY_FIELD_BYTES: usize = ",\"body\":".len();

/// lambda_http sends a body as text when its type starts with one of these (see its
/// `ConvertBody`), and as base64 otherwise.
const TEXT_TYPE_PREFIXES: [&str; 5] = [
    "text",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/yaml",
];
const TEXT_TYPE_SUFFIXES: [&str; 3] = ["+xml", "+yaml", "+json"];

/// Length of `n` bytes in standard, padded base64.
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Length of `text` inside a JSON string (quotes excluded), escaped as serde_json escapes.
pub fn json_escaped_len(text: &str) -> usize {
    text.bytes().map(escaped_byte_len).sum()
}

/// Length of `text` as a JSON string, quotes included.
pub fn json_string_len(text: &str) -> usize {
    2 + json_escaped_len(text)
}

fn escaped_byte_len(byte: u8) -> usize {
    match byte {
        b'"' | b'\\' | 0x08 | 0x09 | 0x0a | 0x0c | 0x0d => 2,
        0x00..=0x1f => 6,
        _ => 1,
    }
}

/// The size of the JSON the Lambda runtime posts for `response`, as lambda_http builds it for
/// API Gateway HTTP API (payload v2): status, headers, cookies and the body, which lambda_http
/// first re-reads by content type (text, decoded as UTF-8 with U+FFFD for invalid bytes; or
/// base64). Exact for UTF-8 text and binary bodies; an upper bound for text in another charset.
pub fn response_size(response: &Response) -> usize {
    let as_text = sent_as_text(response.headers());
    let body = body_bytes(response.body());
    let body_json = if !as_text {
        2 + base64_len(body.len())
    } else if declares_other_charset(response.headers()) {
        // Any charset decodes one byte to at most one character, and a character escapes
        // to at most 6 bytes (`\u001f`).
        2 + 6 * body.len()
    } else {
        lossy_utf8_json_len(body)
    };
    envelope_size(response, !as_text)
        .saturating_add(BODY_FIELD_BYTES)
        .saturating_add(body_json)
}

type Response = http::Response<Body>;

/// The response JSON without its body field; `usize::MAX` when a header is not UTF-8, which
/// the runtime could not serialize either.
fn envelope_size(response: &Response, base64: bool) -> usize {
    let mut headers = response.headers().clone();
    let cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect();
    headers.remove(SET_COOKIE);
    let mut envelope = ApiGatewayV2httpResponse::default();
    envelope.status_code = i64::from(response.status().as_u16());
    envelope.headers = headers;
    envelope.is_base64_encoded = base64;
    envelope.cookies = cookies;
    serde_json::to_vec(&envelope).map_or(usize::MAX, |json| json.len())
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Whether the body reaches the client byte for byte: base64 always does; text only when it
/// is UTF-8 and read as UTF-8, since lambda_http replaces what does not decode.
pub fn body_sent_unchanged(response: &Response) -> bool {
    !sent_as_text(response.headers())
        || (!declares_other_charset(response.headers())
            && std::str::from_utf8(body_bytes(response.body())).is_ok())
}

/// lambda_http's choice between a text and a base64 body (its `ConvertBody`).
fn sent_as_text(headers: &HeaderMap) -> bool {
    if headers.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let content_type = value.to_str().unwrap_or_default();
    let mime = content_type.trim().split(';').next().unwrap_or_default();
    TEXT_TYPE_PREFIXES
        .iter()
        .any(|p| content_type.starts_with(p))
        || TEXT_TYPE_SUFFIXES.iter().any(|s| mime.ends_with(s))
        || headers
            .get("x-lambda-http-content-encoding")
            .is_some_and(|v| v == "text")
}

/// Whether the content type names a charset other than UTF-8 (lambda_http decodes with it).
fn declares_other_charset(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    content_type.split(';').skip(1).any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        let value = value.trim().trim_matches('"').to_ascii_lowercase();
        name.trim().eq_ignore_ascii_case("charset") && !matches!(value.as_str(), "utf-8" | "utf8")
    })
}

/// The JSON string of `bytes` read as UTF-8, each invalid sequence replaced by U+FFFD.
fn lossy_utf8_json_len(bytes: &[u8]) -> usize {
    let replacement = '\u{fffd}'.len_utf8();
    2 + bytes
        .utf8_chunks()
        .map(|chunk| {
            let invalid = if chunk.invalid().is_empty() {
                0
            } else {
                replacement
            };
            json_escaped_len(chunk.valid()) + invalid
        })
        .sum::<usize>()
}

/// A lower bound of the event API Gateway sends for `request`: its body as the event carries
/// it (base64 when binary, escaped text otherwise), its headers, path and query string. The
/// request context and the other fields only add to it, so a request over the limit by this
/// count is refused by AWS too, and one AWS accepts is never refused here.
pub fn request_size_lower_bound(request: &lambda_http::Request) -> usize {
    let body = match request.body() {
        Body::Binary(bytes) => 2 + base64_len(bytes.len()),
        Body::Text(text) => json_string_len(text),
        _ => 0,
    };
    body + headers_size(request.headers()) + uri_size(request)
}

fn headers_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| {
            // `"name":"value",`
            json_string_len(name.as_str()) + 2 + value.len() + 2 + 1
        })
        .sum()
}

fn uri_size(request: &Request) -> usize {
    let uri = request.uri();
    json_string_len(uri.path())
        + uri.query().map_or(0, json_string_len)
        + request.query_string_parameters_ref().map_or(0, |params| {
            params.iter().map(|(k, v)| k.len() + v.len()).sum()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lengths_round_up_to_whole_quads() {
        use base64::Engine as _;
        for n in 0..20 {
            let encoded = base64::engine::general_purpose::STANDARD.encode(vec![0u8; n]);
            assert_eq!(base64_len(n), encoded.len(), "{n} bytes");
        }
    }

    #[test]
    fn escaped_lengths_match_serde_json_for_every_ascii_byte_and_beyond() {
        let mut samples: Vec<String> = (0u8..=127).map(|b| char::from(b).to_string()).collect();
        samples.extend(["é", "€", "😀", "\u{7f}", "\u{2028}", "a\"b\\c\nd\u{1}"].map(String::from));
        for text in samples {
            let json = serde_json::to_string(&text).unwrap();
            assert_eq!(json_string_len(&text), json.len(), "{text:?}");
        }
    }

    /// The length of the JSON lambda_http's adapter produces for `make()`'s response: what
    /// the runtime posts to the runtime API.
    async fn through_the_adapter(make: fn() -> Response) -> usize {
        use lambda_http::LambdaEvent;
        use lambda_http::request::LambdaRequest;
        use lambda_http::tower::ServiceExt;
        let service = lambda_http::service_fn(move |_request: Request| async move {
            Ok::<_, lambda_http::Error>(make())
        });
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /x", "rawPath": "/x", "rawQueryString": "",
            "headers": {}, "isBase64Encoded": false,
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "http": {"method": "GET", "path": "/x", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
                "requestId": "r", "routeKey": "GET /x", "stage": "$default", "time": "t", "timeEpoch": 0}
        });
        let payload: LambdaRequest = serde_json::from_value(event).unwrap();
        let event = LambdaEvent::new(payload, lambda_http::Context::default());
        let response = lambda_http::Adapter::from(service)
            .oneshot(event)
            .await
            .unwrap();
        serde_json::to_vec(&response).unwrap().len()
    }

    fn with(content_type: Option<&str>, body: Body) -> Response {
        let mut builder = http::Response::builder()
            .status(200)
            .header("x-correlation-id", "c-1")
            .header(
                "content-disposition",
                "attachment; filename=\"a \\\"b\\\".txt\"",
            );
        if let Some(content_type) = content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        builder.body(body).unwrap()
    }

    #[tokio::test]
    async fn the_computed_size_is_what_the_runtime_sends() {
        type Case = (&'static str, fn() -> Response);
        let cases: Vec<Case> = vec![
            ("json", || {
                with(
                    Some("application/json"),
                    Body::Text("[{\"a\":\"\\u0001 \\\" é 😀\"}]".into()),
                )
            }),
            ("text with escapes", || {
                with(
                    Some("text/plain"),
                    Body::Text("a\"b\\c\nd\te\u{1}\u{1f}😀".into()),
                )
            }),
            ("binary, 0 to 4 bytes", || {
                with(Some("image/png"), Body::Binary(vec![]))
            }),
            ("binary 1", || {
                with(Some("image/png"), Body::Binary(vec![1]))
            }),
            ("binary 2", || {
                with(Some("image/png"), Body::Binary(vec![1, 2]))
            }),
            ("binary 4", || {
                with(Some("image/png"), Body::Binary(vec![1, 2, 3, 4]))
            }),
            ("binary sent as text, invalid UTF-8", || {
                with(
                    Some("text/csv"),
                    Body::Binary(vec![b'a', 0xff, 0xfe, b'"', 0xe2, 0x82, 1, 0xc3, 0xa9]),
                )
            }),
            ("svg is text", || {
                with(Some("image/svg+xml"), Body::Binary(b"<svg/>\n".to_vec()))
            }),
            ("no content type is text", || {
                with(None, Body::Binary(vec![b'x', 0x80]))
            }),
            ("empty, no content type", || with(None, Body::Empty)),
            ("empty binary", || with(Some("video/mp4"), Body::Empty)),
            ("content-encoding forces base64", || {
                let mut r = with(Some("application/json"), Body::Text("{}".into()));
                r.headers_mut()
                    .insert(CONTENT_ENCODING, "gzip".parse().unwrap());
                r
            }),
            ("redirect with a cookie", || {
                let mut r = with(None, Body::Empty);
                *r.status_mut() = http::StatusCode::FOUND;
                r.headers_mut()
                    .insert("location", "https://s3/x?a=1&b=%2F".parse().unwrap());
                r.headers_mut().append(SET_COOKIE, "a=1".parse().unwrap());
                r.headers_mut()
                    .append(SET_COOKIE, "b=2; Path=/".parse().unwrap());
                r
            }),
        ];
        for (name, make) in cases {
            assert_eq!(
                response_size(&make()),
                through_the_adapter(make).await,
                "{name}"
            );
        }
    }

    #[test]
    fn only_text_that_is_not_utf8_is_altered_on_the_way_out() {
        let latin1 = || with(Some("text/csv"), Body::Binary(b"caf\xe9".to_vec()));
        assert!(!body_sent_unchanged(&latin1()));
        assert!(body_sent_unchanged(&with(
            Some("text/csv"),
            Body::Binary(b"caf\xc3\xa9".to_vec())
        )));
        assert!(body_sent_unchanged(&with(
            Some("image/png"),
            Body::Binary(vec![0xe9])
        )));
        assert!(!body_sent_unchanged(&with(
            Some("text/plain; charset=latin1"),
            Body::Binary(b"cafe".to_vec())
        )));
    }

    #[test]
    fn the_request_count_never_exceeds_the_event_api_gateway_sends() {
        use base64::Engine as _;
        for (body, base64) in [
            (
                base64::engine::general_purpose::STANDARD.encode(vec![7u8; 100_000]),
                true,
            ),
            (
                "{\"filename\": \"a \\\"b\\\".jpg\", \"tags\": \"x\\ny\"}".repeat(500),
                false,
            ),
        ] {
            let event = serde_json::json!({
                "version": "2.0", "routeKey": "POST /api/v1/events/{event_id}/media",
                "rawPath": "/api/v1/events/e/media", "rawQueryString": "a=1&b=%22",
                "queryStringParameters": {"a": "1", "b": "\""},
                "headers": {"content-type": "multipart/form-data; boundary=b", "authorization": "Bearer t.t.t"},
                "requestContext": {"accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                    "http": {"method": "POST", "path": "/api/v1/events/e/media", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
                    "requestId": "r", "routeKey": "POST /x", "stage": "$default", "time": "t", "timeEpoch": 0},
                "body": body, "isBase64Encoded": base64
            });
            let text = event.to_string();
            let request = lambda_http::request::from_str(&text).unwrap();
            let counted = request_size_lower_bound(&request);
            assert!(counted <= text.len(), "{counted} > {}", text.len());
            // Only the request context and the field names are left out.
            assert!(text.len() - counted < 1_000, "{counted} vs {}", text.len());
        }
    }

    #[tokio::test]
    async fn another_charset_is_bounded_from_above() {
        let make: fn() -> Response = || {
            with(
                Some("text/plain; charset=latin1"),
                Body::Binary(vec![0xe9, 1, b'"', b'a']),
            )
        };
        assert!(response_size(&make()) >= through_the_adapter(make).await);
    }
}
