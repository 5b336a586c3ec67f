//! The benchmark's world on the local stack: its own database (migrated) and bucket, one
//! organiser with three events (10 rows, 100 rows, and one for uploads and single items),
//! and the fixtures of `events/` turned into requests for that organiser.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use chrono::{Duration as ChronoDuration, Utc};
use lambda_http::{Body, Request, Response};
use secrecy::SecretString;
use shared::AppState;
use shared::config::Config;
use shared::db::{self, media};
use shared::storage::{ObjectMetadata, Storage};
use uuid::Uuid;

const FIXTURE_EVENT_ID: &str = "0b6c4f2e-5f1a-4c3e-9a57-3d2f1e8b7a01";
const FIXTURE_MEDIA_ID: &str = "7d3e9a10-2c4b-4f8e-8b1a-5e6f7a8b9c02";
const FIXTURE_TOKEN: &str = "REPLACE_WITH_DEV_TOKEN";
pub const BOUNDARY: &str = "benchboundary7MA4YWxkTrZu0gW";

pub const MIB: usize = 1024 * 1024;

fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run through scripts/bench.sh (or scripts/test.sh), which start the stack")
    })
}

pub struct World {
    pub state: AppState,
    /// The environment a function process gets: the stack's, this world's database and bucket.
    pub function_env: Vec<(String, String)>,
    pub user_id: Uuid,
    /// Holds the single items and receives the uploads.
    pub event: Uuid,
    pub event_10: Uuid,
    pub event_100: Uuid,
    /// A 1 MiB JPEG, downloaded inline.
    pub inline_media: Uuid,
    /// A 5 MiB JPEG, over `INLINE_DOWNLOAD_MAX_BYTES`: downloads answer a redirect.
    pub large_media: Uuid,
    pub large_key: String,
    fixtures: HashMap<(&'static str, &'static str), String>,
}

impl World {
    pub async fn create() -> Result<Self> {
        let admin_url = var("PLUGS_TEST_ADMIN_DATABASE_URL")?;
        let name = format!("bench_{}", Uuid::new_v4().simple());
        let admin = db::pool(&SecretString::from(admin_url.clone()), 1)?;
        admin
            .get()
            .await
            .context("the stack's PostgreSQL is reachable")?
            .batch_execute(&format!("create database {name}"))
            .await?;
        let database_url = database_url(&admin_url, &name);
        let bucket = format!("bench-{}", Uuid::new_v4().simple());

        let mut vars: HashMap<String, String> = HashMap::new();
        for name in [
            "AWS_ENDPOINT_URL_S3",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "S3_FORCE_PATH_STYLE",
            "S3_REGION",
            "AWS_REGION",
            "SECRET_KEY",
            "AWS_EC2_METADATA_DISABLED",
        ] {
            vars.insert(name.into(), var(name)?);
        }
        vars.insert("S3_USE_IAM_ROLE".into(), "false".into());
        // The create-upload fixture declares a 12 MiB file.
        vars.insert("MAX_FILE_SIZE".into(), (16 * MIB).to_string());
        vars.insert("DATABASE_URL".into(), database_url);
        vars.insert("S3_BUCKET_NAME".into(), bucket.clone());
        let config = Config::from_lookup(|name| vars.get(name).cloned())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let storage = Storage::from_config(&config).await;
        storage
            .client()
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .context("create the benchmark bucket")?;
        let state = AppState::build(config, storage).await?;
        let mut client = state.db.get().await?;
        db::migrate::run(&mut client).await?;

        let user_id = Uuid::new_v4();
        client
            .execute(
                "insert into users (id, email) values ($1, $2)",
                &[&user_id, &format!("{user_id}@example.com")],
            )
            .await?;
        let [event, event_10, event_100] = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        for id in [event, event_10, event_100] {
            client
                .execute(
                    "insert into events (id, user_id, title) values ($1, $2, 'Benchmark')",
                    &[&id, &user_id],
                )
                .await?;
        }
        let token = shared::auth::issue::sign(
            &shared::auth::issue::access_claims(user_id, 24 * 3600),
            &vars["SECRET_KEY"],
            state.config.jwt_algorithm,
        );
        drop(client);

        let mut fixtures = HashMap::new();
        for key in [
            ("upload-media", "upload-photo"),
            ("list-media", "list-all"),
            ("get-media", "get-one"),
            ("download-media", "download"),
            ("stream-media", "stream"),
            ("delete-media", "delete"),
            ("create-upload", "create-video-upload"),
            ("complete-upload", "complete"),
        ] {
            let path = format!(
                "{}/../events/{}/{}.json",
                env!("CARGO_MANIFEST_DIR"),
                key.0,
                key.1
            );
            let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
            fixtures.insert(key, text.replace(FIXTURE_TOKEN, &token));
        }

        let mut world = Self {
            state,
            function_env: vars.into_iter().collect(),
            user_id,
            event,
            event_10,
            event_100,
            inline_media: Uuid::nil(),
            large_media: Uuid::nil(),
            large_key: String::new(),
            fixtures,
        };
        world.seed_rows(event_10, 10).await?;
        world.seed_rows(event_100, 100).await?;
        world.inline_media = world.put_media(event, MIB).await?.0;
        (world.large_media, world.large_key) = world.put_media(event, 5 * MIB).await?;
        Ok(world)
    }

