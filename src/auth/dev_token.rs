//! HS256 dev tokens, signed with `USAGE_API_DEV_SECRET`, for `usage-api token` and
//! `serve --demo`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::AuthSetupError;

#[derive(Serialize)]
struct DevClaims<'a> {
    sub: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// HS256 dev token: claims sub, iat, nbf(=iat), exp = now+ttl. Used by `usage-api token` and
/// `serve --demo`.
///
/// When `USAGE_API_JWT_ISSUER` or `USAGE_API_JWT_AUDIENCE` is configured, use
/// [`Verifier::mint_dev_token`](super::Verifier::mint_dev_token) instead, which adds the
/// `iss` and `aud` the verifier requires.
pub fn mint_dev_token(secret: &str, sub: &str, ttl: Duration) -> Result<String, AuthSetupError> {
    mint(secret, sub, ttl, None, None)
}

pub(crate) fn mint(
    secret: &str,
    sub: &str,
    ttl: Duration,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, AuthSetupError> {
    if secret.is_empty() {
        return Err(AuthSetupError::EmptySetting {
            variable: "USAGE_API_DEV_SECRET",
        });
    }
    if sub.trim().is_empty() {
        return Err(AuthSetupError::EmptySubject);
    }
    let now = chrono::Utc::now().timestamp();
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = DevClaims {
        sub,
        iat: now,
        nbf: now,
        exp: now.saturating_add(ttl_secs),
        iss: issuer,
        aud: audience,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).map_err(AuthSetupError::Signing)?,
    )
    .map_err(AuthSetupError::Signing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::dangerous::insecure_decode;

    #[test]
    fn dev_token_carries_sub_iat_nbf_and_exp() {
        let before = chrono::Utc::now().timestamp();
        let token = mint_dev_token("dev-secret", "user_123", Duration::from_secs(3600))
            .expect("a dev token");
        let data = insecure_decode::<serde_json::Value>(&token).expect("decodes");
        assert_eq!(data.header.alg, Algorithm::HS256);
        let claims = data.claims;
        assert_eq!(claims["sub"], "user_123");
        let iat = claims["iat"].as_i64().expect("iat");
        assert!(iat >= before && iat <= before + 5);
        assert_eq!(claims["nbf"].as_i64(), Some(iat));
        assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
        assert!(claims.get("iss").is_none() && claims.get("aud").is_none());
    }

    #[test]
    fn dev_token_needs_a_secret_and_a_subject() {
        let ttl = Duration::from_secs(60);
        let err = mint_dev_token("", "user_1", ttl).expect_err("empty secret");
        assert_eq!(err.to_string(), "USAGE_API_DEV_SECRET is set but empty");
        assert!(matches!(
            mint_dev_token("s", " ", ttl),
            Err(AuthSetupError::EmptySubject)
        ));
    }
}
