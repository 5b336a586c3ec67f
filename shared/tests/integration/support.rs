//! Test harness: each test gets its own database and its own bucket on the real PostgreSQL
//! and SeaweedFS that `scripts/test.sh` starts, so tests run in parallel and never see each
//! other's rows or objects.

use std::collections::HashMap;

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use serde_json::Value;
use shared::AppState;
use shared::config::Config;
use shared::db;
use shared::storage::Storage;
use uuid::Uuid;

pub const FIXTURE_EVENT_ID: &str = "0b6c4f2e-5f1a-4c3e-9a57-3d2f1e8b7a01";
pub const FIXTURE_MEDIA_ID: &str = "7d3e9a10-2c4b-4f8e-8b1a-5e6f7a8b9c02";
pub const FIXTURE_TOKEN: &str = "REPLACE_WITH_DEV_TOKEN";
pub const SECRET: &str = "integration-test-secret";

fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through ./scripts/test.sh, which starts PostgreSQL and SeaweedFS")
    })
}

/// The URL of `database` on the test cluster.
pub fn database_url(database: &str) -> String {
    let admin = stack_var("PLUGS_TEST_ADMIN_DATABASE_URL");
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
    if query.is_empty() {
        format!("{server}/{database}")
    } else {
        format!("{server}/{database}?{query}")
    }
}

/// A connection to the test cluster's admin database.
pub async fn create_database_admin() -> db::Client {
    let admin = db::pool(
        &SecretString::from(stack_var("PLUGS_TEST_ADMIN_DATABASE_URL")),
        1,
    )
    .unwrap();
    admin.get().await.expect("the test PostgreSQL is reachable")
}

/// A fresh, empty database; returns its URL.
pub async fn create_database() -> String {
    let name = format!("t_{}", Uuid::new_v4().simple());
    let admin = db::pool(
        &SecretString::from(stack_var("PLUGS_TEST_ADMIN_DATABASE_URL")),
        1,
    )
    .unwrap();
    let client = admin.get().await.expect("the test PostgreSQL is reachable");
    client
        .batch_execute(&format!("create database {name}"))
        .await
        .unwrap();
    database_url(&name)
}

/// Variables Lambda sets that the AWS SDK reads: with both, it adds `x-amzn-trace-id` to
/// every request it builds, presigned ones included. The stack's env file exports them
/// (scripts/lib.sh), so the functions' code runs here as on Lambda; set at process start,
/// never by a test, since changing the environment of a running multi-threaded test
/// process races with every reader.
const LAMBDA_SDK_VARIABLES: [&str; 2] = ["AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID"];

/// Configuration for one test: the stack's S3 settings, `database_url`, `bucket`, and
/// any `overrides`.
pub fn config(database_url: &str, bucket: &str, overrides: &[(&str, &str)]) -> Config {
    for name in LAMBDA_SDK_VARIABLES {
        stack_var(name);
    }
    let mut vars: HashMap<String, String> = [
        "AWS_ENDPOINT_URL_S3",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "S3_FORCE_PATH_STYLE",
        "S3_REGION",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), stack_var(name)))
    .collect();
    vars.insert("S3_USE_IAM_ROLE".into(), "false".into());
    vars.insert("DATABASE_URL".into(), database_url.into());
    vars.insert("S3_BUCKET_NAME".into(), bucket.into());
    vars.insert("SECRET_KEY".into(), SECRET.into());
    for (k, v) in overrides {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration is valid")
}

/// One test's world: a migrated database, a bucket, and the state the handlers run with.
pub struct TestApp {
    pub state: AppState,
    pub database_url: String,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    /// With configuration overrides, e.g. `("MAX_FILE_SIZE", "1024")`.
    pub async fn with(overrides: &[(&str, &str)]) -> Self {
        let database_url = create_database().await;
        let bucket = format!("t-{}", Uuid::new_v4().simple());
        let config = config(&database_url, &bucket, overrides);
        let storage = Storage::from_config(&config).await;
        storage
            .client()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("the test SeaweedFS accepts a new bucket");
        let state = AppState::build(config, storage).await.unwrap();
        let mut client = state.db.get().await.unwrap();
        db::migrate::run(&mut client).await.unwrap();
        Self {
            state,
            database_url,
        }
    }

    /// The same database and bucket seen through other settings (a wrong S3 secret, an S3
    /// endpoint that is down): one of the sabotage tests' broken twins.
    pub async fn sibling(&self, overrides: &[(&str, &str)]) -> TestApp {
        self.sibling_on(&self.database_url, overrides).await
    }

    /// Like [`TestApp::sibling`], with another database URL (one that is unreachable).
    pub async fn sibling_on(&self, database_url: &str, overrides: &[(&str, &str)]) -> TestApp {
        let config = config(database_url, self.state.storage().bucket(), overrides);
        let storage = Storage::from_config(&config).await;
        TestApp {
            state: AppState::build(config, storage).await.unwrap(),
            database_url: self.database_url.clone(),
        }
    }

