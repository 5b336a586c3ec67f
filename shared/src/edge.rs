//! The edge between API Gateway and the endpoint logic: reading path and query parameters,
//! and turning every handler result, success or [`ApiError`], into a response with a JSON
//! body and an `x-correlation-id` header, within Lambda's 6 MB limits ([`crate::payload`]).
//! A handler never returns `Err` to the runtime (API Gateway would answer a bare 502).

use std::future::Future;
use std::time::Instant;

use http::header::{CONTENT_TYPE, HeaderValue};
use lambda_http::LambdaEvent;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Body, Request, RequestExt, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::{metrics, payload};

pub type ApiResult = Result<Response<Body>, ApiError>;

/// The stage variable that marks a request whose body or path API Gateway sent in a form
/// lambda_http cannot convert. Clients cannot set stage variables, so they cannot fake it.
const UNREADABLE_MARK: &str = "plugs_media_unreadable_request";

/// Runs a function's handler on the Lambda runtime, like `lambda_http::run`, but answers a
/// request lambda_http would panic on (a body flagged base64 that is not, a path that is not
/// a URI) with a 400 instead of a crash reported as API Gateway's bare 502.
/// Each request's metrics line names `endpoint` (see [`serve_endpoint`]).
pub async fn run<F, Fut>(endpoint: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Send + Sync,
    Fut: Future<Output = ApiResult> + Send,
{
    let handler = &handler;
    let service =
        lambda_http::service_fn(move |request: Request| serve_endpoint(endpoint, request, handler));
    lambda_http::lambda_runtime::run(GuardUnreadable(lambda_http::Adapter::from(service))).await
}

/// Marks unreadable requests before lambda_http converts them (see [`run`]).
pub struct GuardUnreadable<S>(pub S);

impl<S> lambda_http::Service<LambdaEvent<LambdaRequest>> for GuardUnreadable<S>
where
    S: lambda_http::Service<LambdaEvent<LambdaRequest>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut event: LambdaEvent<LambdaRequest>) -> Self::Future {
        if let LambdaRequest::ApiGatewayV2(request) = &mut event.payload
            && is_unreadable(request)
        {
            request.body = None;
            request.is_base64_encoded = false;
            request.raw_path = Some("/".to_owned());
            request.raw_query_string = None;
            request
                .stage_variables
                .insert(UNREADABLE_MARK.to_owned(), "true".to_owned());
        }
        self.0.call(event)
    }
}

fn is_unreadable(request: &ApiGatewayV2httpRequest) -> bool {
    let bad_body =
        request.is_base64_encoded && request.body.as_deref().is_some_and(|b| !is_base64(b));
    let path = request.raw_path.as_deref().unwrap_or("/");
    let query = request.raw_query_string.as_deref().unwrap_or("");
    let bad_uri = http::Uri::try_from(format!("{path}?{query}")).is_err();
    bad_body || bad_uri
}

/// Whether lambda_http's decoder (base64's STANDARD engine) accepts `text`, checked in
/// 4-character-aligned slices through a small buffer, so a 4 MiB upload is not decoded into a
/// second 4 MiB copy just to be checked. Each 4-character group decodes on its own, so the
/// slices accept exactly what the whole would.
fn is_base64(text: &str) -> bool {
    use base64::Engine as _;
    const SLICE: usize = 4096;
    let mut buffer = [0u8; SLICE / 4 * 3];
    let bytes = text.as_bytes();
    let slices = bytes.len().div_ceil(SLICE);
    bytes.chunks(SLICE).enumerate().all(|(i, slice)| {
        // Padding may only end the whole text, not a slice of it.
        let padding_allowed = i + 1 == slices;
        (padding_allowed || !slice.contains(&b'='))
            && base64::engine::general_purpose::STANDARD
                .decode_slice(slice, &mut buffer)
                .is_ok()
    })
}

fn was_unreadable(request: &Request) -> bool {
    request
        .stage_variables_ref()
        .is_some_and(|vars| vars.first(UNREADABLE_MARK).is_some())
}

