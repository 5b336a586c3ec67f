//! Configuration: every environment variable the functions and the CLI read, parsed once at
//! cold start into one typed struct. Every problem is reported in a single error so an operator
//! fixes a broken deployment in one pass instead of one variable per redeploy.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use secrecy::SecretString;

use crate::secrets::SecretSource;

/// The hard ceiling for any presigned URL: a leaked link must expire quickly.
pub const MAX_PRESIGNED_TTL_SECONDS: u64 = 900;

/// Room an inline download keeps in Lambda's response for everything but the file: status,
/// headers (a 255-character name percent-encoded in `Content-Disposition` is ~3.4 KB, the
/// content type up to 255 characters), the correlation id and the JSON around them. The
/// download test checks the worst case stays within it.
pub const INLINE_DOWNLOAD_HEADROOM_BYTES: usize = 16 * 1024;

/// The largest `INLINE_DOWNLOAD_MAX_BYTES`: the most bytes whose base64 (4 characters per 3
/// bytes, in quotes) still fits Lambda's response after the headroom:
/// (6,291,556 − 16,384 − 2) / 4 × 3 = 4,706,376 bytes (rounded down to whole quads).
/// template.yaml's `InlineDownloadMaxBytes` allows the same (checked by deploy-checks).
pub const MAX_INLINE_DOWNLOAD_BYTES: u64 =
    ((crate::payload::RESPONSE_MAX_BYTES - INLINE_DOWNLOAD_HEADROOM_BYTES - 2) / 4 * 3) as u64;

/// `MAX_MULTIPART_FILE_SIZE`'s default: 20 GiB, the longest keynote recordings with room.
pub const DEFAULT_MAX_MULTIPART_FILE_SIZE: u64 = 20 * 1024 * 1024 * 1024;