    /// Makes every insert into event_media fail from now on, as a database failing between
    /// the S3 write and the row would.
    pub async fn refuse_media_inserts(&self) {
        self.db()
            .await
            .batch_execute(
                "create function refuse_media() returns trigger language plpgsql as $$
                 begin raise exception 'sabotage: insert refused'; end $$;
                 create trigger refuse_media before insert on event_media
                 for each row execute function refuse_media();",
            )
            .await
            .unwrap();
    }

    pub async fn db(&self) -> db::Client {
        self.state.db.get().await.unwrap()
    }

    /// A user with one event; returns (user id, event id, token).
    pub async fn organiser(&self) -> Organiser {
        let client = self.db().await;
        let user_id = Uuid::new_v4();
        let event_id = Uuid::new_v4();
        client
            .execute(
                "insert into users (id, email) values ($1, $2)",
                &[&user_id, &format!("{user_id}@example.com")],
            )
            .await
            .unwrap();
        client
            .execute(
                "insert into events (id, user_id, title) values ($1, $2, 'Launch party')",
                &[&event_id, &user_id],
            )
            .await
            .unwrap();
        Organiser {
            user_id,
            event_id,
            token: token_for(user_id),
        }
    }

    /// Another event of the same organiser.
    pub async fn second_event(&self, organiser: &Organiser) -> Uuid {
        let event_id = Uuid::new_v4();
        self.db()
            .await
            .execute(
                "insert into events (id, user_id, title) values ($1, $2, 'After party')",
                &[&event_id, &organiser.user_id],
            )
            .await
            .unwrap();
        event_id
    }

    /// Keys of every object in the bucket.
    pub async fn object_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .state
            .storage()
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }

    pub async fn media_count(&self) -> i64 {
        self.db()
            .await
            .query_one("select count(*) from event_media", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Calls one endpoint in-process, through the same adapter and dispatch the Lambda
    /// binary uses.
    pub async fn call(&self, endpoint: Endpoint, request: Request) -> Reply {
        let state = self.state.narrowed_to(&endpoint.spec());
        let response = shared::http::serve(request, |request| endpoint.handle(&state, request))
            .await
            .expect("the adapter never returns Err");
        assert_lambda_can_return(&response);
        Reply::from(response)
    }

    /// Uploads `bytes` named `file_name` to the organiser's event; returns the reply.
    pub async fn upload(
        &self,
        who: &Organiser,
        file_name: &str,
        bytes: &[u8],
        fields: &[(&str, &str)],
    ) -> Reply {
        let request = fixture(
            "upload-media",
            "upload-photo",
            who.event_id,
            Uuid::nil(),
            &who.token,
        );
        let request = with_multipart(request, &[Part::file("file", file_name, bytes)], fields);
        self.call(Endpoint::UploadMedia, request).await
    }

    /// Calls create-upload with `body` (JSON).
    pub async fn create_upload(&self, who: &Organiser, body: Value) -> Reply {
        let request = request(Endpoint::CreateUpload, who, Uuid::nil());
        self.call(
            Endpoint::CreateUpload,
            with_body(request, serde_json::to_vec(&body).unwrap()),
        )
        .await
    }

    /// Calls complete-upload for `upload_id`.
    pub async fn complete_upload(&self, who: &Organiser, upload_id: &str) -> Reply {
        let upload_id = Uuid::parse_str(upload_id).unwrap();
        self.call(
            Endpoint::CompleteUpload,
            request(Endpoint::CompleteUpload, who, upload_id),
        )
        .await
    }

    /// A direct upload of the JPEG `bytes` whose PUT reached S3, waiting for its complete;
    /// returns the create-upload ticket.
    pub async fn ready_upload(&self, who: &Organiser, file_name: &str, bytes: Vec<u8>) -> Value {
        let body = serde_json::json!({"filename": file_name, "content_type": "image/jpeg", "file_size": bytes.len()});
        let ticket = self.create_upload(who, body).await.json();
        let (status, text) = put(&ticket, bytes).await;
        assert_eq!(status, 200, "{text}");
        ticket
    }

    /// Uploads a small PNG and returns its media JSON.
    pub async fn upload_png(&self, who: &Organiser) -> Value {
        let reply = self
            .upload(who, "photo.png", &png(), &[("title", "Photo")])
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()
    }
}

pub use shared::endpoint::Endpoint;

/// The registry's fixture of `endpoint`: (function folder, case).
pub fn fixture_of(endpoint: Endpoint) -> (&'static str, &'static str) {
    let spec = endpoint.spec();
    (spec.name, spec.fixture)
}

pub struct Organiser {
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub token: String,
}

pub fn token_for(user_id: Uuid) -> String {
    shared::auth::issue::sign(
        &shared::auth::issue::access_claims(user_id, 600),
        SECRET,
        jsonwebtoken::Algorithm::HS256,
    )
}

/// Loads `events/<function>/<case>.json` with the placeholders replaced.
pub fn fixture(function: &str, case: &str, event_id: Uuid, media_id: Uuid, token: &str) -> Request {
    let path = format!(
        "{}/../events/{function}/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = text
        .replace(FIXTURE_EVENT_ID, &event_id.to_string())
        .replace(FIXTURE_MEDIA_ID, &media_id.to_string())
        .replace(FIXTURE_TOKEN, token);
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture of `endpoint` for this organiser and media.
pub fn request(endpoint: Endpoint, who: &Organiser, media_id: Uuid) -> Request {
    let (function, case) = fixture_of(endpoint);
    fixture(function, case, who.event_id, media_id, &who.token)
}

pub fn with_header(mut request: Request, name: &'static str, value: &str) -> Request {
    request.headers_mut().insert(name, value.parse().unwrap());
    request
}

pub fn without_header(mut request: Request, name: &'static str) -> Request {
    request.headers_mut().remove(name);
    request
}

pub fn with_query(request: Request, pairs: &[(&str, &str)]) -> Request {
    use lambda_http::RequestExt;
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in pairs {
        map.entry((*k).to_owned())
            .or_default()
            .push((*v).to_owned());
    }
    request.with_query_string_parameters(map)
}

pub struct Part<'a> {
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    pub bytes: &'a [u8],
}

impl<'a> Part<'a> {
    pub fn file(name: &'a str, file_name: &'a str, bytes: &'a [u8]) -> Self {
        Self {
            name,
            file_name: Some(file_name),
            bytes,
        }
    }
}

pub const BOUNDARY: &str = "testboundary7MA4YWxkTrZu0gW";

/// Replaces the body with a multipart form of `parts` followed by text `fields`.
pub fn with_multipart(request: Request, parts: &[Part<'_>], fields: &[(&str, &str)]) -> Request {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match part.file_name {
            Some(file_name) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                    part.name
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", part.name).as_bytes(),
            ),
        }
        body.extend_from_slice(part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    with_body(
        with_header(
            request,
            "content-type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        ),
        body,
    )
}

pub fn with_body(request: Request, body: Vec<u8>) -> Request {
    let (parts, _) = request.into_parts();
    Request::from_parts(parts, Body::Binary(body))
}

/// Fails the test on an answer Lambda could not return (behind API Gateway a bare 502), and on
/// the edge's `RESPONSE_TOO_LARGE`, which only such an answer produces: no test input may
/// lead to either.
pub fn assert_lambda_can_return(response: &Response<Body>) {
    let size = shared::payload::response_size(response);
    assert!(
        size <= shared::payload::RESPONSE_MAX_BYTES,
        "a {} answer of {size} bytes exceeds Lambda's {}-byte response limit",
        response.status(),
        shared::payload::RESPONSE_MAX_BYTES
    );
    if let Body::Text(text) = response.body() {
        assert!(
            !text.contains("\"RESPONSE_TOO_LARGE\""),
            "the edge refused an oversized answer: {text}"
        );
    }
}

/// A response, read once.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl From<Response<Body>> for Reply {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = match body {
            Body::Empty => Bytes::new(),
            Body::Text(t) => Bytes::from(t),
            Body::Binary(b) => Bytes::from(b),
            _ => Bytes::new(),
        };
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The error code of an error reply.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// Asserts an error status and code, and the envelope's shape.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.text()
        );
        let error = &self.json()["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(error["timestamp"].as_str().is_some());
        assert_eq!(
            error["correlation_id"].as_str(),
            Some(self.header("x-correlation-id"))
        );
    }
}

