//! Access-token checks, compatible with the tokens The Plugs backend already issues:
//! HMAC-signed JWTs with `{user_id, email, is_active, exp, iat, type: "access"}`.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use crate::secrets::{Secret, SecretError};

/// Why a request's token proves no user. The HTTP edge ([`crate::error`]) turns each into
/// its 401 or 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer <token>` header (or another scheme, or an empty token).
    #[error("authentication required: send Authorization: Bearer <token>")]
    Missing,
    /// The token's `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The token is malformed, wrongly signed or not an access token; says which.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token is valid but belongs to a deactivated user.
    #[error("user account is inactive")]
    Inactive,
}

impl TokenError {
    fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(reason.into())
    }
}

/// The caller, once the token has been verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedUser {
    pub id: Uuid,
}

#[derive(Debug, Deserialize)]
struct Claims {
    user_id: Option<String>,
    sub: Option<String>,
    #[serde(rename = "type")]
    token_type: Option<String>,
    is_active: Option<bool>,
}

/// Verifies tokens with one secret and one pinned algorithm; built once per container. When
/// the secret lives in Secrets Manager, a token whose signature does not match makes it
/// re-read the secret (at most once per [`KEY_REREAD_INTERVAL`]) and check the token again,
/// so a rotated key is picked up without a redeploy.
pub struct Authenticator {
    key: RwLock<DecodingKey>,
    validation: Validation,
    rotation: Option<Rotation>,
}

/// The shortest time between two re-reads of the JWT secret. Anyone can send a token with a
/// bad signature, so without a limit every forged request would cost a Secrets Manager call
/// (latency, quota and money); with it a container makes at most one call a minute, and a
/// rotated key is picked up by the first token signed with it after that.
pub const KEY_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// The key's secret and when it was last re-read.
struct Rotation {
    secret: Secret,
    interval: Duration,
    last_reread: Mutex<Option<Instant>>,
}

impl Rotation {
    /// Takes the right to re-read now, if the interval has passed since the last time.
    fn claim(&self) -> bool {
        let mut last = self
            .last_reread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < self.interval) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// The JSON form of the JWT secret: `{"SECRET_KEY": "..."}` (the variable's own name), for a
/// secret that holds other values of the backend too.
#[derive(Deserialize)]
struct JwtSecretJson {
    #[serde(rename = "SECRET_KEY")]
    secret_key: String,
}

/// The HMAC key in the JWT secret's text: the whole (trimmed) string, or the `SECRET_KEY`
/// member when the text is a JSON object.
pub fn jwt_key(secret: &SecretString) -> Result<SecretString, String> {
    let text = secret.expose_secret().trim();
    let key = if text.starts_with('{') {
        serde_json::from_str::<JwtSecretJson>(text)
            .map_err(|_| {
                "the JWT secret is a JSON object without a SECRET_KEY string member".to_owned()
            })?
            .secret_key
    } else {
        text.to_owned()
    };
    if key.is_empty() {
        return Err("the JWT secret is empty".to_owned());
    }
    Ok(key.into())
}

impl Authenticator {
    /// With a key that never changes.
    pub fn new(secret: &SecretString, algorithm: Algorithm) -> Self {
        Self {
            key: RwLock::new(decoding_key(secret)),
            validation: validation(algorithm),
            rotation: None,
        }
    }

    /// Reads the secret once; re-reads it on a bad signature when it can rotate (Secrets
    /// Manager), at most once per `interval`.
    pub async fn open(
        secret: Secret,
        algorithm: Algorithm,
        interval: Duration,
    ) -> Result<Self, SecretError> {
        let key = read_key(&secret).await?;
        let rotation = secret.is_rotatable().then(|| Rotation {
            secret,
            interval,
            last_reread: Mutex::new(None),
        });
        Ok(Self {
            key: RwLock::new(decoding_key(&key)),
            validation: validation(algorithm),
            rotation,
        })
    }

    /// Reads `Authorization: Bearer <token>` and returns the user it proves.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthenticatedUser, TokenError> {
        let token = bearer_token(headers)?;
        let claims = match self.decode(token) {
            Err(err) if *err.kind() == ErrorKind::InvalidSignature && self.reread_key().await => {
                self.decode(token)
            }
            other => other,
        };
        user_from(claims.map_err(token_error)?)
    }

    /// Checks `token` with the key in hand (no re-read).
    pub fn verify(&self, token: &str) -> Result<AuthenticatedUser, TokenError> {
        user_from(self.decode(token).map_err(token_error)?)
    }

    fn decode(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let key = self
            .key
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map(|data| data.claims)
    }

