//! IAM database authentication: the password of each new connection is an RDS auth token, a
//! SigV4 presigned `GET https://{host}:{port}/?Action=connect&DBUser={user}` for the service
//! `rds-db`, valid 15 minutes, signed with the function's role (the AWS credential chain).
//! The signing is aws-sigv4's, the SDK's own signer (what aws-sdk-rds' `auth_token` uses),
//! already linked through aws-config; no signing code of our own.
//!
//! A token is only checked when a connection logs in, so an open connection outlives it; a
//! new one needs a token that is still valid. [`TokenSigner`] keeps the last token and signs
//! anew when it nears its end (or its credentials' end), so a pool that opens a connection
//! now and then signs once per ten minutes at most, not once per connection.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use secrecy::{ExposeSecret, SecretString};

/// RDS accepts a token for 15 minutes after it was signed (and refuses a longer expiry).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// A kept token is signed again this long before it (or its credentials) expire, so a
/// connection never logs in with one that expires on the way.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// SigV4 leaves RFC 3986's unreserved characters as they are in a query.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a token is for: the endpoint connected to (an RDS Proxy's or the instance's) and the
/// database user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Signing failed: no credentials from the chain, or the signer refused its input.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign an RDS IAM auth token: {0}")]
pub struct IamAuthError(String);

/// The RDS auth token for `login`, signed at `now` with `credentials` for `region`: the
/// presigned URL without its `https://`, as RDS expects it in the password field.
pub fn auth_token(
    login: &Login,
    region: &str,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<SecretString, IamAuthError> {
    let error = |e: &dyn std::fmt::Display| IamAuthError(e.to_string());
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| error(&e))?
        .into();
    let url = format!(
        "https://{}:{}/?Action=connect&DBUser={}",
        login.host,
        login.port,
        percent_encoding::utf8_percent_encode(&login.user, NOT_UNRESERVED)
    );
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| error(&e))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| error(&e))?.into_parts();
    let mut signed = http::Request::builder()
        .uri(url.as_str())
        .body(())
        .map_err(|e| error(&e))?;
    instructions.apply_to_request_http1x(&mut signed);
    let uri = signed.uri().to_string();
    Ok(uri
        .strip_prefix("https://")
        .unwrap_or(&uri)
        .to_owned()
        .into())
}

/// Where the signer's time comes from: the clock, or a fixed time in tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Signs tokens with the credential chain's current credentials and keeps the last one until
/// it nears its end. One per container, shared by every connection its pool opens.
pub struct TokenSigner {
    credentials: SharedCredentialsProvider,
    region: String,
    clock: Clock,
    kept: Mutex<Option<KeptToken>>,
}

struct KeptToken {
    login: Login,
    token: SecretString,
    /// When to sign anew: [`RENEW_BEFORE_EXPIRY`] before the token or its credentials end.
    renew_at: SystemTime,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    pub fn new(credentials: SharedCredentialsProvider, region: impl Into<String>) -> Self {
        Self::with_clock(credentials, region, Arc::new(SystemTime::now))
    }

    pub fn with_clock(
        credentials: SharedCredentialsProvider,
        region: impl Into<String>,
        clock: Clock,
    ) -> Self {
        Self {
            credentials,
            region: region.into(),
            clock,
            kept: Mutex::new(None),
        }
    }