/// A plain HTTP GET (for presigned URLs), with optional extra headers.
pub async fn http_get(
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    let url = url.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.get(&url);
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let mut response = request.call().expect("the S3 server answers");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.body_mut().read_to_vec().unwrap();
        (status, headers, body)
    })
    .await
    .unwrap()
}

/// The ticket's headers, as a client sends them.
pub fn headers_of(ticket: &Value) -> Vec<(String, String)> {
    ticket["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// The PUT a client makes with a create-upload ticket.
pub async fn put(ticket: &Value, body: Vec<u8>) -> (u16, String) {
    http_put(ticket["url"].as_str().unwrap(), &headers_of(ticket), body).await
}

/// A plain HTTP PUT (for presigned upload URLs); `content-length` comes from the body.
pub async fn http_put(url: &str, headers: &[(String, String)], body: Vec<u8>) -> (u16, String) {
    let url = url.to_owned();
    let headers = headers.to_vec();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut request = agent.put(&url);
        for (k, v) in headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
        {
            request = request.header(k, v);
        }
        let mut response = request.send(&body[..]).expect("the S3 server answers");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    })
    .await
    .unwrap()
}

/// A valid 1×1 PNG.
pub fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |bytes: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(data);
        bytes.extend_from_slice(&[0, 0, 0, 0]); // CRC: not checked by signature sniffing
    };
    chunk(
        &mut bytes,
        b"IHDR",
        &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0],
    );
    chunk(&mut bytes, b"IEND", &[]);
    bytes
}

/// A JPEG header followed by `size` bytes in total.
pub fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes =
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    bytes.extend((0..size.saturating_sub(bytes.len())).map(|i| (i % 251) as u8));
    bytes.truncate(size);
    bytes
}
