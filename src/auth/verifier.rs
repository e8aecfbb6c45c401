//! The token verifier: picks the one key a token may be checked with, verifies the signature
//! with that key's algorithm only, then checks the claims.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::Deserialize;

use super::jwks::{JwksCache, JwksSettings};
use super::keys::VerificationKey;
use super::{AuthConfig, AuthError, AuthSetupError, VerifiedUser, dev_token, token_from_headers};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 5;

/// Longest token considered; anything longer is refused before parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Verifies end-user JWTs against the configured keys. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    pem_key: Option<VerificationKey>,
    dev_key: Option<VerificationKey>,
    dev_secret: Option<String>,
    jwks: Option<JwksCache>,
    issuer: Option<String>,
    audience: Option<String>,
    authorized_parties: Vec<String>,
    /// Claim rules shared by every algorithm; `algorithms` is set per token.
    validation: Validation,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Verifier")
            .field(
                "public_key",
                &inner.pem_key.as_ref().map(|key| key.algorithm),
            )
            .field("jwks_url", &inner.jwks.as_ref().map(JwksCache::url))
            .field("dev_secret", &inner.dev_key.as_ref().map(|_| "[redacted]"))
            .field("issuer", &inner.issuer)
            .field("audience", &inner.audience)
            .field("authorized_parties", &inner.authorized_parties)
            .finish()
    }
}

/// The claims read from a verified token. `exp`, `nbf` and the values of `iss` and `aud` are
/// checked by `jsonwebtoken`; the types of `iss` and `aud` are checked here even when their
/// values are not, so a malformed registered claim never passes.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default, rename = "iss")]
    _iss: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

impl Verifier {
    /// Reads and parses the PEM key file and checks the settings. Does not contact the JWKS
    /// endpoint: its keys are fetched on first use.
    pub fn from_config(config: &AuthConfig) -> Result<Verifier, AuthSetupError> {
        Self::from_config_with(config, JwksSettings::default())
    }

