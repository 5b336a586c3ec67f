//! Where the database credentials and the JWT key come from: a plain environment variable
//! (local stacks) or an AWS Secrets Manager secret read at cold start (AWS), so the values
//! never sit in the function's configuration and a rotated secret is picked up without a
//! redeploy. This module reads secrets; what a secret's text means (a database URL, RDS's
//! JSON, a JWT key) belongs to the module that uses it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::Region;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use secrecy::SecretString;

/// Where one secret value is found.
#[derive(Clone)]
pub enum SecretSource {
    /// Given directly in an environment variable (`DATABASE_URL`, `SECRET_KEY`).
    Value(SecretString),
    /// The ARN or name of a Secrets Manager secret (`DATABASE_SECRET_ARN`, `JWT_SECRET_ARN`);
    /// its current version (`AWSCURRENT`) is read.
    SecretsManager(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(..)"),
            Self::SecretsManager(id) => f.debug_tuple("SecretsManager").field(id).finish(),
        }
    }
}

impl SecretSource {
    pub fn is_secrets_manager(&self) -> bool {
        matches!(self, Self::SecretsManager(_))
    }
}

/// A secret that can be read again: its source, and the client that reads it when the source
/// is Secrets Manager.
#[derive(Clone)]
pub struct Secret {
    source: SecretSource,
    client: Option<Arc<SecretsManager>>,
}

impl Secret {
    /// A secret whose value never changes (an environment variable, a test).
    pub fn fixed(value: impl Into<SecretString>) -> Self {
        Self {
            source: SecretSource::Value(value.into()),
            client: None,
        }
    }

    /// `source`, read through `client` when it names a Secrets Manager secret.
    pub fn new(source: SecretSource, client: Option<Arc<SecretsManager>>) -> Self {
        Self { source, client }
    }

    /// Whether reading again can give another value (a rotated secret).
    pub fn is_rotatable(&self) -> bool {
        self.source.is_secrets_manager()
    }

    /// The secret's current value: one Secrets Manager call, or the fixed value.
    pub async fn read(&self) -> Result<SecretString, SecretError> {
        match (&self.source, &self.client) {
            (SecretSource::Value(value), _) => Ok(value.clone()),
            (SecretSource::SecretsManager(id), Some(client)) => client.fetch(id).await,
            (SecretSource::SecretsManager(id), None) => Err(SecretError::new(
                id,
                "no Secrets Manager client was built for it",
            )),
        }
    }

    /// The ARN or name, for messages; `None` for a fixed value.
    pub fn id(&self) -> Option<&str> {
        match &self.source {
            SecretSource::SecretsManager(id) => Some(id),
            SecretSource::Value(_) => None,
        }
    }
}

/// A Secrets Manager secret could not be read or did not hold what was expected. Carries the
/// secret's ARN or name, never its value.
#[derive(Debug, thiserror::Error)]
#[error("secret {id}: {reason}")]
pub struct SecretError {
    pub id: String,
    pub reason: String,
}

impl SecretError {
    pub fn new(id: &str, reason: impl Into<String>) -> Self {
        Self {
            id: id.to_owned(),
            reason: reason.into(),
        }
    }
}

/// One Secrets Manager client per container, built only when some secret lives there.
pub struct SecretsManager {
    client: Client,
}

/// The most one read may take: a cold start that cannot reach Secrets Manager should fail
/// in seconds, not at the function's timeout.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

impl SecretsManager {
    /// The default AWS chain for credentials and region (the Lambda role and `AWS_REGION`),
    /// `fallback_region` when no region is configured; `AWS_ENDPOINT_URL_SECRETS_MANAGER`
    /// points it at a local server.
    pub async fn from_env(fallback_region: &str) -> Self {
        let region = RegionProviderChain::default_provider()
            .or_else(Region::new(fallback_region.to_owned()));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_timeout(READ_TIMEOUT)
                    .build(),
            );
        if let Some(http_client) = crate::aws::http_client("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
            loader = loader.http_client(http_client);
        }
        let shared = loader.load().await;
        Self {
            client: Client::new(&shared),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The current string value of the secret `id` (an ARN or a name).
    #[tracing::instrument(skip(self))]
    pub async fn fetch(&self, id: &str) -> Result<SecretString, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|err| SecretError::new(id, describe(&err)))?;
        output
            .secret_string
            .map(SecretString::from)
            .ok_or_else(|| SecretError::new(id, "it holds binary data; store a string"))
    }
}

/// The service's error code and message, or the transport failure: what an operator needs
/// to fix IAM or the network, without the SDK's multi-kilobyte debug dump.
fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            format!(
                "{}: {}",
                inner.code().unwrap_or("error"),
                inner.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "Secrets Manager did not answer in time".to_owned(),
        other => format!(
            "cannot reach Secrets Manager: {}",
            DisplayErrorContext(other)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_never_prints_its_value() {
        let text = format!("{:?}", SecretSource::Value("hunter2".to_owned().into()));
        assert!(!text.contains("hunter2"), "{text}");
        let arn = "arn:aws:secretsmanager:eu-west-1:1:secret:db";
        assert!(format!("{:?}", SecretSource::SecretsManager(arn.into())).contains(arn));
    }

    #[tokio::test]
    async fn a_fixed_secret_reads_its_value_and_does_not_rotate() {
        use secrecy::ExposeSecret;
        let secret = Secret::fixed("value".to_owned());
        assert_eq!(secret.read().await.unwrap().expose_secret(), "value");
        assert!(!secret.is_rotatable());
        assert_eq!(secret.id(), None);
    }
}