    /// Re-reads the key when allowed; returns whether a key was read (worth checking again).
    async fn reread_key(&self) -> bool {
        let Some(rotation) = &self.rotation else {
            return false;
        };
        if !rotation.claim() {
            return false;
        }
        match read_key(&rotation.secret).await {
            Ok(key) => {
                *self
                    .key
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = decoding_key(&key);
                tracing::info!(
                    secret = rotation.secret.id(),
                    "re-read the JWT secret after a bad signature"
                );
                true
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not re-read the JWT secret");
                false
            }
        }
    }
}

async fn read_key(secret: &Secret) -> Result<SecretString, SecretError> {
    let text = secret.read().await?;
    jwt_key(&text).map_err(|reason| SecretError::new(secret.id().unwrap_or("SECRET_KEY"), reason))
}

fn decoding_key(secret: &SecretString) -> DecodingKey {
    DecodingKey::from_secret(secret.expose_secret().as_bytes())
}

fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    // A token without an expiry would be valid forever.
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = 30;
    validation
}

fn token_error(err: jsonwebtoken::errors::Error) -> TokenError {
    match err.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::invalid("token is not valid yet"),
        ErrorKind::MissingRequiredClaim(claim) => {
            TokenError::Invalid(format!("token has no {claim} claim"))
        }
        ErrorKind::InvalidAlgorithm => TokenError::invalid("unexpected signing algorithm"),
        ErrorKind::InvalidSignature => TokenError::invalid("bad signature"),
        _ => TokenError::invalid("malformed token"),
    }
}

