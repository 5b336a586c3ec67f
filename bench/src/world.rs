//! The benchmark's world on the local stack: its own database (migrated) and bucket, one
//! organiser with three events (10 rows, 100 rows, and one for uploads and single items),
//! and the fixtures of `events/` turned into requests for that organiser. The database, the
//! bucket, the fixtures and the bodies come from `test-support`, as the tests' do.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use chrono::{Duration as ChronoDuration, Utc};
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::db::{self, media};
use shared::storage::{ObjectMetadata, Storage};
use test_support::fixtures::{self, Part};
use test_support::{Endpoint, Scratch, stack};
use uuid::Uuid;

pub use test_support::jpeg;

pub const MIB: usize = 1024 * 1024;

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
    token: String,
    fixtures: HashMap<(&'static str, &'static str), String>,
}

impl World {
    pub async fn create() -> Result<Self> {
        let mut env = Vec::new();
        for name in [
            "AWS_REGION",
            "SECRET_KEY",
            "PREVIEW_SIGNING_KEY",
            "AWS_EC2_METADATA_DISABLED",
        ] {
            env.push((name, stack::var(name)?));
        }
        // The create-upload fixture declares a 12 MiB file.
        env.push(("MAX_FILE_SIZE", (16 * MIB).to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let scratch = Scratch::create("bench", &env).await?;
        let config = scratch.config(&[])?;
        let storage = Storage::from_config(&config).await;
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
            &scratch.env["SECRET_KEY"],
            state.config.jwt_algorithm,
        );
        drop(client);

        let mut fixtures = HashMap::new();
        for key in Endpoint::ALL.map(test_support::fixture_of) {
            let text = fixtures::fixture_text(key.0, key.1)?;
            fixtures.insert(key, text);
        }

        let mut world = Self {
            state,
            function_env: scratch.env.into_iter().collect(),
            user_id,
            event,
            event_10,
            event_100,
            inline_media: Uuid::nil(),
            large_media: Uuid::nil(),
            large_key: String::new(),
            token,
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
        let endpoint = stack::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")?;
        let mut env: HashMap<String, String> = self.function_env.drain(..).collect();
        for (value_name, arn_name) in [
            ("DATABASE_URL", "DATABASE_SECRET_ARN"),
            ("SECRET_KEY", "JWT_SECRET_ARN"),
        ] {
            let value = env
                .remove(value_name)
                .with_context(|| format!("{value_name} is not in the functions' environment"))?;
            let arn = stack::create_secret("plugs-media-bench", &value).await?;
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
                self.state.db.shape(&client).await?,
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
                    analysis: None,
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
            self.state.db.shape(&client).await?,
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
                analysis: None,
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
        FixtureText(fixtures::fill(
            &self.fixtures[&fixture],
            event_id,
            media_id,
            &self.token,
        ))
    }
}

pub struct FixtureText(pub String);

impl FixtureText {
    pub fn parse_request(&self) -> Request {
        fixtures::parse(&self.0).expect("the fixtures are API Gateway events")
    }
}

/// The upload form the endpoint expects: the file and a title.
pub fn multipart(file: &[u8]) -> Vec<u8> {
    test_support::multipart_body(
        &[Part::file("file", "photo.jpg", file).typed("image/jpeg")],
        &[("title", "Benchmark"), ("tags", "photo,event")],
    )
}

pub use test_support::fixtures::with_form;
pub use test_support::multipart_content_type;

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