/// S3's largest object (5 TiB): no multipart upload can make a larger one.
pub const S3_MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Everything the service needs to know about its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `S3_BUCKET_NAME`: the bucket that holds every object (default `plugs-bucket`).
    pub bucket: String,
    /// `S3_REGION`: the bucket's region (default `us-east-1`).
    pub region: String,
    /// `S3_USE_IAM_ROLE`: `true` uses the default AWS credential chain (the Lambda role);
    /// `false` requires `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, for local stacks.
    pub s3_credentials: S3Credentials,
    /// `AWS_ENDPOINT_URL_S3`: a non-AWS S3 endpoint, e.g. the local SeaweedFS.
    pub s3_endpoint_url: Option<String>,
    /// `S3_FORCE_PATH_STYLE`: address the bucket in the path instead of the host name.
    pub s3_force_path_style: bool,
    /// `MAX_FILE_SIZE`: the largest file accepted, in bytes (default 10485760).
    pub max_file_size: u64,
    /// The database credentials: `DATABASE_URL` (a PostgreSQL URL; `sslmode` and `sslrootcert`
    /// are honoured) or `DATABASE_SECRET_ARN` (a Secrets Manager secret holding such a URL or
    /// RDS's JSON), exactly one of them.
    pub database: SecretSource,
    /// `DATABASE_OPTIONS`: connection parameters that are not secret, in URL query form
    /// (`sslmode=verify-full&sslrootcert=/opt/rds-global-bundle.pem`), added to the URL the
    /// database secret gives; they win over the same parameter in it.
    pub database_options: Option<String>,
    /// `DATABASE_POOL_SIZE`: database connections per container (default 1, at most 10).
    /// Lambda serves one request at a time per container and a request uses one connection,
    /// so one is enough; every extra one is multiplied by the number of containers against
    /// the server's `max_connections`.
    pub database_pool_size: usize,
    /// `DATABASE_POOL_TIMEOUT_MS`: the longest a request waits for a database connection
    /// (a free one, or a new one to open) before it answers 503 SERVICE_BUSY (default 2000,
    /// from 100 to 20000).
    pub database_pool_timeout: Duration,
    /// `DATABASE_HOST`: a host (or host:port) to connect to instead of the secret's, such as
    /// an RDS Proxy endpoint; the secret's user, password and database are kept.
    pub database_host: Option<String>,
    /// `DATABASE_USER`: the user to log in as instead of the secret's (with IAM auth, the
    /// user the role may connect as).
    pub database_user: Option<String>,
    /// `DATABASE_IAM_AUTH`: log in with an RDS IAM auth token signed by the AWS credential
    /// chain instead of the secret's password (default false). Needs TLS.
    pub database_iam_auth: bool,
    /// The HMAC secret The Plugs backend signs its access tokens with: `SECRET_KEY` or
    /// `JWT_SECRET_ARN` (a Secrets Manager secret), exactly one of them. `None` only for a
    /// configuration read with [`Config::from_env_without_jwt`] (the sweep, which checks no
    /// tokens and is given no key).
    pub jwt_secret: Option<SecretSource>,
    /// `JWT_ALGORITHM`: the one algorithm tokens must be signed with (default HS256).
    pub jwt_algorithm: Algorithm,
    /// `PRESIGNED_URL_TTL_SECONDS`: lifetime of download and stream links (default 300, ≤ 900).
    pub presigned_url_ttl: Duration,
    /// `INLINE_DOWNLOAD_MAX_BYTES`: files up to this size are returned by `download` directly;
    /// larger ones are redirected to S3 (default 4 MiB; at most [`MAX_INLINE_DOWNLOAD_BYTES`],
    /// whose base64 still fits Lambda's 6 MB response).
    pub inline_download_max_bytes: u64,
    /// `PUBLIC_BASE_URL`: optional base for `file_url` (a CDN); without it `file_url` is the
    /// virtual-hosted S3 URL of the object.
    pub public_base_url: Option<String>,
    /// `UPLOAD_URL_TTL_SECONDS`: lifetime of a direct-upload URL (default 900, ≤ 3600); S3
    /// checks it when the PUT starts, so a slow upload that started in time completes.
    pub upload_url_ttl: Duration,
    /// `MAX_MULTIPART_FILE_SIZE`: the largest file a resumable (multipart) upload accepts, in
    /// bytes (default 21474836480, 20 GiB; at most 5 TiB, S3's largest object).
    pub max_multipart_file_size: u64,
    /// `S3_TIMEOUT_SECONDS`: the most one S3 operation may take, retries included (default
    /// 20), so a function answers S3_CONNECTION_ERROR before its own timeout when S3 hangs.
    pub s3_timeout: Duration,
    /// `SWEEP_GRACE_SECONDS`: objects younger than this are never called orphans, so an
    /// upload between its S3 write and its row insert is left alone (default 3600).
    pub sweep_grace: Duration,
    /// The key that signs and checks preview URLs (HMAC-SHA256), kept apart from the JWT key:
    /// `PREVIEW_SIGNING_KEY` or `PREVIEW_SIGNING_KEY_ARN` (a Secrets Manager secret), at most
    /// one of them. Required by the functions whose registry entry declares it (those that
    /// answer media JSON, and preview-media); `None` elsewhere.
    pub preview_key: Option<SecretSource>,
    /// `API_BASE_URL`: the API's public origin (and base path) that preview URLs start with,
    /// e.g. `https://media.example.com`; without it, the origin the request came in on
    /// (`X-Forwarded-Proto` and `Host`, which API Gateway sets).
    pub api_base_url: Option<String>,
    /// `SWEEP_DELETE_ORPHANS`: whether the sweep deletes objects under `events/` that no row
    /// points to, or only reports them (default false).
    pub sweep_delete_orphans: bool,
}

/// How the S3 client finds its credentials.
#[derive(Clone)]
pub enum S3Credentials {
    /// The default AWS chain: the Lambda execution role in production.
    DefaultChain,
    /// Keys from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (+ optional `AWS_SESSION_TOKEN`).
    Static {
        access_key_id: String,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
    },
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DefaultChain => f.write_str("DefaultChain"),
            Self::Static { access_key_id, .. } => {
                write!(f, "Static {{ access_key_id: {access_key_id:?}, .. }}")
            }
        }
    }
}

/// Every variable that was missing or invalid, one line each.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Whether the JWT key is part of the configuration being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JwtKey {
    Required,
    NotUsed,
}

