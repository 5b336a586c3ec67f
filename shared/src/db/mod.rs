//! PostgreSQL access: the connection pool (one per container), the [`Database`] that rebuilds
//! it when the credentials rotate, and one module per table.

pub mod credentials;
pub mod events;
pub mod media;
pub mod migrate;
pub mod multipart_uploads;
pub mod pending_uploads;
pub mod shape;
mod tls;
pub mod unnamed;
pub mod zones;

use std::str::FromStr;
use std::sync::RwLock;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use secrecy::ExposeSecret;
use secrecy::SecretString;

pub use deadpool_postgres::Client;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;
pub use unnamed::Unnamed;

use crate::secrets::{Secret, SecretError};

/// The container's database: a pool built from the credentials secret, rebuilt from a fresh
/// read of the secret when PostgreSQL refuses the credentials (they were rotated).
///
/// deadpool's manager keeps the connection settings it was built with, so a rotation means a
/// new pool; connections already open stay valid (PostgreSQL does not end sessions when a
/// password changes) and are dropped with the old pool.
pub struct Database {
    secret: Secret,
    options: Option<String>,
    limits: PoolLimits,
    /// The pool and how many times it was rebuilt, so callers that failed on the same pool
    /// re-read the secret once between them.
    current: RwLock<(Pool, u64)>,
    rebuild: tokio::sync::Mutex<()>,
    shape: shape::KnownShape,
}

impl Database {
    /// Reads the secret once and builds the pool (no connection is opened yet).
    pub async fn open(
        secret: Secret,
        options: Option<String>,
        limits: PoolLimits,
    ) -> Result<Self, DbError> {
        let pool = pool_from_secret(&secret, options.as_deref(), limits).await?;
        Ok(Self {
            secret,
            options,
            limits,
            current: RwLock::new((pool, 0)),
            rebuild: tokio::sync::Mutex::new(()),
            shape: shape::KnownShape::default(),
        })
    }

    /// The schema's shape, read from the catalog on the first call and kept after that.
    pub async fn shape(&self, client: &impl Unnamed) -> Result<shape::Shape, DbError> {
        Ok(self.shape.get(client).await?)
    }

    /// The pool in use now.
    pub fn pool(&self) -> Pool {
        self.snapshot().0
    }

    fn snapshot(&self) -> (Pool, u64) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A connection; when PostgreSQL refuses the credentials and they come from Secrets
    /// Manager, re-reads the secret once, rebuilds the pool and tries again.
    pub async fn get(&self) -> Result<Client, DbError> {
        let (pool, generation) = self.snapshot();
        match pool.get().await {
            Err(err) if is_authentication_failure(&err) && self.secret.is_rotatable() => {
                tracing::warn!(
                    secret = self.secret.id(),
                    "the database refused the credentials: re-reading the secret"
                );
                self.rebuild_after(generation).await?;
                Ok(self.pool().get().await?)
            }
            other => Ok(other?),
        }
    }

    /// Rebuilds the pool from a fresh read of the secret, unless another caller already
    /// rebuilt it since `seen`.
    async fn rebuild_after(&self, seen: u64) -> Result<(), DbError> {
        let _one_at_a_time = self.rebuild.lock().await;
        if self.snapshot().1 != seen {
            return Ok(());
        }
        let pool = pool_from_secret(&self.secret, self.options.as_deref(), self.limits).await?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = (pool, seen + 1);
        tracing::info!(
            secret = self.secret.id(),
            "database pool rebuilt with the re-read credentials"
        );
        Ok(())
    }
}

async fn pool_from_secret(
    secret: &Secret,
    options: Option<&str>,
    limits: PoolLimits,
) -> Result<Pool, DbError> {
    let text = secret.read().await?;
    let url = credentials::database_url(&text, options)?;
    Ok(pool_with_limits(&url, limits)?)
}

/// SQLSTATE 28P01 (wrong password) and 28000 (no such role, or pg_hba refuses it): what a
/// rotated secret looks like from the old credentials' side.
fn is_authentication_failure(err: &PoolError) -> bool {
    let PoolError::Backend(err) = err else {
        return false;
    };
    err.code().is_some_and(|code| {
        *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    })
}

