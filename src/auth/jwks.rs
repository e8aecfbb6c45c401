//! The JWKS cache: keys fetched lazily from the issuer, picked by `kid`, refetched when a token
//! names an unknown `kid` or the cache is old, never more often than a minimum interval.
//!
//! Lookups of cached keys take a short read lock. Fetches are serialised by an async mutex, and
//! a task that waited for it looks at the cache again before fetching, so a burst of requests
//! after a rotation causes one fetch, not one per request.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use reqwest::header::ACCEPT;
use tokio::time::Instant;

use super::keys::VerificationKey;
use super::{AuthError, AuthSetupError};

/// How the JWKS cache talks to the issuer.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// Fetches (of any cause) are at least this far apart, so tokens with random `kid`s cannot
    /// make the service hammer the issuer. Default 10 s.
    pub min_refetch_interval: Duration,
    /// Cached keys older than this are refetched on the next lookup, so a key withdrawn at the
    /// issuer stops being accepted. If that fetch fails the old keys keep serving. Default 1 h.
    pub max_age: Duration,
    /// Whole-request timeout of one fetch. Default 5 s.
    pub fetch_timeout: Duration,
    /// Largest JWKS document accepted. Default 1 MiB.
    pub max_body_bytes: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        JwksSettings {
            min_refetch_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(5),
            max_body_bytes: 1 << 20,
        }
    }
}

/// Keys of one successful fetch.
#[derive(Debug)]
struct CachedKeys {
    by_kid: HashMap<String, VerificationKey>,
    fetched_at: Instant,
}

/// What the fetch mutex guards: when the last fetch was tried and how it failed, if it did.
#[derive(Debug, Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct JwksCache {
    url: reqwest::Url,
    client: reqwest::Client,
    settings: JwksSettings,
    cached: RwLock<Option<Arc<CachedKeys>>>,
    fetch: tokio::sync::Mutex<FetchState>,
}

impl JwksCache {
    pub(crate) fn new(url: &str, settings: JwksSettings) -> Result<Self, AuthSetupError> {
        let invalid = |reason: &str| AuthSetupError::InvalidJwksUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(invalid("the scheme must be https (or http)"));
        }
        if parsed.host_str().is_none() {
            return Err(invalid("it has no host"));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            .connect_timeout(settings.fetch_timeout)
            .user_agent(concat!("usage-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AuthSetupError::HttpClient)?;
        Ok(JwksCache {
            url: parsed,
            client,
            settings,
            cached: RwLock::new(None),
            fetch: tokio::sync::Mutex::new(FetchState::default()),
        })
    }

    pub(crate) fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The key with this `kid`, fetching the set when it is unknown or old and the rate limit
    /// allows. `Ok(None)`: the issuer does not publish that `kid` (as far as we may ask).
    pub(crate) async fn key_for(&self, kid: &str) -> Result<Option<VerificationKey>, AuthError> {
        if let Some(key) = self.lookup(kid, true) {
            return Ok(Some(key));
        }

        let mut fetch = self.fetch.lock().await;
        // Another task may have fetched while this one waited.
        if let Some(key) = self.lookup(kid, true) {
            return Ok(Some(key));
        }
        let rate_limited = fetch
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.settings.min_refetch_interval);
        if rate_limited {
            return match (self.lookup(kid, false), &fetch.last_error) {
                (Some(key), _) => Ok(Some(key)),
                (None, Some(error)) => Err(AuthError::JwksUnavailable(error.clone())),
                (None, None) => Ok(None),
            };
        }

        fetch.last_attempt = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(by_kid) => {
                fetch.last_error = None;
                let key = by_kid.get(kid).cloned();
                let fresh = Arc::new(CachedKeys {
                    by_kid,
                    fetched_at: Instant::now(),
                });
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(fresh);
                Ok(key)
            }
            Err(error) => {
                tracing::warn!(url = %self.url, %error, "cannot fetch the JWKS");
                fetch.last_error = Some(error.clone());
                // An old copy of the key is better than refusing every user.
                match self.lookup(kid, false) {
                    Some(key) => Ok(Some(key)),
                    None => Err(AuthError::JwksUnavailable(error)),
                }
            }
        }
    }