impl Config {
    /// Reads the process environment, for a function that checks access tokens.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the process environment without the JWT key: for the sweep, which checks no
    /// tokens, so that it is never handed the key (nor permission to read it).
    pub fn from_env_without_jwt() -> Result<Self, ConfigError> {
        Self::parse(|name| std::env::var(name).ok(), JwtKey::NotUsed)
    }

    /// Reads variables through `lookup`, so tests can pass a map instead of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::parse(lookup, JwtKey::Required)
    }

    /// Like [`Config::from_lookup`], without the JWT key.
    pub fn from_lookup_without_jwt(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::parse(lookup, JwtKey::NotUsed)
    }

    fn parse(lookup: impl Fn(&str) -> Option<String>, jwt: JwtKey) -> Result<Self, ConfigError> {
        let mut env = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let bucket = env.string_or("S3_BUCKET_NAME", "plugs-bucket");
        let region = env.string_or("S3_REGION", "us-east-1");
        let use_iam_role = env.bool_or("S3_USE_IAM_ROLE", true);
        let s3_credentials = if use_iam_role {
            S3Credentials::DefaultChain
        } else {
            S3Credentials::Static {
                access_key_id: env.required("AWS_ACCESS_KEY_ID").unwrap_or_default(),
                secret_access_key: env
                    .required("AWS_SECRET_ACCESS_KEY")
                    .unwrap_or_default()
                    .into(),
                session_token: env.optional("AWS_SESSION_TOKEN").map(Into::into),
            }
        };
        let s3_endpoint_url = env.optional_url("AWS_ENDPOINT_URL_S3");
        let s3_force_path_style = env.bool_or("S3_FORCE_PATH_STYLE", false);
        let max_file_size =
            env.number_or("MAX_FILE_SIZE", 10_485_760, 1..=u64::from(i32::MAX as u32));
        let database = env.secret_source("DATABASE_URL", "DATABASE_SECRET_ARN");
        let database_options = env.optional("DATABASE_OPTIONS");
        let database_pool_size = env.number_or("DATABASE_POOL_SIZE", 1, 1..=10);
        let database_pool_timeout = env.number_or("DATABASE_POOL_TIMEOUT_MS", 2000, 100..=20_000);
        let database_host = env.optional("DATABASE_HOST");
        let database_user = env.optional("DATABASE_USER");
        let database_iam_auth = env.bool_or("DATABASE_IAM_AUTH", false);
        let jwt_secret = match jwt {
            JwtKey::Required => Some(env.secret_source("SECRET_KEY", "JWT_SECRET_ARN")),
            JwtKey::NotUsed => None,
        };
        let jwt_algorithm = env.jwt_algorithm("JWT_ALGORITHM");
        let ttl = env.number_or(
            "PRESIGNED_URL_TTL_SECONDS",
            300,
            1..=MAX_PRESIGNED_TTL_SECONDS,
        );
        let inline_download_max_bytes = env.number_or(
            "INLINE_DOWNLOAD_MAX_BYTES",
            4 * 1024 * 1024,
            0..=MAX_INLINE_DOWNLOAD_BYTES,
        );
        let public_base_url = env
            .optional_url("PUBLIC_BASE_URL")
            .map(|url| url.trim_end_matches('/').to_owned());
        let upload_ttl = env.number_or("UPLOAD_URL_TTL_SECONDS", 900, 1..=3600);
        let max_multipart_file_size = env.number_or(
            "MAX_MULTIPART_FILE_SIZE",
            DEFAULT_MAX_MULTIPART_FILE_SIZE,
            1..=S3_MAX_OBJECT_BYTES,
        );
        let s3_timeout = env.number_or("S3_TIMEOUT_SECONDS", 20, 1..=60);
        let sweep_grace = env.number_or("SWEEP_GRACE_SECONDS", 3600, 60..=30 * 86_400);
        let sweep_delete_orphans = env.bool_or("SWEEP_DELETE_ORPHANS", false);
        let preview_key =
            env.optional_secret_source("PREVIEW_SIGNING_KEY", "PREVIEW_SIGNING_KEY_ARN");
        let api_base_url = env
            .optional_url("API_BASE_URL")
            .map(|url| url.trim_end_matches('/').to_owned());

        if !env.problems.is_empty() {
            return Err(ConfigError {
                problems: env.problems,
            });
        }
        Ok(Self {
            bucket,
            region,
            s3_credentials,
            s3_endpoint_url,
            s3_force_path_style,
            max_file_size,
            database,
            database_options,
            database_pool_size: database_pool_size as usize,
            database_pool_timeout: Duration::from_millis(database_pool_timeout),
            database_host,
            database_user,
            database_iam_auth,
            jwt_secret,
            jwt_algorithm,
            presigned_url_ttl: Duration::from_secs(ttl),
            inline_download_max_bytes,
            public_base_url,
            upload_url_ttl: Duration::from_secs(upload_ttl),
            max_multipart_file_size,
            s3_timeout: Duration::from_secs(s3_timeout),
            sweep_grace: Duration::from_secs(sweep_grace),
            sweep_delete_orphans,
            preview_key,
            api_base_url,
        })
    }
}

