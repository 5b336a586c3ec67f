//! Access-token checks, compatible with the tokens The Plugs backend already issues:
//! HMAC-signed JWTs with `{user_id, email, is_active, exp, iat, type: "access"}`.

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;

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

/// Verifies tokens with one secret and one pinned algorithm; built once per container.
pub struct Authenticator {
    key: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: &SecretString, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        // A token without an expiry would be valid forever.
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    /// Reads `Authorization: Bearer <token>` and returns the user it proves.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<AuthenticatedUser, ApiError> {
        let token = bearer_token(headers)?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<AuthenticatedUser, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                    ErrorKind::ImmatureSignature => {
                        ApiError::InvalidToken("token is not valid yet".into())
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        ApiError::InvalidToken(format!("token has no {claim} claim"))
                    }
                    ErrorKind::InvalidAlgorithm => {
                        ApiError::InvalidToken("unexpected signing algorithm".into())
                    }
                    ErrorKind::InvalidSignature => ApiError::InvalidToken("bad signature".into()),
                    _ => ApiError::InvalidToken("malformed token".into()),
                }
            })?;
        let claims = data.claims;
        if let Some(kind) = claims.token_type.as_deref()
            && kind != "access"
        {
            return Err(ApiError::InvalidToken(format!(
                "a {kind} token cannot be used here"
            )));
        }
        let subject = claims
            .user_id
            .or(claims.sub)
            .ok_or_else(|| ApiError::InvalidToken("token names no user".into()))?;
        let id = Uuid::try_parse(&subject)
            .map_err(|_| ApiError::InvalidToken("token's user id is not a UUID".into()))?;
        if claims.is_active == Some(false) {
            return Err(ApiError::UserInactive);
        }
        Ok(AuthenticatedUser { id })
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(ApiError::AuthenticationRequired)?
        .to_str()
        .map_err(|_| ApiError::InvalidToken("Authorization header is not ASCII".into()))?;
    // The scheme is case-insensitive (RFC 7235), as in the FastAPI backend.
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::AuthenticationRequired);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::AuthenticationRequired);
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

    fn check(token: &str) -> Result<AuthenticatedUser, ApiError> {
        authenticator().authenticate(&headers(&format!("Bearer {token}")))
    }

    fn with(
        mut claims: serde_json::Value,
        key: &str,
        value: serde_json::Value,
    ) -> serde_json::Value {
        claims[key] = value;
        claims
    }

    fn code(result: Result<AuthenticatedUser, ApiError>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn a_plugs_access_token_is_accepted() {
        let user = Uuid::new_v4();
        let token = sign(&access_claims(user, 60), SECRET, Algorithm::HS256);
        assert_eq!(check(&token).unwrap().id, user);
        let lower = authenticator().authenticate(&headers(&format!("bearer {token}")));
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
            code(check(&sign(&claims, SECRET, Algorithm::HS256))),
            "TOKEN_EXPIRED"
        );
    }

    #[test]
    fn a_token_without_expiry_is_rejected() {
        let mut claims = access_claims(Uuid::new_v4(), 60);
        claims.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            code(check(&sign(&claims, SECRET, Algorithm::HS256))),
            "INVALID_TOKEN"
        );
    }

    #[test]
    fn a_refresh_token_is_rejected() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "type", json!("refresh"));
        assert_eq!(
            code(check(&sign(&claims, SECRET, Algorithm::HS256))),
            "INVALID_TOKEN"
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let token = sign(
            &access_claims(Uuid::new_v4(), 60),
            "other",
            Algorithm::HS256,
        );
        assert_eq!(code(check(&token)), "INVALID_TOKEN");
    }

    #[test]
    fn another_hmac_algorithm_than_the_pinned_one_is_rejected() {
        let token = sign(&access_claims(Uuid::new_v4(), 60), SECRET, Algorithm::HS512);
        assert_eq!(code(check(&token)), "INVALID_TOKEN");
    }

    #[test]
    fn an_unsigned_token_is_rejected() {
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let header = b64(json!({"alg": "none", "typ": "JWT"}));
        let payload = b64(access_claims(Uuid::new_v4(), 60));
        assert_eq!(
            code(check(&format!("{header}.{payload}."))),
            "INVALID_TOKEN"
        );
    }

    #[test]
    fn a_tampered_payload_is_rejected() {
        let token = sign(&access_claims(Uuid::new_v4(), 60), SECRET, Algorithm::HS256);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = access_claims(Uuid::new_v4(), 60);
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(code(check(&parts.join("."))), "INVALID_TOKEN");
    }

    #[test]
    fn a_future_nbf_is_rejected() {
        let nbf = chrono::Utc::now().timestamp() + 3600;
        let claims = with(access_claims(Uuid::new_v4(), 7200), "nbf", json!(nbf));
        assert_eq!(
            code(check(&sign(&claims, SECRET, Algorithm::HS256))),
            "INVALID_TOKEN"
        );
    }

    #[test]
    fn a_non_uuid_user_is_rejected() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "user_id", json!("42"));
        assert_eq!(
            code(check(&sign(&claims, SECRET, Algorithm::HS256))),
            "INVALID_TOKEN"
        );
    }

    #[test]
    fn an_inactive_user_is_forbidden() {
        let claims = with(access_claims(Uuid::new_v4(), 60), "is_active", json!(false));
        assert_eq!(
            code(check(&sign(&claims, SECRET, Algorithm::HS256))),
            "USER_INACTIVE"
        );
    }

    #[test]
    fn missing_or_foreign_schemes_require_authentication() {
        let auth = authenticator();
        assert_eq!(
            code(auth.authenticate(&HeaderMap::new())),
            "AUTHENTICATION_REQUIRED"
        );
        assert_eq!(
            code(auth.authenticate(&headers("Bearer "))),
            "AUTHENTICATION_REQUIRED"
        );
        assert_eq!(
            code(auth.authenticate(&headers("Basic dXNlcjpwYXNz"))),
            "AUTHENTICATION_REQUIRED"
        );
        assert_eq!(
            code(auth.authenticate(&headers("Bearer garbage"))),
            "INVALID_TOKEN"
        );
    }
}