fn user_from(claims: Claims) -> Result<AuthenticatedUser, TokenError> {
    if let Some(kind) = claims.token_type.as_deref()
        && kind != "access"
    {
        return Err(TokenError::Invalid(format!(
            "a {kind} token cannot be used here"
        )));
    }
    let subject = claims
        .user_id
        .or(claims.sub)
        .ok_or_else(|| TokenError::invalid("token names no user"))?;
    let id = Uuid::try_parse(&subject)
        .map_err(|_| TokenError::invalid("token's user id is not a UUID"))?;
    if claims.is_active == Some(false) {
        return Err(TokenError::Inactive);
    }
    Ok(AuthenticatedUser { id })
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, TokenError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(TokenError::Missing)?
        .to_str()
        .map_err(|_| TokenError::invalid("Authorization header is not ASCII"))?;
    // The scheme is case-insensitive (RFC 7235), as in the FastAPI backend.
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

/// Signs tokens shaped like The Plugs' access tokens: for `plugs-media dev-token` and tests.
pub mod issue {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;

    /// Claims of a fresh access token for `user_id`, valid for `ttl_seconds`.
    pub fn access_claims(user_id: Uuid, ttl_seconds: i64) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "user_id": user_id.to_string(),
            "email": "organiser@example.com",
            "is_active": true,
            "iat": now,
            "exp": now + ttl_seconds,
            "type": "access",
        })
    }

    pub fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("HMAC signing cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::issue::{access_claims, sign};
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    const SECRET: &str = "test-secret";

    fn authenticator() -> Authenticator {
        Authenticator::new(&SECRET.to_owned().into(), Algorithm::HS256)
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    fn check(token: &str) -> Result<AuthenticatedUser, TokenError> {
        authenticate(&authenticator(), &format!("Bearer {token}"))
    }

    /// `authenticate` with a fixed key never waits on anything: run it to completion here.
    fn authenticate(auth: &Authenticator, header: &str) -> Result<AuthenticatedUser, TokenError> {
        let headers = if header.is_empty() {
            HeaderMap::new()
        } else {
            headers(header)
        };
        futures_util::FutureExt::now_or_never(auth.authenticate(&headers))
            .expect("a fixed key needs no I/O")
    }

    fn with(
        mut claims: serde_json::Value,
        key: &str,
        value: serde_json::Value,
    ) -> serde_json::Value {
        claims[key] = value;
        claims
    }

    fn refusal(result: Result<AuthenticatedUser, TokenError>) -> TokenError {
        result.unwrap_err()
    }

    fn invalid(reason: &str) -> TokenError {
        TokenError::Invalid(reason.to_owned())
    }

    #[test]
    fn a_plugs_access_token_is_accepted() {
        let user = Uuid::new_v4();
        let token = sign(&access_claims(user, 60), SECRET, Algorithm::HS256);
        assert_eq!(check(&token).unwrap().id, user);
        let lower = authenticate(&authenticator(), &format!("bearer {token}"));
        assert_eq!(lower.unwrap().id, user);
    }

    #[test]
    fn sub_is_the_fallback_for_user_id() {
        let user = Uuid::new_v4();
        let mut claims = access_claims(user, 60);
        claims.as_object_mut().unwrap().remove("user_id");
        claims["sub"] = json!(user.to_string());
        assert_eq!(
            check(&sign(&claims, SECRET, Algorithm::HS256)).unwrap().id,
            user
        );
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "exp", json!(1_000_000));
        assert_eq!(
            refusal(check(&sign(&claims, SECRET, Algorithm::HS256))),
            TokenError::Expired
        );
    }

    #[test]
    fn a_token_without_expiry_is_rejected() {
        let mut claims = access_claims(Uuid::new_v4(), 60);
        claims.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            refusal(check(&sign(&claims, SECRET, Algorithm::HS256))),
            invalid("token has no exp claim")
        );
    }

    #[test]
    fn a_refresh_token_is_rejected() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "type", json!("refresh"));
        assert_eq!(
            refusal(check(&sign(&claims, SECRET, Algorithm::HS256))),
            invalid("a refresh token cannot be used here")
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let token = sign(
            &access_claims(Uuid::new_v4(), 60),
            "other",
            Algorithm::HS256,
        );
        assert_eq!(refusal(check(&token)), invalid("bad signature"));
    }

    #[test]
    fn another_hmac_algorithm_than_the_pinned_one_is_rejected() {
        let token = sign(&access_claims(Uuid::new_v4(), 60), SECRET, Algorithm::HS512);
        assert_eq!(
            refusal(check(&token)),
            invalid("unexpected signing algorithm")
        );
    }

    #[test]
    fn an_unsigned_token_is_rejected() {
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let header = b64(json!({"alg": "none", "typ": "JWT"}));
        let payload = b64(access_claims(Uuid::new_v4(), 60));
        assert_eq!(
            refusal(check(&format!("{header}.{payload}."))),
            invalid("malformed token")
        );
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let token = sign(&access_claims(Uuid::new_v4(), 60), SECRET, Algorithm::HS256);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = access_claims(Uuid::new_v4(), 60);
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(refusal(check(&parts.join("."))), invalid("bad signature"));
    }

    #[test]
    fn a_future_nbf_is_rejected() {
        let nbf = chrono::Utc::now().timestamp() + 3600;
        let claims = with(access_claims(Uuid::new_v4(), 7200), "nbf", json!(nbf));
        assert_eq!(
            refusal(check(&sign(&claims, SECRET, Algorithm::HS256))),
            invalid("token is not valid yet")
        );
    }

    #[test]
    fn a_non_uuid_user_is_rejected() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "user_id", json!("42"));
        assert_eq!(
            refusal(check(&sign(&claims, SECRET, Algorithm::HS256))),
            invalid("token's user id is not a UUID")
        );
    }

    #[test]
    fn an_inactive_user_is_forbidden() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "is_active", json!(false));
        assert_eq!(
            refusal(check(&sign(&claims, SECRET, Algorithm::HS256))),
            TokenError::Inactive
        );
    }

    #[test]
    fn missing_or_foreign_schemes_require_authentication() {
        let auth = authenticator();
        assert_eq!(refusal(authenticate(&auth, "")), TokenError::Missing);
        assert_eq!(refusal(authenticate(&auth, "Bearer ")), TokenError::Missing);
        assert_eq!(
            refusal(authenticate(&auth, "Basic dXNlcjpwYXNz")),
            TokenError::Missing
        );
        assert_eq!(
            refusal(authenticate(&auth, "Bearer garbage")),
            invalid("malformed token")
        );
    }

    #[test]
    fn the_jwt_secret_is_a_plain_string_or_json_with_secret_key() {
        let key =
            |text: &str| jwt_key(&text.to_owned().into()).map(|k| k.expose_secret().to_owned());
        assert_eq!(key(" plain-key\n").unwrap(), "plain-key");
        assert_eq!(
            key(r#"{"SECRET_KEY": "json-key", "OTHER": "x"}"#).unwrap(),
            "json-key"
        );
        for bad in [
            "",
            "  ",
            r#"{"secret": "hunter2"}"#,
            r#"{"SECRET_KEY": ""}"#,
        ] {
            let err = key(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn a_rotation_may_reread_once_per_interval() {
        let rotation = Rotation {
            secret: Secret::fixed("k".to_owned()),
            interval: Duration::from_secs(60),
            last_reread: Mutex::new(None),
        };
        assert!(rotation.claim(), "the first bad signature may re-read");
        assert!(!rotation.claim(), "the next ones wait for the interval");
        *rotation.last_reread.lock().unwrap() = Some(Instant::now() - Duration::from_secs(61));
        assert!(
            rotation.claim(),
            "after the interval a re-read is allowed again"
        );
    }

    #[tokio::test]
    async fn a_fixed_key_is_never_reread() {
        let auth = Authenticator::open(
            Secret::fixed(SECRET.to_owned()),
            Algorithm::HS256,
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert!(auth.rotation.is_none());
        let token = sign(
            &access_claims(Uuid::new_v4(), 60),
            "other",
            Algorithm::HS256,
        );
        assert_eq!(
            refusal(authenticate(&auth, &format!("Bearer {token}"))),
            invalid("bad signature")
        );
    }
}
