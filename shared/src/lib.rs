//! plugs-media's shared library: everything the Lambda functions and the `plugs-media` CLI
//! have in common. Each function's `main` builds its state once per container ([`AppState`],
//! or the narrower [`ReadState`] and [`SweepState`] for functions that never touch S3 or
//! never check a token) and hands every request to one endpoint of [`api`] through
//! [`http::serve`].

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod keys;
pub mod media_type;
pub mod migrate_files;
pub mod payload;
pub mod secrets;
pub mod storage;
pub mod sweep;
pub mod telemetry;

use std::sync::Arc;

use crate::auth::{Authenticator, KEY_REREAD_INTERVAL};
use crate::config::Config;
use crate::db::Database;
use crate::secrets::{Secret, SecretError, SecretSource, SecretsManager};
use crate::storage::Storage;

/// What the endpoints that touch S3 need, built once per Lambda container and shared by its
/// requests.
pub struct AppState {
    pub config: Config,
    pub db: Database,
    pub storage: Storage,
    pub auth: Authenticator,
}

/// What the endpoints that only read the database need (list-media, get-media): no S3
/// client is built.
pub struct ReadState {
    pub db: Database,
    pub auth: Authenticator,
}

/// What the scheduled sweep needs: no JWT key is read (it checks no tokens).
pub struct SweepState {
    pub config: Config,
    pub db: Database,
    pub storage: Storage,
}

/// Connections per container: Lambda serves one request at a time per container, and the
/// list endpoint pipelines its two queries on one connection; the second covers a retry
/// while a dead connection is being replaced.
pub const POOL_SIZE: usize = 2;

impl AppState {
    /// Reads the environment, the secrets (from Secrets Manager when their ARNs are given,
    /// concurrently) and builds the clients. Opens no database connection, so a cold start
    /// stays fast and a missing database shows up as a clean 500 on the first request.
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        let secrets = Secrets::for_config(&config).await;
        // The secrets' round trips overlap with building the S3 client.
        let (storage, db, auth) = tokio::try_join!(
            async { Ok(Storage::from_config(&config).await) },
            secrets.database(&config),
            secrets.authenticator(&config)
        )?;
        Ok(Self {
            config,
            db,
            storage,
            auth,
        })
    }

    /// With the S3 client already made (tests point it at their own bucket).
    pub async fn build(config: Config, storage: Storage) -> Result<Self, InitError> {
        let secrets = Secrets::for_config(&config).await;
        let (db, auth) =
            tokio::try_join!(secrets.database(&config), secrets.authenticator(&config))?;
        Ok(Self {
            config,
            db,
            storage,
            auth,
        })
    }

    /// The public URL of an object (see [`Config::file_url`]).
    pub fn file_url(&self, key: &str) -> String {
        self.config.file_url(key)
    }
}

impl ReadState {
    pub async fn from_env() -> Result<Self, InitError> {
        Self::build(&Config::from_env()?).await
    }

    pub async fn build(config: &Config) -> Result<Self, InitError> {
        let secrets = Secrets::for_config(config).await;
        let (db, auth) = tokio::try_join!(secrets.database(config), secrets.authenticator(config))?;
        Ok(Self { db, auth })
    }
}

impl SweepState {
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env_without_jwt()?;
        let secrets = Secrets::for_config(&config).await;
        let (storage, db) = tokio::try_join!(
            async { Ok(Storage::from_config(&config).await) },
            secrets.database(&config)
        )?;
        Ok(Self {
            config,
            db,
            storage,
        })
    }
}

/// The configuration's database with a pool of `max_size` (the CLI's own sizes), its
/// credentials read as the functions read them.
pub async fn open_database(config: &Config, max_size: usize) -> Result<Database, InitError> {
    Secrets::for_config(config)
        .await
        .database_of_size(config, max_size)
        .await
}

/// The configuration's token checker, its key read as the functions read it.
pub async fn open_authenticator(config: &Config) -> Result<Authenticator, InitError> {
    Secrets::for_config(config)
        .await
        .authenticator(config)
        .await
}

/// The Secrets Manager client, made only when a secret of the configuration lives there.
struct Secrets(Option<Arc<SecretsManager>>);

impl Secrets {
    async fn for_config(config: &Config) -> Self {
        let needed = config.database.is_secrets_manager()
            || config
                .jwt_secret
                .as_ref()
                .is_some_and(SecretSource::is_secrets_manager);
        if !needed {
            return Self(None);
        }
        Self(Some(Arc::new(
            SecretsManager::from_env(&config.region).await,
        )))
    }

    fn secret(&self, source: &SecretSource) -> Secret {
        Secret::new(source.clone(), self.0.clone())
    }

    async fn database(&self, config: &Config) -> Result<Database, InitError> {
        self.database_of_size(config, POOL_SIZE).await
    }

    async fn database_of_size(
        &self,
        config: &Config,
        max_size: usize,
    ) -> Result<Database, InitError> {
        let secret = self.secret(&config.database);
        Ok(Database::open(secret, config.database_options.clone(), max_size).await?)
    }

    async fn authenticator(&self, config: &Config) -> Result<Authenticator, InitError> {
        let source = config.jwt_secret.as_ref().ok_or(InitError::NoJwtKey)?;
        let secret = self.secret(source);
        Ok(Authenticator::open(secret, config.jwt_algorithm, KEY_REREAD_INTERVAL).await?)
    }
}

/// Why a container could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Database(#[from] db::DatabaseError),
    #[error(transparent)]
    JwtSecret(#[from] SecretError),
    /// A programming error: the configuration was read without the JWT key.
    #[error("the configuration was read without the JWT key")]
    NoJwtKey,
}