/// [`serve`] for the function of `endpoint` (its registry name), which also writes the
/// request's metrics line ([`crate::metrics`]): the one place requests are measured.
pub async fn serve_endpoint<F, Fut>(
    endpoint: &'static str,
    request: Request,
    handler: F,
) -> Result<Response<Body>, lambda_http::Error>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let started = Instant::now();
    let cold_start = metrics::first_request_in_process();
    let bytes_in = body_len(request.body());
    // On the heap: the handlers' futures are large, and this one holds one more level.
    let answering = Box::pin(answer(request, handler));
    let (answer, pool_wait) = metrics::measuring_pool_wait(answering).await;
    metrics::emit(&metrics::RequestRecord {
        endpoint,
        status: answer.response.status().as_u16(),
        error_code: answer.error_code,
        latency: started.elapsed(),
        bytes_in,
        bytes_out: body_len(answer.response.body()),
        cold_start,
        pool_wait,
        correlation_id: answer.correlation_id,
    });
    Ok(answer.response)
}

/// Runs `handler` and converts its outcome; the one place errors are logged.
pub async fn serve<F, Fut>(
    request: Request,
    handler: F,
) -> Result<Response<Body>, lambda_http::Error>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    Ok(answer(request, handler).await.response)
}

/// What the edge answered, with what the metrics line reports beside the response.
struct Answer {
    response: Response<Body>,
    /// The machine code of the error answered, if one was.
    error_code: Option<&'static str>,
    correlation_id: String,
}

async fn answer<F, Fut>(request: Request, handler: F) -> Answer
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = ApiResult>,
{
    let correlation_id = correlation_id(&request);
    let span = tracing::info_span!(
        "request",
        correlation_id = %correlation_id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let result = match refusal_before_handler(&request) {
        Some(err) => Err(err),
        None => tracing::Instrument::instrument(handler(request), span.clone()).await,
    };
    let (response, error_code) = span.in_scope(|| {
        let result = result.and_then(|response| {
            within_response_limit(with_correlation_id(response, &correlation_id))
        });
        match result {
            Ok(response) => (response, None),
            Err(err) => {
                let response = error_response(&err, &correlation_id);
                (
                    with_correlation_id(response, &correlation_id),
                    Some(err.code()),
                )
            }
        }
    });
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "answered"));
    Answer {
        response,
        error_code,
        correlation_id,
    }
}

