//! plugs-media's shared library: everything the Lambda functions and the `plugs-media` CLI
//! have in common. The functions are one table, [`endpoint`]; each function's `main` is
//! [`serve!`], which builds the [`AppState`] its entry declares once per container and
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
pub mod metrics;
pub mod payload;
pub mod preview;
pub mod preview_link;
pub mod secrets;
pub mod storage;
pub mod sweep;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;

use crate::auth::{Authenticator, KEY_REREAD_INTERVAL};
use crate::config::Config;
use crate::db::Database;
use crate::endpoint::{Capability, Spec};
use crate::preview_link::{PreviewLinks, PreviewSigner};
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
    previews: Option<Arc<PreviewSigner>>,
}

impl AppState {
    /// Reads the environment and the secrets (from Secrets Manager when their ARNs are
    /// given, concurrently) and builds what `spec` declares. Opens no database connection,
    /// so a cold start stays fast and a missing database shows up as a clean 500 on the
    /// first request.
    ///
    /// `S3_CLIENT` must be `spec.builds_s3_client()`, evaluated at compile time (write
    /// `for_function::<{ SPEC.builds_s3_client() }>(&SPEC)`; [`serve!`] does): it is a
    /// constant so that a function without an S3 client does not even link the code that
    /// makes one.
    pub async fn for_function<const S3_CLIENT: bool>(spec: &Spec) -> Result<Self, InitError>
    where
        S3Client<S3_CLIENT>: MakeS3Client,
    {
        if S3_CLIENT != spec.builds_s3_client() {
            return Err(InitError::S3ClientChoice {
                function: spec.name,
            });
        }
        let config = if spec.needs(Capability::JwtKey) {
            Config::from_env()?
        } else {
            Config::from_env_without_jwt()?
        };
        let secrets = Secrets::for_config(&config).await;
        // The secrets' round trips overlap with building the S3 client.
        let (storage, db, auth, previews) = tokio::try_join!(
            async { Ok(S3Client::<S3_CLIENT>::make(&config).await) },
            secrets.database(&config),
            async {
                match spec.needs(Capability::JwtKey) {
                    true => secrets.authenticator(&config).await.map(Some),
                    false => Ok(None),
                }
            },
            async {
                match spec.needs(Capability::PreviewKey) {
                    true => secrets.preview_signer(&config).await.map(Some),
                    false => Ok(None),
                }
            }
        )?;
        Ok(Self {
            config,
            db: Arc::new(db),
            storage,
            auth: auth.map(Arc::new),
            previews: previews.map(Arc::new),
        })
    }

    /// Everything, with the S3 client already made (tests point it at their own bucket, and
    /// narrow it per endpoint with [`AppState::narrowed_to`]).
    pub async fn build(config: Config, storage: Storage) -> Result<Self, InitError> {
        let secrets = Secrets::for_config(&config).await;
        let (db, auth, previews) = tokio::try_join!(
            secrets.database(&config),
            secrets.authenticator(&config),
            secrets.preview_signer(&config)
        )?;
        Ok(Self {
            config,
            db: Arc::new(db),
            storage: Some(storage),
            auth: Some(Arc::new(auth)),
            previews: Some(Arc::new(previews)),
        })
    }