/// What went wrong in the database layer: its secret, its URL, the connection or a
/// statement. The HTTP edge ([`crate::error`]) shows the client none of it: a 503 when
/// [`DbError::is_unavailable`] (try again shortly), a 500 otherwise.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The credentials secret could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The database URL or its TLS options cannot be used.
    #[error(transparent)]
    Setup(#[from] PoolSetupError),
    /// No connection could be had from the pool.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A statement (or its transaction) failed.
    #[error(transparent)]
    Query(#[from] tokio_postgres::Error),
}

impl DbError {
    /// The database cannot serve this request now but may in a moment: no connection was
    /// free within the pool's wait, or the server refused or dropped the connection, is
    /// starting up or shutting down, or has no connection slot left. A retry may succeed;
    /// a wrong password, bad SQL or a broken secret will not.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(PoolError::Timeout(_)) => true,
            DbError::Pool(PoolError::Backend(err)) | DbError::Query(err) => {
                is_transient_server_failure(err)
            }
            _ => false,
        }
    }
}

/// The SQLSTATEs of a server that is going away, not yet accepting, or full.
const UNAVAILABLE_STATES: [SqlState; 5] = [
    SqlState::ADMIN_SHUTDOWN,
    SqlState::CRASH_SHUTDOWN,
    SqlState::CANNOT_CONNECT_NOW,
    SqlState::TOO_MANY_CONNECTIONS,
    SqlState::CONNECTION_FAILURE,
];

/// The connection is gone or could not be made (an I/O error underneath: refused, reset),
/// or the server said it cannot serve now.
fn is_transient_server_failure(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        return UNAVAILABLE_STATES.contains(code);
    }
    std::error::Error::source(err).is_some_and(|source| source.is::<std::io::Error>())
}

/// How many connections a pool holds and how long a caller waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// At most this many connections at once.
    pub max_size: usize,
    /// The longest wait for a free connection, and for opening or checking one: past it
    /// the caller gets [`PoolError::Timeout`] (a 503), never a hang until the function's
    /// own timeout.
    pub wait: Duration,
}

impl PoolLimits {
    /// The wait of a pool whose caller does not choose one (the CLI, tests).
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);

    pub fn of_size(max_size: usize) -> Self {
        Self {
            max_size,
            wait: Self::DEFAULT_WAIT,
        }
    }
}

/// A pool of at most `max_size` connections with the default wait (see [`pool_with_limits`]).
pub fn pool(database_url: &SecretString, max_size: usize) -> Result<Pool, PoolSetupError> {
    pool_with_limits(database_url, PoolLimits::of_size(max_size))
}

/// A pool within `limits`, created lazily: building it does no I/O, so a cold start does not
/// wait for the database.
pub fn pool_with_limits(
    database_url: &SecretString,
    limits: PoolLimits,
) -> Result<Pool, PoolSetupError> {
    let (url, tls_mode) = tls::split_tls_options(database_url.expose_secret())?;
    let mut pg =
        tokio_postgres::Config::from_str(&url).map_err(|e| PoolSetupError(e.to_string()))?;
    pg.ssl_mode(tls_mode.ssl_mode());
    // A little longer than the pool's own create timeout, which then answers first (as a
    // timeout, which the edge knows to be a 503).
    pg.connect_timeout(limits.wait + Duration::from_secs(1));
    pg.application_name("plugs-media");
    let manager = Manager::from_config(
        pg,
        tls_mode.connector()?,
        // A frozen Lambda container keeps dead sockets; check each connection before reuse.
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
        .max_size(limits.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(limits.wait),
            create: Some(limits.wait),
            recycle: Some(limits.wait),
        })
        .build()
        .map_err(|e| PoolSetupError(e.to_string()))
}

/// The database URL or its TLS options could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid database URL: {0}")]
pub struct PoolSetupError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_secret_that_is_no_database_url_is_a_setup_error() {
        let opened = Database::open(
            Secret::fixed("hunter2".to_owned()),
            None,
            PoolLimits::of_size(1),
        )
        .await;
        let Err(err) = opened else {
            panic!("a password alone opened a database");
        };
        assert!(matches!(err, DbError::Setup(_)), "{err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_pool_error() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let url = "postgres://u:p@127.0.0.1:1/db?sslmode=disable".to_owned();
        let db = Database::open(Secret::fixed(url), None, PoolLimits::of_size(1))
            .await
            .unwrap();
        let Err(err) = db.get().await else {
            panic!("a connection to a closed port succeeded");
        };
        assert!(matches!(err, DbError::Pool(_)), "{err:?}");
        assert!(
            err.is_unavailable(),
            "a refused connection may succeed later: {err:?}"
        );
    }

    #[tokio::test]
    async fn a_database_url_that_cannot_be_used_is_not_unavailable_but_broken() {
        let opened = Database::open(
            Secret::fixed("postgres://u:p@127.0.0.1:1/db?sslmode=bogus".to_owned()),
            None,
            PoolLimits::of_size(1),
        )
        .await;
        let Err(err) = opened else {
            panic!("an unknown sslmode was accepted");
        };
        assert!(!err.is_unavailable(), "{err:?}");
    }
}