/// The length of a request's or response's body in bytes.
fn body_len(body: &Body) -> usize {
    match body {
        Body::Empty => 0,
        Body::Text(text) => text.len(),
        Body::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

/// What API Gateway or lambda_http would refuse before any handler runs.
fn refusal_before_handler(request: &Request) -> Option<ApiError> {
    if was_unreadable(request) {
        return Some(ApiError::MalformedRequest(
            "the request could not be decoded (invalid base64 body or path)".into(),
        ));
    }
    if payload::request_size_lower_bound(request) > payload::REQUEST_MAX_BYTES {
        return Some(ApiError::RequestTooLarge {
            limit: payload::REQUEST_MAX_BYTES,
        });
    }
    None
}

/// The longest API Gateway request id taken as the correlation id.
const MAX_CORRELATION_ID_LEN: usize = 128;

/// The most [`serve`] adds to a handler's response JSON (the `x-correlation-id` header), for
/// handlers that size their answer to the response limit. The id may hold `"` or `\\`, each
/// escaped to 2 bytes.
pub const EDGE_HEADER_BYTES: usize =
    ",\"x-correlation-id\":\"\"".len() + 2 * MAX_CORRELATION_ID_LEN;

/// Whether a handler's `response` will fit Lambda's response once the edge adds its headers.
pub fn fits_response_limit(response: &Response<Body>) -> bool {
    payload::response_size(response).saturating_add(EDGE_HEADER_BYTES)
        <= payload::RESPONSE_MAX_BYTES
}

fn with_correlation_id(mut response: Response<Body>, correlation_id: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    response
}

/// `response` if Lambda can return it; otherwise 500 `RESPONSE_TOO_LARGE` (logged by
/// [`error_response`]), because behind API Gateway an oversized answer becomes a bare 502
/// that no log explains.
fn within_response_limit(response: Response<Body>) -> ApiResult {
    let size = payload::response_size(&response);
    if size <= payload::RESPONSE_MAX_BYTES {
        return Ok(response);
    }
    Err(ApiError::ResponseTooLarge {
        status: response.status().as_u16(),
        size,
        limit: payload::RESPONSE_MAX_BYTES,
    })
}

/// The error's JSON envelope with its status; 5xx causes go to the log, never the body.
pub fn error_response(err: &ApiError, correlation_id: &str) -> Response<Body> {
    let status = err.status_code();
    if status == 503 {
        // Back-pressure, expected under load: not an error of this service.
        tracing::warn!(code = err.code(), error = %error_chain(err), "request turned away");
    } else if status >= 500 {
        tracing::error!(code = err.code(), error = %error_chain(err), "request failed");
    } else {
        tracing::info!(code = err.code(), error_message = %err, "request refused");
    }
    let mut response = json_response(status, &err.envelope(correlation_id));
    if status == 503 {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(crate::error::RETRY_AFTER_SECONDS),
        );
    }
    if err.is_auth_failure() {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// `err` and every cause under it, `: `-separated: what the log needs, where `Display` alone
/// names only the outermost failure.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The API Gateway request id, so a client's report can be found in the logs.
pub fn correlation_id(request: &Request) -> String {
    let from_context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    from_context
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_CORRELATION_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .unwrap_or_else(|| Uuid::new_v4().to_string())
}

pub fn json_response(status: u16, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).expect("response types serialize");
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::Text(text))
        .expect("static response parts are valid")
}

pub fn empty_response(status: u16) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::Empty)
        .expect("static response parts are valid")
}

/// A UUID path parameter. API Gateway fills `pathParameters`; when it did not (a plain
/// function URL, a local router), the value is read from the path against `route`.
pub fn path_uuid(request: &Request, route: &str, name: &str) -> Result<Uuid, ApiError> {
    let raw = request
        .path_parameters_ref()
        .and_then(|params| params.first(name).map(str::to_owned))
        .or_else(|| match_route(route, request.uri().path(), name));
    let raw = raw.ok_or_else(|| ApiError::validation(&["path", name], "is missing"))?;
    parse_uuid(&raw).ok_or_else(|| ApiError::validation(&["path", name], "must be a UUID"))
}

/// A text path parameter, read as [`path_uuid`] reads its ids.
pub fn path_text(request: &Request, route: &str, name: &str) -> Option<String> {
    request
        .path_parameters_ref()
        .and_then(|params| params.first(name).map(str::to_owned))
        .or_else(|| match_route(route, request.uri().path(), name))
}

/// Accepts the hyphenated form only, in either case; `{...}`, `urn:` and bare hex forms
/// are refused so one resource has one name.
fn parse_uuid(raw: &str) -> Option<Uuid> {
    if raw.len() != 36 {
        return None;
    }
    Uuid::try_parse(raw).ok()
}