    /// The same clients, less what `spec` does not declare: what its function would have
    /// built. A handler reaching for anything else panics in the tests.
    pub fn narrowed_to(&self, spec: &Spec) -> AppState {
        AppState {
            config: self.config.clone(),
            db: self.db.clone(),
            storage: self.storage.clone().filter(|_| spec.builds_s3_client()),
            auth: self.auth.clone().filter(|_| spec.needs(Capability::JwtKey)),
            previews: self
                .previews
                .clone()
                .filter(|_| spec.needs(Capability::PreviewKey)),
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

    /// The preview URL checker: only functions whose registry entry declares the preview key
    /// have one.
    pub fn preview_signer(&self) -> &PreviewSigner {
        self.previews
            .as_deref()
            .expect("the registry entry of this function declares no preview key")
    }

    /// The maker of media JSON's `previews` for one request, its URLs on the request's origin
    /// (or `API_BASE_URL`).
    pub fn preview_links(&self, headers: &http::HeaderMap) -> PreviewLinks {
        let origin = preview_link::request_origin(self.config.api_base_url.as_deref(), headers);
        PreviewLinks::new(
            self.previews.clone(),
            origin,
            chrono::Utc::now().timestamp(),
        )
    }

    /// The public URL of an object (see [`Config::file_url`]).
    pub fn file_url(&self, key: &str) -> String {
        self.config.file_url(key)
    }
}

/// Whether a function makes an S3 client, as a type: `S3Client<true>` makes one,
/// `S3Client<false>` answers `None` without naming [`Storage::from_config`] at all. The
/// choice is a compile-time constant (from the registry, see [`serve!`]), so a function that
/// declares neither S3 nor presigning links none of the S3 SDK's client code: a run-time
/// branch on its [`Spec`] kept all of it in every binary (get-media zipped 4.10 MB instead
/// of 3.95 MB).
pub struct S3Client<const MADE: bool>;

/// Makes the S3 client of a function, or none; see [`S3Client`].
pub trait MakeS3Client {
    fn make(config: &Config) -> impl Future<Output = Option<Storage>> + Send;
}

impl MakeS3Client for S3Client<true> {
    async fn make(config: &Config) -> Option<Storage> {
        Some(Storage::from_config(config).await)
    }
}

impl MakeS3Client for S3Client<false> {
    fn make(_config: &Config) -> impl Future<Output = Option<Storage>> + Send {
        std::future::ready(None)
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
            || [&config.jwt_secret, &config.preview_key]
                .into_iter()
                .flatten()
                .any(SecretSource::is_secrets_manager);
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
        let settings = db::ConnectionSettings {
            options: config.database_options.clone(),
            host: config.database_host.clone(),
            user: config.database_user.clone(),
            authentication: Self::authentication(config).await?,
        };
        Ok(Database::open(secret, settings, limits).await?)
    }

    /// IAM auth signs with the container's AWS credentials (the Lambda role), found once.
    async fn authentication(config: &Config) -> Result<db::Authentication, InitError> {
        if !config.database_iam_auth {
            return Ok(db::Authentication::Password);
        }
        let signer = db::iam::TokenSigner::from_env(&config.region)
            .await
            .map_err(db::DbError::from)?;
        Ok(db::Authentication::Iam(Arc::new(signer)))
    }

    async fn authenticator(&self, config: &Config) -> Result<Authenticator, InitError> {
        let source = config.jwt_secret.as_ref().ok_or(InitError::NoJwtKey)?;
        let secret = self.secret(source);
        Ok(Authenticator::open(secret, config.jwt_algorithm, KEY_REREAD_INTERVAL).await?)
    }
}

impl Secrets {
    /// The preview signing key, read once at cold start: a rotated key reaches new
    /// containers, and links signed with the old one answer 403 until the client asks for the
    /// media again.
    async fn preview_signer(&self, config: &Config) -> Result<PreviewSigner, InitError> {
        let source = config.preview_key.as_ref().ok_or(InitError::NoPreviewKey)?;
        let key = self.secret(source).read().await?;
        PreviewSigner::new(&key).map_err(|weak| InitError::WeakPreviewKey(weak.to_string()))
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
    /// The function makes preview URLs and neither `PREVIEW_SIGNING_KEY` nor
    /// `PREVIEW_SIGNING_KEY_ARN` is set.
    #[error("PREVIEW_SIGNING_KEY or PREVIEW_SIGNING_KEY_ARN is required")]
    NoPreviewKey,
    /// The preview signing key is too short.
    #[error("{0}")]
    WeakPreviewKey(String),
    /// A programming error: the configuration was read without the JWT key.
    #[error("the configuration was read without the JWT key")]
    NoJwtKey,
    /// A programming error: the function was compiled to make an S3 client, or not to, and
    /// its registry entry says the other (use [`serve!`]).
    #[error("{function} was compiled with the wrong S3 client choice for its registry entry")]
    S3ClientChoice { function: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Endpoint, SWEEP_UPLOADS};

    /// A function compiled with the other S3 client choice than its registry entry's is
    /// refused before it reads anything, instead of running without a client it needs (or
    /// with one it does not declare).
    #[tokio::test]
    async fn the_s3_client_choice_must_be_the_registry_entrys() {
        for spec in [Endpoint::GetMedia.spec(), Endpoint::ListZones.spec()] {
            let refused = AppState::for_function::<true>(&spec).await;
            assert!(
                matches!(refused, Err(InitError::S3ClientChoice { function }) if function == spec.name),
                "{}",
                spec.name
            );
        }
        for spec in [
            Endpoint::UploadMedia.spec(),
            Endpoint::StreamMedia.spec(),
            SWEEP_UPLOADS,
        ] {
            let refused = AppState::for_function::<false>(&spec).await;
            assert!(
                matches!(refused, Err(InitError::S3ClientChoice { function }) if function == spec.name),
                "{}",
                spec.name
            );
        }
    }
}
