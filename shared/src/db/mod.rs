//! PostgreSQL access: the connection pool (one per container) and one module per table.

pub mod events;
pub mod media;
pub mod migrate;
pub mod pending_uploads;
mod tls;

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use secrecy::ExposeSecret;
use secrecy::SecretString;

pub use deadpool_postgres::Client;

/// A pool of at most `max_size` connections, created lazily: building it does no I/O, so a
/// cold start does not wait for the database.
pub fn pool(database_url: &SecretString, max_size: usize) -> Result<Pool, PoolSetupError> {
    let (url, tls_mode) = tls::split_tls_options(database_url.expose_secret())?;
    let mut pg =
        tokio_postgres::Config::from_str(&url).map_err(|e| PoolSetupError(e.to_string()))?;
    pg.ssl_mode(tls_mode.ssl_mode());
    pg.connect_timeout(Duration::from_secs(5));
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
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(Duration::from_secs(5)),
            create: Some(Duration::from_secs(5)),
            recycle: Some(Duration::from_secs(5)),
        })
        .build()
        .map_err(|e| PoolSetupError(e.to_string()))
}

/// The database URL or its TLS options could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid DATABASE_URL: {0}")]
pub struct PoolSetupError(pub String);