    /// Runs the functions as on AWS: the database URL and the JWT key are stored as secrets on
    /// the stack's Secrets Manager, and the functions get their ARNs instead of the values, so
    /// a cold start includes reading them.
    pub async fn use_secrets_manager(&mut self) -> Result<()> {
        let endpoint = var("AWS_ENDPOINT_URL_SECRETS_MANAGER")?;
        let secrets = shared::secrets::SecretsManager::from_env("us-east-1").await;
        let mut env: HashMap<String, String> = self.function_env.drain(..).collect();
        for (value_name, arn_name) in [
            ("DATABASE_URL", "DATABASE_SECRET_ARN"),
            ("SECRET_KEY", "JWT_SECRET_ARN"),
        ] {
            let value = env
                .remove(value_name)
                .with_context(|| format!("{value_name} is not in the functions' environment"))?;
            let arn = secrets
                .client()
                .create_secret()
                .name(format!("plugs-media-bench/{}", Uuid::new_v4()))
                .secret_string(value)
                .send()
                .await
                .context("create a secret on the stack's Secrets Manager")?
                .arn
                .context("a created secret has an ARN")?;
            env.insert(arn_name.to_owned(), arn);
        }
        env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(), endpoint);
        self.function_env = env.into_iter().collect();
        Ok(())
    }

    /// `n` rows for the list endpoint (their objects are never read).
    async fn seed_rows(&self, event_id: Uuid, n: usize) -> Result<()> {
        let client = self.state.db.get().await?;
        let start = Utc::now();
        for i in 0..n {
            let at = start - ChronoDuration::seconds(i as i64);
            let key = shared::keys::event_media_key(event_id, at, "jpg");
            media::insert(
                &client,
                &media::NewMedia {
                    id: Uuid::new_v4(),
                    event_id,
                    title: Some("Benchmark photo"),
                    description: Some("A photo from the benchmark event"),
                    file_url: &self.state.file_url(key.as_str()),
                    s3_key: key.as_str(),
                    file_type: "image/jpeg",
                    file_size: 1024,
                    tags: "photo, event, memories",
                    original_filename: "photo.jpg",
                    created_at: at,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// A JPEG of `size` bytes in the bucket and its row, written the way the upload endpoint
    /// writes them; returns the media id and key.
    pub async fn put_media(&self, event_id: Uuid, size: usize) -> Result<(Uuid, String)> {
        let at = Utc::now();
        let key = shared::keys::event_media_key(event_id, at, "jpg");
        self.state
            .storage()
            .put_new(
                key.as_str(),
                jpeg(size).into(),
                "image/jpeg",
                ObjectMetadata {
                    event_id: event_id.to_string(),
                    user_id: self.user_id.to_string(),
                    original_filename: "photo.jpg".into(),
                },
            )
            .await?;
        let client = self.state.db.get().await?;
        let row = media::insert(
            &client,
            &media::NewMedia {
                id: Uuid::new_v4(),
                event_id,
                title: Some("Benchmark photo"),
                description: None,
                file_url: &self.state.file_url(key.as_str()),
                s3_key: key.as_str(),
                file_type: "image/jpeg",
                file_size: i32::try_from(size)?,
                tags: "photo",
                original_filename: "photo.jpg",
                created_at: at,
            },
        )
        .await?;
        Ok((row.id, key.as_str().to_owned()))
    }

    /// The fixture `events/<function>/<case>.json` for `event_id` and `media_id`.
    pub fn request(
        &self,
        fixture: (&'static str, &'static str),
        event_id: Uuid,
        media_id: Uuid,
    ) -> Request {
        self.request_text(fixture, event_id, media_id)
            .parse_request()
    }

    /// The fixture's JSON (the API Gateway event) for `event_id` and `media_id`.
    pub fn request_text(
        &self,
        fixture: (&'static str, &'static str),
        event_id: Uuid,
        media_id: Uuid,
    ) -> FixtureText {
        FixtureText(
            self.fixtures[&fixture]
                .replace(FIXTURE_EVENT_ID, &event_id.to_string())
                .replace(FIXTURE_MEDIA_ID, &media_id.to_string()),
        )
    }
}

pub struct FixtureText(pub String);

impl FixtureText {
    pub fn parse_request(&self) -> Request {
        lambda_http::request::from_str(&self.0).expect("the fixtures are API Gateway events")
    }
}

fn database_url(admin: &str, database: &str) -> String {
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
    if query.is_empty() {
        format!("{server}/{database}")
    } else {
        format!("{server}/{database}?{query}")
    }
}

/// A JPEG signature followed by filler, `size` bytes in total.
pub fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes =
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    bytes.extend((0..size.saturating_sub(bytes.len())).map(|i| (i % 251) as u8));
    bytes.truncate(size);
    bytes
}

/// The upload form the endpoint expects: the file and a title.
pub fn multipart(file: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(file.len() + 512);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(
        format!(
            "\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nBenchmark\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\nphoto,event\r\n--{BOUNDARY}--\r\n"
        )
        .as_bytes(),
    );
    body
}

pub fn multipart_content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// `request` with `body` as its binary body and the form's content type.
pub fn with_form(request: Request, body: Vec<u8>) -> Request {
    let (mut parts, _) = request.into_parts();
    parts.headers.insert(
        "content-type",
        multipart_content_type().parse().expect("valid header"),
    );
    parts.headers.remove("content-length");
    Request::from_parts(parts, Body::Binary(body))
}

/// The status, checked; the body's text for the error message.
pub fn expect_status(response: &Response<Body>, status: u16, what: &str) -> Result<()> {
    if response.status().as_u16() != status {
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        bail!(
            "{what}: expected {status}, got {}: {body}",
            response.status()
        );
    }
    Ok(())
}
