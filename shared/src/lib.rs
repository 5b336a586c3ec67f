//! plugs-media's shared library: everything the Lambda functions and the `plugs-media` CLI
//! have in common. Each function's `main` builds an [`AppState`] once per container and hands
//! every request to one endpoint of [`api`] through [`http::serve`].

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod keys;
pub mod media_type;
pub mod storage;
pub mod sweep;
pub mod telemetry;

use deadpool_postgres::Pool;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::storage::Storage;

/// What every endpoint needs, built once per Lambda container and shared by its requests.
pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    pub storage: Storage,
    pub auth: Authenticator,
}

/// Connections per container: Lambda serves one request at a time per container, and the
/// list endpoint pipelines its two queries on one connection; the second covers a retry
/// while a dead connection is being replaced.
pub const POOL_SIZE: usize = 2;

impl AppState {
    /// Reads the environment and builds the clients. Does no network I/O, so a cold start
    /// stays fast and a missing database shows up as a clean 500 on the first request.
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        let storage = Storage::from_config(&config).await;
        Self::new(config, storage)
    }

    pub fn new(config: Config, storage: Storage) -> Result<Self, InitError> {
        let pool = db::pool(&config.database_url, POOL_SIZE)?;
        let auth = Authenticator::new(&config.secret_key, config.jwt_algorithm);
        Ok(Self {
            config,
            pool,
            storage,
            auth,
        })
    }

    /// The public URL of an object (see [`Config::file_url`]).
    pub fn file_url(&self, key: &str) -> String {
        self.config.file_url(key)
    }
}

/// Why a container could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Database(#[from] db::PoolSetupError),
}
