//! PostgreSQL access: the connection pool (one per container), the [`Database`] that rebuilds
//! it when the credentials rotate, and one module per table.

pub mod credentials;
pub mod events;
pub mod iam;
pub mod media;
pub mod migrate;
pub mod multipart_uploads;
pub mod pending_uploads;
pub mod shape;
mod tls;
pub mod unnamed;
pub mod zones;

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use deadpool_postgres::{
    Connect, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts,
};
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
    settings: ConnectionSettings,
    limits: PoolLimits,
    /// The pool and how many times it was rebuilt, so callers that failed on the same pool
    /// re-read the secret once between them.
    current: RwLock<(CurrentPool, u64)>,
    rebuild: tokio::sync::Mutex<()>,
    shape: shape::KnownShape,
}

impl Database {
    /// Reads the secret once and builds the pool (no connection is opened yet).
    pub async fn open(
        secret: Secret,
        settings: ConnectionSettings,
        limits: PoolLimits,
    ) -> Result<Self, DbError> {
        let pool = pool_from_secret(&secret, &settings, limits).await?;
        Ok(Self {
            secret,
            settings,
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
        self.snapshot().0.pool
    }

    fn snapshot(&self) -> (CurrentPool, u64) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A connection; when PostgreSQL refuses the credentials and they come from Secrets
    /// Manager, re-reads the secret once, rebuilds the pool and tries again.
    /// The time spent here counts as the request's pool wait ([`crate::metrics`]).
    pub async fn get(&self) -> Result<Client, DbError> {
        let started = std::time::Instant::now();
        let client = self.get_unmeasured().await;
        crate::metrics::record_pool_wait(started.elapsed());
        client
    }

    async fn get_unmeasured(&self) -> Result<Client, DbError> {
        let (current, generation) = self.snapshot();
        current.sign_ahead().await?;
        match current.pool.get().await {
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
        let pool = pool_from_secret(&self.secret, &self.settings, self.limits).await?;
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

/// Where and as whom the functions connect, and how they log in, over what the secret says.
#[derive(Debug, Clone, Default)]
pub struct ConnectionSettings {
    /// `DATABASE_OPTIONS`: URL query parameters added to the secret's URL.
    pub options: Option<String>,
    /// `DATABASE_HOST`: a host (or host:port) instead of the secret's, e.g. an RDS Proxy's.
    pub host: Option<String>,
    /// `DATABASE_USER`: a user instead of the secret's.
    pub user: Option<String>,
    pub authentication: Authentication,
}

/// How a new connection proves who it is.
#[derive(Debug, Clone, Default)]
pub enum Authentication {
    /// With the password in the URL (the secret's).
    #[default]
    Password,
    /// With an RDS IAM auth token for the host, port and user connected to, signed by the
    /// container's AWS credentials (`DATABASE_IAM_AUTH=true`).
    Iam(Arc<iam::TokenSigner>),
}

/// A pool, and when its connections log in with IAM, the signer and login of their tokens.
#[derive(Clone)]
struct CurrentPool {
    pool: Pool,
    iam: Option<(Arc<iam::TokenSigner>, iam::Login)>,
}

impl CurrentPool {
    /// Makes sure a token is at hand before the pool may open a connection: a signing
    /// failure is then reported as such ([`DbError::Iam`]), not as the server's refusal of
    /// a login without one. The token is kept, so the connection's own request for it is
    /// answered from memory.
    async fn sign_ahead(&self) -> Result<(), DbError> {
        if let Some((signer, login)) = &self.iam {
            signer.token(login).await?;
        }
        Ok(())
    }
}

async fn pool_from_secret(
    secret: &Secret,
    settings: &ConnectionSettings,
    limits: PoolLimits,
) -> Result<CurrentPool, DbError> {
    let text = secret.read().await?;
    let url = credentials::database_url(&text, settings.options.as_deref())?;
    let url = credentials::with_endpoint(url, settings.host.as_deref(), settings.user.as_deref())?;
    Ok(pool_logging_in(&url, limits, &settings.authentication)?)
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
    /// No IAM auth token could be signed for a new connection.
    #[error(transparent)]
    Iam(#[from] iam::IamAuthError),
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

/// The SQLSTATEs of a server that is going away, not yet accepting, or full, and of a
/// connection that could not be made or was lost (class 08, but 08P01: see below).
const UNAVAILABLE_STATES: [SqlState; 9] = [
    SqlState::ADMIN_SHUTDOWN,
    SqlState::CRASH_SHUTDOWN,
    SqlState::CANNOT_CONNECT_NOW,
    SqlState::TOO_MANY_CONNECTIONS,
    SqlState::CONNECTION_EXCEPTION,
    SqlState::CONNECTION_DOES_NOT_EXIST,
    SqlState::CONNECTION_FAILURE,
    SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
    SqlState::SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION,
];

/// What PgBouncer says, always as SQLSTATE 08P01 (protocol_violation), when it cannot serve
/// a client now: a query waited past `query_wait_timeout` for a server connection, no client
/// slot is left, the server cannot be reached or logged in to, or a server connection died
/// under a query (PostgreSQL restarting). 08P01 from PostgreSQL itself means a client bug, and
/// stays a 500: only these messages (PgBouncer 1.18's, matched by their start) are busy.
const POOLER_BUSY_MESSAGES: [&str; 7] = [
    "query_wait_timeout",
    "no more connections allowed",
    "server login has been failing",
    "client_login_timeout",
    "server conn crashed",
    "pgbouncer cannot connect to server",
    "server connections dropped",
];

/// The connection is gone or could not be made (an I/O error underneath: refused, reset),
/// or the server (or a pooler in front of it) said it cannot serve now.
fn is_transient_server_failure(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        return UNAVAILABLE_STATES.contains(code) || is_pooler_busy(err);
    }
    std::error::Error::source(err).is_some_and(|source| source.is::<std::io::Error>())
}

fn is_pooler_busy(err: &tokio_postgres::Error) -> bool {
    err.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::PROTOCOL_VIOLATION
            && POOLER_BUSY_MESSAGES
                .iter()
                .any(|busy| db.message().starts_with(busy))
    })
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
/// wait for the database. Its connections log in with the URL's password.
pub fn pool_with_limits(
    database_url: &SecretString,
    limits: PoolLimits,
) -> Result<Pool, PoolSetupError> {
    Ok(pool_logging_in(database_url, limits, &Authentication::Password)?.pool)
}

/// A pool within `limits` whose connections log in as `authentication` says.
fn pool_logging_in(
    database_url: &SecretString,
    limits: PoolLimits,
    authentication: &Authentication,
) -> Result<CurrentPool, PoolSetupError> {
    let (url, tls_mode) = tls::split_tls_options(database_url.expose_secret())?;
    let mut pg =
        tokio_postgres::Config::from_str(&url).map_err(|e| PoolSetupError(e.to_string()))?;
    pg.ssl_mode(tls_mode.ssl_mode());
    // A little longer than the pool's own create timeout, which then answers first (as a
    // timeout, which the edge knows to be a 503).
    pg.connect_timeout(limits.wait + Duration::from_secs(1));
    pg.application_name("plugs-media");
    let tls = tls_mode.connector()?;
    let iam = match authentication {
        Authentication::Password => None,
        Authentication::Iam(signer) => {
            if tls_mode == tls::TlsMode::Disable {
                // RDS and RDS Proxy refuse IAM logins without TLS; say so at cold start.
                return Err(PoolSetupError(
                    "DATABASE_IAM_AUTH needs TLS: sslmode=require, verify-ca or verify-full".into(),
                ));
            }
            Some((signer.clone(), iam_login(&pg)?))
        }
    };
    let connect = LoginConnect {
        tls,
        iam: iam.clone(),
    };
    let manager = Manager::from_connect(
        pg,
        connect,
        // A frozen Lambda container keeps dead sockets; check each connection before reuse.
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(limits.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(limits.wait),
            create: Some(limits.wait),
            recycle: Some(limits.wait),
        })
        .build()
        .map_err(|e| PoolSetupError(e.to_string()))?;
    Ok(CurrentPool { pool, iam })
}

/// The host, port and user an IAM token is signed for: the ones the connection uses.
fn iam_login(pg: &tokio_postgres::Config) -> Result<iam::Login, PoolSetupError> {
    let host = match pg.get_hosts() {
        [tokio_postgres::config::Host::Tcp(host)] => host.clone(),
        _ => {
            return Err(PoolSetupError(
                "DATABASE_IAM_AUTH needs exactly one TCP host in the database URL".into(),
            ));
        }
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let user = pg
        .get_user()
        .ok_or_else(|| PoolSetupError("DATABASE_IAM_AUTH needs a user in the database URL".into()))?
        .to_owned();
    Ok(iam::Login { host, port, user })
}

/// Opens each connection with the URL's password, or with IAM a current token in its place.
struct LoginConnect {
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    iam: Option<(Arc<iam::TokenSigner>, iam::Login)>,
}

type Connected = (tokio_postgres::Client, tokio::task::JoinHandle<()>);

impl Connect for LoginConnect {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> futures_util::future::BoxFuture<'_, Result<Connected, tokio_postgres::Error>> {
        let mut pg_config = pg_config.clone();
        Box::pin(async move {
            if let Some((signer, login)) = &self.iam {
                match signer.token(login).await {
                    Ok(token) => {
                        pg_config.password(token.expose_secret());
                    }
                    // Database::get signed ahead, so this is rare (the credentials went
                    // away in between); the login then fails without a password.
                    Err(err) => {
                        tracing::error!(error = %err, "no IAM auth token for a new connection")
                    }
                }
            }
            deadpool_postgres::ConfigConnectImpl {
                tls: self.tls.clone(),
            }
            .connect(&pg_config)
            .await
        })
    }
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
            ConnectionSettings::default(),
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
        let db = Database::open(
            Secret::fixed(url),
            ConnectionSettings::default(),
            PoolLimits::of_size(1),
        )
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

    fn iam_settings() -> ConnectionSettings {
        let credentials =
            aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test");
        ConnectionSettings {
            authentication: Authentication::Iam(Arc::new(iam::TokenSigner::new(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
                "eu-west-1",
            ))),
            ..ConnectionSettings::default()
        }
    }

    #[tokio::test]
    async fn iam_auth_without_tls_is_refused_at_setup() {
        let opened = Database::open(
            Secret::fixed("postgres://u@127.0.0.1:1/db?sslmode=disable".to_owned()),
            iam_settings(),
            PoolLimits::of_size(1),
        )
        .await;
        let Err(err) = opened else {
            panic!("IAM auth without TLS was accepted");
        };
        assert!(err.to_string().contains("needs TLS"), "{err}");
    }

    #[tokio::test]
    async fn an_iam_token_is_signed_for_the_host_port_and_user_connected_to() {
        let settings = ConnectionSettings {
            host: Some("plugs.proxy-xyz.eu-west-1.rds.amazonaws.com:6432".into()),
            user: Some("plugs_media".into()),
            ..iam_settings()
        };
        let db = Database::open(
            Secret::fixed("postgres://owner:pw@db.example:5432/plugs?sslmode=require".to_owned()),
            settings,
            PoolLimits::of_size(1),
        )
        .await
        .unwrap();
        let (current, _) = db.snapshot();
        let (signer, login) = current.iam.expect("an IAM pool");
        assert_eq!(
            login,
            iam::Login {
                host: "plugs.proxy-xyz.eu-west-1.rds.amazonaws.com".into(),
                port: 6432,
                user: "plugs_media".into(),
            }
        );
        let token = signer.token(&login).await.unwrap();
        assert!(
            token.expose_secret().starts_with(
                "plugs.proxy-xyz.eu-west-1.rds.amazonaws.com:6432/?Action=connect&DBUser=plugs_media&"
            ),
            "{}",
            token.expose_secret()
        );
    }

    #[tokio::test]
    async fn a_database_url_that_cannot_be_used_is_not_unavailable_but_broken() {
        let opened = Database::open(
            Secret::fixed("postgres://u:p@127.0.0.1:1/db?sslmode=bogus".to_owned()),
            ConnectionSettings::default(),
            PoolLimits::of_size(1),
        )
        .await;
        let Err(err) = opened else {
            panic!("an unknown sslmode was accepted");
        };
        assert!(!err.is_unavailable(), "{err:?}");
    }
}