    /// The AWS credential chain (the Lambda role) and region (`AWS_REGION`, else
    /// `fallback_region`), as the SDK clients find them.
    pub async fn from_env(fallback_region: &str) -> Result<Self, IamAuthError> {
        let region = aws_config::meta::region::RegionProviderChain::default_provider()
            .or_else(aws_config::Region::new(fallback_region.to_owned()));
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(region)
            .load()
            .await;
        let credentials = shared
            .credentials_provider()
            .ok_or_else(|| IamAuthError("no AWS credential provider is configured".into()))?;
        let region = shared
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| fallback_region.to_owned());
        Ok(Self::new(credentials, region))
    }

    /// A token for `login` valid for at least [`RENEW_BEFORE_EXPIRY`] more: the kept one,
    /// or a new one.
    pub async fn token(&self, login: &Login) -> Result<SecretString, IamAuthError> {
        let now = (self.clock)();
        if let Some(token) = self.kept_for(login, now) {
            return Ok(token);
        }
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| IamAuthError(format!("no AWS credentials: {e}")))?;
        let token = auth_token(login, &self.region, &credentials, now)?;
        let token_end = now + TOKEN_LIFETIME;
        let end = credentials
            .expiry()
            .map_or(token_end, |expiry| expiry.min(token_end));
        *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(KeptToken {
            login: login.clone(),
            token: token.clone(),
            renew_at: end.checked_sub(RENEW_BEFORE_EXPIRY).unwrap_or(now),
        });
        Ok(token)
    }

    fn kept_for(&self, login: &Login, now: SystemTime) -> Option<SecretString> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref()
            .filter(|kept| kept.login == *login && now < kept.renew_at)
            .map(|kept| SecretString::from(kept.token.expose_secret().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed by botocore 1.43.127's `generate_db_auth_token` (what `aws rds
    /// generate-db-auth-token` runs) with these credentials, region and endpoint, its clock
    /// fixed at 2026-11-30T23:00:00Z:
    ///
    /// ```python
    /// s = botocore.session.get_session()
    /// s.set_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    /// s.create_client("rds", region_name="eu-west-1").generate_db_auth_token(
    ///     "plugs-proxy.proxy-abc123.eu-west-1.rds.amazonaws.com", 5432, "plugs_media")
    /// ```
    const BOTOCORE_TOKEN: &str = "plugs-proxy.proxy-abc123.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=plugs_media&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20261130T230000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=900&X-Amz-Signature=3c9671e26f137ad0f2e743f0e856d5d2762e4b1fabadc2dac4d88e3112ce2348";
    /// The same with a session token (a Lambda role's credentials always carry one).
    const BOTOCORE_TOKEN_WITH_SESSION: &str = "plugs-proxy.proxy-abc123.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=plugs_media&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261130%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20261130T230000Z&X-Amz-SignedHeaders=host&X-Amz-Expires=900&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLESESSION%2F%2B%3DTOKEN&X-Amz-Signature=2996b2df5a02dc0ebcb0ff0f408d504da5201b8276934892ddb124574c4651ee";
    const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSION/+=TOKEN";

    fn fixed_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_079_600) // 2026-11-30T23:00:00Z
    }

    fn proxy_login() -> Login {
        Login {
            host: "plugs-proxy.proxy-abc123.eu-west-1.rds.amazonaws.com".into(),
            port: 5432,
            user: "plugs_media".into(),
        }
    }

    fn credentials(session_token: Option<&str>, expiry: Option<SystemTime>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token.map(str::to_owned),
            expiry,
            "test",
        )
    }

    /// The endpoint and path, then the query's parameters in any order (signers differ in
    /// the order they write them; RDS reads them by name).
    fn parts(token: &str) -> (String, std::collections::BTreeSet<String>) {
        let (base, query) = token.split_once('?').expect("a query");
        (
            base.to_owned(),
            query.split('&').map(str::to_owned).collect(),
        )
    }

    #[test]
    fn a_token_is_the_one_botocore_signs_for_the_same_input() {
        for (session, expected) in [
            (None, BOTOCORE_TOKEN),
            (Some(SESSION_TOKEN), BOTOCORE_TOKEN_WITH_SESSION),
        ] {
            let token = auth_token(
                &proxy_login(),
                "eu-west-1",
                &credentials(session, None),
                fixed_time(),
            )
            .unwrap();
            assert_eq!(parts(token.expose_secret()), parts(expected));
        }
    }

    #[test]
    fn another_time_user_or_host_is_another_signature() {
        let sign = |login: &Login, at: SystemTime| {
            auth_token(login, "eu-west-1", &credentials(None, None), at)
                .unwrap()
                .expose_secret()
                .to_owned()
        };
        let base = sign(&proxy_login(), fixed_time());
        let later = sign(&proxy_login(), fixed_time() + Duration::from_secs(1));
        let other_user = sign(
            &Login {
                user: "someone_else".into(),
                ..proxy_login()
            },
            fixed_time(),
        );
        let other_host = sign(
            &Login {
                host: "db.abc.eu-west-1.rds.amazonaws.com".into(),
                ..proxy_login()
            },
            fixed_time(),
        );
        let signature = |t: &str| t.rsplit_once("X-Amz-Signature=").unwrap().1.to_owned();
        let all = [&base, &later, &other_user, &other_host].map(|t| signature(t));
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    /// A clock the test moves by hand.
    fn movable_clock() -> (Clock, Arc<Mutex<SystemTime>>) {
        let now = Arc::new(Mutex::new(fixed_time()));
        let read = now.clone();
        (Arc::new(move || *read.lock().unwrap()), now)
    }

    fn signer(credentials: Credentials, clock: Clock) -> TokenSigner {
        TokenSigner::with_clock(
            SharedCredentialsProvider::new(credentials),
            "eu-west-1",
            clock,
        )
    }

    #[tokio::test]
    async fn a_token_is_kept_until_five_minutes_before_it_expires() {
        let (clock, now) = movable_clock();
        let signer = signer(credentials(None, None), clock);
        let first = signer.token(&proxy_login()).await.unwrap();
        *now.lock().unwrap() = fixed_time() + Duration::from_secs(599);
        let kept = signer.token(&proxy_login()).await.unwrap();
        assert_eq!(kept.expose_secret(), first.expose_secret());
        *now.lock().unwrap() = fixed_time() + Duration::from_secs(600);
        let renewed = signer.token(&proxy_login()).await.unwrap();
        assert_ne!(renewed.expose_secret(), first.expose_secret());
        assert!(
            renewed
                .expose_secret()
                .contains("X-Amz-Date=20261130T231000Z")
        );
    }

    #[tokio::test]
    async fn a_token_is_renewed_before_its_credentials_expire() {
        let (clock, now) = movable_clock();
        let expiry = fixed_time() + Duration::from_secs(420);
        let signer = signer(credentials(Some(SESSION_TOKEN), Some(expiry)), clock);
        let first = signer.token(&proxy_login()).await.unwrap();
        *now.lock().unwrap() = fixed_time() + Duration::from_secs(120);
        let renewed = signer.token(&proxy_login()).await.unwrap();
        assert_ne!(renewed.expose_secret(), first.expose_secret());
    }

    #[tokio::test]
    async fn a_token_for_another_login_is_not_reused() {
        let (clock, _) = movable_clock();
        let signer = signer(credentials(None, None), clock);
        let proxy = signer.token(&proxy_login()).await.unwrap();
        let other = Login {
            user: "another".into(),
            ..proxy_login()
        };
        let token = signer.token(&other).await.unwrap();
        assert_ne!(token.expose_secret(), proxy.expose_secret());
        assert!(token.expose_secret().contains("DBUser=another&"));
    }
}