    /// Fetches the set now unless the rate limit forbids it; for a warm-up at start-up.
    pub(crate) async fn prefetch(&self) -> Result<(), AuthError> {
        // No key has the empty kid, so this fetches whenever allowed.
        self.key_for("").await.map(|_| ())
    }

    fn lookup(&self, kid: &str, fresh_only: bool) -> Option<VerificationKey> {
        let cached = self
            .cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        if fresh_only && cached.fetched_at.elapsed() >= self.settings.max_age {
            return None;
        }
        cached.by_kid.get(kid).cloned()
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, VerificationKey>, String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the JWKS endpoint answered {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
            if body.len() + chunk.len() > self.settings.max_body_bytes {
                return Err(format!(
                    "the JWKS document is larger than {} bytes",
                    self.settings.max_body_bytes
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let by_kid = parse_jwks(&body)?;
        tracing::info!(url = %self.url, keys = by_kid.len(), "fetched the JWKS");
        Ok(by_kid)
    }
}

/// The usable keys of a JWKS document, by `kid`. Entries without a `kid`, of unsupported types
/// or that do not parse are skipped (and logged at debug level); a document that is not a JWKS
/// at all is an error.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, VerificationKey>, String> {
    #[derive(serde::Deserialize)]
    struct RawJwks {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawJwks =
        serde_json::from_slice(body).map_err(|e| format!("the JWKS document is invalid: {e}"))?;

    let mut by_kid = HashMap::new();
    for (index, value) in raw.keys.into_iter().enumerate() {
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(error) => {
                tracing::debug!(index, %error, "skipping a JWKS entry that does not parse");
                continue;
            }
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::debug!(index, "skipping a JWKS entry without kid");
            continue;
        };
        match VerificationKey::from_jwk(&jwk) {
            Ok(key) => match by_kid.entry(kid) {
                Entry::Vacant(slot) => {
                    slot.insert(key);
                }
                Entry::Occupied(slot) => {
                    let kid = slot.key();
                    tracing::debug!(index, kid, "skipping a second JWKS entry with the same kid");
                }
            },
            Err(reason) => tracing::debug!(index, kid, reason, "skipping a JWKS entry"),
        }
    }
    Ok(by_kid)
}

/// An error and its causes on one line (reqwest's own message omits the cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::keys;

    #[test]
    fn parse_keeps_usable_keys_and_skips_the_rest() {
        let rsa = keys::rsa_jwk(keys::RSA_PUBLIC, "rsa-1");
        let ec = keys::ec_jwk(keys::EC_PUBLIC, "ec-1");
        let mut no_kid = keys::rsa_jwk(keys::RSA_OTHER_PUBLIC, "x");
        no_kid.common.key_id = None;
        let body = serde_json::json!({ "keys": [
            rsa,
            ec,
            no_kid,
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "weird", "kid": "w" },
            "not an object"
        ]});
        let parsed = parse_jwks(body.to_string().as_bytes()).expect("a JWKS");
        let mut kids: Vec<_> = parsed.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["ec-1", "rsa-1"]);
        assert_eq!(parsed["rsa-1"].algorithm, jsonwebtoken::Algorithm::RS256);
        assert_eq!(parsed["ec-1"].algorithm, jsonwebtoken::Algorithm::ES256);
    }

    #[test]
    fn parse_refuses_documents_that_are_not_a_jwks() {
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(br#"{"nokeys": []}"#).is_err());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        let settings = JwksSettings::default;
        assert!(JwksCache::new("https://issuer.example/.well-known/jwks.json", settings()).is_ok());
        for bad in [
            "not a url",
            "file:///etc/jwks.json",
            "ftp://issuer.example/jwks",
        ] {
            let err = JwksCache::new(bad, settings()).expect_err(bad);
            assert!(err.to_string().starts_with("USAGE_API_JWKS_URL"), "{err}");
        }
    }
}