/// Finds the segment of `path` at the position of `{name}` in `route`, matching from the
/// end so a stage prefix (`/prod/api/...`) does not matter.
fn match_route(route: &str, path: &str, name: &str) -> Option<String> {
    let route_segments: Vec<&str> = route.trim_matches('/').split('/').collect();
    let path_segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if path_segments.len() < route_segments.len() {
        return None;
    }
    let offset = path_segments.len() - route_segments.len();
    let placeholder = format!("{{{name}}}");
    let mut found = None;
    for (i, segment) in route_segments.iter().enumerate() {
        let actual = path_segments[offset + i];
        if *segment == placeholder {
            found = Some(
                percent_encoding::percent_decode_str(actual)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
        } else if !segment.starts_with('{') && *segment != actual {
            return None;
        }
    }
    found
}

/// RFC 8187 `attr-char`: what may stay unescaped in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="..."; filename*=UTF-8''...` (RFC 6266): an ASCII fallback for old
/// clients and the exact UTF-8 name for the rest.
pub fn content_disposition(kind: &str, file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| !matches!(c, '"' | '\\'))
        .collect();
    let encoded = utf8_percent_encode(file_name, ATTR_CHAR);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// One query parameter, refused when given more than once.
pub fn single_query_param<'a>(
    request: &'a Request,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    let params = request.query_string_parameters_ref();
    let Some(values) = params.and_then(|p| p.all(name)) else {
        return Ok(None);
    };
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(ApiError::validation(
            &["query", name],
            "must be given at most once",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "/api/v1/events/{event_id}/media/{media_id}/download";

    #[test]
    fn route_parameters_are_read_from_the_path() {
        let path = "/api/v1/events/abc/media/def/download";
        assert_eq!(match_route(ROUTE, path, "event_id").as_deref(), Some("abc"));
        assert_eq!(match_route(ROUTE, path, "media_id").as_deref(), Some("def"));
        let staged = "/prod/api/v1/events/abc/media/def/download";
        assert_eq!(
            match_route(ROUTE, staged, "media_id").as_deref(),
            Some("def")
        );
        assert_eq!(
            match_route(ROUTE, "/api/v1/events/abc/media/def/stream", "media_id"),
            None
        );
    }

    #[test]
    fn only_the_hyphenated_uuid_form_is_accepted() {
        let id = "6F1C2D3E-0000-4000-8000-000000000001";
        assert_eq!(
            parse_uuid(id).unwrap(),
            Uuid::parse_str(&id.to_lowercase()).unwrap()
        );
        assert!(parse_uuid("{6f1c2d3e-0000-4000-8000-000000000001}").is_none());
        assert!(parse_uuid("6f1c2d3e000040008000000000000001").is_none());
        assert!(parse_uuid("not-a-uuid").is_none());
    }

    /// Sends one API Gateway event through the same stack as `run`, with a handler that
    /// answers 200, and returns the Lambda response as JSON.
    async fn through_the_runtime_adapter(event: serde_json::Value) -> serde_json::Value {
        use lambda_http::tower::ServiceExt;
        let handler = |_request: Request| async { Ok(empty_response(200)) };
        let service = lambda_http::service_fn(move |request: Request| serve(request, handler));
        let payload: LambdaRequest = serde_json::from_value(event).unwrap();
        let event = LambdaEvent::new(payload, lambda_http::Context::default());
        let response = GuardUnreadable(lambda_http::Adapter::from(service))
            .oneshot(event)
            .await
            .unwrap();
        serde_json::to_value(response).unwrap()
    }

    fn event_with_body(body: &str, base64: bool) -> serde_json::Value {
        serde_json::json!({
            "version": "2.0", "routeKey": "POST /x", "rawPath": "/api/v1/events/x/media", "rawQueryString": "",
            "headers": {"content-type": "multipart/form-data; boundary=b"},
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                "http": {"method": "POST", "path": "/api/v1/events/x/media", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "t"},
                "requestId": "r", "routeKey": "POST /x", "stage": "$default", "time": "t", "timeEpoch": 0},
            "body": body, "isBase64Encoded": base64
        })
    }

    #[test]
    fn sliced_base64_checking_agrees_with_decoding_the_whole() {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let long = engine.encode(vec![7u8; 10_000]);
        let mut cases = vec![
            String::new(),
            "QQ==".to_owned(),
            "QR==".to_owned(),
            "QQ=".to_owned(),
            "QQ".to_owned(),
            "QQ==QQ==".to_owned(),
            "a b=".to_owned(),
            long.clone(),
            format!("{long}A"),
            format!("{}={}", &long[..4096], &long[4097..]),
        ];
        cases.push(long[..4095].to_owned());
        // Padding that ends the first slice but not the text.
        cases.push(format!("{}QQ=={}", &long[..4092], &long[4096..]));
        for case in cases {
            assert_eq!(
                is_base64(&case),
                engine.decode(&case).is_ok(),
                "{:?}",
                &case[..case.len().min(20)]
            );
        }
    }

    #[tokio::test]
    async fn a_body_that_is_not_base64_is_a_400_not_a_panic() {
        let response =
            through_the_runtime_adapter(event_with_body("%%% not base64 %%%", true)).await;
        assert_eq!(response["statusCode"], 400, "{response}");
        assert!(
            response["body"]
                .as_str()
                .unwrap()
                .contains("MALFORMED_REQUEST")
        );
        let fine = through_the_runtime_adapter(event_with_body("aGVsbG8=", true)).await;
        assert_eq!(fine["statusCode"], 200, "{fine}");
        let text = through_the_runtime_adapter(event_with_body("plain", false)).await;
        assert_eq!(text["statusCode"], 200, "{text}");
    }

    #[tokio::test]
    async fn a_client_cannot_fake_the_unreadable_mark() {
        let mut event = event_with_body("aGVsbG8=", true);
        event["headers"][UNREADABLE_MARK] = serde_json::json!("true");
        event["rawQueryString"] = serde_json::json!(format!("{UNREADABLE_MARK}=true"));
        let response = through_the_runtime_adapter(event).await;
        assert_eq!(response["statusCode"], 200, "{response}");
    }

    async fn serve_answering(request: Request, answer: Response<Body>) -> Response<Body> {
        serve(request, |_request| async { Ok(answer) })
            .await
            .unwrap()
    }

    fn binary(len: usize) -> Response<Body> {
        Response::builder()
            .status(200)
            .header(CONTENT_TYPE, "image/jpeg")
            .body(Body::Binary(vec![7; len]))
            .unwrap()
    }

    fn error_code(response: &Response<Body>) -> String {
        let Body::Text(text) = response.body() else {
            panic!("JSON is text")
        };
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        json["error"]["code"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn an_answer_lambda_cannot_return_becomes_a_500_response_too_large() {
        // 5 MiB of bytes is about 7 MB of base64.
        let response = serve_answering(Request::default(), binary(5 * 1024 * 1024)).await;
        assert_eq!(response.status(), 500);
        assert_eq!(error_code(&response), "RESPONSE_TOO_LARGE");
        assert!(response.headers().contains_key("x-correlation-id"));

        let largest = (payload::RESPONSE_MAX_BYTES - 1024) / 4 * 3;
        let response = serve_answering(Request::default(), binary(largest)).await;
        assert_eq!(response.status(), 200);
        assert!(payload::response_size(&response) <= payload::RESPONSE_MAX_BYTES);
    }

    #[test]
    fn the_edge_adds_at_most_edge_header_bytes() {
        let worst_id = "\"".repeat(MAX_CORRELATION_ID_LEN);
        let bare = payload::response_size(&binary(10));
        let with_id = payload::response_size(&with_correlation_id(binary(10), &worst_id));
        assert_eq!(with_id - bare, EDGE_HEADER_BYTES);
    }

    #[tokio::test]
    async fn a_request_lambda_cannot_receive_is_refused_with_413() {
        // 4.8 MB of bytes is 6.4 MB of base64 in the event.
        let big = Request::new(Body::Binary(vec![0; 4_800_000]));
        let called = std::sync::atomic::AtomicBool::new(false);
        let response = serve(big, |_request| async {
            called.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(empty_response(204))
        })
        .await
        .unwrap();
        assert_eq!(response.status(), 413);
        assert_eq!(error_code(&response), "REQUEST_TOO_LARGE");
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst));

        let fits = Request::new(Body::Binary(vec![0; 4_500_000]));
        let response = serve_answering(fits, empty_response(204)).await;
        assert_eq!(response.status(), 204);
    }

    #[test]
    fn errors_become_json_with_the_bearer_challenge() {
        let response = error_response(&ApiError::TokenExpired, "corr-1");
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let Body::Text(text) = response.body() else {
            panic!("JSON is text")
        };
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(json["error"]["code"], "TOKEN_EXPIRED");
        assert_eq!(json["error"]["correlation_id"], "corr-1");
    }

    /// A writer that keeps what the subscriber writes.
    #[derive(Clone, Default)]
    struct Kept(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Kept {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// The metrics lines written while `requests` are served through the production
    /// subscriber with `filter`.
    async fn metrics_lines(
        filter: &str,
        requests: impl Future<Output = ()>,
    ) -> Vec<serde_json::Value> {
        let kept = Kept::default();
        let writer = kept.clone();
        let subscriber = crate::telemetry::subscriber(
            crate::telemetry::Format::Json,
            tracing_subscriber::EnvFilter::new(filter),
            move || writer.clone(),
        );
        let guard = tracing::dispatcher::set_default(&subscriber);
        requests.await;
        drop(guard);
        let text = kept.text();
        let documents = test_support::emf::documents(&text);
        for document in &documents {
            assert_eq!(
                test_support::emf::problems(document),
                Vec::<String>::new(),
                "{document}"
            );
        }
        documents
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_request_writes_one_metrics_line_with_its_status_code_and_sizes() {
        let lines = metrics_lines(crate::telemetry::DEFAULT_FILTER, async {
            let refused = Request::new(Body::Text("four".into()));
            serve_endpoint("get-media", refused, |_request| async {
                Err(ApiError::MediaNotFound)
            })
            .await
            .unwrap();
            let redirect = Response::builder()
                .status(302)
                .header("location", "https://example.com/x")
                .body(Body::Empty)
                .unwrap();
            let bytes = Request::new(Body::Binary(vec![1; 10]));
            serve_endpoint("download-media", bytes, |_request| async { Ok(redirect) })
                .await
                .unwrap();
            serve_endpoint("list-media", Request::default(), |_request| async {
                Ok(json_response(200, &serde_json::json!({"items": []})))
            })
            .await
            .unwrap();
        })
        .await;
        assert_eq!(lines.len(), 3, "{lines:?}");
        let [refused, redirect, listed] = &lines[..] else {
            unreachable!()
        };
        assert_eq!(refused["Endpoint"], "get-media");
        assert_eq!(refused["Status"], 404);
        assert_eq!(refused["StatusClass"], "4xx");
        assert_eq!(refused["ErrorCode"], "MEDIA_NOT_FOUND");
        assert_eq!(refused["Status4xx"], 1.0);
        assert_eq!(refused["BytesIn"], 4.0);
        let envelope = error_response(&ApiError::MediaNotFound, "x");
        let Body::Text(text) = envelope.body() else {
            panic!("JSON is text")
        };
        // The envelope with this request's own correlation id, whose length may differ.
        assert!(refused["BytesOut"].as_f64().unwrap() > text.len() as f64 / 2.0);
        assert!(
            refused["CorrelationId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );

        assert_eq!(redirect["Endpoint"], "download-media");
        assert_eq!(redirect["StatusClass"], "3xx");
        assert_eq!(redirect["BytesIn"], 10.0);
        assert_eq!(redirect["BytesOut"], 0.0);
        assert!(redirect.get("ErrorCode").is_none());

        assert_eq!(listed["BytesOut"], "{\"items\":[]}".len() as f64);
        assert_eq!(listed["Status5xx"], 0.0);
        for line in &lines {
            assert!(line["Latency"].as_f64().unwrap() >= 0.0);
            // No database was asked for.
            assert!(line.get("PoolWait").is_none(), "{line}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn metrics_are_written_whatever_the_log_level() {
        let lines = metrics_lines("off", async {
            serve_endpoint("get-media", Request::default(), |_request| async {
                Err(ApiError::ServiceBusy(crate::db::DbError::Setup(
                    crate::db::PoolSetupError("held".into()),
                )))
            })
            .await
            .unwrap();
        })
        .await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["ServiceBusy"], 1.0);
        assert_eq!(lines[0]["Status5xx"], 1.0);
    }
}