    /// As [`Verifier::from_config`], with explicit JWKS cache settings (tests use a short
    /// refetch interval).
    pub fn from_config_with(
        config: &AuthConfig,
        jwks_settings: JwksSettings,
    ) -> Result<Verifier, AuthSetupError> {
        let pem_key = match &config.public_key_pem {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| AuthSetupError::ReadKeyFile {
                    path: path.clone(),
                    source,
                })?;
                let key = VerificationKey::from_public_pem(&pem).map_err(|reason| {
                    AuthSetupError::InvalidKeyFile {
                        path: path.clone(),
                        reason,
                    }
                })?;
                Some(key)
            }
            None => None,
        };
        let dev_key = match config.dev_secret.as_deref() {
            Some("") => {
                return Err(AuthSetupError::EmptySetting {
                    variable: "USAGE_API_DEV_SECRET",
                });
            }
            Some(secret) => Some(VerificationKey::dev_secret(secret).map_err(|_| {
                AuthSetupError::EmptySetting {
                    variable: "USAGE_API_DEV_SECRET",
                }
            })?),
            None => None,
        };
        let jwks = match config.jwks_url.as_deref() {
            Some(url) if url.trim().is_empty() => {
                return Err(AuthSetupError::EmptySetting {
                    variable: "USAGE_API_JWKS_URL",
                });
            }
            Some(url) => Some(JwksCache::new(url.trim(), jwks_settings)?),
            None => None,
        };
        let issuer = non_empty_setting(&config.issuer, "USAGE_API_JWT_ISSUER")?;
        let audience = non_empty_setting(&config.audience, "USAGE_API_JWT_AUDIENCE")?;
        let authorized_parties = config
            .authorized_parties
            .iter()
            .map(|party| party.trim())
            .filter(|party| !party.is_empty())
            .map(str::to_owned)
            .collect();

        let validation = claim_rules(issuer.as_deref(), audience.as_deref());
        Ok(Verifier {
            inner: Arc::new(Inner {
                pem_key,
                dev_key,
                dev_secret: config.dev_secret.clone(),
                jwks,
                issuer,
                audience,
                authorized_parties,
                validation,
            }),
        })
    }

    /// False when no PEM key, no JWKS URL and no dev secret is configured: no token can pass.
    pub fn has_any_key(&self) -> bool {
        self.inner.pem_key.is_some() || self.inner.dev_key.is_some() || self.inner.jwks.is_some()
    }

    /// Fetches the JWKS now, if one is configured, so that a wrong URL shows in the log at
    /// start-up rather than at the first request. Optional: keys are fetched on demand anyway.
    pub async fn prefetch_jwks(&self) -> Result<(), AuthError> {
        match &self.inner.jwks {
            Some(jwks) => jwks.prefetch().await,
            None => Ok(()),
        }
    }

    /// A dev token this verifier accepts: as [`mint_dev_token`](super::mint_dev_token), plus
    /// the configured `iss` and `aud`. Fails when no dev secret is configured.
    pub fn mint_dev_token(&self, sub: &str, ttl: Duration) -> Result<String, AuthSetupError> {
        let secret = self
            .inner
            .dev_secret
            .as_deref()
            .ok_or(AuthSetupError::NoDevSecret)?;
        dev_token::mint(
            secret,
            sub,
            ttl,
            self.inner.issuer.as_deref(),
            self.inner.audience.as_deref(),
        )
    }

    /// The user of a request: its bearer token, else its `__session` cookie, verified.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<VerifiedUser, AuthError> {
        let token = token_from_headers(headers).ok_or(AuthError::MissingToken)?;
        self.verify(token).await
    }

    /// Checks the token's signature and claims and returns its user.
    pub async fn verify(&self, token: &str) -> Result<VerifiedUser, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLong {
                max_bytes: MAX_TOKEN_BYTES,
            });
        }
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::Malformed)?;
        if header.crit.is_some() {
            return Err(AuthError::CriticalHeader);
        }
        let key = self.key_for(&header).await?;
        if header.alg != key.algorithm {
            return Err(AuthError::AlgorithmMismatch {
                token: header.alg,
                key: key.algorithm,
            });
        }
        let mut validation = self.inner.validation.clone();
        validation.algorithms = vec![key.algorithm];
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(AuthError::Rejected)?
            .claims;
        self.check_claims(claims)
    }

    /// The one key this token may be verified with. A `kid` with a JWKS configured selects the
    /// JWKS key; when the JWKS has no such key, the static key for the token's algorithm (if
    /// any) is the fallback, so each source keeps working when several are configured.
    async fn key_for(&self, header: &Header) -> Result<VerificationKey, AuthError> {
        let static_key = self.static_key_for(header.alg);
        if let (Some(kid), Some(jwks)) = (header.kid.as_deref(), &self.inner.jwks) {
            let outcome = jwks.key_for(kid).await;
            return match (outcome, static_key) {
                (Ok(Some(key)), _) => Ok(key),
                (_, Some(key)) => Ok(key.clone()),
                (Ok(None), None) => Err(AuthError::UnknownKeyId(kid.to_owned())),
                (Err(error), None) => Err(error),
            };
        }
        static_key
            .cloned()
            .ok_or(AuthError::NoKeyForAlgorithm(header.alg))
    }

    /// HS256 → the dev secret; RS256 or ES256 → the PEM key, if it is of that kind.
    fn static_key_for(&self, algorithm: Algorithm) -> Option<&VerificationKey> {
        [&self.inner.dev_key, &self.inner.pem_key]
            .into_iter()
            .flatten()
            .find(|key| key.algorithm == algorithm)
    }

    fn check_claims(&self, claims: Claims) -> Result<VerifiedUser, AuthError> {
        if let Some(aud) = &claims.aud {
            let well_formed = match aud {
                serde_json::Value::String(_) => true,
                serde_json::Value::Array(items) => items.iter().all(serde_json::Value::is_string),
                _ => false,
            };
            if !well_formed {
                return Err(AuthError::InvalidClaimType("aud"));
            }
        }
        if claims.sub.trim().is_empty() {
            return Err(AuthError::EmptySubject);
        }
        let parties = &self.inner.authorized_parties;
        if let Some(azp) = claims.azp
            && !parties.is_empty()
            && !parties.contains(&azp)
        {
            return Err(AuthError::UnauthorizedParty(azp));
        }
        Ok(VerifiedUser { sub: claims.sub })
    }
}

fn non_empty_setting(
    value: &Option<String>,
    variable: &'static str,
) -> Result<Option<String>, AuthSetupError> {
    match value.as_deref().map(str::trim) {
        Some("") => Err(AuthSetupError::EmptySetting { variable }),
        Some(value) => Ok(Some(value.to_owned())),
        None => Ok(None),
    }
}

/// The claim checks, set explicitly because `jsonwebtoken`'s defaults are wrong for us: its
/// leeway is 60 s, it ignores `nbf`, and it refuses any `aud` when no audience is configured.
/// A configured issuer or audience makes its claim required: a token without it fails.
fn claim_rules(issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = LEEWAY_SECS;
    validation.reject_tokens_expiring_in_less_than = 0;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            validation.validate_aud = true;
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

#[cfg(test)]
mod tests;
