//! The local stack that `scripts/lib.sh` starts (PostgreSQL and SeaweedFS on loopback ports,
//! described by the variables its env file exports), and a fresh database and bucket on it
//! for one test or one benchmark run, so that runs never see each other's rows or objects.

use std::collections::HashMap;

use anyhow::{Context, Result};
use secrecy::SecretString;
use shared::config::Config;
use shared::db;
use shared::secrets::SecretsManager;
use shared::storage::Storage;
use uuid::Uuid;

/// The stack's administrative database; every scratch database is created through it.
pub const ADMIN_DATABASE_URL: &str = "PLUGS_TEST_ADMIN_DATABASE_URL";

/// `host:port` of the stack's PgBouncer, when it has one (`STACK_PGBOUNCER=1 stack_start`):
/// the functions reach the database through it, the tests' set-up and checks do not.
pub const DATABASE_PROXY: &str = "PLUGS_TEST_DATABASE_PROXY";

/// The stack's S3 settings, passed on to every configuration built on it.
const S3_VARIABLES: [&str; 5] = [
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "S3_FORCE_PATH_STYLE",
    "S3_REGION",
];

/// A variable of the stack's env file; its absence says how to get a stack.
pub fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!(
            "{name} is not set: run through ./scripts/test.sh, or start a stack with \
             `source scripts/lib.sh; stack_start DIR; source \"$STACK_DIR/env\"`"
        )
    })
}

/// The URL of `database` on the server of the `admin` URL, with the same query (TLS mode).
pub fn database_url(admin: &str, database: &str) -> String {
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
    if query.is_empty() {
        format!("{server}/{database}")
    } else {
        format!("{server}/{database}?{query}")
    }
}

/// `url` as the functions use it: through the stack's PgBouncer when it has one, else as it is.
pub fn function_database_url(url: &str) -> String {
    match std::env::var(DATABASE_PROXY) {
        Ok(proxy) if !proxy.is_empty() => through_proxy(url, &proxy),
        _ => url.to_owned(),
    }
}

/// `url` with its host and port replaced by `proxy`; user, database and query kept.
pub fn through_proxy(url: &str, proxy: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let user = authority.rsplit_once('@').map(|(user, _)| user);
    match user {
        Some(user) => format!("{scheme}://{user}@{proxy}{tail}"),
        None => format!("{scheme}://{proxy}{tail}"),
    }
}

/// A connection to the stack's administrative database.
pub async fn admin() -> Result<db::Client> {
    let pool = db::pool(&SecretString::from(var(ADMIN_DATABASE_URL)?), 1)?;
    pool.get()
        .await
        .context("the stack's PostgreSQL is reachable")
}

/// A new, empty database named `<prefix><random>`; returns its URL.
pub async fn create_database(prefix: &str) -> Result<String> {
    let name = format!("{prefix}{}", Uuid::new_v4().simple());
    admin()
        .await?
        .batch_execute(&format!("create database {name}"))
        .await
        .with_context(|| format!("create database {name}"))?;
    Ok(database_url(&var(ADMIN_DATABASE_URL)?, &name))
}

/// A new secret holding `value` on the stack's Secrets Manager (`AWS_ENDPOINT_URL_SECRETS_MANAGER`),
/// named `<prefix>/<random>` so that runs never share one; returns its ARN.
pub async fn create_secret(prefix: &str, value: &str) -> Result<String> {
    SecretsManager::from_env("us-east-1")
        .await
        .client()
        .create_secret()
        .name(format!("{prefix}/{}", Uuid::new_v4()))
        .secret_string(value)
        .send()
        .await
        .context("create a secret on the stack's Secrets Manager")?
        .arn
        .context("a created secret has an ARN")
}

/// One run's own database (empty, not migrated) and bucket (created), and the environment
/// a function or the CLI gets to use them: the stack's S3 settings, `DATABASE_URL`,
/// `S3_BUCKET_NAME`, and what the caller adds.
pub struct Scratch {
    pub env: HashMap<String, String>,
    pub database_url: String,
    pub bucket: String,
}

impl Scratch {
    /// A database and a bucket named `<prefix>_<random>` and `<prefix>-<random>` (`t` for
    /// tests, `bench` for the benchmark); `env` adds to or replaces the stack's variables.
    pub async fn create(prefix: &str, env: &[(&str, &str)]) -> Result<Self> {
        let database_url = create_database(&format!("{prefix}_")).await?;
        let bucket = format!("{prefix}-{}", Uuid::new_v4().simple());
        let mut vars = stack_env()?;
        vars.insert("DATABASE_URL".into(), function_database_url(&database_url));
        vars.insert("S3_BUCKET_NAME".into(), bucket.clone());
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let scratch = Self {
            env: vars,
            database_url,
            bucket,
        };
        scratch
            .storage(&[])
            .await?
            .client()
            .create_bucket()
            .bucket(&scratch.bucket)
            .send()
            .await
            .context("the stack's SeaweedFS accepts a new bucket")?;
        Ok(scratch)
    }

    /// The configuration a function reads from this environment, with `overrides`.
    pub fn config(&self, overrides: &[(&str, &str)]) -> Result<Config> {
        config_of(&self.env, overrides)
    }

    /// The S3 client of [`Scratch::config`].
    pub async fn storage(&self, overrides: &[(&str, &str)]) -> Result<Storage> {
        Ok(Storage::from_config(&self.config(overrides)?).await)
    }
}

/// The stack's S3 settings, with static credentials (no IAM role on a laptop).
pub fn stack_env() -> Result<HashMap<String, String>> {
    let mut vars = S3_VARIABLES
        .iter()
        .map(|name| Ok(((*name).to_owned(), var(name)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    vars.insert("S3_USE_IAM_ROLE".into(), "false".into());
    Ok(vars)
}

/// `Config::from_lookup` over `env` with `overrides` on top.
pub fn config_of(env: &HashMap<String, String>, overrides: &[(&str, &str)]) -> Result<Config> {
    let mut vars = env.clone();
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::from_lookup(|name| vars.get(name).cloned())
        .map_err(|e| anyhow::anyhow!("the configuration is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{database_url, through_proxy};

    #[test]
    fn a_url_through_the_proxy_keeps_its_user_database_and_query() {
        assert_eq!(
            through_proxy(
                "postgres://postgres@127.0.0.1:5432/t_1?sslmode=disable",
                "127.0.0.1:6432"
            ),
            "postgres://postgres@127.0.0.1:6432/t_1?sslmode=disable"
        );
        assert_eq!(
            through_proxy("postgresql://u:p@db.example/x", "proxy:1"),
            "postgresql://u:p@proxy:1/x"
        );
    }

    #[test]
    fn a_database_url_keeps_the_server_and_the_query_of_the_admin_url() {
        assert_eq!(
            database_url(
                "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
                "t_1"
            ),
            "postgres://postgres@127.0.0.1:5432/t_1?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://u:p@db.example/postgres", "bench_2"),
            "postgres://u:p@db.example/bench_2"
        );
    }
}
