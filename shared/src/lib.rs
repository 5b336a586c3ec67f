//! plugs-media's shared library: everything the Lambda functions and the `plugs-media` CLI
//! have in common. The functions are one table, [`endpoint`]; each function's `main` is
//! [`lambda::serve`], which builds the [`AppState`] its entry declares once per container and
//! hands every request to the entry's handler through [`edge::serve`].

pub mod analysis;
pub mod api;
pub mod auth;
pub mod aws;
pub mod config;
pub mod db;
pub mod edge;
pub mod endpoint;
pub mod error;
pub mod keys;
pub mod lambda;
pub mod media_type;
pub mod payload;
pub mod secrets;
pub mod storage;
pub mod sweep;
pub mod telemetry;

use std::sync::Arc;

use crate::auth::{Authenticator, KEY_REREAD_INTERVAL};
use crate::config::Config;
use crate::db::Database;
use crate::endpoint::{Capability, Spec};
use crate::secrets::{Secret, SecretError, SecretSource, SecretsManager};
use crate::storage::Storage;

/// What a function needs, built once per Lambda container and shared by its requests. Only
/// what its registry entry declares is built ([`endpoint::Spec::needs`]): list-media and
/// get-media make no S3 client, sweep-uploads reads no JWT key.
pub struct AppState {
    pub config: Config,
    pub db: Arc<Database>,
    storage: Option<Storage>,
    auth: Option<Arc<Authenticator>>,
}

impl AppState {
    /// Reads the environment and the secrets (from Secrets Manager when their ARNs are
    /// given, concurrently) and builds what `spec` declares. Opens no database connection,
    /// so a cold start stays fast and a missing database shows up as a clean 500 on the
    /// first request.
    pub async fn for_function(spec: &Spec) -> Result<Self, InitError> {
        let config = if spec.needs(Capability::JwtKey) {
            Config::from_env()?
        } else {
            Config::from_env_without_jwt()?
        };
        let wants_s3 = spec.needs(Capability::S3) || spec.needs(Capability::Presigner);
        let secrets = Secrets::for_config(&config).await;
        // The secrets' round trips overlap with building the S3 client.
        let (storage, db, auth) = tokio::try_join!(
            async {
                Ok(match wants_s3 {
                    true => Some(Storage::from_config(&config).await),
                    false => None,
                })
            },
            secrets.database(&config),
            async {
                match spec.needs(Capability::JwtKey) {
                    true => secrets.authenticator(&config).await.map(Some),
                    false => Ok(None),
                }
            }
        )?;
        Ok(Self {
            config,
            db: Arc::new(db),
            storage,
            auth: auth.map(Arc::new),
        })
    }

    /// Everything, with the S3 client already made (tests point it at their own bucket, and
    /// narrow it per endpoint with [`AppState::narrowed_to`]).
    pub async fn build(config: Config, storage: Storage) -> Result<Self, InitError> {
        let secrets = Secrets::for_config(&config).await;
        let (db, auth) =
            tokio::try_join!(secrets.database(&config), secrets.authenticator(&config))?;
        Ok(Self {
            config,
            db: Arc::new(db),
            storage: Some(storage),
            auth: Some(Arc::new(auth)),
        })
    }

    /// The same clients, less what `spec` does not declare: what its function would have
    /// built. A handler reaching for anything else panics in the tests.
    pub fn narrowed_to(&self, spec: &Spec) -> AppState {
        let wants_s3 = spec.needs(Capability::S3) || spec.needs(Capability::Presigner);
        AppState {
            config: self.config.clone(),
            db: self.db.clone(),
            storage: self.storage.clone().filter(|_| wants_s3),
            auth: self.auth.clone().filter(|_| spec.needs(Capability::JwtKey)),
        }
    }

    /// The S3 client. Only functions whose registry entry declares S3 or presigning have
    /// one; reaching for it elsewhere is a registry mistake, caught by the tests.
    pub fn storage(&self) -> &Storage {
        self.storage
            .as_ref()
            .expect("the registry entry of this function declares no S3 capability")
    }

    /// The token checker: only functions whose registry entry declares the JWT key have one.
    pub fn auth(&self) -> &Authenticator {
        self.auth
            .as_deref()
            .expect("the registry entry of this function declares no JWT key")
    }

    /// The public URL of an object (see [`Config::file_url`]).
    pub fn file_url(&self, key: &str) -> String {
        self.config.file_url(key)
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
        self.database_of_size(config, config.database_pool_size)
            .await
    }

    async fn database_of_size(
        &self,
        config: &Config,
        max_size: usize,
    ) -> Result<Database, InitError> {
        let secret = self.secret(&config.database);
        let limits = db::PoolLimits {
            max_size,
            wait: config.database_pool_timeout,
        };
        Ok(Database::open(secret, config.database_options.clone(), limits).await?)
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
    Database(#[from] db::DbError),
    #[error(transparent)]
    JwtSecret(#[from] SecretError),
    /// A programming error: the configuration was read without the JWT key.
    #[error("the configuration was read without the JWT key")]
    NoJwtKey,
}