impl Config {
    /// The public URL of an object, as stored in `event_media.file_url`: the CDN base when
    /// configured, else the virtual-hosted S3 URL. The upload endpoint and `migrate-files`
    /// both use it, so a migrated row looks like an uploaded one.
    pub fn file_url(&self, key: &str) -> String {
        match &self.public_base_url {
            Some(base) => format!("{base}/{key}"),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.bucket, self.region
            ),
        }
    }
}

/// Collects problems instead of stopping at the first one.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str) -> Option<String> {
        let value = self.optional(name);
        if value.is_none() {
            self.problems.push(format!("{name} is required"));
        }
        value
    }

    /// A secret given either as a value (`value_name`) or as a Secrets Manager secret's ARN or
    /// name (`arn_name`): exactly one of the two.
    fn secret_source(&mut self, value_name: &str, arn_name: &str) -> SecretSource {
        match (self.optional(value_name), self.optional(arn_name)) {
            (Some(value), None) => SecretSource::Value(value.into()),
            (None, Some(id)) => SecretSource::SecretsManager(id),
            (Some(_), Some(_)) => {
                self.problems
                    .push(format!("set {value_name} or {arn_name}, not both"));
                SecretSource::Value(String::new().into())
            }
            (None, None) => {
                self.problems
                    .push(format!("{value_name} or {arn_name} is required"));
                SecretSource::Value(String::new().into())
            }
        }
    }

    /// Like [`Reader::secret_source`], for a secret that may be absent.
    fn optional_secret_source(&mut self, value_name: &str, arn_name: &str) -> Option<SecretSource> {
        match (self.optional(value_name), self.optional(arn_name)) {
            (None, None) => None,
            _ => Some(self.secret_source(value_name, arn_name)),
        }
    }

    fn string_or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    fn bool_or(&mut self, name: &str, default: bool) -> bool {
        match self.optional(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no") => false,
            Some(v) => {
                self.problems
                    .push(format!("{name} must be true or false, got {v:?}"));
                default
            }
        }
    }

    fn number_or(&mut self, name: &str, default: u64, range: std::ops::RangeInclusive<u64>) -> u64 {
        let Some(raw) = self.optional(name) else {
            return default;
        };
        match raw.parse::<u64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.problems.push(format!(
                    "{name} must be a whole number from {} to {}, got {raw:?}",
                    range.start(),
                    range.end()
                ));
                default
            }
        }
    }

    fn optional_url(&mut self, name: &str) -> Option<String> {
        let url = self.optional(name)?;
        if url.starts_with("http://") || url.starts_with("https://") {
            Some(url)
        } else {
            self.problems.push(format!(
                "{name} must start with http:// or https://, got {url:?}"
            ));
            None
        }
    }

    fn jwt_algorithm(&mut self, name: &str) -> Algorithm {
        // Only the HMAC family: The Plugs signs with a shared secret, and accepting an
        // asymmetric algorithm here is the classic key-confusion hole.
        match self.optional(name).as_deref() {
            None | Some("HS256") => Algorithm::HS256,
            Some("HS384") => Algorithm::HS384,
            Some("HS512") => Algorithm::HS512,
            Some(other) => {
                self.problems.push(format!(
                    "{name} must be HS256, HS384 or HS512, got {other:?}"
                ));
                Algorithm::HS256
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const MINIMAL: &[(&str, &str)] = &[("DATABASE_URL", "postgres://db/x"), ("SECRET_KEY", "s")];

    #[test]
    fn the_proxy_endpoint_and_the_iam_login_are_read_and_off_by_default() {
        let config = config_from(MINIMAL).unwrap();
        assert_eq!(
            (
                config.database_host,
                config.database_user,
                config.database_iam_auth
            ),
            (None, None, false)
        );
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([
            (
                "DATABASE_HOST",
                "plugs.proxy-xyz.eu-west-1.rds.amazonaws.com",
            ),
            ("DATABASE_USER", "plugs_media"),
            ("DATABASE_IAM_AUTH", "true"),
        ]);
        let config = config_from(&pairs).unwrap();
        assert_eq!(
            config.database_host.as_deref(),
            Some("plugs.proxy-xyz.eu-west-1.rds.amazonaws.com")
        );
        assert_eq!(config.database_user.as_deref(), Some("plugs_media"));
        assert!(config.database_iam_auth);
        // What the template passes when the parameters are left empty.
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([
            ("DATABASE_HOST", ""),
            ("DATABASE_USER", ""),
            ("DATABASE_IAM_AUTH", "false"),
        ]);
        let config = config_from(&pairs).unwrap();
        assert_eq!(
            (
                config.database_host,
                config.database_user,
                config.database_iam_auth
            ),
            (None, None, false)
        );
        pairs.push(("DATABASE_IAM_AUTH", "sometimes"));
        assert!(config_from(&pairs).is_err());
    }

    #[test]
    fn defaults_follow_the_spec() {
        let config = config_from(MINIMAL).unwrap();
        assert_eq!(config.bucket, "plugs-bucket");
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.max_file_size, 10_485_760);
        assert!(matches!(config.s3_credentials, S3Credentials::DefaultChain));
        assert_eq!(config.jwt_algorithm, Algorithm::HS256);
        assert_eq!(config.presigned_url_ttl, Duration::from_secs(300));
        assert_eq!(config.inline_download_max_bytes, 4 * 1024 * 1024);
        assert_eq!(config.public_base_url, None);
    }

    #[test]
    fn the_inline_download_limit_is_the_most_whose_base64_fits_lambdas_response() {
        assert_eq!(MAX_INLINE_DOWNLOAD_BYTES, 4_706_376);
        let with_inline = |value: &str| {
            let mut pairs = MINIMAL.to_vec();
            pairs.push(("INLINE_DOWNLOAD_MAX_BYTES", value));
            config_from(&pairs).map(|c| c.inline_download_max_bytes)
        };
        assert_eq!(with_inline("4706376").unwrap(), MAX_INLINE_DOWNLOAD_BYTES);
        assert_eq!(with_inline("0").unwrap(), 0);
        // 5 MiB is ~7 MB of base64: more than Lambda can return.
        for refused in ["4706377", "5242880"] {
            let err = with_inline(refused).unwrap_err().to_string();
            assert!(err.contains("INLINE_DOWNLOAD_MAX_BYTES"), "{err}");
            assert!(err.contains("0 to 4706376"), "{err}");
        }
        let base64 = crate::payload::base64_len(MAX_INLINE_DOWNLOAD_BYTES as usize) + 2;
        assert!(base64 + INLINE_DOWNLOAD_HEADROOM_BYTES <= crate::payload::RESPONSE_MAX_BYTES);
        let one_quad_more = crate::payload::base64_len(MAX_INLINE_DOWNLOAD_BYTES as usize + 3) + 2;
        assert!(
            one_quad_more + INLINE_DOWNLOAD_HEADROOM_BYTES > crate::payload::RESPONSE_MAX_BYTES
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = config_from(&[
            ("S3_USE_IAM_ROLE", "maybe"),
            ("PRESIGNED_URL_TTL_SECONDS", "901"),
            ("JWT_ALGORITHM", "RS256"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "DATABASE_URL or DATABASE_SECRET_ARN is required",
            "SECRET_KEY or JWT_SECRET_ARN is required",
            "S3_USE_IAM_ROLE",
            "PRESIGNED_URL_TTL_SECONDS",
            "JWT_ALGORITHM",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(err.problems.len(), 5);
    }

    #[test]
    fn static_credentials_are_required_without_the_iam_role() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("S3_USE_IAM_ROLE", "false"));
        let err = config_from(&pairs).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");

        pairs.extend([("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")]);
        let config = config_from(&pairs).unwrap();
        let S3Credentials::Static {
            access_key_id,
            secret_access_key,
            ..
        } = config.s3_credentials
        else {
            panic!("expected static credentials");
        };
        assert_eq!(access_key_id, "AK");
        assert_eq!(secret_access_key.expose_secret(), "SK");
    }

    #[test]
    fn secrets_never_appear_in_debug_output() {
        let mut pairs = vec![
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("SECRET_KEY", "jwt-secret-value"),
        ];
        pairs.extend([
            ("S3_USE_IAM_ROLE", "false"),
            ("AWS_ACCESS_KEY_ID", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
        ]);
        let text = format!("{:?}", config_from(&pairs).unwrap());
        for secret in ["hunter2", "jwt-secret-value", "aws-secret-value"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn secrets_come_from_a_value_or_a_secrets_manager_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:plugs-db-AbCdEf";
        let config = config_from(&[
            ("DATABASE_SECRET_ARN", arn),
            ("DATABASE_OPTIONS", "sslmode=verify-full"),
            ("JWT_SECRET_ARN", "plugs-media/jwt-secret"),
        ])
        .unwrap();
        assert!(matches!(&config.database, SecretSource::SecretsManager(id) if id == arn));
        assert_eq!(
            config.database_options.as_deref(),
            Some("sslmode=verify-full")
        );
        assert!(matches!(&config.jwt_secret,
            Some(SecretSource::SecretsManager(id)) if id == "plugs-media/jwt-secret"));

        let config = config_from(MINIMAL).unwrap();
        assert!(
            matches!(&config.database, SecretSource::Value(url) if url.expose_secret() == "postgres://db/x")
        );
        assert!(
            matches!(&config.jwt_secret, Some(SecretSource::Value(key)) if key.expose_secret() == "s")
        );
    }

    #[test]
    fn a_secret_given_twice_is_refused() {
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([("DATABASE_SECRET_ARN", "db"), ("JWT_SECRET_ARN", "jwt")]);
        let err = config_from(&pairs).unwrap_err();
        assert_eq!(
            err.problems,
            [
                "set DATABASE_URL or DATABASE_SECRET_ARN, not both",
                "set SECRET_KEY or JWT_SECRET_ARN, not both"
            ]
        );
    }

    #[test]
    fn the_sweep_configuration_has_no_jwt_key_and_needs_none() {
        let config = Config::from_lookup_without_jwt(|name| {
            (name == "DATABASE_URL").then(|| "postgres://db/x".to_owned())
        })
        .unwrap();
        assert!(config.jwt_secret.is_none());
    }

    #[test]
    fn file_urls_use_the_cdn_base_or_the_s3_url() {
        let key = "events/e/media/2024/01/01/120000_000001.png";
        let mut pairs = MINIMAL.to_vec();
        pairs.extend([("S3_BUCKET_NAME", "b"), ("S3_REGION", "eu-west-1")]);
        assert_eq!(
            config_from(&pairs).unwrap().file_url(key),
            format!("https://b.s3.eu-west-1.amazonaws.com/{key}")
        );
        pairs.push(("PUBLIC_BASE_URL", "https://cdn.example.com/"));
        assert_eq!(
            config_from(&pairs).unwrap().file_url(key),
            format!("https://cdn.example.com/{key}")
        );
    }

    #[test]
    fn public_base_url_loses_its_trailing_slash() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("PUBLIC_BASE_URL", "https://cdn.example.com/"));
        let config = config_from(&pairs).unwrap();
        assert_eq!(
            config.public_base_url.as_deref(),
            Some("https://cdn.example.com")
        );
    }
}
