//! Test harness: each test gets its own database and its own bucket on the real PostgreSQL
//! and SeaweedFS that `scripts/test.sh` starts, so tests run in parallel and never see each
//! other's rows or objects. The stack, the fixtures' bytes, the dispatch and the consistency
//! check come from the `test-support` crate, which the CLI tests and the benchmark share.

use std::collections::HashMap;

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::AppState;
use shared::config::Config;
use shared::db;
use shared::storage::Storage;
use test_support::{Snapshot, stack};
use uuid::Uuid;

pub use test_support::fixtures::{
    FIXTURE_EVENT_ID, FIXTURE_MEDIA_ID, FIXTURE_TOKEN, with_body, with_multipart,
};
pub use test_support::{BOUNDARY, Endpoint, Part, fixture_of, jpeg, png};

pub const SECRET: &str = "integration-test-secret";
/// The preview URLs' signing key of every test (its own, not the JWT key).
pub const PREVIEW_KEY: &str = "integration-test-preview-signing-key-0123456789";

fn stack_var(name: &str) -> String {
    stack::var(name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A connection to the test cluster's admin database.
pub async fn create_database_admin() -> db::Client {
    stack::admin().await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// The URL of `database` on the test cluster.
pub fn database_url(database: &str) -> String {
    stack::database_url(&stack_var(stack::ADMIN_DATABASE_URL), database)
}

/// A fresh, empty database; returns its URL.
pub async fn create_database() -> String {
    stack::create_database("t_")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
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
    let mut vars = stack::stack_env().unwrap_or_else(|e| panic!("{e:#}"));
    vars.insert("DATABASE_URL".into(), database_url.into());
    vars.insert("S3_BUCKET_NAME".into(), bucket.into());
    vars.insert("SECRET_KEY".into(), SECRET.into());
    vars.insert("PREVIEW_SIGNING_KEY".into(), PREVIEW_KEY.into());
    stack::config_of(&vars, overrides).expect("test configuration is valid")
}

/// One test's world: a migrated database, a bucket, and the state the handlers run with.
pub struct TestApp {
    pub state: AppState,
    pub database_url: String,
    /// The URL that goes straight to PostgreSQL, for the test's own statements (see
    /// [`TestApp::db`]); `None` when only the state knows how to reach the database.
    pub direct_url: Option<String>,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    /// With configuration overrides, e.g. `("MAX_FILE_SIZE", "1024")`.
    pub async fn with(overrides: &[(&str, &str)]) -> Self {
        let schema = test_support::PlugsSchema::from_env().unwrap_or_else(|e| panic!("{e:#}"));
        Self::build(overrides, schema, false).await
    }

    /// On a database built as The Plugs' `schema`, with its seed rows when `with_rows`.
    pub async fn on_plugs(schema: test_support::PlugsSchema, with_rows: bool) -> Self {
        Self::build(&[], schema, with_rows).await
    }

    async fn build(
        overrides: &[(&str, &str)],
        schema: test_support::PlugsSchema,
        with_rows: bool,
    ) -> Self {
        let scratch = test_support::Scratch::create("t", &[("SECRET_KEY", SECRET)])
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let function_url = test_support::stack::function_database_url(&scratch.database_url);
        let config = config(&function_url, &scratch.bucket, overrides);
        let storage = Storage::from_config(&config).await;
        let state = AppState::build(config, storage).await.unwrap();
        let mut client = state.db.get().await.unwrap();
        schema.build(&client, with_rows).await.unwrap();
        db::migrate::run(&mut client).await.unwrap();
        Self {
            state,
            direct_url: Some(scratch.database_url.clone()),
            database_url: scratch.database_url,
        }
    }

    /// The same database and bucket seen through other settings (a wrong S3 secret, an S3
    /// endpoint that is down): one of the sabotage tests' broken twins.
    pub async fn sibling(&self, overrides: &[(&str, &str)]) -> TestApp {
        let function_url = test_support::stack::function_database_url(&self.database_url);
        self.sibling_on(&function_url, overrides).await
    }

    /// Like [`TestApp::sibling`], with another database URL (one that is unreachable).
    pub async fn sibling_on(&self, database_url: &str, overrides: &[(&str, &str)]) -> TestApp {
        let config = config(database_url, self.state.storage().bucket(), overrides);
        let storage = Storage::from_config(&config).await;
        TestApp {
            state: AppState::build(config, storage).await.unwrap(),
            database_url: self.database_url.clone(),
            direct_url: self.direct_url.clone(),
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

    /// What the sweep works on: this app's database and bucket.
    pub fn sweep_target(&self) -> shared::sweep::SweepTarget<'_> {
        shared::sweep::SweepTarget {
            db: &self.state.db,
            storage: self.state.storage(),
        }
    }

    /// A connection for the test's own statements (fixtures, checks, sabotage), from a pool
    /// of its own straight to PostgreSQL: not one of the state's, whose pool has one
    /// connection (as in a container) that a test holding it would keep from the handlers,
    /// and not through the stack's PgBouncer, whose transaction mode is for the functions'
    /// statements. The state's own when only the state knows how to reach the database.
    pub async fn db(&self) -> db::Client {
        match &self.direct_url {
            Some(url) => db::pool(&secrecy::SecretString::from(url.clone()), 1)
                .unwrap()
                .get()
                .await
                .unwrap(),
            None => self.state.db.get().await.unwrap(),
        }
    }

    /// The shape of this test's database (`PLUGS_SCHEMA` chose it).
    pub async fn shape(&self) -> db::shape::Shape {
        self.state.db.shape(&self.db().await).await.unwrap()
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

    /// The rows and objects now, to compare with a later snapshot.
    pub async fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.db().await, self.state.storage())
            .await
            .unwrap()
    }

    /// Objects under `events/` are exactly the live rows' keys, every object is encrypted,
    /// and every object under `temp/` belongs to a pending upload.
    pub async fn assert_consistent(&self) {
        self.snapshot()
            .await
            .assert_consistent(self.state.storage())
            .await;
    }

    /// The object's HEAD as S3 answers it: every header the API stored, not only ours.
    pub async fn head(&self, key: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
        self.state
            .storage()
            .client()
            .head_object()
            .bucket(self.state.storage().bucket())
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HeadObject {key}: {e}"))
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
        let response = test_support::serve(&self.state, endpoint, request).await;
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

    /// The create-upload ticket for a file of `file_size` bytes declared as `content_type`.
    pub async fn ticket(
        &self,
        who: &Organiser,
        file_name: &str,
        content_type: &str,
        file_size: usize,
    ) -> Value {
        let body = serde_json::json!({"filename": file_name, "content_type": content_type, "file_size": file_size});
        let reply = self.create_upload(who, body).await;
        assert_eq!(reply.status, 201, "{file_name}: {}", reply.text());
        reply.json()
    }

    /// A direct upload of `bytes` whose PUT reached S3, waiting for its complete; returns
    /// the create-upload ticket.
    pub async fn uploaded(
        &self,
        who: &Organiser,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Value {
        let ticket = self.ticket(who, file_name, content_type, bytes.len()).await;
        let (status, text) = put(&ticket, bytes).await;
        assert_eq!(status, 200, "{file_name}: {text}");
        ticket
    }

    /// [`TestApp::uploaded`] for a JPEG.
    pub async fn ready_upload(&self, who: &Organiser, file_name: &str, bytes: Vec<u8>) -> Value {
        self.uploaded(who, file_name, "image/jpeg", bytes).await
    }

    /// The whole direct path, create → PUT → complete; returns complete's reply.
    pub async fn direct_upload(
        &self,
        who: &Organiser,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Reply {
        let ticket = self.uploaded(who, file_name, content_type, bytes).await;
        self.complete_upload(who, ticket["upload_id"].as_str().unwrap())
            .await
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
    use test_support::fixtures::{fill, fixture_text, parse};
    let text = fixture_text(function, case).unwrap_or_else(|e| panic!("{e:#}"));
    parse(&fill(&text, event_id, media_id, token))
        .unwrap_or_else(|e| panic!("{function}/{case}: {e:#}"))
}

/// Every endpoint that checks an access token: all but the signed-URL ones (preview-media),
/// whose own checks are in previews.rs.
pub fn token_endpoints() -> impl Iterator<Item = Endpoint> {
    Endpoint::ALL
        .into_iter()
        .filter(|e| !shared::endpoint::SIGNED_URL_ENDPOINTS.contains(e))
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
    let answer = http_put_answer(url, headers, body).await;
    (answer.status, answer.text)
}

/// What S3 answered a PUT.
pub struct PutAnswer {
    pub status: u16,
    pub etag: Option<String>,
    pub text: String,
}

/// [`http_put`], with the answer's ETag.
pub async fn http_put_answer(url: &str, headers: &[(String, String)], body: Vec<u8>) -> PutAnswer {
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
        PutAnswer {
            status: response.status().as_u16(),
            etag: response
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned()),
            text: response.body_mut().read_to_string().unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

/// The zone of a media JSON: its `batch_id`, or on the seed-era shape (no zones, `batch_id`
/// null) the item itself.
pub fn zone_of(media: &Value) -> Uuid {
    let id = media["batch_id"].as_str().or(media["id"].as_str()).unwrap();
    Uuid::parse_str(id).unwrap()
}

impl TestApp {
    /// Moves the `others` media items into `media`'s zone (current shape), as The Plugs'
    /// multi-file upload groups them, and removes their emptied zones; returns the zone.
    pub async fn group(&self, media: &Value, others: &[&Value]) -> Uuid {
        let zone = zone_of(media);
        let client = self.db().await;
        for other in others {
            let id = Uuid::parse_str(other["id"].as_str().unwrap()).unwrap();
            client
                .execute(
                    "update event_media set zone_id = $1, batch_id = $1 where id = $2",
                    &[&zone, &id],
                )
                .await
                .unwrap();
            client
                .execute(
                    "delete from event_media_zones where id = $1",
                    &[&zone_of(other)],
                )
                .await
                .unwrap();
        }
        zone
    }
}

/// The logs of one test, written through the subscriber the functions install (JSON, as the
/// template's `AWS_LAMBDA_LOG_FORMAT` makes it, at the default level whatever `RUST_LOG` says
/// here) into memory instead of stdout.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Installs the production subscriber for this thread (a `current_thread` test), writing
    /// here, for as long as the guard lives.
    pub fn install() -> (Self, tracing::dispatcher::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = shared::telemetry::subscriber(
            shared::telemetry::Format::Json,
            shared::telemetry::default_filter(),
            move || writer.clone(),
        );
        let guard = tracing::dispatcher::set_default(&subscriber);
        (captured, guard)
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
