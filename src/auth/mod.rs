//! End-user authentication: which JWTs are accepted and whose they are.
//!
//! A [`Verifier`] is built once at start-up from an [`AuthConfig`] and shared by every request.
//! It knows up to three sources of keys, each allowing exactly one algorithm:
//!
//! - a PEM public key file (`USAGE_API_JWT_PUBLIC_KEY`): RSA for RS256, EC P-256 for ES256;
//! - a JWKS endpoint (`USAGE_API_JWKS_URL`): keys picked by `kid`, fetched lazily, cached, and
//!   refetched (rate-limited) when a token names a `kid` the cache does not know;
//! - a dev secret (`USAGE_API_DEV_SECRET`): HS256 tokens such as those of [`mint_dev_token`].
//!
//! Claims are checked with a 5 second leeway: `exp` and a non-empty string `sub` are required,
//! `nbf` is honoured when present, and `iss`, `aud` and `azp` are checked when configured.
//! Every failure is an [`AuthError`] whose text is for the log only; clients are told
//! "Unauthorized" whatever the reason.

mod dev_token;
mod headers;
mod jwks;
mod keys;
#[cfg(test)]
mod test_support;
mod verifier;

use std::fmt;
use std::path::PathBuf;

use jsonwebtoken::Algorithm;

pub use dev_token::mint_dev_token;
pub use headers::{SESSION_COOKIE, token_from_headers};
pub use jwks::JwksSettings;
pub use verifier::Verifier;

/// What the service trusts, as read from the environment (see the configuration table).
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// `USAGE_API_JWT_PUBLIC_KEY`: a PEM public key; RSA allows RS256 only, EC P-256 ES256 only.
    pub public_key_pem: Option<PathBuf>,
    /// `USAGE_API_JWKS_URL`: a JWKS endpoint whose keys are picked by `kid`.
    pub jwks_url: Option<String>,
    /// `USAGE_API_JWT_ISSUER`: when set, `iss` must equal it.
    pub issuer: Option<String>,
    /// `USAGE_API_JWT_AUDIENCE`: when set, `aud` (a string or an array) must contain it. When
    /// not set, `aud` is not checked, so tokens with and without it pass.
    pub audience: Option<String>,
    /// `USAGE_API_JWT_AUTHORIZED_PARTIES`: when non-empty, an `azp` claim, if present, must be
    /// one of them. Blank entries are ignored.
    pub authorized_parties: Vec<String>,
    /// `USAGE_API_DEV_SECRET`: enables HS256 dev tokens signed with this secret.
    pub dev_secret: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("public_key_pem", &self.public_key_pem)
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("authorized_parties", &self.authorized_parties)
            .field(
                "dev_secret",
                &self.dev_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The signed-in user a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The token's `sub` claim: the user id at the identity provider.
    pub sub: String,
}

/// A configuration the service cannot start with, or a dev token that cannot be made.
/// Each message is one line naming the variable (and the file) at fault.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read USAGE_API_JWT_PUBLIC_KEY file {}: {source}", path.display())]
    ReadKeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("USAGE_API_JWT_PUBLIC_KEY file {} is not usable: {reason}", path.display())]
    InvalidKeyFile { path: PathBuf, reason: String },
    #[error("USAGE_API_JWKS_URL {url:?} is not usable: {reason}")]
    InvalidJwksUrl { url: String, reason: String },
    #[error("cannot build the HTTP client for USAGE_API_JWKS_URL: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("{variable} is set but empty")]
    EmptySetting { variable: &'static str },
    #[error("USAGE_API_DEV_SECRET is not set; dev tokens need it")]
    NoDevSecret,
    #[error("a dev token needs a non-empty subject")]
    EmptySubject,
    #[error("cannot sign a dev token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Why a token was refused. The text is for the log; every variant means "Unauthorized" to the
/// client, which must not learn which check failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token and no {SESSION_COOKIE} cookie")]
    MissingToken,
    #[error("token is longer than {max_bytes} bytes")]
    TooLong { max_bytes: usize },
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(#[source] jsonwebtoken::errors::Error),
    #[error("token header lists critical extensions, none of which are supported")]
    CriticalHeader,
    #[error("no configured key accepts {0:?} tokens")]
    NoKeyForAlgorithm(Algorithm),
    #[error("no JWKS key has kid {0:?}")]
    UnknownKeyId(String),
    #[error("token algorithm {token:?} differs from its key's algorithm {key:?}")]
    AlgorithmMismatch { token: Algorithm, key: Algorithm },
    #[error("JWKS unavailable: {0}")]
    JwksUnavailable(String),
    #[error("token rejected: {0}")]
    Rejected(#[source] jsonwebtoken::errors::Error),
    #[error("claim {0:?} has the wrong type")]
    InvalidClaimType(&'static str),
    #[error("the sub claim is empty")]
    EmptySubject,
    #[error("azp {0:?} is not an authorized party")]
    UnauthorizedParty(String),
}
